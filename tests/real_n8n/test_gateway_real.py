"""The gateway end to end over a real n8n 2.41.1 plus a team-style simulator, through GraphQL,
checked against what n8n itself reports afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from execgate.api.ids import encode
from execgate.app import create_app
from execgate.config import HTTPSettings, InstanceSettings, Settings
from execgate.domain.models import BackendKind
from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.team_api import create_team_app
from tests.real_n8n.harness import RealN8n
from tests.serving import serving

pytestmark = pytest.mark.real_n8n

FEED = """
query($first: Int!, $after: String) {
  executions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id nativeId status startedAt instance { name } } }
  }
}
"""
NODES = """
query($id: ID!) {
  execution(id: $id) {
    status workflow { name }
    nodeExecutions { nodeName nodeType runIndex status inputData outputData }
  }
}
"""
RETRY = """
mutation($id: ID!) {
  retryExecution(id: $id) { retry { id nativeId retryOf { id } } errors { code message } }
}
"""
CANCEL = """
mutation($id: ID!) { cancelExecution(id: $id) { execution { status } errors { code } } }
"""
DELETE = """
mutation($id: ID!) { deleteExecution(id: $id) { deletedId errors { code } } }
"""


class Gateway:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def run(self, document: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": document, "variables": variables}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture
async def gateway(real_n8n: RealN8n) -> AsyncIterator[Gateway]:
    team_store = generate_store(5, style="team", executions=40)
    team_app = create_team_app(team_store, team_id=DEMO_TEAM_ID, token="team-token")
    settings = Settings(
        instances=(
            InstanceSettings(
                name="acme",
                kind=BackendKind.TEAM,
                base_url="http://acme.test",
                credential="team-token",
                team_id=DEMO_TEAM_ID,
            ),
            InstanceSettings(
                name="n8n-real",
                kind=BackendKind.N8N,
                base_url=real_n8n.base_url,
                credential=real_n8n.api_key,
                http=HTTPSettings(timeout_seconds=30, retry_timeout_seconds=120),
            ),
        )
    )
    app = create_app(settings, transports={"acme": InProcessTransport(team_app)})
    async with serving(app, "http://localhost") as c:
        c.timeout = httpx.Timeout(180)
        yield Gateway(c)


def _n8n_ids(n8n: RealN8n) -> set[str]:
    with httpx.Client(base_url=n8n.base_url, headers={"X-N8N-API-KEY": n8n.api_key}) as c:
        plain = c.get("/api/v1/executions", params={"limit": 0}).json()["data"]
        running = c.get("/api/v1/executions", params={"limit": 0, "status": "running"}).json()
    return {e["id"] for e in plain} | {e["id"] for e in running["data"]}


async def test_merged_feed_spans_the_real_server_and_the_simulator(
    gateway: Gateway, real_n8n: RealN8n
) -> None:
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        conn = (await gateway.run(FEED, first=9, after=after))["executions"]
        seen.extend(e["node"] for e in conn["edges"])
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    ids = [n["id"] for n in seen]
    assert len(ids) == len(set(ids)), "no duplicates"
    from_n8n = {n["nativeId"] for n in seen if n["instance"]["name"] == "n8n-real"}
    # everything n8n lists, running executions included, is in the feed exactly once
    assert _n8n_ids(real_n8n) <= from_n8n
    assert sum(1 for n in seen if n["instance"]["name"] == "acme") == 40
    statuses = {n["status"] for n in seen if n["instance"]["name"] == "n8n-real"}
    assert {"SUCCESS", "FAILED", "WAITING", "RUNNING", "CANCELLED", "PENDING"} <= statuses


async def test_node_inputs_come_from_their_source_nodes(
    gateway: Gateway, real_n8n: RealN8n
) -> None:
    assert real_n8n.multi_run_id is not None
    data = await gateway.run(NODES, id=encode("Execution", f"n8n-real:{real_n8n.multi_run_id}"))
    nodes = data["execution"]["nodeExecutions"]
    assert data["execution"]["workflow"]["name"] == real_n8n.workflow_names["ok"]
    raw = real_n8n.get_execution(real_n8n.multi_run_id, include_data=True)
    run_data = raw["data"]["resultData"]["runData"]
    # one node execution per run n8n recorded, and the Code node ran twice
    assert len(nodes) == sum(len(runs) for runs in run_data.values())
    code_runs = [n for n in nodes if n["nodeName"] == "Code"]
    assert [n["runIndex"] for n in code_runs] == list(range(len(run_data["Code"])))
    assert len(code_runs) >= 2
    assert nodes[0]["inputData"] is None, "the trigger has no input"
    for node, run in ((n, run_data[n["nodeName"]][n["runIndex"]]) for n in nodes[1:]):
        source = run["source"][0]
        feeding = run_data[source["previousNode"]][source.get("previousNodeRun") or 0]
        expected = feeding["data"]["main"][source.get("previousNodeOutput") or 0]
        got = node["inputData"]["main"][0]
        assert got == expected, node["nodeName"]
    assert nodes[0]["nodeType"] == "n8n-nodes-base.webhook"


async def test_retry_cancel_and_delete_through_graphql(gateway: Gateway, real_n8n: RealN8n) -> None:
    failed = await asyncio.to_thread(real_n8n.new_execution, "error")
    running = await asyncio.to_thread(real_n8n.new_execution, "running")
    done = await asyncio.to_thread(real_n8n.new_execution, "success")

    retried = await gateway.run(RETRY, id=encode("Execution", f"n8n-real:{failed}"))
    payload = retried["retryExecution"]
    assert payload["errors"] == []
    new_id = payload["retry"]["nativeId"]
    assert payload["retry"]["retryOf"]["id"] == encode("Execution", f"n8n-real:{failed}")
    assert real_n8n.get_execution(new_id)["retryOf"] == failed

    cancelled = await gateway.run(CANCEL, id=encode("Execution", f"n8n-real:{running}"))
    assert cancelled["cancelExecution"]["errors"] == []
    assert cancelled["cancelExecution"]["execution"]["status"] == "CANCELLED"
    assert real_n8n.get_execution(running)["status"] == "canceled"

    deleted = await gateway.run(DELETE, id=encode("Execution", f"n8n-real:{done}"))
    assert deleted["deleteExecution"]["errors"] == []
    headers = {"X-N8N-API-KEY": real_n8n.api_key}
    async with httpx.AsyncClient(base_url=real_n8n.base_url, headers=headers) as c:
        assert (await c.get(f"/api/v1/executions/{done}")).status_code == 404
