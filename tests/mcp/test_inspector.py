"""The npm MCP Inspector's CLI (``@modelcontextprotocol/inspector --cli``) against /mcp:
``tools/list`` (with its schema portability check) and ``tools/call``.

It runs when ``CI=true`` (``.ci/run`` sets it), when asked with ``EXECGATE_INSPECTOR=1``, or
when the Inspector is already in its cache; otherwise it skips, saying how to run it, so the
README's test command never downloads anything unasked. Under ``CI=true`` a missing npm is a
failure, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mcp.harness import McpGateway, mcp_gateway
from tests.mcp.inspector import Inspector, ensure_installed


def _asked_for() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("EXECGATE_INSPECTOR") == "1"


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    cached = Inspector()
    if not _asked_for() and not cached.is_installed():
        pytest.skip(
            "the MCP Inspector test installs @modelcontextprotocol/inspector from npm (about "
            "120 MB, with node 24 when the system node is older than 22.19); run it with "
            "EXECGATE_INSPECTOR=1 (CI=true always runs it)"
        )
    if shutil.which("npm") is None and not cached.is_installed():
        reason = "the MCP Inspector test needs npm on the PATH to install the Inspector"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true, so this is an error, not a skip", pytrace=False)
        pytest.skip(reason)
    return ensure_installed()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpGateway]:
    with mcp_gateway(tmp_path_factory.mktemp("inspector")) as running:
        yield running


def _target(gateway: McpGateway, client: str = "reader") -> list[str]:
    return [
        gateway.url + "/mcp",
        "--transport",
        "http",
        "--header",
        f"Authorization: Bearer {gateway.keys[client]}",
    ]


def test_the_inspector_lists_the_tools(
    inspector: Inspector, gateway: McpGateway, tmp_path: Path
) -> None:
    done = inspector.run([*_target(gateway), "--method", "tools/list", "--strict"], home=tmp_path)

    assert done.returncode == 0, done.stderr
    tools = {tool["name"]: tool for tool in json.loads(done.stdout)["tools"]}
    assert sorted(tools) == [
        "cancel_execution",
        "delete_execution",
        "get_execution",
        "list_executions",
        "list_instances",
        "retry_execution",
    ]
    assert tools["list_executions"]["annotations"]["readOnlyHint"] is True
    assert tools["delete_execution"]["annotations"]["destructiveHint"] is True
    assert tools["get_execution"]["inputSchema"]["required"] == ["id"]


def test_the_inspector_calls_a_tool(
    inspector: Inspector, gateway: McpGateway, tmp_path: Path
) -> None:
    call = ["--method", "tools/call", "--tool-name", "list_executions"]
    done = inspector.run(
        [*_target(gateway), *call, "--tool-arg", "instance=n8n", "limit=5"], home=tmp_path
    )
    refused = inspector.run([*_target(gateway), *call, "--tool-arg", "limit=251"], home=tmp_path)

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    items = answer["structuredContent"]["data"]
    assert [i["instance"] for i in items] == ["n8n"] * 5
    assert json.loads(answer["content"][0]["text"]) == answer["structuredContent"]
    assert refused.returncode != 0
    assert "BAD_USER_INPUT" in refused.stdout
