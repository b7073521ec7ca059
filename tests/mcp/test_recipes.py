"""The seed's recipes, "monitor workflow health" and "debug failed execution", written as the
seed writes them (parse the tool's JSON text, read its fields) and run against the embedded
demo through /mcp with the official client.

One change in spirit: the seed's health recipe counts ``!e.error`` as success, but its own
``ExecutionSummary`` has no ``error`` (so every finished execution would count); here the
summary's ``status`` says it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from execgate.app import create_app
from execgate.simulate.embedded import Embedded, embedded, with_demo_client
from execgate.simulate.server import BackgroundServer


class Demo:
    def __init__(self, demo: Embedded, url: str, key: str) -> None:
        self.demo = demo
        self.url = url
        self.key = key

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(self.url + "/mcp", http_client=http)) as client,
        ):
            yield client


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    data = embedded(7)
    for store in data.stores.values():
        frozen = store.now()
        store.clock = lambda at=frozen: at
    settings, key = with_demo_client(data.settings)
    with BackgroundServer(create_app(settings, transports=data.transports)) as server:
        yield Demo(data, server.base_url, key)


async def call_tool(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    """The seed's ``callTool``: the parsed JSON text of the result."""
    result = await client.call_tool(name, {k: v for k, v in arguments.items() if v is not None})
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def _ms(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000


async def monitor_workflow_health(
    client: Client, workflow_id: str, instance: str | None = None
) -> dict[str, Any]:
    executions = await call_tool(
        client, "list_executions", {"instance": instance, "workflowId": workflow_id, "limit": 100}
    )
    execs = executions["data"]
    finished = [e for e in execs if e["finished"]]
    successful = [e for e in finished if e["status"] == "success"]
    success_rate = round(len(successful) / len(finished) * 100, 2)
    avg_duration = sum(_ms(e["stoppedAt"]) - _ms(e["startedAt"]) for e in finished) / len(finished)
    return {
        "successRate": success_rate,
        "avgDuration": round(avg_duration),
        "total": len(execs),
        "running": len([e for e in execs if not e["finished"]]),
        "ids": [(e["instance"], e["id"]) for e in execs],
    }


async def debug_failed_execution(
    client: Client, execution_id: int | str, instance: str | None = None
) -> dict[str, Any]:
    exec_ = await call_tool(
        client, "get_execution", {"id": execution_id, "instance": instance, "includeData": True}
    )
    if not (exec_.get("data") or {}).get("resultData", {}).get("error"):
        return {"ok": True}
    error = exec_["data"]["resultData"]["error"]
    last_node = exec_["data"]["resultData"]["lastNodeExecuted"]
    run_data = exec_["data"]["resultData"]["runData"]
    node_run = (run_data.get(last_node) or [None])[0]
    flow = []
    for node_name, runs in run_data.items():
        last_run = runs[-1]
        flow.append(
            (node_name, "error" if last_run.get("error") else "ok", last_run["executionTime"])
        )
    performance = sorted(
        ((name, runs[0]["executionTime"]) for name, runs in run_data.items()),
        key=lambda pair: -(pair[1] or 0),
    )
    message = error["message"]
    return {
        "ok": False,
        "workflow": exec_["data"]["workflowData"]["name"],
        "workflowId": exec_["workflowId"],
        "duration": _ms(exec_["stoppedAt"]) - _ms(exec_["startedAt"]),
        "lastNode": last_node,
        "error": message,
        "nodeError": (node_run or {}).get("error", {}).get("message"),
        "flow": flow,
        "performance": performance,
        "transient": "TIMEOUT" in message.upper() or "ECONNREFUSED" in message.upper(),
    }


async def test_recipe_monitor_workflow_health(demo: Demo) -> None:
    async with demo.session() as client:
        await _monitor_workflow_health(demo, client)


@pytest.mark.parametrize("instance", ["acme", "n8n-prod"])
async def test_recipe_debug_failed_execution(demo: Demo, instance: str) -> None:
    async with demo.session() as client:
        await _debug_failed_execution(demo, client, instance)


async def _monitor_workflow_health(demo: Demo, client: Client) -> None:
    # given: a workflow of the demo's n8n-prod instance and what its simulator holds of it
    page = await call_tool(client, "list_executions", {"instance": "n8n-prod", "limit": 1})
    workflow_id = page["data"][0]["workflowId"]
    held = [e for e in demo.demo.stores["n8n-prod"].visible() if e.workflow_id == workflow_id]
    newest = sorted(held, key=lambda e: int(e.id), reverse=True)[:100]

    # when: the recipe runs on that instance, and with the instance left out
    report = await monitor_workflow_health(client, workflow_id, "n8n-prod")
    merged = await monitor_workflow_health(client, workflow_id)

    # then: its numbers are the simulator's
    stopped = [e for e in newest if e.status in ("success", "error", "canceled", "crashed")]
    assert report["ids"] == [("n8n-prod", e.id) for e in newest]
    assert report["total"] == len(newest) and report["running"] == len(newest) - len(stopped)
    expected = round(len([e for e in stopped if e.status == "success"]) / len(stopped) * 100, 2)
    assert report["successRate"] == expected and 0 < expected < 100
    assert report["avgDuration"] > 0
    assert merged["ids"] == report["ids"]  # the workflow lives on one instance


async def _debug_failed_execution(demo: Demo, client: Client, instance: str) -> None:
    # given: a failed execution of the instance (by its id, as the seed passes it)
    failed = await call_tool(
        client, "list_executions", {"instance": instance, "status": "error", "limit": 1}
    )
    item = failed["data"][0]
    execution_id: int | str = int(item["id"]) if item["id"].isdigit() else item["id"]
    succeeded = await call_tool(
        client, "list_executions", {"instance": instance, "status": "success", "limit": 1}
    )

    # when: the recipe debugs it, and a successful one
    report = await debug_failed_execution(client, execution_id, instance)
    fine = await debug_failed_execution(client, succeeded["data"][0]["globalId"])

    # then: the failure as the simulator recorded it, and the path that led there
    held = demo.demo.stores[instance].get(item["id"])
    assert held is not None
    assert report["ok"] is False and fine == {"ok": True}
    assert report["workflowId"] == held.workflow_id
    assert report["workflow"] == demo.demo.stores[instance].workflows[held.workflow_id].name
    assert report["error"] == held.error_message
    assert report["duration"] >= 0
    assert report["lastNode"] == report["flow"][-1][0]
    assert report["nodeError"], "the last node's run should carry the error"
    assert report["flow"][-1][1] == "error"
    assert all(status == "ok" for _, status, _ in report["flow"][:-1])
    assert len(report["performance"]) == len(report["flow"])
