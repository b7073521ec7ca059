"""cancel, retry and delete over /mcp: the GraphQL mutations' refusals as tool errors, every
attempt in the audit file, and exactly the requests that should reach the simulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from mcp import Client

from execgate.config import MCPSettings
from execgate.domain.access import ALL_ACTIONS
from tests.mcp.harness import (
    Grant,
    McpGateway,
    error_text,
    mcp_gateway,
    structured,
    without_secrets,
)


async def first_of(client: Client, instance: str, status: str) -> dict[str, Any]:
    page = structured(
        await client.call_tool(
            "list_executions", {"instance": instance, "status": status, "limit": 1}
        )
    )
    assert page["data"], f"no {status} execution on {instance}"
    item: dict[str, Any] = page["data"][0]
    return item


def last_audit(gateway: McpGateway) -> dict[str, Any]:
    lines = gateway.audit_lines()
    assert lines, "no audit line was written"
    return lines[-1]


async def test_delete_reaches_the_backend_once_and_is_audited(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path) as gateway:
        async with gateway.session("operator") as client:
            item = await first_of(client, "n8n", "success")
            answer = structured(
                await client.call_tool("delete_execution", {"instance": "n8n", "id": item["id"]})
            )
            again = await client.call_tool("get_execution", {"id": item["globalId"]})

        assert answer == {
            "deleted": True,
            "id": item["id"],
            "instance": "n8n",
            "globalId": item["globalId"],
        }
        assert gateway.backends["n8n"].proxy.count("DELETE") == 1
        assert gateway.mutations_reached() == {"team": 0, "n8n": 1}
        assert gateway.backends["n8n"].store.get(item["id"]) is None
        assert error_text(again).startswith("NOT_FOUND: ")
        line = last_audit(gateway)
        assert {k: line[k] for k in ("client", "action", "execution_id", "instance")} == {
            "client": "operator",
            "action": "delete",
            "execution_id": item["globalId"],
            "instance": "n8n",
        }
        assert line["outcome"] == "OK"


async def test_retry_answers_the_new_execution(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path) as gateway:
        async with gateway.session("operator") as client:
            failed = await first_of(client, "n8n", "error")
            retry = structured(
                await client.call_tool("retry_execution", {"id": failed["globalId"]})
            )
            succeeded = await first_of(client, "n8n", "success")
            refused = await client.call_tool(
                "retry_execution", {"instance": "n8n", "id": int(succeeded["id"])}
            )

        assert retry["retryOf"] == failed["id"] and retry["id"] != failed["id"]
        assert retry["instance"] == "n8n" and retry["globalId"]
        assert gateway.backends["n8n"].store.get(retry["id"]) is not None
        assert error_text(refused).startswith("NOT_RETRYABLE: ")
        assert gateway.mutations_reached() == {"team": 0, "n8n": 1}
        outcomes = [(line["action"], line["outcome"]) for line in gateway.audit_lines()]
        assert outcomes == [("retry", "OK"), ("retry", "NOT_RETRYABLE")]


async def test_cancel_stops_a_running_execution(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path) as gateway:
        async with gateway.session("operator") as client:
            running = await first_of(client, "team", "running")
            answer = structured(
                await client.call_tool("cancel_execution", {"id": running["globalId"]})
            )
            again = await client.call_tool("cancel_execution", {"id": running["globalId"]})
            finished = await first_of(client, "n8n", "success")
            over = await client.call_tool(
                "cancel_execution", {"instance": "n8n", "id": finished["id"]}
            )

        assert answer["cancelled"] is True
        assert answer["execution"]["status"] == "cancelled"
        assert error_text(again).startswith("NOT_CANCELLABLE: ")
        assert error_text(over).startswith("NOT_CANCELLABLE: ")
        assert gateway.mutations_reached() == {"team": 1, "n8n": 0}
        assert [line["outcome"] for line in gateway.audit_lines()] == [
            "OK",
            "NOT_CANCELLABLE",
            "NOT_CANCELLABLE",
        ]


async def test_refusals_match_the_graphql_mutations(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path) as gateway:
        async with gateway.session("operator") as client:
            running = await first_of(client, "n8n", "running")
            team_failed = await first_of(client, "team", "error")
            results = {
                "RUNNING": await client.call_tool(
                    "delete_execution", {"instance": "n8n", "id": running["id"]}
                ),
                "UNSUPPORTED": await client.call_tool(
                    "retry_execution", {"id": team_failed["globalId"]}
                ),
                "NOT_FOUND": await client.call_tool(
                    "delete_execution", {"instance": "n8n", "id": "987654"}
                ),
                "INVALID_ID": await client.call_tool("delete_execution", {"id": "12"}),
            }
        graphql = gateway.graphql(
            """mutation($id: ID!) { retryExecution(id: $id) { errors { code } } }""",
            id=team_failed["globalId"],
        )

        for code, result in results.items():
            assert error_text(result).startswith(f"{code}: "), (code, result.content)
        assert graphql["data"]["retryExecution"]["errors"] == [{"code": "UNSUPPORTED"}]
        assert gateway.mutations_reached() == {"team": 0, "n8n": 0}
        outcomes = [line["outcome"] for line in gateway.audit_lines()]
        assert outcomes == ["RUNNING", "UNSUPPORTED", "NOT_FOUND", "INVALID_ID", "UNSUPPORTED"]
        without_secrets(gateway, *(r.content[0].text for r in results.values()))


async def test_a_key_without_the_action_is_forbidden_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    with mcp_gateway(tmp_path) as gateway:
        async with gateway.session("reader") as client:
            item = await first_of(client, "n8n", "error")
            before = {name: b.proxy.count() for name, b in gateway.backends.items()}
            results = [
                await client.call_tool(tool, {"id": item["globalId"]})
                for tool in ("delete_execution", "retry_execution", "cancel_execution")
            ]
        after = {name: b.proxy.count() for name, b in gateway.backends.items()}

        assert all(error_text(r).startswith("FORBIDDEN: ") for r in results)
        assert after == before  # not even a read
        lines = gateway.audit_lines()
        assert [(line["action"], line["outcome"], line["client"]) for line in lines] == [
            ("delete", "FORBIDDEN", "reader"),
            ("retry", "FORBIDDEN", "reader"),
            ("cancel", "FORBIDDEN", "reader"),
        ]


async def test_an_instance_outside_the_scope_is_not_found(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path) as gateway:
        async with gateway.session("operator") as client:
            team_item = await first_of(client, "team", "running")
        async with gateway.session("n8n-operator") as client:
            by_gid = await client.call_tool("cancel_execution", {"id": team_item["globalId"]})
            named = await client.call_tool(
                "cancel_execution", {"instance": "team", "id": team_item["id"]}
            )

        assert error_text(by_gid).startswith("NOT_FOUND: ")
        assert error_text(named).startswith("NOT_FOUND: ")
        assert gateway.mutations_reached() == {"team": 0, "n8n": 0}
        assert [line["outcome"] for line in gateway.audit_lines()] == ["NOT_FOUND", "NOT_FOUND"]


async def test_bad_arguments_of_an_action_are_refused_and_audited(tmp_path: Path) -> None:
    tools = ("delete_execution", "retry_execution", "cancel_execution")
    with mcp_gateway(tmp_path) as gateway:
        async with gateway.session("operator") as client:
            missing = [await client.call_tool(tool, {"instance": "n8n"}) for tool in tools]
            extra = await client.call_tool(
                "delete_execution", {"instance": "n8n", "id": "3", "cascade": True}
            )
            wrong = await client.call_tool("retry_execution", {"id": 3.5, "instance": "n8n"})

        for result in missing:
            assert error_text(result).startswith("BAD_USER_INPUT: invalid arguments: id: ")
        assert "cascade" in error_text(extra)
        assert error_text(wrong).startswith("BAD_USER_INPUT: ")
        assert gateway.mutations_reached() == {"team": 0, "n8n": 0}
        lines = gateway.audit_lines()
        assert [(line["action"], line["outcome"]) for line in lines] == [
            ("delete", "BAD_USER_INPUT"),
            ("retry", "BAD_USER_INPUT"),
            ("cancel", "BAD_USER_INPUT"),
            ("delete", "BAD_USER_INPUT"),
            ("retry", "BAD_USER_INPUT"),
        ]
        assert lines[0]["execution_id"] is None
        assert lines[3]["instance"] == "n8n"


async def test_the_default_instance_is_used_when_none_is_named(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path, mcp=MCPSettings(default_instance="n8n")) as gateway:
        async with gateway.session("operator") as client:
            item = await first_of(client, "n8n", "success")
            got = structured(await client.call_tool("get_execution", {"id": int(item["id"])}))
            deleted = structured(await client.call_tool("delete_execution", {"id": item["id"]}))

        assert got["globalId"] == item["globalId"]
        assert deleted["instance"] == "n8n"
        assert gateway.backends["n8n"].proxy.count("DELETE") == 1


async def test_tool_calls_take_from_the_clients_rate_limit(tmp_path: Path) -> None:
    grants = [Grant("slow", actions=ALL_ACTIONS, rate_per_second=0.01, burst=2)]
    with mcp_gateway(tmp_path, grants=grants) as gateway:
        async with gateway.session("slow") as client:
            tools = await client.list_tools()  # listing reads nothing: not limited
            first = await client.call_tool("list_instances", {})
            second = await client.call_tool("list_instances", {})
            third = await client.call_tool("delete_execution", {"instance": "n8n", "id": "1"})
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            graphql = await http.post(
                "/graphql",
                json={"query": "{ instances { name } }"},
                headers={"Authorization": f"Bearer {gateway.keys['slow']}"},
            )

        assert len(tools.tools) == 6
        assert not first.is_error and not second.is_error
        assert error_text(third).startswith("RATE_LIMITED: ")
        assert graphql.status_code == 429  # the same bucket
        assert gateway.mutations_reached() == {"team": 0, "n8n": 0}
        assert [line["outcome"] for line in gateway.audit_lines()] == ["RATE_LIMITED"]


async def test_without_a_valid_key_mcp_answers_401(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path) as gateway:
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        }
        headers = {"Accept": "application/json, text/event-stream"}
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            missing = await http.post("/mcp", json=initialize, headers=headers)
            wrong = await http.post(
                "/mcp",
                json=initialize,
                headers=headers | {"Authorization": "Bearer egk_not-a-key"},
            )
            stream = await http.get("/mcp", headers={"Accept": "text/event-stream"})
            valid = await http.post(
                "/mcp",
                json=initialize,
                headers=headers | {"Authorization": f"Bearer {gateway.keys['reader']}"},
            )

        for response in (missing, wrong, stream):
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            body = response.json()
            assert body["error"]["data"]["code"] == "UNAUTHENTICATED"
            assert body["error"]["message"].startswith("UNAUTHENTICATED: ")
            assert "egk_not-a-key" not in response.text
        assert valid.status_code == 200
        assert valid.json()["result"]["serverInfo"]["name"] == "execgate"


def test_mcp_can_be_switched_off(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path, mcp=MCPSettings(enabled=False)) as gateway:
        response = httpx.post(
            gateway.url + "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {gateway.keys['reader']}"},
        )
        graphql = gateway.graphql("{ instances { name } }", "reader")

    assert response.status_code == 404
    assert [i["name"] for i in graphql["data"]["instances"]] == ["n8n", "team"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    with mcp_gateway(tmp_path) as gateway:
        limit = gateway.settings.server.max_body_bytes
        response = httpx.post(
            gateway.url + "/mcp",
            content=b"{" + b" " * limit + b"}",
            headers={
                "Authorization": f"Bearer {gateway.keys['reader']}",
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 413
    assert response.json()["error"]["data"] == {"code": "REQUEST_TOO_LARGE", "limit": limit}
