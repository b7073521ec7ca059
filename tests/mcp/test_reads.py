"""The read tools over /mcp with the official Python client: listing tools, list_instances,
list_executions paged to its end and compared with /graphql, get_execution on both kinds."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client, MCPError

from execgate.domain import ids
from tests.mcp.harness import McpGateway, by_key, error_text, structured, without_secrets

GRAPHQL_FEED = """
query Feed($first: Int!, $after: String, $filter: ExecutionFilter) {
  executions(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { node { id nativeId status finished startedAt instance { name }
                   workflow { id } } }
  }
}
"""

GRAPHQL_STATUS = {
    "success": "SUCCESS",
    "error": "FAILED",
    "waiting": "WAITING",
    "running": "RUNNING",
    "pending": "PENDING",
    "cancelled": "CANCELLED",
    "crashed": "CRASHED",
    "unknown": "UNKNOWN",
}


def graphql_feed(gateway: McpGateway, client: str = "operator", **filters: Any) -> list[Any]:
    """Every execution of the GraphQL feed for ``filters``, paged to its end."""
    nodes: list[Any] = []
    after = None
    while True:
        body = gateway.graphql(GRAPHQL_FEED, client, first=100, after=after, filter=filters)
        connection = body["data"]["executions"]
        nodes += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]


async def every_page(client: Client, **arguments: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of list_executions for ``arguments``, following nextCursor; and the pages."""
    items: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        call = dict(arguments) | ({"cursor": cursor} if cursor else {})
        answer = structured(await client.call_tool("list_executions", call))
        pages += 1
        assert answer["skippedInstances"] == []
        items += answer["data"]
        cursor = answer["nextCursor"]
        if cursor is None:
            return items, pages


async def test_the_tools_are_listed_with_schemas_and_annotations(shared: McpGateway) -> None:
    # given: the official client, initialized against /mcp
    async with shared.session("reader") as client:
        # when: it lists the tools
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}

    # then: the seed's four, cancel and list_instances, each described, with schemas
    assert set(listed) == {
        "list_executions",
        "get_execution",
        "retry_execution",
        "delete_execution",
        "cancel_execution",
        "list_instances",
    }
    for tool in listed.values():
        assert tool.description and tool.annotations is not None
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        for name, prop in tool.input_schema.get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    reads = ("list_executions", "get_execution", "list_instances")
    assert all(listed[name].annotations.read_only_hint for name in reads)
    assert listed["delete_execution"].annotations.destructive_hint is True
    assert listed["retry_execution"].annotations.read_only_hint is False
    limit = listed["list_executions"].input_schema["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 250, 100)
    assert listed["list_executions"].input_schema.get("required", []) == []
    assert listed["get_execution"].input_schema["required"] == ["id"]
    include = listed["get_execution"].input_schema["properties"]["includeData"]
    assert include["default"] is True


@pytest.mark.parametrize(
    ("client", "expected"),
    [("reader", ["n8n", "team"]), ("team-reader", ["team"]), ("n8n-operator", ["n8n"])],
)
async def test_list_instances_shows_what_the_key_may_see(
    shared: McpGateway, client: str, expected: list[str]
) -> None:
    async with shared.session(client) as session:
        answer = structured(await session.call_tool("list_instances", {}))

    assert [i["name"] for i in answer["instances"]] == expected
    kinds = {i["name"]: i["kind"] for i in answer["instances"]}
    assert kinds.get("team", "team") == "team" and kinds.get("n8n", "n8n") == "n8n"
    for instance in answer["instances"]:
        assert "cancel" in instance["capabilities"]
        assert ("retry" in instance["capabilities"]) == (instance["kind"] == "n8n")


async def test_the_merged_feed_paged_to_its_end_is_the_graphql_feed(shared: McpGateway) -> None:
    # given: the GraphQL feed over both instances, in order
    expected = graphql_feed(shared)

    # when: list_executions without an instance is paged with its cursor until it ends
    async with shared.session("reader") as client:
        items, pages = await every_page(client, limit=37)

    # then: the same executions in the same order, each naming its instance and status
    assert len(expected) == 240 and pages == 7
    assert by_key(items) == [(n["instance"]["name"], n["nativeId"]) for n in expected]
    assert [GRAPHQL_STATUS[i["status"]] for i in items] == [n["status"] for n in expected]
    assert [i["globalId"] for i in items] == [n["id"] for n in expected]
    assert {i["instance"] for i in items} == {"team", "n8n"}
    for item in items:
        assert set(item) >= {
            "id", "workflowId", "finished", "mode", "startedAt", "stoppedAt", "retryOf",
            "retrySuccessId", "instance", "status",
        }  # fmt: skip
        assert "data" not in item


async def test_list_results_are_the_backends_own_data(shared: McpGateway) -> None:
    # given: what each simulator holds
    async with shared.session("reader") as client:
        items, _ = await every_page(client, limit=250)

    # then: every execution, with its workflow and status as the backend has them
    held = {(name, e.id): e for name, b in shared.backends.items() for e in b.store.visible()}
    assert set(by_key(items)) == set(held)
    raw_status = {"canceled": "cancelled", "new": "pending", "failed": "error"}
    for item in items:
        execution = held[(item["instance"], item["id"])]
        assert item["workflowId"] == execution.workflow_id
        assert item["status"] == raw_status.get(execution.status.lower(), execution.status.lower())


@pytest.mark.parametrize(
    ("arguments", "filters"),
    [
        ({"instance": "team"}, {"instances": ["team"]}),
        ({"instance": "n8n", "status": "error"}, {"instances": ["n8n"], "status": ["FAILED"]}),
        ({"status": "success"}, {"status": ["SUCCESS"]}),
        ({"finished": False}, {"status": ["PENDING", "RUNNING", "WAITING", "UNKNOWN"]}),
        (
            {"finished": True, "status": "error"},
            {"status": ["FAILED"]},
        ),
    ],
)
async def test_filtered_pages_match_graphql(
    shared: McpGateway, arguments: dict[str, Any], filters: dict[str, Any]
) -> None:
    expected = graphql_feed(shared, **filters)
    async with shared.session("reader") as client:
        items, _ = await every_page(client, limit=23, **arguments)

    assert expected, "the filter should match something in the simulated data"
    assert by_key(items) == [(n["instance"]["name"], n["nativeId"]) for n in expected]
    if "finished" in arguments:
        assert {i["finished"] for i in items} == {arguments["finished"]}


async def test_workflow_filter_by_native_id_and_by_global_id(shared: McpGateway) -> None:
    # given: one n8n workflow, by its GraphQL global ID and its native id
    nodes = graphql_feed(shared, instances=["n8n"])
    workflow_gid = nodes[0]["workflow"]["id"]
    native = ids.workflow_key(workflow_gid).native_id
    expected = graphql_feed(shared, workflowId=workflow_gid)

    async with shared.session("reader") as client:
        named, _ = await every_page(client, instance="n8n", workflowId=native)
        by_gid, _ = await every_page(client, workflowId=workflow_gid)
        anywhere, _ = await every_page(client, workflowId=native)

    # then: the three answer that workflow's executions, as GraphQL does
    want = [(n["instance"]["name"], n["nativeId"]) for n in expected]
    assert len(want) > 1
    assert by_key(named) == by_key(by_gid) == by_key(anywhere) == want
    assert {i["workflowId"] for i in named} == {native}


async def test_get_execution_has_node_runs_for_both_kinds(shared: McpGateway) -> None:
    async with shared.session("reader") as client:
        failed = {}
        for instance in ("team", "n8n"):
            page = structured(
                await client.call_tool(
                    "list_executions", {"instance": instance, "status": "error", "limit": 1}
                )
            )
            failed[instance] = page["data"][0]
        answers = {
            instance: structured(
                await client.call_tool("get_execution", {"instance": instance, "id": item["id"]})
            )
            for instance, item in failed.items()
        }
        by_gid = structured(
            await client.call_tool(
                "get_execution", {"id": failed["team"]["globalId"], "includeData": False}
            )
        )

    for instance, answer in answers.items():
        held = shared.backends[instance].store.get(answer["id"])
        assert held is not None
        result = answer["data"]["resultData"]
        assert answer["status"] == "error" and answer["finished"] is True
        assert result["error"]["message"]
        assert result["lastNodeExecuted"] in result["runData"]
        runs = [run for node_runs in result["runData"].values() for run in node_runs]
        assert runs and all(isinstance(run["startTime"], int) for run in runs)
        assert all(run["executionStatus"] for run in runs)
        assert any("error" in run for run in runs)
        assert answer["data"]["workflowData"]["id"] == held.workflow_id
        ran = [r for r in runs if "data" in r]
        assert ran and all(isinstance(r["data"]["main"][0], list) for r in ran)
        assert all("json" in item for r in ran for item in r["data"]["main"][0])
    assert by_gid["id"] == failed["team"]["id"] and "data" not in by_gid


async def test_a_team_style_execution_maps_each_node_execution_to_one_run(
    shared: McpGateway,
) -> None:
    # given: a finished team-style execution with several node executions
    async with shared.session("reader") as client:
        page = structured(
            await client.call_tool(
                "list_executions", {"instance": "team", "status": "success", "limit": 1}
            )
        )
        item = page["data"][0]
        answer = structured(
            await client.call_tool("get_execution", {"instance": "team", "id": item["id"]})
        )
    body = shared.graphql(
        """query($id: ID!) { execution(id: $id) {
             nodeExecutions { nodeName status durationMs outputData runIndex } } }""",
        id=item["globalId"],
    )
    nodes = body["data"]["execution"]["nodeExecutions"]

    # then: runData holds one run per node execution, in order, output as n8n items
    run_data = answer["data"]["resultData"]["runData"]
    assert sum(len(runs) for runs in run_data.values()) == len(nodes) > 1
    for node in nodes:
        run = run_data[node["nodeName"]][node["runIndex"]]
        assert run["executionTime"] == node["durationMs"]
        assert run["executionStatus"] == node["status"].lower()
        if node["outputData"] is not None:
            assert run["data"]["main"] == [[{"json": node["outputData"]}]]
    assert answer["data"]["resultData"]["lastNodeExecuted"] == nodes[-1]["nodeName"]


async def test_include_data_on_a_list_gives_each_item_its_runs(shared: McpGateway) -> None:
    async with shared.session("reader") as client:
        page = structured(
            await client.call_tool(
                "list_executions", {"includeData": True, "limit": 10, "status": "success"}
            )
        )
        one = page["data"][0]
        alone = structured(await client.call_tool("get_execution", {"id": one["globalId"]}))

    assert len(page["data"]) == 10
    assert {i["instance"] for i in page["data"]} <= {"team", "n8n"}
    assert all(item["data"]["resultData"]["runData"] for item in page["data"])
    assert one["data"] == alone["data"]


async def test_wrong_arguments_are_tool_errors_with_a_code(shared: McpGateway) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("list_executions", {"limit": 251}, "BAD_USER_INPUT"),
        ("list_executions", {"limit": 0}, "BAD_USER_INPUT"),
        ("list_executions", {"limit": "many"}, "BAD_USER_INPUT"),
        ("list_executions", {"status": "exploded"}, "BAD_USER_INPUT"),
        ("list_executions", {"instances": ["team"]}, "BAD_USER_INPUT"),
        ("list_executions", {"instance": "nowhere"}, "UNKNOWN_INSTANCE"),
        ("list_executions", {"cursor": "not-a-cursor"}, "INVALID_CURSOR"),
        ("get_execution", {}, "BAD_USER_INPUT"),
        ("get_execution", {"id": "12"}, "INVALID_ID"),
        ("get_execution", {"id": "12", "instance": "nowhere"}, "UNKNOWN_INSTANCE"),
        ("get_execution", {"id": "999999", "instance": "n8n"}, "NOT_FOUND"),
        ("get_execution", {"id": True, "instance": "n8n"}, "BAD_USER_INPUT"),
        ("list_instances", {"verbose": True}, "BAD_USER_INPUT"),
    ]
    async with shared.session("reader") as client:
        texts = {}
        for tool, arguments, code in cases:
            result = await client.call_tool(tool, arguments)
            texts[(tool, str(arguments))] = text = error_text(result)
            assert text.startswith(f"{code}: "), (tool, arguments, text)
    assert "250" in texts[("list_executions", "{'limit': 251}")]
    without_secrets(shared, *texts.values())


async def test_a_cursor_only_works_with_its_own_filters(shared: McpGateway) -> None:
    async with shared.session("reader") as client:
        first = structured(
            await client.call_tool("list_executions", {"instance": "n8n", "limit": 5})
        )
        other = await client.call_tool(
            "list_executions", {"instance": "team", "limit": 5, "cursor": first["nextCursor"]}
        )
    assert error_text(other).startswith("INVALID_CURSOR: ")


async def test_a_key_sees_only_its_instances(shared: McpGateway) -> None:
    async with shared.session("reader") as client:
        n8n_item = structured(
            await client.call_tool("list_executions", {"instance": "n8n", "limit": 1})
        )["data"][0]
    async with shared.session("team-reader") as client:
        items, _ = await every_page(client, limit=250)
        hidden = await client.call_tool("list_executions", {"instance": "n8n"})
        by_gid = await client.call_tool("get_execution", {"id": n8n_item["globalId"]})
        named = await client.call_tool("get_execution", {"instance": "n8n", "id": n8n_item["id"]})

    assert {i["instance"] for i in items} == {"team"}
    assert error_text(hidden).startswith("UNKNOWN_INSTANCE: ")
    assert "n8n" not in error_text(hidden).split("known:")[1]
    assert error_text(by_gid).startswith("NOT_FOUND: ")
    assert error_text(named).startswith("UNKNOWN_INSTANCE: ")


async def test_an_expensive_call_is_refused_before_any_backend_call(shared: McpGateway) -> None:
    before = sum(b.proxy.count() for b in shared.backends.values())
    async with shared.session("reader") as client:
        result = await client.call_tool("list_executions", {"limit": 250, "includeData": True})
    assert error_text(result).startswith("QUERY_TOO_EXPENSIVE: ")
    assert sum(b.proxy.count() for b in shared.backends.values()) == before


async def test_an_empty_status_selection_reads_nothing(shared: McpGateway) -> None:
    before = sum(b.proxy.count() for b in shared.backends.values())
    async with shared.session("reader") as client:
        answer = structured(
            await client.call_tool("list_executions", {"finished": True, "status": "running"})
        )
    assert answer == {"data": [], "nextCursor": None, "skippedInstances": []}
    assert sum(b.proxy.count() for b in shared.backends.values()) == before


async def test_an_unknown_tool_is_a_protocol_error(shared: McpGateway) -> None:
    async with shared.session("reader") as client:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("drop_everything", {})
        still = await client.call_tool("list_instances", {})
    assert "unknown tool 'drop_everything'" in caught.value.message
    assert not still.is_error
