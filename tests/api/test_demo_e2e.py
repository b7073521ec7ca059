"""The gateway end to end over the embedded demo: real adapters, simulators over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from execgate.app import create_app
from execgate.backends import team
from execgate.simulate.embedded import Embedded, embedded
from tests.serving import serving

FEED_WITH_NODES = """
query Feed($first: Int!, $after: String, $filter: ExecutionFilter) {
  executions(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id nativeId status startedAt
        instance { name kind }
        workflow { name }
        nodeExecutions { id nodeName status inputData outputData runIndex }
      }
    }
  }
}
"""

FEED_PLAIN = """
query Feed($first: Int!, $after: String, $filter: ExecutionFilter) {
  executions(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { node { id nativeId status startedAt instance { name } } }
  }
}
"""


class Gateway:
    def __init__(self, demo: Embedded, client: httpx.AsyncClient, app: Any) -> None:
        self.demo = demo
        self.client = client
        self.app = app

    def calls(self) -> dict[str, int]:
        result: dict[str, int] = self.app.state.registry.calls()
        return result

    async def query(self, document: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": document, "variables": variables}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    demo = embedded(seed=7)
    app = create_app(demo.settings, transports=demo.transports)
    async with serving(app) as client:
        yield Gateway(demo, client, app)


async def test_demo_has_both_kinds_and_enough_data(gateway: Gateway) -> None:
    body = await gateway.query("{ instances { name kind capabilities } }")
    kinds = sorted(i["kind"] for i in body["data"]["instances"])
    assert kinds == ["N8N", "N8N", "TEAM"]
    total = sum(len(store.visible()) for store in gateway.demo.stores.values())
    assert total > 1000


async def test_fifty_executions_with_nodes_cost_one_list_plus_team_details(
    gateway: Gateway,
) -> None:
    # given a fresh gateway, when 50 executions with their nodes are read
    before = gateway.calls()
    body = await gateway.query(FEED_WITH_NODES, first=50)
    assert "errors" not in body, body
    edges = body["data"]["executions"]["edges"]
    assert len(edges) == 50
    after = gateway.calls()
    spent = {name: after[name] - before[name] for name in after}
    per_instance: dict[str, int] = {}
    for edge in edges:
        per_instance[edge["node"]["instance"]["name"]] = (
            per_instance.get(edge["node"]["instance"]["name"], 0) + 1
        )
        assert edge["node"]["nodeExecutions"] is not None
    # then team-style: list calls (plus one for totalCount, and its pending executions'),
    # reads for the creation time of executions that have not started, and one detail per
    # execution shown; n8n: the list with includeData carries the nodes, so only its streams
    team_shown = per_instance.get("acme", 0)
    assert spent["acme"] <= 3 + team.UNDATED_READS + team_shown
    assert spent["acme"] >= team_shown
    for name in ("n8n-prod", "n8n-staging"):
        queued = sum(
            1
            for e in edges
            if e["node"]["instance"]["name"] == name and e["node"]["status"] == "PENDING"
        )
        assert spent[name] <= 2 + queued, f"{name} made {spent[name]} calls; no detail call"


async def test_walk_every_page_matches_a_single_big_read(gateway: Gateway) -> None:
    seen: list[str] = []
    after = None
    while True:
        body = await gateway.query(
            FEED_PLAIN, first=37, after=after, filter={"instances": ["acme", "n8n-staging"]}
        )
        assert "errors" not in body, body
        conn = body["data"]["executions"]
        seen.extend(e["node"]["id"] for e in conn["edges"])
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen))
    expected = sum(
        1 for name in ("acme", "n8n-staging") for _ in gateway.demo.stores[name].visible()
    )
    # running executions finish over time but stay listed; every stored execution appears once
    assert len(seen) == expected


async def test_execution_refetch_and_node_ids(gateway: Gateway) -> None:
    body = await gateway.query(FEED_WITH_NODES, first=5, filter={"instances": ["n8n-prod"]})
    node = body["data"]["executions"]["edges"][0]["node"]
    refetch = await gateway.query(
        """query($id: ID!) {
          node(id: $id) { ... on Execution { id nativeId nodeExecutions { id } } }
        }""",
        id=node["id"],
    )
    assert refetch["data"]["node"]["nativeId"] == node["nativeId"]
    if node["nodeExecutions"]:
        nid = node["nodeExecutions"][0]["id"]
        again = await gateway.query(
            """query($id: ID!) {
              node(id: $id) { __typename ... on NodeExecution { id nodeName execution { id } } }
            }""",
            id=nid,
        )
        assert again["data"]["node"]["id"] == nid
        assert again["data"]["node"]["execution"]["id"] == node["id"]
