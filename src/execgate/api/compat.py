"""Whether the installed strawberry and graphql-core run ``InlineExecutor`` exactly.

``InlineExecutor`` (``api/execution.py``) replaces one method of graphql-core's executor,
``execute_fields``, and reads some of its internals, none of them public API. Before a schema
uses it, ``check`` makes sure that what it relies on is still there:

- the installed versions of strawberry-graphql and graphql-core are within ``TESTED``;
- the replaced method and every executor method it calls have the parameters it was written
  against (``METHODS``);
- every executor attribute and graphql-core structure it reads still exists (``ATTRIBUTES``,
  ``FIELDS``);
- a probe operation over a small schema of its own (leaves, enums, ``DateTime``, Relay IDs,
  nested objects and lists of them, a known answer, a resolver, a null in a non-null field)
  answers the same data and errors through both executors, and the inline path really ran.

``check`` returns what differed (nothing when all is well); ``api/schema.py`` then keeps
strawberry's own executor and logs one line saying why.
"""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime
from enum import Enum
from importlib import metadata
from typing import Any

import strawberry
from graphql.execution.collect_fields import CollectedFields, FieldDetails
from graphql.execution.middleware import MiddlewareManager
from graphql.execution.values import VariableValues
from graphql.pyutils import Path
from strawberry import relay
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from execgate.api.plans import KNOWN_VALUE

Version = tuple[int, ...]

TESTED: dict[str, tuple[Version, Version]] = {
    "strawberry-graphql": ((0, 341, 2), (0, 341, 2)),
    "graphql-core": ((3, 3, 2), (3, 3, 2)),
}
"""Distribution → (oldest, newest) version the executor was tested with, both included.
``pyproject.toml`` bounds both distributions above by the newest."""

METHODS: dict[str, tuple[str, ...]] = {
    "execute_fields": (
        "self",
        "parent_type",
        "source_value",
        "path",
        "grouped_field_set",
        "position_context",
    ),
    "execute_field": (
        "self",
        "parent_type",
        "source",
        "field_details_list",
        "path",
        "position_context",
    ),
    "collect_subfields": ("self", "return_type", "field_details_list"),
    "settle_in_background": ("self", "awaitables"),
}
"""The replaced method and the executor methods it calls, with their parameters."""

ATTRIBUTES = (
    "is_awaitable",
    "middleware_manager",
    "variable_values",
    "operation",
    "fragment_definitions",
)
"""Executor attributes the inline path reads."""

FIELDS: dict[str, tuple[type, tuple[str, ...]]] = {
    "FieldDetails": (FieldDetails, ("node", "defer_usage", "fragment_variable_values")),
    "CollectedFields": (
        CollectedFields,
        ("grouped_field_set", "new_defer_usages", "forbidden_directive_instances"),
    ),
    "VariableValues": (VariableValues, ("sources", "coerced")),
    "Path": (Path, ("prev", "key", "typename")),
}
"""graphql-core structures the inline path takes apart, and their fields in order."""


def installed_version(distribution: str) -> str:
    return metadata.version(distribution)


def _version(text: str) -> Version:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def check(executor: type[Any] | None = None) -> list[str]:
    """What differs from what ``InlineExecutor`` was written against (empty: nothing).

    ``executor`` is the executor class to probe (``InlineExecutor`` by default).
    """
    problems = _versions() + _methods() + _attributes() + _structures()
    if problems:
        return problems  # the probe may not even run
    try:
        return _probe(executor)
    except Exception as exc:  # the probe itself broke: that differs too
        return [f"the probe operation failed ({type(exc).__name__}: {exc})"]


def _versions() -> list[str]:
    problems = []
    for distribution, (oldest, newest) in TESTED.items():
        try:
            found = installed_version(distribution)
        except metadata.PackageNotFoundError:
            problems.append(f"{distribution} is not installed as a distribution")
            continue
        if not oldest <= _version(found) <= newest:
            tested = ".".join(map(str, oldest)) + ".." + ".".join(map(str, newest))
            problems.append(f"{distribution} {found} is outside the tested {tested}")
    return problems


def _methods() -> list[str]:
    problems = []
    base = StrawberryGraphQLCoreExecutionContext
    for name, expected in METHODS.items():
        method = getattr(base, name, None)
        if not callable(method):
            problems.append(f"the executor has no {name}()")
            continue
        found = tuple(inspect.signature(method).parameters)
        if found != expected:
            problems.append(f"{name}{_params(found)} differs from {name}{_params(expected)}")
    return problems


def _params(names: tuple[str, ...]) -> str:
    return "(" + ", ".join(names) + ")"


def _declared(cls: type, name: str) -> bool:
    return any(
        name in vars(klass).get("__annotations__", {}) or name in vars(klass)
        for klass in cls.__mro__
    )


def _attributes() -> list[str]:
    problems = [
        f"the executor no longer declares {name}"
        for name in ATTRIBUTES
        if not _declared(StrawberryGraphQLCoreExecutionContext, name)
    ]
    if "middlewares" not in getattr(MiddlewareManager, "__slots__", ()) and not _declared(
        MiddlewareManager, "middlewares"
    ):
        problems.append("MiddlewareManager no longer holds middlewares")
    return problems


def _structures() -> list[str]:
    problems = []
    for name, (structure, expected) in FIELDS.items():
        found = tuple(getattr(structure, "_fields", ()))
        if found != expected:
            problems.append(f"{name}{_params(found)} differs from {name}{_params(expected)}")
    return problems


# -- the probe ---------------------------------------------------------------------------------


@strawberry.enum(name="ProbeShade")
class _Shade(Enum):
    LIGHT = "light"
    DARK = "dark"


@strawberry.type(name="ProbeLeaf")
class _Leaf:
    label: str
    weight: int | None


@strawberry.type(name="ProbeTag")
class _Tag(relay.Node):
    code: relay.NodeID[str]
    shade: _Shade


_RESOLVED: list[str] = []
"""Resolver calls of the probe's known answers (none expected on the inline path)."""


@strawberry.type(name="ProbeItem")
class _Item:
    name: str
    at: datetime | None
    shade: _Shade
    leaves: list[_Leaf | None]
    tags: list[_Tag]
    known: strawberry.Private[_Leaf | None]

    @strawberry.field(metadata={KNOWN_VALUE: "known"})
    def best(self) -> _Leaf:
        _RESOLVED.append(self.name)
        return self.known or _Leaf(label="resolved", weight=None)

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


def _item(name: Any, known: _Leaf | None) -> _Item:
    return _Item(
        name=name,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        shade=_Shade.DARK,
        leaves=[_Leaf(label="a", weight=1), None, _Leaf(label="b", weight=None)],
        tags=[_Tag(code="t1", shade=_Shade.LIGHT)],
        known=known,
    )


@strawberry.type(name="ProbeQuery")
class _ProbeQuery:
    @strawberry.field
    def items(self) -> list[_Item | None]:
        return [_item("one", _Leaf(label="k", weight=2)), _item(None, _Leaf(label="n", weight=0))]

    @strawberry.field
    def first(self) -> _Item:
        return _item("first", _Leaf(label="k1", weight=3))


PROBE = """
query Probe($skip: Boolean!) {
  first { __typename name at shade best { label weight } leaves { label weight }
          tags { id shade } }
  items { ...Item shout leaves @skip(if: $skip) { label } }
}
fragment Item on ProbeItem { name at best { label } tags { id } }
"""


class _QuietSchema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """The probe's one error is expected: nothing to log."""


def _answer(
    schema: strawberry.Schema,
) -> tuple[Any, list[tuple[str, tuple[Any, ...]]]]:
    result = schema.execute_sync(PROBE, variable_values={"skip": False})
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or ())
    return result.data, errors


def _probe(executor: type[Any] | None) -> list[str]:
    from execgate.api.execution import InlineExecutor, executor_for

    stock = _QuietSchema(query=_ProbeQuery)
    inline = _QuietSchema(query=_ProbeQuery)
    inline.execution_context_class = executor_for(
        inline._schema, operations=2, moments=4, base=executor or InlineExecutor
    )
    expected = _answer(stock)
    _RESOLVED.clear()
    got = _answer(inline)
    problems = []
    if got != expected:
        problems.append(f"the probe operation answered {got!r} instead of {expected!r}")
    if _RESOLVED != []:
        problems.append("the probe's known answers were not completed inline")
    if not expected[1] or expected[0] is None:
        problems.append("the probe operation no longer answers data and one error")
    return problems
