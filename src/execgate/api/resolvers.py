"""Field resolvers without strawberry's per-call wrapper, for fields that need none of it.

Strawberry wraps every resolver in a chain that converts arguments, builds its ``Info``, runs
field extensions and exception handlers, then calls the function. A page of executions calls
a few resolvers per execution (its workflow, its node runs) and hundreds of attribute reads,
so the wrapper is a large part of a warm page. Two rewrites, applied once when the schema is
built, skip it where it has nothing to do:

- ``read_attributes_directly``: a field with no resolver, no arguments, no permission classes
  and no field extensions gets a bare ``getattr``;
- ``call_resolvers_directly``: a resolver field with no arguments (beyond ``self`` and
  ``info``), no permission classes, no field extensions and no exception handlers calls its
  function directly with the same ``self`` and the same ``Info`` strawberry would build.

Schema extensions that wrap resolvers still wrap these (they run as graphql-core middleware
around whatever the field's resolver is).

A resolver field can also name, in its metadata under ``KNOWN_VALUE``, an attribute that holds
its answer when that answer is already known (not ``None``); the executor then reads it like a
plain field and calls the resolver only when it is ``None`` (see ``api/execution.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLSchema

KNOWN_VALUE = "execgate.known_value"
"""Field metadata key: the attribute whose non-``None`` value is what the resolver answers."""


def _bare_fields(schema: GraphQLSchema) -> Iterator[tuple[GraphQLObjectType, str, Any, Any]]:
    """(type, field name, graphql field, strawberry field) of every object-type field with no
    arguments, no permission classes and no field extensions: the fields the rewrites below
    and the executor's fast path may touch."""
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, graphql_field in graphql_type.fields.items():
            definition = (graphql_field.extensions or {}).get("strawberry-definition")
            if (
                definition is None
                or definition.extensions
                or definition.permission_classes
                or graphql_field.args
            ):
                continue
            yield graphql_type, field_name, graphql_field, definition


def known_value_fields(
    schema: GraphQLSchema,
) -> Iterator[tuple[GraphQLObjectType, str, Any, str]]:
    """(type, field name, field, attribute) of every argument-less resolver field that names
    the attribute holding its known answer (``KNOWN_VALUE`` in its metadata)."""
    for graphql_type, field_name, graphql_field, definition in _bare_fields(schema):
        attribute = (definition.metadata or {}).get(KNOWN_VALUE)
        if attribute is not None and definition.base_resolver is not None:
            yield graphql_type, field_name, graphql_field, attribute


def plain_fields(schema: GraphQLSchema) -> Iterator[tuple[GraphQLObjectType, str, Any, str]]:
    """(type, field name, field, python attribute) of every field that only reads an attribute."""
    for graphql_type, field_name, graphql_field, definition in _bare_fields(schema):
        if definition.base_resolver is None:
            yield graphql_type, field_name, graphql_field, definition.python_name


def read_attributes_directly(built: strawberry.Schema) -> int:
    """Resolve plain attribute fields with a bare ``getattr``; returns how many were changed.

    Their values are still serialised by their GraphQL types (enums, ``DateTime``, ``JSON``).
    """
    changed = 0
    for _, _, graphql_field, python_name in plain_fields(built._schema):
        graphql_field.resolve = _attribute(python_name)
        changed += 1
    return changed


def _attribute(python_name: str) -> Callable[..., Any]:
    read = attrgetter(python_name)

    def resolve(root: Any, info: Any) -> Any:
        return read(root)

    return resolve


def _resolver_fields(built: strawberry.Schema) -> Iterator[tuple[Any, Any]]:
    """(graphql field, strawberry field) of every resolver field that needs no wrapper."""
    converter = built.schema_converter
    for _, _, graphql_field, definition in _bare_fields(built._schema):
        resolver = definition.base_resolver
        if (
            resolver is None
            or definition.is_subscription
            or resolver.arguments
            or resolver.parent_parameter is not None
            or resolver.root_parameter is not None
            or converter._get_field_exception_handlers(definition)
        ):
            continue
        yield graphql_field, definition


def call_resolvers_directly(built: strawberry.Schema) -> int:
    """Call plain resolver functions without strawberry's wrapper; returns how many changed."""
    changed = 0
    info_class = built.config.info_class
    for graphql_field, definition in _resolver_fields(built):
        graphql_field.resolve = _direct(definition, info_class)
        changed += 1
    return changed


def _direct(definition: Any, info_class: type) -> Callable[..., Any]:
    resolver = definition.base_resolver
    function = resolver.wrapped_func
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    with_self = resolver.self_parameter is not None

    def resolve(root: Any, info: Any) -> Any:
        args = (root,) if with_self else ()
        if info_name is None:
            return function(*args)
        return function(*args, **{info_name: info_class(_raw_info=info, _field=definition)})

    return resolve
