"""The executor's fast path for plain leaf fields answers exactly what graphql-core would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import graphql
import pytest
import strawberry
from strawberry import relay
from strawberry.extensions import SchemaExtension

from execgate.api.execution import (
    LeafFastExecutor,
    executor_for,
    leaf_plans,
    supports_fast_path,
)
from execgate.api.resolvers import KNOWN_VALUE, read_attributes_directly
from execgate.api.schema import build_schema


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Part:
    label: str
    weight: int | None


@strawberry.type
class Tag(relay.Node):
    code: relay.NodeID[str]
    title: str


@strawberry.type
class Item:
    name: str
    count: int
    colour: Colour
    at: datetime | None
    note: str | None
    parts: list[Part]
    tags: list[Tag]

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


def _item(name: Any = "a", count: Any = 1, **extra: Any) -> Item:
    values: dict[str, Any] = {
        "colour": Colour.RED,
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "note": None,
        "parts": [Part(label="p", weight=None), Part(label="q", weight=3)],
        "tags": [Tag(code="t1", title="one")],
    }
    values.update(extra)
    return Item(name=name, count=count, **values)


ITEMS = [
    _item(),
    _item("b", 2, colour=Colour.BLUE, note="n", tags=[Tag(code=None, title="no id")]),  # type: ignore[arg-type]
    _item(None, 3),  # a null in a non-null field: the error, and its path, come from graphql-core
    _item("d", "not a number"),  # a value its scalar cannot coerce
    _item("e", 5, parts=[Part(label=None, weight=1)]),  # type: ignore[arg-type]
]


LOOKUPS: list[str] = []


@strawberry.type
class Named:
    code: str
    known: strawberry.Private[str | None]

    @strawberry.field(metadata={KNOWN_VALUE: "known"})
    def title(self) -> str | None:
        LOOKUPS.append(self.code)
        return self.known if self.known is not None else f"looked up {self.code}"


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return list(ITEMS)

    @strawberry.field
    def first(self) -> Item:
        return ITEMS[0]

    @strawberry.field
    def gaps(self) -> list[Part | None]:
        return [Part(label="x", weight=1), None, Part(label="y", weight=None)]

    @strawberry.field
    def mixed(self) -> list[Part]:
        return [Part(label="x", weight=1), Tag(code="t", title="not a part")]  # type: ignore[list-item]

    @strawberry.field
    def named(self, unknown: bool = False) -> list[Named]:
        return [Named(code="n1", known="one"), Named(code="n2", known=None if unknown else "two")]

    @strawberry.field
    def tag_list(self) -> list[Tag]:
        return [Tag(code="t1", title="one"), Tag(code="t2", title="two")]


QUERIES = [
    "{ items { name count colour at note } }",
    "{ items { __typename n: name name again: name count shout parts { label weight } } }",
    "query($skip: Boolean!) { items { name @skip(if: $skip) count @include(if: true) } }",
    "{ items { ...F parts { ... on Part { weight label } } } } fragment F on Item { colour note }",
    "{ first { name colour parts { label } } }",
    "{ items { name tags { id title } } }",
    "{ first { tags { id __typename } } }",
    "{ gaps { label weight __typename } }",
    "{ mixed { label weight } }",
    "{ tagList { id title t: __typename } }",
    "{ first { parts @include(if: true) { label } } }",
    "query($skip: Boolean!) { gaps { label @skip(if: $skip) weight @skip(if: true) } }",
    "{ gaps { ... on Part { label } } first { parts { ...P } } } fragment P on Part { weight }",
    "{ named { code title } }",
    "{ named(unknown: true) { code title } }",
]


def _schemas(extensions: list[Any] | None = None) -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, extensions=extensions or [])
    fast = strawberry.Schema(query=Query, extensions=extensions or [])
    read_attributes_directly(fast)
    executor = executor_for(fast._schema)
    assert executor is not None
    fast.execution_context_class = executor
    return plain, fast


def _answer(schema: strawberry.Schema, query: str) -> tuple[Any, list[Any]]:
    result = schema.execute_sync(query, variable_values={"skip": False})
    errors = sorted(
        (e.message, tuple(e.path or ()), tuple((loc.line, loc.column) for loc in e.locations or ()))
        for e in result.errors or ()
    )
    return result.data, errors


@pytest.mark.parametrize("query", QUERIES)
def test_the_fast_path_answers_exactly_like_graphql_core(query: str) -> None:
    # given
    plain, fast = _schemas()

    # when
    expected = _answer(plain, query)
    got = _answer(fast, query)

    # then
    assert got == expected


def test_the_compared_answers_hold_errors_and_coerced_values() -> None:
    # the comparison above is only worth something if it covers both kinds of field
    data, errors = _answer(_schemas()[1], QUERIES[0])
    assert data["items"][1] == {
        "name": "b",
        "count": 2,
        "colour": "BLUE",
        "at": "2026-01-02T03:04:05+00:00",
        "note": "n",
    }
    assert data["items"][2] is None and data["items"][3] is None
    assert [path for _, path, _ in errors] == [("items", 2, "name"), ("items", 3, "count")]
    assert "Cannot return null for non-nullable field Item.name." in errors[0][0]
    assert "Int cannot represent non-integer value" in errors[1][0]


def test_plain_objects_in_lists_complete_without_graphql_cores_object_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    _, fast = _schemas()
    completed: list[str] = []
    original = graphql.execution.executor.Executor.complete_object_value

    def spy(self: Any, return_type: Any, *args: Any) -> Any:
        completed.append(return_type.name)
        return original(self, return_type, *args)

    monkeypatch.setattr(graphql.execution.executor.Executor, "complete_object_value", spy)

    # when
    data, errors = _answer(fast, "{ first { name parts { label weight } } gaps { label } }")

    # then: only the object with a resolver field went through graphql-core's object path
    assert errors == []
    assert data == {
        "first": {
            "name": "a",
            "parts": [{"label": "p", "weight": None}, {"label": "q", "weight": 3}],
        },
        "gaps": [{"label": "x"}, None, {"label": "y"}],
    }
    assert completed == ["Item"]


def test_a_known_answer_is_read_and_an_unknown_one_asks_the_resolver() -> None:
    # given
    _, fast = _schemas()

    # when: every answer is known
    LOOKUPS.clear()
    known, _ = _answer(fast, "{ named { title } }")
    calls_when_known = list(LOOKUPS)

    # and when one is not
    unknown, _ = _answer(fast, "{ named(unknown: true) { title } }")

    # then
    assert known == {"named": [{"title": "one"}, {"title": "two"}]}
    assert calls_when_known == []
    assert unknown == {"named": [{"title": "one"}, {"title": "looked up n2"}]}
    assert "n2" in LOOKUPS


class _Shout(SchemaExtension):
    def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


def test_an_extension_that_wraps_resolvers_still_sees_every_leaf() -> None:
    plain, fast = _schemas([_Shout])

    got = _answer(fast, "{ first { name note parts { label } } }")

    assert got == _answer(plain, "{ first { name note parts { label } } }")
    assert got[0] == {
        "first": {"name": "A", "note": None, "parts": [{"label": "P"}, {"label": "Q"}]}
    }


def test_node_ids_are_the_global_ids_strawberry_makes() -> None:
    data, _ = _answer(_schemas()[1], "{ first { tags { id } } }")

    assert data["first"]["tags"] == [{"id": str(relay.GlobalID("Tag", "t1"))}]


def test_plans_cover_plain_leaves_only() -> None:
    plans = leaf_plans(strawberry.Schema(query=Query)._schema)

    assert set(plans["Item"]) == {"name", "count", "colour", "at", "note"}
    assert set(plans["Tag"]) == {"id", "title"}
    assert {name: plan[2] for name, plan in plans["Part"].items()} == {
        "label": True,
        "weight": False,
    }


def test_the_enum_lookup_names_values_as_the_enum_type_does() -> None:
    # given
    schema = strawberry.Schema(query=Query)._schema
    enum_type = schema.type_map["Colour"]
    coerce = leaf_plans(schema)["Item"]["colour"][1]

    # then: every member, and a raw value the lookup does not hold, as the type answers
    for value in [*Colour, "red"]:
        assert coerce(value) == enum_type.coerce_output_value(value)
    assert coerce(Colour.BLUE) == "BLUE"
    with pytest.raises(graphql.GraphQLError):
        coerce("purple")


def test_the_gateway_schema_runs_on_the_fast_executor() -> None:
    assert supports_fast_path(), f"graphql-core {graphql.version} changed execute_fields"
    built = build_schema()
    assert issubclass(built.execution_context_class, LeafFastExecutor)
    plans = built.execution_context_class.plans
    assert {"nodeName", "status", "startedAt", "durationMs"} <= set(plans["NodeExecution"])
    assert "id" in plans["Execution"] and "id" in plans["Workflow"]
    assert "nodeExecutions" not in plans["Execution"]
    # a workflow's name is a resolver, read from its known answer when there is one
    assert plans["Workflow"]["name"][0].__reduce__()[1] == ("known_name",)
