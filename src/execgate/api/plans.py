"""Plans for completing fields without graphql-core's per-field machinery, built once per schema.

A *field plan* says how the executor (``api/execution.py``) may complete one field of one
object type inline:

- ``LeafPlan``: a field of scalar or enum type that only reads an attribute (a strawberry field
  without a resolver, arguments, permission classes or field extensions), the ``id`` of a Relay
  node, or a resolver field naming the attribute that holds its known answer;
- ``ObjectPlan``: a field whose type is an object type, or a list of one, read the same two
  ways. Only object types whose ``is_type_of`` needs no resolve info qualify (none, or
  strawberry's own ``isinstance`` check), since a nested object is completed without one.

A resolver field names its known answer in its metadata under ``KNOWN_VALUE``: an attribute
whose non-``None`` value is what the resolver would answer. ``None`` read from it means "not
known": the field goes to its resolver through graphql-core. Every other case a plan cannot
answer exactly goes there too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from enum import EnumMeta
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    is_leaf_type,
)
from strawberry import relay
from strawberry.relay.utils import to_base64
from strawberry.schema.types import base_scalars

KNOWN_VALUE = "execgate.known_value"
"""Field metadata key: the attribute whose non-``None`` value is what the resolver answers."""

STANDS_FOR = "__execgate_stands_for__"
"""Class attribute of a type declared again for another schema (``api/twins.py``): the class
whose instances its objects are (the resolvers build the original)."""

MOMENTS = 4096
"""``DateTime`` serialisations remembered per schema, unless ``field_plans`` is told otherwise."""


class LeafPlan(NamedTuple):
    """How to complete one leaf field."""

    read: Callable[[Any], Any]
    """Reads the value from the parent object."""
    coerce: Callable[[Any], Any]
    """The type's own ``coerce_output_value``, or a lookup that answers the same."""
    none_to_core: bool
    """Whether ``None`` must go to graphql-core's path (a non-null field, or a resolver field
    whose known answer is missing)."""


class ObjectPlan(NamedTuple):
    """How to read one object field (or list of objects)."""

    read: Callable[[Any], Any]
    known: bool
    """Read from a resolver field's known answer: ``None`` means "ask the resolver"."""
    non_null: bool
    is_list: bool
    items_non_null: bool
    object_type: GraphQLObjectType


FieldPlan = LeafPlan | ObjectPlan
SchemaPlans = dict[str, dict[str, FieldPlan]]
"""Type name → field name → plan."""


def _bare_fields(schema: GraphQLSchema) -> Iterator[tuple[GraphQLObjectType, str, Any, Any]]:
    """(type, field name, graphql field, strawberry field) of every object-type field with no
    arguments, no permission classes and no field extensions: the fields a plan may cover."""
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


def field_plans(schema: GraphQLSchema, *, moments: int = MOMENTS) -> SchemaPlans:
    """Type name → field name → plan, for every field the executor may complete inline.

    ``moments`` bounds the ``DateTime`` serialisations remembered (see ``_coercer``).
    """
    plans: SchemaPlans = {}
    for type_name, id_plan in _node_ids(schema, moments):
        plans.setdefault(type_name, {})["id"] = id_plan
    fields = [
        (graphql_type, field_name, graphql_field, attrgetter(name), False)
        for graphql_type, field_name, graphql_field, name in plain_fields(schema)
    ] + [
        (graphql_type, field_name, graphql_field, attrgetter(name), True)
        for graphql_type, field_name, graphql_field, name in known_value_fields(schema)
    ]
    for graphql_type, field_name, graphql_field, read, known in fields:
        plan = _field_plan(graphql_field.type, read, known=known, moments=moments)
        if plan is not None:
            plans.setdefault(graphql_type.name, {})[field_name] = plan
    return plans


def _field_plan(
    field_type: Any, read: Callable[[Any], Any], *, known: bool, moments: int
) -> FieldPlan | None:
    non_null = isinstance(field_type, GraphQLNonNull)
    inner = field_type.of_type if non_null else field_type
    if is_leaf_type(inner):
        return LeafPlan(read, _coercer(inner, moments), non_null or known)
    is_list = isinstance(inner, GraphQLList)
    items_non_null = False
    if is_list:
        inner = inner.of_type
        items_non_null = isinstance(inner, GraphQLNonNull)
        if items_non_null:
            inner = inner.of_type
    if not isinstance(inner, GraphQLObjectType) or not _is_type_of_needs_no_info(inner):
        return None
    return ObjectPlan(read, known, non_null, is_list, items_non_null, inner)


def _is_type_of_needs_no_info(object_type: GraphQLObjectType) -> bool:
    """No ``is_type_of``, or strawberry's own (an ``isinstance`` check): not one of the type's."""
    definition = (object_type.extensions or {}).get("strawberry-definition")
    if definition is None:
        return object_type.is_type_of is None
    return getattr(definition, "is_type_of", None) is None


def _node_ids(schema: GraphQLSchema, moments: int) -> Iterator[tuple[str, LeafPlan]]:
    """(type name, plan) of the ``id`` of every Relay node type that keeps strawberry's own way
    of making it (``resolve_id`` and ``resolve_typename`` not overridden): the global ID is the
    base64 of ``TypeName:<NodeID attribute>``, so it can be built without a resolve info. The
    plan reads objects of the type's class, or of the class a twin stands for (``STANDS_FOR``:
    the resolvers build the original)."""
    for name, graphql_type in schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType) or "id" not in graphql_type.fields:
            continue
        definition = (graphql_type.extensions or {}).get("strawberry-definition")
        origin = getattr(definition, "origin", None)
        if not isinstance(origin, type) or not issubclass(origin, relay.Node):
            continue
        id_field = graphql_type.fields["id"]
        field_definition = (id_field.extensions or {}).get("strawberry-definition")
        if (
            origin.resolve_id.__func__ is not relay.Node.resolve_id.__func__  # type: ignore[attr-defined]
            or origin.resolve_typename.__func__ is not relay.Node.resolve_typename.__func__  # type: ignore[attr-defined]
            or field_definition is None
            or field_definition.extensions
            or field_definition.permission_classes
            or not isinstance(id_field.type, GraphQLNonNull)
            or not is_leaf_type(id_field.type.of_type)
        ):
            continue
        id_type = id_field.type.of_type
        objects = getattr(origin, STANDS_FOR, origin)
        read = _global_id(objects, name, origin.resolve_id_attr())
        yield name, LeafPlan(read, _coercer(id_type, moments), True)


def _global_id(origin: type, type_name: str, id_attr: str) -> Callable[[Any], str]:
    read = attrgetter(id_attr)

    def global_id(root: Any) -> str:
        if not isinstance(root, origin):
            raise TypeError("not a node of this type")  # graphql-core's path decides
        node_id = read(root)
        if node_id is None:
            raise TypeError("no node id")
        return to_base64(type_name, node_id)

    return global_id


def _coercer(leaf: GraphQLLeafType, moments: int) -> Callable[[Any], Any]:
    """The leaf's ``coerce_output_value``; for a strawberry enum, a dict lookup in front of it.

    Strawberry's enum finds a member's name by comparing it with every value in turn; the
    lookup answers the same name (the first whose value equals the member's) in one step, and
    anything it does not know goes to the enum type itself.
    """
    coerce = leaf.coerce_output_value
    if coerce is base_scalars.isoformat:
        return _remembered_isoformat(coerce, moments)
    members = getattr(leaf, "wrapped_cls", None)
    if not isinstance(leaf, GraphQLEnumType) or not isinstance(members, EnumMeta):
        return coerce
    names: dict[Any, str] = {}
    member: Any
    for member in members:
        for name, value in leaf.values.items():
            if member.value == value.value:
                names[member] = name
                break

    def coerce_member(value: Any) -> Any:
        name = names.get(value) if isinstance(value, members) else None
        return coerce(value) if name is None else name

    return coerce_member


def _remembered_isoformat(isoformat: Callable[[Any], Any], size: int) -> Callable[[Any], Any]:
    """Strawberry's ``DateTime`` serialisation (``isoformat``), remembered per moment and offset
    (at most ``size`` of them, least recently used first out).

    An aware ``datetime.isoformat`` takes over a microsecond, and a polled page serialises the
    same moments again and again. Two datetimes that are equal and have the same UTC offset
    have the same fields, so the same ``isoformat``; anything else is serialised as it is.
    """

    @lru_cache(maxsize=size)
    def formatted(moment: datetime, offset: timedelta | None) -> Any:
        return isoformat(moment)

    def coerce_datetime(value: Any) -> Any:
        if type(value) is datetime:
            return formatted(value, value.utcoffset())
        return isoformat(value)

    return coerce_datetime
