"""Clients with different scopes, side by side over the embedded demo.

``ops`` sees every instance and may do everything; ``dash`` sees acme and n8n-prod and may only
read; ``stage`` sees n8n-staging and may read and cancel. What one client cannot see must
answer exactly as if it were not configured, and a refused action must reach no backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from execgate.domain.access import ALL_ACTIONS, Action
from tests.security.world import READ, Grant, World, world

GRANTS = [
    Grant("ops", None, ALL_ACTIONS),
    Grant("dash", ("acme", "n8n-prod"), READ),
    Grant("stage", ("n8n-staging",), frozenset({Action.READ, Action.CANCEL})),
]

FEED = """
query Feed($first: Int!, $filter: ExecutionFilter) {
  executions(first: $first, filter: $filter) {
    totalCount
    edges { node { id status instance { name } } }
  }
}
"""

CANCEL = """
mutation Cancel($id: ID!) {
  cancelExecution(id: $id) { execution { id status } errors { code message } }
}
"""


@pytest.fixture
async def demo() -> AsyncIterator[World]:
    async with world(GRANTS) as running:
        yield running


async def _ids(demo: World, instance: str, status: str, count: int = 3) -> list[str]:
    body = await demo.query(
        FEED, as_client="ops", first=count, filter={"instances": [instance], "status": [status]}
    )
    found = [e["node"]["id"] for e in body["data"]["executions"]["edges"]]
    assert len(found) == count, body
    return found


def _spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


async def test_each_client_lists_only_its_instances(demo: World) -> None:
    # when
    seen = {
        name: [
            i["name"]
            for i in (await demo.query("{ instances { name } }", as_client=name))["data"][
                "instances"
            ]
        ]
        for name in ("ops", "dash", "stage")
    }
    # then
    assert seen == {
        "ops": ["acme", "n8n-prod", "n8n-staging"],
        "dash": ["acme", "n8n-prod"],
        "stage": ["n8n-staging"],
    }


async def test_merged_feed_spans_only_the_scope(demo: World) -> None:
    # given what the full-access client sees of dash's two instances
    reference = await demo.query(
        FEED, as_client="ops", first=60, filter={"instances": ["acme", "n8n-prod"]}
    )
    # when dash reads its whole feed, with no filter
    before = demo.calls()
    scoped = await demo.query(FEED, as_client="dash", first=60)
    spent = _spent(before, demo.calls())
    # then it is exactly that feed, and the hidden instance was never asked
    assert "errors" not in scoped, scoped
    assert scoped["data"] == reference["data"]
    names = {e["node"]["instance"]["name"] for e in scoped["data"]["executions"]["edges"]}
    assert names == {"acme", "n8n-prod"}
    assert spent["n8n-staging"] == 0


async def test_hidden_instance_in_a_filter_answers_like_an_unknown_one(demo: World) -> None:
    # when dash names an instance it cannot see, and one that does not exist
    before = demo.calls()
    hidden = await demo.query(
        FEED, as_client="dash", first=5, filter={"instances": ["n8n-staging"]}
    )
    ghost = await demo.query(FEED, as_client="dash", first=5, filter={"instances": ["ghost"]})
    # then both answer UNKNOWN_INSTANCE, worded alike, naming only what dash can see
    assert hidden["data"] is None and ghost["data"] is None
    [hidden_error], [ghost_error] = hidden["errors"], ghost["errors"]
    assert hidden_error["extensions"]["code"] == "UNKNOWN_INSTANCE"
    assert hidden_error["message"].replace("n8n-staging", "ghost") == ghost_error["message"]
    assert "known: acme, n8n-prod" in ghost_error["message"]
    assert sum(_spent(before, demo.calls()).values()) == 0


async def test_refetch_of_another_clients_objects_answers_null(demo: World) -> None:
    # given ids of n8n-staging's objects and of one of dash's executions
    staging = await demo.query(
        """{ executions(first: 1, filter: {instances: ["n8n-staging"]}) { edges { node {
             id workflow { id } instance { id } nodeExecutions { id } } } } }""",
        as_client="ops",
    )
    node = staging["data"]["executions"]["edges"][0]["node"]
    hidden_ids = [node["id"], node["workflow"]["id"], node["instance"]["id"]]
    hidden_ids += [n["id"] for n in node["nodeExecutions"][:1]]
    [visible] = await _ids(demo, "acme", "SUCCESS", 1)
    # when dash asks for them every way there is
    before = demo.calls()
    answers: list[dict[str, Any]] = []
    for gid in hidden_ids:
        answers.append(
            await demo.query("query($id: ID!) { node(id: $id) { id } }", as_client="dash", id=gid)
        )
    execution = await demo.query(
        "query($id: ID!) { execution(id: $id) { id } }", as_client="dash", id=node["id"]
    )
    many = await demo.query(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        as_client="dash",
        ids=[visible, node["id"]],
    )
    instance = await demo.query('{ instance(name: "n8n-staging") { name } }', as_client="dash")
    # then: null everywhere, no error, and n8n-staging was never asked
    assert answers == [{"data": {"node": None}}] * len(hidden_ids)
    assert execution == {"data": {"execution": None}}
    assert many == {"data": {"nodes": [{"id": visible}, None]}}
    assert instance == {"data": {"instance": None}}
    assert _spent(before, demo.calls())["n8n-staging"] == 0
    # and the same ids do resolve for the client that may see them
    for gid in hidden_ids:
        seen = await demo.query("query($id: ID!) { node(id: $id) { id } }", as_client="ops", id=gid)
        assert seen == {"data": {"node": {"id": gid}}}


async def test_forbidden_mutations_reach_no_backend(demo: World) -> None:
    # given executions dash can see (running, failed, finished)
    [running] = await _ids(demo, "acme", "RUNNING", 1)
    failed = await _ids(demo, "n8n-prod", "FAILED", 2)
    finished = await _ids(demo, "n8n-prod", "SUCCESS", 3)
    # when dash, a read-only client, tries every action, single and bulk
    before = demo.calls()
    cancel = await demo.query(CANCEL, as_client="dash", id=running)
    retry = await demo.query(
        "mutation($id: ID!) { retryExecution(id: $id) { execution { id } retry { id } "
        "errors { code } } }",
        as_client="dash",
        id=failed[0],
    )
    bulk = await demo.query(
        "mutation($ids: [ID!]!) { deleteExecutions(ids: $ids) { deletedId errors { code } } }",
        as_client="dash",
        ids=finished,
    )
    # then every attempt is FORBIDDEN, and no backend received anything
    assert cancel["data"]["cancelExecution"]["errors"][0]["code"] == "FORBIDDEN"
    assert cancel["data"]["cancelExecution"]["execution"] is None
    assert "may not cancel" in cancel["data"]["cancelExecution"]["errors"][0]["message"]
    assert retry["data"]["retryExecution"] == {
        "execution": None,
        "retry": None,
        "errors": [{"code": "FORBIDDEN"}],
    }
    assert (
        bulk["data"]["deleteExecutions"]
        == [{"deletedId": None, "errors": [{"code": "FORBIDDEN"}]}] * 3
    )
    assert _spent(before, demo.calls()) == {"acme": 0, "n8n-prod": 0, "n8n-staging": 0}
    # and the executions are untouched
    assert len(demo.backends.stores["n8n-prod"].visible()) == 450
    # and every attempt is in the audit trail, by client, action and outcome
    lines = [
        (e.client, e.action, e.execution_id, e.instance, e.outcome) for e in demo.audit.entries
    ]
    assert lines == [
        ("dash", "cancel", running, "acme", "FORBIDDEN"),
        ("dash", "retry", failed[0], "n8n-prod", "FORBIDDEN"),
        *[("dash", "delete", gid, "n8n-prod", "FORBIDDEN") for gid in finished],
    ]


async def test_scoped_action_on_a_hidden_instance_is_not_found(demo: World) -> None:
    # given a running execution stage may cancel, and one of acme it cannot see
    [mine] = await _ids(demo, "n8n-staging", "RUNNING", 1)
    [theirs] = await _ids(demo, "acme", "RUNNING", 1)
    # when stage cancels both (and a malformed id) in one bulk call
    before = demo.calls()
    body = await demo.query(
        "mutation($ids: [ID!]!) { cancelExecutions(ids: $ids) { execution { id status } "
        "errors { code } } }",
        as_client="stage",
        ids=[mine, theirs, "not-an-id"],
    )
    spent = _spent(before, demo.calls())
    # then its own is cancelled, the hidden one does not exist for it, acme was never asked
    results = body["data"]["cancelExecutions"]
    assert results[0] == {"execution": {"id": mine, "status": "CANCELLED"}, "errors": []}
    assert results[1] == {"execution": None, "errors": [{"code": "NOT_FOUND"}]}
    assert results[2] == {"execution": None, "errors": [{"code": "INVALID_ID"}]}
    assert spent["acme"] == 0 and spent["n8n-prod"] == 0
    assert spent["n8n-staging"] >= 2  # the state read, the stop (and the payload's read)
    outcomes = {(e.execution_id, e.instance, e.outcome) for e in demo.audit.entries}
    assert outcomes == {
        (mine, "n8n-staging", "OK"),
        (theirs, "acme", "NOT_FOUND"),
        ("not-an-id", None, "INVALID_ID"),
    }
    assert all(e.client == "stage" and e.action == "cancel" for e in demo.audit.entries)
    assert all(e.latency_ms >= 0 for e in demo.audit.entries)


async def test_a_client_without_an_action_is_refused_for_it_only(demo: World) -> None:
    # given stage may cancel but not delete
    [finished] = await _ids(demo, "n8n-staging", "SUCCESS", 1)
    before = demo.calls()
    # when it deletes
    body = await demo.query(
        "mutation($id: ID!) { deleteExecution(id: $id) { deletedId errors { code message } } }",
        as_client="stage",
        id=finished,
    )
    # then FORBIDDEN, with nothing sent
    payload = body["data"]["deleteExecution"]
    assert payload["deletedId"] is None
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert payload["errors"][0]["message"] == "client 'stage' may not delete executions"
    assert sum(_spent(before, demo.calls()).values()) == 0
