"""The GraphQL layer over fake backends: IDs, connection fields and error codes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from execgate.app import gateway_app
from execgate.domain.errors import UpstreamTimeout
from execgate.domain.models import ExecutionStatus
from execgate.service.gateway import Gateway
from tests.fakes import FakeBackend, ListsWithoutNodes, make_execution

FEED = """
query Feed($first: Int!, $after: String, $filter: ExecutionFilter) {
  executions(first: $first, after: $after, filter: $filter) {
    totalCount
    skippedInstances { instance code }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id nativeId status instance { name } workflow { id name } } }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Execution { nativeId status }
    ... on Instance { name kind }
    ... on Workflow { nativeId workflowName: name }
  }
}
"""


def _gateway() -> tuple[Gateway, dict[str, FakeBackend]]:
    backends = {
        "acme": FakeBackend(
            "acme",
            [
                make_execution("acme", "1", minutes=1),
                make_execution("acme", "2", minutes=3, status=ExecutionStatus.FAILED),
            ],
        ),
        "beta": FakeBackend("beta", [make_execution("beta", "7", minutes=2, workflow="wf9")]),
    }
    return Gateway(backends), backends


async def _run(gateway: Gateway, query: str, **variables: Any) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=gateway_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code in (200, 400), response.text
    body: dict[str, Any] = response.json()
    body.setdefault("data", None)
    return body


async def test_feed_pages_and_ids_resolve_back() -> None:
    # given
    gateway, _ = _gateway()
    # when
    first = await _run(gateway, FEED, first=2)
    # then
    conn = first["data"]["executions"]
    assert [e["node"]["nativeId"] for e in conn["edges"]] == ["2", "7"]
    assert conn["totalCount"] == 3
    assert conn["pageInfo"]["hasNextPage"] is True
    assert conn["pageInfo"]["hasPreviousPage"] is False
    assert conn["pageInfo"]["endCursor"] == conn["edges"][-1]["cursor"]
    second = await _run(gateway, FEED, first=2, after=conn["pageInfo"]["endCursor"])
    conn2 = second["data"]["executions"]
    assert [e["node"]["nativeId"] for e in conn2["edges"]] == ["1"]
    assert conn2["pageInfo"]["hasNextPage"] is False
    assert conn2["pageInfo"]["hasPreviousPage"] is True
    # every ID resolves back through node(id:)
    for edge in conn["edges"]:
        for gid, typename in (
            (edge["node"]["id"], "Execution"),
            (edge["node"]["workflow"]["id"], "Workflow"),
        ):
            found = (await _run(gateway, NODE, id=gid))["data"]["node"]
            assert found["__typename"] == typename
            assert found["id"] == gid


async def test_instance_and_workflow_names() -> None:
    gateway, _ = _gateway()
    result = await _run(gateway, "{ instances { id name kind } }")
    names = [i["name"] for i in result["data"]["instances"]]
    assert names == ["acme", "beta"]
    node = (await _run(gateway, NODE, id=result["data"]["instances"][0]["id"]))["data"]["node"]
    assert node == {
        "__typename": "Instance",
        "id": result["data"]["instances"][0]["id"],
        "name": "acme",
        "kind": "TEAM",
    }


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 0}, "BAD_USER_INPUT"),
        ({"first": 101}, "BAD_USER_INPUT"),
        ({}, "BAD_USER_INPUT"),
        ({"first": 1, "after": "bm90LWEtY3Vyc29y.AAAA"}, "INVALID_CURSOR"),
        ({"first": 1, "filter": {"instances": ["ghost"]}}, "UNKNOWN_INSTANCE"),
        ({"first": 1, "filter": {"workflowId": "not-an-id"}}, "INVALID_ID"),
    ],
)
async def test_bad_arguments_have_stable_codes(variables: dict[str, Any], code: str) -> None:
    gateway, backends = _gateway()
    result = await _run(gateway, FEED, **variables)
    assert result["data"] is None
    assert [e["extensions"]["code"] for e in result["errors"]] == [code]
    assert all(b.calls == 0 for b in backends.values()), "refused before any backend call"


async def test_backward_pagination_is_refused_with_its_code() -> None:
    gateway, _ = _gateway()
    result = await _run(gateway, "{ executions(first: 2, last: 2) { edges { cursor } } }")
    assert result["errors"][0]["extensions"]["code"] == "BACKWARD_PAGINATION_UNSUPPORTED"


async def test_bad_and_unknown_ids() -> None:
    gateway, _ = _gateway()
    bad = await _run(gateway, NODE, id="!!!")
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ID"
    from execgate.api.ids import encode

    missing = await _run(gateway, NODE, id=encode("Execution", "acme:999"))
    assert missing == {"data": {"node": None}}
    wrong_type = await _run(
        gateway, "query($id: ID!) { execution(id: $id) { id } }", id=encode("Instance", "acme")
    )
    assert wrong_type["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_partial_results_name_the_failed_instance() -> None:
    gateway, backends = _gateway()
    backends["beta"].failure = UpstreamTimeout("beta", "instance 'beta' did not answer in time")
    result = await _run(gateway, FEED, first=5)
    conn = result["data"]["executions"]
    assert [e["node"]["nativeId"] for e in conn["edges"]] == ["2", "1"]
    assert conn["skippedInstances"] == [{"instance": "beta", "code": "UPSTREAM_TIMEOUT"}]
    assert conn["totalCount"] is None
    errors = result["errors"]
    assert any(
        e["extensions"] == {"code": "UPSTREAM_TIMEOUT", "instance": "beta"}
        and e["path"] == ["executions"]
        for e in errors
    )


async def test_syntax_and_validation_errors_have_codes() -> None:
    gateway, _ = _gateway()
    syntax = await _run(gateway, "{ executions(first: 1) { ")
    assert syntax["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    invalid = await _run(gateway, "{ executions(first: 1) { nope } }")
    assert invalid["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


DETAIL_PAGE = """
query { executions(first: 10) { edges { node { nativeId outputData
  nodeExecutions { nodeName } workflow { name } } } } }
"""

OUTPUT_PAGE = "query { executions(first: 10) { edges { node { nativeId outputData } } } }"


def _bare_lister() -> ListsWithoutNodes:
    executions = [
        replace(make_execution("acme", str(i), minutes=i), output_data={"n": i}) for i in (1, 2, 3)
    ]
    return ListsWithoutNodes("acme", executions)


async def test_node_data_of_a_page_is_read_in_one_batch() -> None:
    # given: a list that carries no node data, as the team-style API's
    backend = _bare_lister()
    gateway = Gateway({"acme": backend})

    # when
    body = await _run(gateway, DETAIL_PAGE)

    # then: one list call and one batched read for all three executions
    nodes = [e["node"] for e in body["data"]["executions"]["edges"]]
    assert [(n["nativeId"], n["outputData"]) for n in nodes] == [
        ("3", {"n": 3}),
        ("2", {"n": 2}),
        ("1", {"n": 1}),
    ]
    assert all(n["nodeExecutions"] == [] and n["workflow"]["name"] for n in nodes)
    assert backend.detail_reads == 1 and backend.calls == 2


async def test_a_failed_batch_read_fails_each_field_once_with_its_code() -> None:
    # given
    backend = _bare_lister()
    backend.detail_failure = UpstreamTimeout("acme", "instance 'acme' timed out")
    gateway = Gateway({"acme": backend})

    # when
    body = await _run(gateway, OUTPUT_PAGE)

    # then: every execution is listed, its output is null with the read's error, read once
    nodes = [e["node"] for e in body["data"]["executions"]["edges"]]
    assert [(n["nativeId"], n["outputData"]) for n in nodes] == [
        ("3", None),
        ("2", None),
        ("1", None),
    ]
    assert sorted(tuple(e["path"]) for e in body["errors"]) == [
        ("executions", "edges", i, "node", "outputData") for i in range(3)
    ]
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UPSTREAM_TIMEOUT"}
    assert backend.detail_reads == 1
