"""The executor's inline path answers exactly what graphql-core would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any

import graphql
import pytest
import strawberry
from strawberry import relay
from strawberry.extensions import ParserCache, SchemaExtension

from execgate.api import compat
from execgate.api.execution import InlineExecutor, executor_for
from execgate.api.plans import KNOWN_VALUE, LeafPlan, ObjectPlan, field_plans
from execgate.api.schema import build_schema
from execgate.config import ServerSettings


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


CHECKED: list[str] = []


@strawberry.type
class Picky:
    value: str

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        CHECKED.append(info.field_name)
        return isinstance(obj, Picky)


@strawberry.type
class Box:
    label: str
    item: Item
    spare: Part | None
    bits: list[Part | None]
    picky: Picky | None
    known: strawberry.Private[Part | None]

    @strawberry.field(metadata={KNOWN_VALUE: "known"})
    def best(self) -> Part:
        LOOKUPS.append(self.label)
        return self.known or Part(label=f"looked up {self.label}", weight=None)


def _box(label: str, item: Any = None, **extra: Any) -> Box:
    values: dict[str, Any] = {
        "spare": Part(label="s", weight=1),
        "bits": [Part(label="b", weight=2), None],
        "picky": Picky(value="p"),
        "known": Part(label="k", weight=4),
    }
    values.update(extra)
    return Box(label=label, item=ITEMS[0] if item is None else item, **values)


BOXES = [
    _box("full"),
    _box("empty", spare=None, bits=[], picky=None, known=None),  # an unknown answer: resolver
    _box("broken item", ITEMS[2]),  # Item.name is null: the error nulls Box.item, then the box
    _box("wrong item", Part(label="not an item", weight=0)),
    _box("bad bit", bits=[Part(label=None, weight=1)]),  # type: ignore[arg-type]
    _box("bits not a list", bits="nope"),
]


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box | None]:
        return list(BOXES)

    @strawberry.field
    def good_boxes(self) -> list[Box]:
        return [_box("one"), _box("two", spare=None)]

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
    def echo(self, n: int | None = None) -> int | None:
        return n

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
    "{ boxes { label item { name parts { label } } spare { label weight } bits { label } } }",
    "{ boxes { __typename best { __typename label } spare { weight } } }",
    "{ boxes { item { tags { id title } colour } } }",
    "{ boxes { label item { shout } best { label } } }",
    "{ boxes { label picky { value } } }",
    "{ boxes { bits @include(if: true) { label } spare @skip(if: false) { label } } }",
    "{ boxes { ... on Box { label bits { ... on Part { weight } } } } }",
]


def _schemas(extensions: list[Any] | None = None) -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, extensions=extensions or [])
    fast = strawberry.Schema(query=Query, extensions=extensions or [])
    fast.execution_context_class = executor_for(fast._schema, operations=8, moments=64)
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


def test_plans_shared_across_operations_follow_each_operations_variables() -> None:
    # given: schemas with a parser cache, so the same text gives the same syntax tree
    plain, fast = _schemas([lambda: ParserCache(maxsize=8)])
    document = "query($skip: Boolean!) { first { parts { label @skip(if: $skip) weight } } }"
    executor = fast.execution_context_class

    # when: the same operation with the variable flipping
    answers = []
    for skip in (False, True, False, True):
        got = fast.execute_sync(document, variable_values={"skip": skip})
        expected = plain.execute_sync(document, variable_values={"skip": skip})
        answers.append((got.data, expected.data))

    # then: each answer as graphql-core gives it, and one set of plans per value of $skip
    assert all(got == expected for got, expected in answers)
    assert answers[0][0] != answers[1][0]
    [entry] = executor.shared._entries.values()  # type: ignore[union-attr]
    assert entry.variables == ("skip",)
    assert len(entry.by_values) == 2


def test_shared_plans_ignore_variables_that_no_directive_uses() -> None:
    # given: distinct values of a variable no directive reads (a cursor, a date, a filter)
    plain, fast = _schemas([lambda: ParserCache(maxsize=8)])
    document = (
        "query($unknown: Boolean!, $n: Int) { named(unknown: $unknown) { code title } "
        "echo(n: $n) first { parts { label } tags { id } } }"
    )
    executor = fast.execution_context_class
    variables = [{"unknown": flag, "n": n} for n in range(6) for flag in (False, True)]

    # when
    answers = [
        (
            fast.execute_sync(document, variable_values=v).data,
            plain.execute_sync(document, variable_values=v).data,
        )
        for v in variables
    ]

    # then: the same answers, and every request used the one set of plans
    assert all(got == expected for got, expected in answers)
    [entry] = executor.shared._entries.values()  # type: ignore[union-attr]
    assert entry.variables == ()
    assert list(entry.by_values._entries) == [()]


def test_shared_plans_keep_at_most_the_operations_asked_for() -> None:
    # given: an executor sharing the plans of two operations
    schema = strawberry.Schema(query=Query, extensions=[lambda: ParserCache(maxsize=8)])
    schema.execution_context_class = executor_for(schema._schema, operations=2, moments=4)

    # when: four operations
    for field in ("label", "weight", "label weight", "__typename label"):
        assert not schema.execute_sync(f"{{ first {{ parts {{ {field} }} }} }}").errors

    # then
    assert len(schema.execution_context_class.shared) == 2  # type: ignore[union-attr]


def test_errors_inside_nested_objects_keep_graphql_cores_paths() -> None:
    # the nested cases compared above fail where they should, with graphql-core's paths
    data, errors = _answer(_schemas()[1], QUERIES[15])
    assert [path for _, path, _ in errors] == [
        ("boxes", 3, "item", "name"),
        ("boxes", 2, "item", "name"),
        ("boxes", 4, "bits", 0, "label"),
        ("boxes", 5, "bits"),
    ]
    assert [box and box["label"] for box in data["boxes"]] == [
        "full",
        "empty",
        None,
        None,
        "bad bit",
        None,
    ]
    assert data["boxes"][1]["spare"] is None and data["boxes"][4]["bits"] == [None]


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fields graphql-core's own field path executes, in order."""
    names: list[str] = []
    original = graphql.execution.executor.Executor.execute_field

    def spy(self: Any, parent_type: Any, source: Any, field_details_list: Any, *args: Any) -> Any:
        names.append(field_details_list[0].node.name.value)
        return original(self, parent_type, source, field_details_list, *args)

    monkeypatch.setattr(graphql.execution.executor.Executor, "execute_field", spy)
    return names


def test_plain_fields_and_lists_of_plain_objects_complete_inline(executed: list[str]) -> None:
    # given
    _, fast = _schemas()

    # when
    data, errors = _answer(fast, "{ first { shout parts { label weight } } gaps { label } }")
    tree, tree_errors = _answer(fast, "{ first { name parts { label } tags { id } } }")

    # then: only the root fields and the resolver field went through graphql-core's field path
    assert errors == tree_errors == []
    assert data == {
        "first": {
            "shout": "A",
            "parts": [{"label": "p", "weight": None}, {"label": "q", "weight": 3}],
        },
        "gaps": [{"label": "x"}, None, {"label": "y"}],
    }
    assert tree == {
        "first": {
            "name": "a",
            "parts": [{"label": "p"}, {"label": "q"}],
            "tags": [{"id": str(relay.GlobalID("Tag", "t1"))}],
        }
    }
    assert executed == ["first", "shout", "gaps", "first"]


def test_nested_objects_and_known_answers_complete_inline(executed: list[str]) -> None:
    # given: only boxes whose every answer is at hand
    _, fast = _schemas()
    LOOKUPS.clear()

    # when
    data, errors = _answer(
        fast, "{ goodBoxes { label item { name } spare { label } best { weight } } }"
    )

    # then: below the root field, no field took graphql-core's path and no resolver was asked
    assert errors == []
    assert data == {
        "goodBoxes": [
            {"label": "one", "item": {"name": "a"}, "spare": {"label": "s"}, "best": {"weight": 4}},
            {"label": "two", "item": {"name": "a"}, "spare": None, "best": {"weight": 4}},
        ]
    }
    assert executed == ["goodBoxes"]
    assert LOOKUPS == []


def test_an_object_type_that_checks_its_type_with_the_info_is_not_planned() -> None:
    # given
    _, fast = _schemas()
    CHECKED.clear()

    # when
    data, _ = _answer(fast, "{ boxes { picky { value } } }")

    # then: Picky's own is_type_of ran, with the info of its field
    assert "picky" not in field_plans(fast._schema)["Box"]
    assert data["boxes"][0] == {"picky": {"value": "p"}}
    assert CHECKED and set(CHECKED) == {"picky"}


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


def test_plans_cover_plain_fields_and_known_answers_only() -> None:
    plans = field_plans(strawberry.Schema(query=Query)._schema)

    kinds = {name: type(plan) for name, plan in plans["Item"].items()}
    assert kinds == {
        "name": LeafPlan,
        "count": LeafPlan,
        "colour": LeafPlan,
        "at": LeafPlan,
        "note": LeafPlan,
        "parts": ObjectPlan,
        "tags": ObjectPlan,
    }
    assert set(plans["Tag"]) == {"id", "title"}
    part = plans["Part"]
    assert {name: plan.none_to_core for name, plan in part.items()} == {  # type: ignore[union-attr]
        "label": True,
        "weight": False,
    }
    item, bits, best = plans["Box"]["item"], plans["Box"]["bits"], plans["Box"]["best"]
    assert isinstance(item, ObjectPlan) and isinstance(bits, ObjectPlan)
    assert isinstance(best, ObjectPlan)
    assert (item.known, item.non_null, item.is_list, item.items_non_null) == (
        False,
        True,
        False,
        False,
    )
    assert (bits.known, bits.non_null, bits.is_list, bits.items_non_null) == (
        False,
        True,
        True,
        False,
    )
    assert (best.known, best.non_null, best.is_list, best.items_non_null) == (
        True,
        True,
        False,
        False,
    )
    assert item.object_type.name == "Item"
    assert "shout" not in plans["Item"]


def test_the_enum_lookup_names_values_as_the_enum_type_does() -> None:
    # given
    schema = strawberry.Schema(query=Query)._schema
    enum_type = schema.type_map["Colour"]
    coerce = field_plans(schema)["Item"]["colour"].coerce

    # then: every member, and a raw value the lookup does not hold, as the type answers
    for value in [*Colour, "red"]:
        assert coerce(value) == enum_type.coerce_output_value(value)
    assert coerce(Colour.BLUE) == "BLUE"
    with pytest.raises(graphql.GraphQLError):
        coerce("purple")


def test_datetimes_are_serialised_as_strawberry_does_even_when_remembered() -> None:
    # given: equal moments in other offsets, a naive one, and the same moment twice
    coerce = field_plans(strawberry.Schema(query=Query)._schema)["Item"]["at"].coerce
    utc = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
    paris = datetime(2026, 1, 2, 4, 0, tzinfo=timezone(timedelta(hours=1)))
    moments = [utc, paris, utc.replace(tzinfo=None), utc, datetime(2026, 1, 2, 3, 0, tzinfo=UTC)]

    # then
    assert utc == paris
    assert [coerce(m) for m in moments] == [m.isoformat() for m in moments]
    assert coerce(paris) == "2026-01-02T04:00:00+01:00"


def test_the_gateway_schema_runs_on_the_fast_executor() -> None:
    assert compat.check() == [], "the installed strawberry or graphql-core changed"
    built = build_schema()
    assert built.fast
    assert issubclass(built.execution_context_class, InlineExecutor)
    plans = built.execution_context_class.plans
    assert {"nodeName", "status", "startedAt", "durationMs"} <= set(plans["NodeExecution"])
    assert "id" in plans["Execution"] and "id" in plans["Workflow"]
    assert {"edges", "pageInfo"} <= set(plans["ExecutionConnection"])
    assert isinstance(plans["ExecutionEdge"]["node"], ObjectPlan)
    # resolvers read from their known answer when there is one
    known = {
        ("Workflow", "name"): "known_name",
        ("Execution", "nodeExecutions"): "known_node_executions",
        ("Execution", "workflow"): "known_workflow",
        ("Execution", "instance"): "known_instance",
        ("ExecutionEdge", "cursor"): "known_cursor",
    }
    for (type_name, field_name), attribute in known.items():
        read = plans[type_name][field_name].read
        assert read.__reduce__()[1] == (attribute,), (type_name, field_name)


def test_the_switch_keeps_strawberrys_executor() -> None:
    built = build_schema(server=ServerSettings(fast_executor=False))

    assert not built.fast
    assert not issubclass(built.execution_context_class, InlineExecutor)
