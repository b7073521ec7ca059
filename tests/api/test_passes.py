"""What the cost walk reads of an operation's variables, and passes remembered by it."""

from __future__ import annotations

from typing import Any

from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from execgate.api.cost import LENGTH, NULLNESS, VALUE
from execgate.api.passes import PassedOperations, Use, reading, uses

DOCUMENT = """
query Q($n: Int!, $after: String, $f: ExecutionFilter, $since: DateTime, $ids: [ID!]!,
        $show: Boolean!, $name: String!, $wf: ID, $id: ID!, $one: ID!) {
  executions(first: $n, after: $after, filter: $f) { edges { node { id } } }
  other: executions(first: 5, filter: {startedAfter: $since, workflowId: $wf,
                                       instances: ["a", $name]}) {
    ...F
  }
  nodes(ids: $ids) { id }
  some: nodes(ids: [$one, $one]) { id }
  execution(id: $id) { id }
}
fragment F on ExecutionConnection { totalCount @include(if: $show) }
"""


def _parsed(text: str) -> tuple[Any, OperationDefinitionNode, dict[str, Any]]:
    document = parse(text)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return document, operation, fragments


def test_only_what_the_walk_reads_is_a_use() -> None:
    _, operation, fragments = _parsed(DOCUMENT)

    assert uses(operation, fragments) == (
        Use("after", NULLNESS),
        Use("f", "filter"),
        Use("ids", LENGTH),
        Use("n", VALUE),
        Use("name", VALUE),
        Use("show", VALUE),
        Use("since", NULLNESS),
    )  # not $wf (workflowId), $id (one read whatever it is), $one (the list's length is 2)


def test_readings_keep_only_what_the_estimate_depends_on() -> None:
    none: frozenset[str] = frozenset()
    assert reading(Use("after", NULLNESS), {"after": "c1"}, none) == reading(
        Use("after", NULLNESS), {"after": "c2"}, none
    )
    assert reading(Use("after", NULLNESS), {}, none) == reading(
        Use("after", NULLNESS), {"after": None}, none
    )
    assert reading(Use("after", NULLNESS), {}, frozenset({"after"})) != reading(
        Use("after", NULLNESS), {"after": None}, frozenset({"after"})
    )  # absent takes the default
    ids = Use("ids", LENGTH)
    assert reading(ids, {"ids": ["x", "y"]}, none) == reading(ids, {"ids": ["z", "w"]}, none)
    assert len({reading(ids, {"ids": v}, none) for v in ([], ["x"], "x", None)}) == 4
    f = Use("f", "filter")
    dated = {"instances": ["a"], "status": ["FAILED"], "startedBefore": "2030-01-01"}
    other_date = {**dated, "startedBefore": "2031-01-01", "workflowId": "W"}
    assert reading(f, {"f": dated}, none) == reading(f, {"f": other_date}, none)
    assert reading(f, {"f": dated}, none) != reading(f, {"f": {**dated, "status": []}}, none)
    assert reading(Use("n", VALUE), {"n": 5}, none) != reading(Use("n", VALUE), {"n": 6}, none)


def test_passes_are_kept_per_operation_and_reading_within_bounds() -> None:
    passed = PassedOperations(size=2)
    documents = [_parsed(DOCUMENT) for _ in range(3)]
    variables = {"n": 5, "ids": ["a"], "show": True, "name": "x", "id": "i", "one": "o"}

    keys = [passed.key(d, o, "Q", variables, "client") for d, o, _ in documents]
    for key in keys:
        assert key is not None
        PassedOperations.put(key)
    again = passed.key(documents[2][0], documents[2][1], "Q", {**variables, "id": "j"}, "client")
    other = passed.key(documents[2][0], documents[2][1], "Q", variables, "another client")

    assert len(passed) == 2
    assert again is not None and PassedOperations.holds(again)
    assert other is not None and not PassedOperations.holds(other)
    first_again = passed.key(documents[0][0], documents[0][1], "Q", variables, "client")
    assert first_again is not None and not PassedOperations.holds(first_again)  # let go


def test_variables_that_are_not_json_are_not_remembered() -> None:
    document, operation, _ = _parsed(DOCUMENT)

    assert PassedOperations(4).key(document, operation, "Q", {"n": object()}, "c") is None
