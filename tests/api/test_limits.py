"""Operation limits: depth, aliases, tokens, ``first`` and the backend-call estimate.

Every refusal happens before any backend call, answers ``data: null`` with one coded error,
and the estimate is an upper bound of the calls an operation really makes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import get_introspection_query

from execgate.api.cost import CostEstimate
from execgate.api.limits import FieldCount
from execgate.backends import team
from execgate.backends.n8n import UNDATED_READS
from execgate.config import LimitSettings
from execgate.domain.access import ALL_ACTIONS
from tests.security.world import Grant, World, simulated, world

TEAMS = ("acme", "beta")
TEAM_UNDATED = team.UNDATED_READS + 1 + team.TAIL_PAGES
COUNT = team.COSTS.count_reads
"""A team-style total: one read, two with a date filter (the estimate takes the larger)."""
"""What a team-style page may spend on executions that have not started (no date filter): a
read each, and the lists that look for them when the stream starts."""
PAGE = """
  executions(first: $first) {
    totalCount
    edges { node { id status nodeExecutions { nodeName status inputData outputData } } }
  }
"""


def page_query(count: int) -> str:
    fields = "\n".join(f"p{i}: {PAGE}" for i in range(count))
    return f"query Pages($first: Int!) {{ {fields} }}"


@pytest.fixture
async def teams() -> AsyncIterator[World]:
    """Two team-style instances and one n8n instance; ``wide`` sees all, ``teams`` the two."""
    backends = simulated({"acme": "team", "beta": "team", "n8n-prod": "n8n"})
    grants = [Grant("wide", None, ALL_ACTIONS), Grant("teams", ("acme", "beta"), ALL_ACTIONS)]
    async with world(grants, backends) as running:
        yield running


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None, body
    [error] = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


async def estimate_of(
    backends: Any, document: str, instances: tuple[str, ...] | None = None, **variables: Any
) -> int:
    """The estimate for ``document``, read from the refusal of a gateway allowing 1 call."""
    grants = [Grant("probe", instances, ALL_ACTIONS)]
    async with world(grants, backends, limits=LimitSettings(max_backend_calls=1)) as tight:
        body = await tight.query(document, as_client="probe", **variables)
        assert sum(tight.calls().values()) == 0
    extensions = refusal(body)
    assert extensions["code"] == "QUERY_TOO_EXPENSIVE"
    assert extensions["limit"] == 1
    estimate: int = extensions["estimate"]
    return estimate


# -- the backend-call estimate -----------------------------------------------------------------


async def test_one_page_of_100_with_nodes_on_two_team_instances_passes(teams: World) -> None:
    # when
    before = teams.calls()
    body = await teams.query(page_query(1), as_client="teams", first=100)
    spent = sum(teams.calls()[n] - before[n] for n in before)
    # then it ran, within the estimate: 2 list pages + a count per instance, and what it may
    # spend on executions that have not started; 100 details
    assert "errors" not in body, body["errors"]
    assert len(body["data"]["p0"]["edges"]) == 100
    estimate = await estimate_of(teams.backends, page_query(1), TEAMS, first=100)
    assert estimate == 2 * (2 + COUNT + TEAM_UNDATED) + 100 < 250
    assert 100 <= spent <= estimate


async def test_four_such_pages_in_one_operation_are_refused_before_any_call(
    teams: World,
) -> None:
    # when
    before = teams.calls()
    body = await teams.query(page_query(4), as_client="teams", first=100)
    # then
    extensions = refusal(body)
    page = 2 * (2 + COUNT + TEAM_UNDATED) + 100
    assert extensions == {"code": "QUERY_TOO_EXPENSIVE", "estimate": 4 * page, "limit": 250}
    assert f"about {4 * page} backend requests" in body["errors"][0]["message"]
    assert teams.calls() == before


async def test_the_estimate_follows_the_clients_instances(teams: World) -> None:
    # given the same two pages, for a client with and without the n8n instance
    document = page_query(2)
    # when / then: per page, each team instance costs a list page, a count and what it may
    # spend on executions that have not started, plus 50 details; the n8n instance adds its
    # two list streams (its lists carry nodes) and its reads for executions that have not
    # started, up to UNDATED_READS (no total)
    teams_only = 2 * (2 * (1 + COUNT + TEAM_UNDATED) + 50)
    assert await estimate_of(teams.backends, document, TEAMS, first=50) == teams_only
    wide = await estimate_of(teams.backends, document, None, first=50)
    assert wide == teams_only + 2 * (2 + UNDATED_READS)


async def test_variables_and_fragments_are_resolved(teams: World) -> None:
    # given four pages written through a fragment, with first in a variable
    document = (
        "query Q($n: Int!) { a: executions(first: $n) { ...Page } b: executions(first: $n) "
        "{ ...Page } c: executions(first: $n) { ...Page } d: executions(first: $n) { ...Page } }"
        "fragment Page on ExecutionConnection { edges { node { nodeExecutions { nodeName } } } }"
    )
    # when / then: small pages pass, big ones are refused before any call
    small = await teams.query(document, as_client="teams", n=5)
    assert "errors" not in small, small
    before = teams.calls()
    big = await teams.query(document, as_client="teams", n=100)
    assert refusal(big)["estimate"] == 4 * (2 * (2 + TEAM_UNDATED) + 100)
    assert teams.calls() == before


async def test_skipped_fields_cost_nothing(teams: World) -> None:
    # given four pages, three of them only included when $more is true
    optional = PAGE.replace(
        "executions(first: $first)", "executions(first: $first) @include(if: $more)"
    )
    fields = [f"p0: {PAGE}"] + [f"p{i}: {optional}" for i in (1, 2, 3)]
    document = f"query Pages($first: Int!, $more: Boolean!) {{ {' '.join(fields)} }}"
    # when / then: without them it runs; with them it is refused
    skipped = await teams.query(document, as_client="teams", first=100, more=False)
    assert "errors" not in skipped, skipped
    assert set(skipped["data"]) == {"p0"}
    included = await teams.query(document, as_client="teams", first=100, more=True)
    assert refusal(included)["code"] == "QUERY_TOO_EXPENSIVE"


NESTED = """
{ instances { name executions(first: 20) { edges { node { id
    workflow { executions(first: 20) { edges { node { id } } } }
} } } } }
"""


@pytest.mark.parametrize(
    "document",
    [
        "{ executions(first: 30) { totalCount edges { node { nodeExecutions { nodeName } } } } }",
        "{ executions(first: 20, filter: {status: [FAILED, CRASHED]}) { edges { node { id "
        "retryOf { id } retries { id } } } } }",
        NESTED,
        "{ instances { executions(first: 10) { nodes { inputData workflow { name } } } } }",
    ],
)
async def test_the_estimate_bounds_the_calls_really_made(teams: World, document: str) -> None:
    # given
    estimate = await estimate_of(teams.backends, document)
    grants = [Grant("wide", None, ALL_ACTIONS)]
    roomy = LimitSettings(max_backend_calls=100_000)
    async with world(grants, teams.backends, limits=roomy) as running:
        # when
        before = running.calls()
        body = await running.query(document, as_client="wide")
        spent = sum(running.calls()[n] - before[n] for n in before)
    # then
    assert "errors" not in body, body["errors"]
    assert 0 < spent <= estimate


async def test_mutations_are_priced_and_refused_ones_are_audited(teams: World) -> None:
    # given 100 execution ids (mutations cost a read and a write each, plus the payload's read)
    body = await teams.query(
        '{ executions(first: 100, filter: {instances: ["acme"]}) { edges { node { id } } } }',
        as_client="wide",
    )
    ids = [e["node"]["id"] for e in body["data"]["executions"]["edges"]]
    document = (
        "mutation($ids: [ID!]!) { cancelExecutions(ids: $ids) { execution { status } "
        "errors { code } } }"
    )
    # when
    before = teams.calls()
    refused = await teams.query(document, as_client="wide", ids=ids)
    # then
    assert refusal(refused) == {"code": "QUERY_TOO_EXPENSIVE", "estimate": 300, "limit": 250}
    assert teams.calls() == before
    entries = [
        (e.client, e.action, e.execution_id, e.instance, e.outcome) for e in teams.audit.entries
    ]
    assert entries == [("wide", "cancel", gid, "acme", "QUERY_TOO_EXPENSIVE") for gid in ids]


# -- what is worked out once per document, and what per request -----------------------------


async def test_validation_limits_run_once_per_document_and_the_cost_once_per_request(
    teams: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    validations: list[int] = []
    walks: list[int] = []
    original_rule = FieldCount.__init__
    original_walk = CostEstimate.operation

    def rule(self: FieldCount, context: Any) -> None:
        validations.append(1)
        original_rule(self, context)

    def walk(self: CostEstimate, operation: Any) -> int:
        walks.append(1)
        return original_walk(self, operation)

    monkeypatch.setattr(FieldCount, "__init__", rule)
    monkeypatch.setattr(CostEstimate, "operation", walk)
    document = page_query(2)

    # when: the same document with distinct variables, then a refused one twice
    answers = [await teams.query(document, as_client="teams", first=n) for n in (3, 4, 5)]
    refused = [await teams.query(document, as_client="teams", first=500) for _ in range(2)]

    # then: validated once (the validation cache holds the document), priced every time
    assert all("errors" not in body for body in answers)
    assert [refusal(body)["code"] for body in refused] == ["BAD_USER_INPUT"] * 2
    assert len(validations) == 1
    assert len(walks) == 5


# -- depth, aliases, tokens, first -------------------------------------------------------------


def nested(levels: int) -> str:
    """An operation of depth ``3 + 4 * levels + 1``: feeds nested through Execution.instance."""
    inner = "id"
    for _ in range(levels):
        inner = f"id instance {{ executions(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f"{{ executions(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"


async def test_depth_limit(teams: World) -> None:
    # depth 2 + 4 * 2 + 1 = 11, then one level more with workflow { name } = 12, then 13
    at_eleven = nested(2)
    at_twelve = at_eleven.replace("node { id }", "node { id workflow { name } }")
    at_thirteen = at_eleven.replace("node { id }", "node { id workflow { instance { name } } }")
    assert (await teams.query(at_twelve, as_client="wide")).get("errors") is None
    before = teams.calls()
    body = await teams.query(at_thirteen, as_client="wide")
    assert refusal(body) == {"code": "QUERY_TOO_COMPLEX", "rule": "max_depth", "limit": 12}
    assert teams.calls() == before


async def test_depth_limit_is_configurable() -> None:
    async with world([Grant("c")], limits=LimitSettings(max_depth=3)) as gw:
        ok = await gw.query("{ executions(first: 1) { edges { node { id } } } }", as_client="c")
        deep = await gw.query(
            "{ executions(first: 1) { edges { node { workflow { name } } } } }", as_client="c"
        )
    assert "errors" not in ok
    assert refusal(deep)["rule"] == "max_depth"


async def test_alias_limit(teams: World) -> None:
    thirty = "{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"
    thirty_one = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    assert len((await teams.query(thirty, as_client="wide"))["data"]) == 30
    body = await teams.query(thirty_one, as_client="wide")
    assert refusal(body) == {"code": "QUERY_TOO_COMPLEX", "rule": "max_aliases", "limit": 30}


async def test_token_limit(teams: World) -> None:
    document = "{ " + " ".join("__typename" for _ in range(2100)) + " }"
    before = teams.calls()
    body = await teams.query(document, as_client="wide")
    assert refusal(body) == {"code": "QUERY_TOO_COMPLEX", "rule": "max_tokens", "limit": 2000}
    assert teams.calls() == before
    async with world([Grant("c")], limits=LimitSettings(max_tokens=10)) as gw:
        small = await gw.query("{ instances { name kind } }", as_client="c")
        large = await gw.query(
            "{ instances { name kind id capabilities } __typename a: __typename }", as_client="c"
        )
    assert "errors" not in small
    assert refusal(large)["limit"] == 10


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (
            "{ instances { name } a: executions(first: 5) { edges { node { id } } } "
            "b: executions(first: 101) { edges { node { id } } } }",
            {},
        ),
        ("query($n: Int!) { executions(first: $n) { edges { node { id } } } }", {"n": 0}),
        ("{ instances { executions(first: 500) { edges { node { id } } } } }", {}),
    ],
)
async def test_first_out_of_range_refuses_the_whole_operation(
    teams: World, document: str, variables: dict[str, Any]
) -> None:
    before = teams.calls()
    body = await teams.query(document, as_client="wide", **variables)
    extensions = refusal(body)
    assert extensions == {"code": "BAD_USER_INPUT"}
    assert "'first' must be between 1 and 100" in body["errors"][0]["message"]
    assert teams.calls() == before


async def test_max_first_from_limits_table() -> None:
    async with world([Grant("c")], max_first=10) as gw:
        body = await gw.query("{ executions(first: 11) { edges { node { id } } } }", as_client="c")
    assert "between 1 and 10, got 11" in body["errors"][0]["message"]


# -- introspection -----------------------------------------------------------------------------


async def test_introspection_works_by_default_within_the_limits(teams: World) -> None:
    body = await teams.query(get_introspection_query(), as_client="wide")
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_introspection_can_be_switched_off() -> None:
    async with world([Grant("c")], introspection=False) as gw:
        full = await gw.query(get_introspection_query(), as_client="c")
        one_type = await gw.query('{ __type(name: "Execution") { name } }', as_client="c")
        typename = await gw.query("{ __typename instances { name } }", as_client="c")
    assert refusal(full) == {"code": "INTROSPECTION_DISABLED"}
    assert refusal(one_type) == {"code": "INTROSPECTION_DISABLED"}
    assert typename["data"]["__typename"] == "Query"


# -- what the stock limiters are spared, and how their refusals are told apart -----------------


async def test_fragments_spread_into_too_many_fields_are_refused_at_once(teams: World) -> None:
    # given: 40 fragments, each spreading the next twice (2**40 fields once spread)
    levels = 40
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    document = f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ a: __typename }}"

    # when
    started = time.process_time()
    body = await teams.query(document, as_client="wide")

    # then: refused before the depth and alias rules walk it
    assert refusal(body) == {"code": "QUERY_TOO_COMPLEX", "rule": "fields", "limit": 20_000}
    assert time.process_time() - started < 2


async def test_an_unknown_fragment_is_a_validation_error(teams: World) -> None:
    body = await teams.query("{ executions(first: 1) { ...Missing } }", as_client="wide")

    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


async def test_syntax_errors_and_the_token_limit_are_told_apart_by_the_parser() -> None:
    # given: a gateway allowing 10 tokens
    async with world([Grant("c")], limits=LimitSettings(max_tokens=10)) as gw:
        # when: wrong within the limit, wrong exactly at the 11th token, and too long
        wrong = await gw.query("{ instances { name ) }", as_client="c")
        wrong_at_limit = await gw.query(
            "{ a: __typename b: __typename c: __typename ) }", as_client="c"
        )
        too_long = await gw.query(
            "{ instances { name kind id capabilities } a: __typename }", as_client="c"
        )
        # (a message that reads like the limiter's is still a syntax error)
        quoted = await gw.query('{ "Document contains more than 10 tokens." }', as_client="c")

    # then
    assert [e["extensions"]["code"] for e in wrong["errors"]] == ["GRAPHQL_PARSE_FAILED"]
    assert [e["extensions"]["code"] for e in wrong_at_limit["errors"]] == ["GRAPHQL_PARSE_FAILED"]
    assert refusal(too_long) == {"code": "QUERY_TOO_COMPLEX", "rule": "max_tokens", "limit": 10}
    assert [e["extensions"]["code"] for e in quoted["errors"]] == ["GRAPHQL_PARSE_FAILED"]


async def test_a_mutation_refused_by_a_validation_limit_is_audited_once(teams: World) -> None:
    # given: a mutation nested deeper than the limit
    inner = "id " + "retryOf { " * 12 + "id" + " }" * 12
    document = "mutation($id: ID!) { cancelExecution(id: $id) { execution { " + inner + " } } }"
    gid = "RXhlY3V0aW9uOmFjbWU6NDI="  # Execution:acme:42

    # when: the same refused mutation twice (the second validation comes from the cache)
    bodies = [await teams.query(document, as_client="wide", id=gid) for _ in range(2)]

    # then: one refusal each, and one audit line each
    assert [refusal(b)["rule"] for b in bodies] == ["max_depth", "max_depth"]
    entries = [(e.action, e.execution_id, e.instance, e.outcome) for e in teams.audit.entries]
    assert entries == [("cancel", gid, "acme", "QUERY_TOO_COMPLEX")] * 2


async def test_the_estimate_bounds_a_resumed_page(teams: World) -> None:
    # given: the second page of the feed over every instance
    document = (
        "query($after: String) { executions(first: 40, after: $after) { pageInfo { endCursor } "
        "edges { node { id nodeExecutions { nodeName } } } } }"
    )
    grants = [Grant("wide", None, ALL_ACTIONS)]
    async with world(
        grants, teams.backends, limits=LimitSettings(max_backend_calls=10_000)
    ) as running:
        first = await running.query(document, as_client="wide")
        after = first["data"]["executions"]["pageInfo"]["endCursor"]
        # when
        before = running.calls()
        body = await running.query(document, as_client="wide", after=after)
        spent = sum(running.calls()[n] - before[n] for n in before)
    estimate = await estimate_of(teams.backends, document, after=after)
    # then
    assert "errors" not in body, body
    assert 0 < spent <= estimate


# -- passes remembered by what the walk reads ---------------------------------------------------

FEED = """
query Feed($first: Int!, $after: String, $before: DateTime, $names: [String!], $more: Boolean!) {
  executions(first: $first, after: $after, filter: {instances: $names, startedBefore: $before}) {
    edges { node { id nodeExecutions @include(if: $more) { nodeName } } }
  }
}
"""


async def test_a_pass_is_remembered_by_what_the_walk_reads_of_the_variables(
    teams: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    walks: list[dict[str, Any]] = []
    original = CostEstimate.operation

    def walk(self: CostEstimate, operation: Any) -> int:
        walks.append(dict(self.walker.variables.coerced))  # type: ignore[union-attr]
        return original(self, operation)

    monkeypatch.setattr(CostEstimate, "operation", walk)
    base = {"first": 5, "names": ["acme"], "more": False}

    async def run(client: str = "teams", **changes: Any) -> None:
        body = await teams.query(FEED, as_client=client, **{**base, **changes})
        assert "errors" not in body, body

    # when: distinct dates and cursors (what real clients send), then what the walk reads
    await run(before="2030-01-01T00:00:00Z")
    await run(before="2030-01-02T00:00:00Z", after=None)
    await run(before="2030-01-03T00:00:00Z")
    walked_for_dates = len(walks)
    await run(before=None)  # no date: executions that have not started may count
    await run(first=6)
    await run(names=["beta"])
    await run(more=True)
    await run(client="wide")  # another client's instances

    # then
    assert walked_for_dates == 1
    assert len(walks) == 6


@pytest.mark.parametrize(
    "variables",
    [
        {"first": 5, "names": ["acme"], "more": False},
        {"first": 100, "names": None, "more": True},
        {"first": 100, "names": ["acme", "beta", "n8n-prod"], "more": True},
        {"first": 100, "names": ["acme", "beta", "n8n-prod"], "more": True, "before": "2030"},
        {"first": 60, "names": None, "more": True, "after": "opaque"},
        {"first": 101, "names": None, "more": False},
    ],
)
async def test_a_remembered_pass_answers_what_a_fresh_walk_would(
    teams: World, variables: dict[str, Any]
) -> None:
    # given: a gateway that remembered passes of other readings of the same operation
    grants = [Grant("wide", None, ALL_ACTIONS)]
    tight = LimitSettings(max_backend_calls=180)
    async with world(grants, teams.backends, limits=tight) as warm:
        for first in (5, 60, 100):
            for more in (False, True):
                await warm.query(FEED, as_client="wide", first=first, names=None, more=more)
        remembered = await warm.query(FEED, as_client="wide", **variables)
    # when: a gateway that never saw the operation
    async with world(grants, teams.backends, limits=tight) as cold:
        fresh = await cold.query(FEED, as_client="wide", **variables)
    # then: the same decision (a refusal the same refusal; a pass a pass)
    assert (remembered.get("errors") or [{}])[0].get("extensions") == (fresh.get("errors") or [{}])[
        0
    ].get("extensions")
