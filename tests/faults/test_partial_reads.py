"""One failed read costs only what depends on it, never the page (real sockets, fault proxy).

A team-style and an n8n-style simulator sit behind fault proxies; one execution's detail read
is made to fail, always. The page is served: that execution's fields that needed the read are
null with an error on their path naming the instance, every other row is whole, and no
instance is skipped.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from execgate.api.ids import encode
from execgate.app import create_app
from execgate.config import CacheSettings, HTTPSettings, Settings
from tests.faults.backends import FaultyBackend
from tests.faults.catalogue import Garbage, On, WrongStatus
from tests.serving import serving

HTTP = HTTPSettings(timeout_seconds=2.0, read_retries=0, circuit_failures=10_000)
PAGE = """query Page($fields: Boolean!) {
  executions(first: 12, filter: {instances: ["acme"]}) {
    edges { node { id nativeId status
      nodeExecutions @include(if: $fields) { nodeName }
      inputData @include(if: $fields)
    } }
    skippedInstances { instance }
  }
}"""
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id ... on Execution { status } } }"


@dataclass
class Gate:
    client: httpx.AsyncClient
    team: FaultyBackend
    n8n: FaultyBackend

    async def ask(self, query: str, **variables: Any) -> dict[str, Any]:
        answer = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert answer.status_code == 200, answer.text
        assert "INTERNAL_SERVER_ERROR" not in answer.text
        body: dict[str, Any] = answer.json()
        return body

    def break_detail(self, backend: FaultyBackend, native_id: str, fault: Any) -> None:
        suffix = "/api/v1/executions/" if backend.kind == "n8n" else "/api/executions/"
        pattern = re.escape(suffix + native_id) + "$"
        backend.proxy.inject(fault, on=On.READS, path=pattern, times=None)


@pytest.fixture
async def gate(team_backend: FaultyBackend, n8n_backend: FaultyBackend) -> AsyncIterator[Gate]:
    settings = Settings(
        instances=(team_backend.instance("acme", HTTP), n8n_backend.instance("n8n", HTTP)),
        cache=CacheSettings(enabled=False),
        source="test",
    )
    async with serving(create_app(settings)) as client:
        yield Gate(client, team_backend, n8n_backend)


FAULTS = {"garbage": Garbage(whole_answer=True), "http-500": WrongStatus(status="500")}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_failed_detail_read_nulls_only_that_executions_fields(
    gate: Gate, fault: str
) -> None:
    # given: a page of the team-style instance, whose list carries no node data
    plain = await gate.ask(PAGE, fields=False)
    rows = [edge["node"] for edge in plain["data"]["executions"]["edges"]]
    broken = 4
    gate.break_detail(gate.team, rows[broken]["nativeId"], FAULTS[fault])
    # when: the page asks for node data
    body = await gate.ask(PAGE, fields=True)
    # then: the page is served; only the broken execution's node fields are null
    page = body["data"]["executions"]
    assert page["skippedInstances"] == []
    served = [edge["node"] for edge in page["edges"]]
    assert [r["id"] for r in served] == [r["id"] for r in rows]
    for index, row in enumerate(served):
        if index == broken:
            assert row["nodeExecutions"] is None and row["inputData"] is None
        else:
            assert row["nodeExecutions"] is not None, row
    paths = sorted(tuple(e["path"]) for e in body["errors"])
    assert paths == [
        ("executions", "edges", broken, "node", "inputData"),
        ("executions", "edges", broken, "node", "nodeExecutions"),
    ]
    for error in body["errors"]:
        assert error["extensions"]["instance"] == "acme"
        assert error["extensions"]["code"].startswith("UPSTREAM_")


async def test_nodes_answers_every_id_it_can_when_one_read_fails(gate: Gate) -> None:
    team_ids = [e.id for e in gate.team.store.visible()[:3]]
    n8n_ids = [e.id for e in gate.n8n.store.visible()[:2]]
    gate.break_detail(gate.team, team_ids[1], Garbage(whole_answer=True))
    ids = [encode("Execution", f"acme:{i}") for i in team_ids]
    ids += [encode("Execution", f"n8n:{i}") for i in n8n_ids]
    body = await gate.ask(NODES, ids=ids)
    nodes = body["data"]["nodes"]
    assert [n is None for n in nodes] == [False, True, False, False, False]
    [error] = body["errors"]
    assert error["path"] == ["nodes", 1] and error["extensions"]["instance"] == "acme"


async def test_an_instance_that_fails_costs_nodes_only_its_own_ids(gate: Gate) -> None:
    team_ids = [e.id for e in gate.team.store.visible()[:2]]
    n8n_ids = [e.id for e in gate.n8n.store.visible()[:2]]
    gate.n8n.proxy.inject(WrongStatus(status="503"), on=On.READS, times=None)
    ids = [encode("Execution", f"n8n:{n8n_ids[0]}")]
    ids += [encode("Execution", f"acme:{i}") for i in team_ids]
    ids += [encode("Execution", f"n8n:{n8n_ids[1]}")]
    body = await gate.ask(NODES, ids=ids)
    assert [n is None for n in body["data"]["nodes"]] == [True, False, False, True]
    assert sorted(e["path"][1] for e in body["errors"]) == [0, 3]
    assert {e["extensions"]["instance"] for e in body["errors"]} == {"n8n"}


async def test_a_link_whose_read_fails_is_null_and_the_execution_is_served(gate: Gate) -> None:
    store = gate.n8n.store
    child = next((e for e in store.visible() if e.retry_of), None)
    assert child is not None, "the seeded store holds a retry"
    assert child.retry_of is not None
    gate.break_detail(gate.n8n, child.retry_of, WrongStatus(status="500"))
    query = """query One($id: ID!) { execution(id: $id) {
        id status retryOf { id } retries { id } nodeExecutions { nodeName } } }"""
    body = await gate.ask(query, id=encode("Execution", f"n8n:{child.id}"))
    execution = body["data"]["execution"]
    assert execution["status"] and execution["nodeExecutions"] is not None
    assert execution["retryOf"] is None and execution["retries"] is None
    assert sorted(e["path"][1] for e in body["errors"]) == ["retries", "retryOf"]
