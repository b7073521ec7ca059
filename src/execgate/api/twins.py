"""Twins of a strawberry type graph: the same types, declared again for another schema.

A strawberry type's directives live on its definition, and every schema that reaches the type
prints them. The federation subgraph (``api/federation.py``) needs ``@key`` and ``@shareable``
on types that the public schema must keep without them, so it is built from twins:

- every object type reachable from the roots (interfaces, inputs, enums and scalars are
  shared, not twinned) gets a subclass with the same GraphQL name, description and fields,
  decorated again with whatever the caller adds (``decorate``: federation keys, say);
- a field whose type names a twinned class is copied, with the twin in its place (lists and
  nullability kept), the way strawberry specialises a generic type's fields; every other field
  is inherited as it is. Resolvers, arguments, descriptions and metadata are the originals'.

Objects are not twinned: the resolvers still build the original classes. A twin that implements
an interface accepts them (strawberry's ``is_type_of`` checks the interface's class first), an
interface resolves them by type name, and a twin's own ``from_domain`` style constructors build
twins (which are instances of the originals too). ``STANDS_FOR`` on a twin names its original.

The originals' definitions are never touched: a schema built from them prints exactly as
before (``tests/api/test_twins.py`` holds both).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from strawberry.annotation import StrawberryAnnotation
from strawberry.types.base import (
    StrawberryList,
    StrawberryObjectDefinition,
    StrawberryOptional,
    get_object_definition,
)

from execgate.api.plans import STANDS_FOR

Decorate = Callable[[type, StrawberryObjectDefinition], type]
"""Decorates one twin (a plain subclass) as a strawberry type, given the original's
definition; it must keep the original's name and description."""


def _named(annotation: Any) -> Any:
    while isinstance(annotation, StrawberryList | StrawberryOptional):
        annotation = annotation.of_type
    return annotation


def reachable(roots: Iterable[type]) -> list[type]:
    """The object types reachable from ``roots`` through field types, roots first."""
    found: list[type] = []
    waiting = list(roots)
    while waiting:
        cls = waiting.pop(0)
        definition = get_object_definition(cls, strict=False)
        if definition is None or definition.is_input or definition.is_interface:
            continue
        if cls in found:
            continue
        found.append(cls)
        waiting.extend(_named(field.type) for field in definition.fields)
    return found


def _retyped(annotation: Any, twins: Mapping[type, type]) -> Any:
    if isinstance(annotation, StrawberryOptional):
        return StrawberryOptional(_retyped(annotation.of_type, twins))
    if isinstance(annotation, StrawberryList):
        return StrawberryList(_retyped(annotation.of_type, twins))
    return twins.get(annotation, annotation)


def twin_types(
    roots: Iterable[type],
    decorate: Decorate,
    *,
    extras: Mapping[type, Mapping[str, Any]] | None = None,
) -> dict[type, type]:
    """Original → twin, for every object type reachable from ``roots``.

    ``extras`` adds class attributes to some twins (a ``resolve_reference``, say).
    """
    originals = reachable(roots)
    bare = {
        cls: type(
            cls.__name__,
            (cls,),
            {
                "__module__": cls.__module__,
                "__qualname__": f"{cls.__qualname__}Twin",
                STANDS_FOR: cls,
                **(extras or {}).get(cls, {}),
            },
        )
        for cls in originals
    }
    done: dict[type, type] = {}
    for cls in originals:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        twin = bare[cls]
        annotations: dict[str, Any] = {}
        for field in definition.fields:
            if _named(field.type) not in bare:
                continue
            retyped = copy.copy(field)
            retyped.type_annotation = StrawberryAnnotation(_retyped(field.type, bare))
            setattr(twin, field.python_name, retyped)
            annotations[field.python_name] = retyped.type_annotation.annotation
        twin.__annotations__ = annotations
        done[cls] = decorate(twin, definition)
    return done
