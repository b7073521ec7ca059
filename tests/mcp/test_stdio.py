"""``execgate mcp --config FILE``: the stdio server as a subprocess, driven by the official
client's stdio transport, over simulators on real sockets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from execgate.security.clients import hash_key, new_key
from tests.faults.backends import FaultyBackend, faulty_backend
from tests.mcp.harness import error_text, structured

REPO = Path(__file__).resolve().parents[2]


@dataclass
class StdioSetup:
    config: Path
    audit: Path
    env: dict[str, str]
    backends: dict[str, FaultyBackend]
    keys: dict[str, str]

    def parameters(self, key: str | None) -> StdioServerParameters:
        env = dict(self.env)
        if key is not None:
            env["EXECGATE_MCP_KEY"] = key
        args = ["-m", "execgate", "mcp", "--config", str(self.config)]
        return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=REPO)


@pytest.fixture
def stdio_setup(tmp_path: Path) -> Iterator[StdioSetup]:
    with (
        faulty_backend("team", seed=51, executions=60) as team,
        faulty_backend("n8n", seed=52, executions=60) as n8n,
    ):
        keys = {"operator": new_key(), "reader": new_key()}
        audit = tmp_path / "audit.jsonl"
        config = tmp_path / "gateway.toml"
        config.write_text(
            f"""
[[instances]]
name = "team"
kind = "team"
base_url = "{team.url}"
team_id = "{team.team_id}"
token_env = "STDIO_TEAM_TOKEN"

[[instances]]
name = "n8n"
kind = "n8n"
base_url = "{n8n.url}"
api_key_env = "STDIO_N8N_KEY"

[[clients]]
name = "operator"
key_sha256 = "{hash_key(keys["operator"])}"
instances = ["*"]
actions = ["read", "delete"]

[[clients]]
name = "reader"
key_sha256 = "{hash_key(keys["reader"])}"
instances = ["n8n"]
actions = ["read"]

[audit]
path = "{audit}"
""",
            encoding="utf-8",
        )
        env = {
            "STDIO_TEAM_TOKEN": team.credential,
            "STDIO_N8N_KEY": n8n.credential,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        yield StdioSetup(config, audit, env, {"team": team, "n8n": n8n}, keys)


async def test_the_stdio_server_serves_the_tools_to_the_official_client(
    stdio_setup: StdioSetup,
) -> None:
    # given: execgate mcp started by the client, with the operator's key in the environment
    async with Client(stdio_setup.parameters(stdio_setup.keys["operator"])) as client:
        # when: it lists the tools, reads every execution and deletes one
        tools = {tool.name for tool in (await client.list_tools()).tools}
        page = structured(await client.call_tool("list_executions", {"limit": 250}))
        victim = next(i for i in page["data"] if i["instance"] == "n8n" and i["finished"])
        deleted = structured(await client.call_tool("delete_execution", {"id": victim["globalId"]}))
        refused = await client.call_tool("retry_execution", {"id": victim["globalId"]})

    # then: every execution of both simulators, one DELETE at n8n, and the audit lines
    assert len(tools) == 6 and "list_executions" in tools
    assert len(page["data"]) == 120 and page["nextCursor"] is None
    assert deleted["deleted"] is True
    assert stdio_setup.backends["n8n"].proxy.count("DELETE") == 1
    assert error_text(refused).startswith("FORBIDDEN: ")
    lines = stdio_setup.audit.read_text().splitlines()
    assert len(lines) == 2 and '"outcome":"OK"' in lines[0] and "FORBIDDEN" in lines[1]
    assert '"client":"operator"' in lines[0]


async def test_the_stdio_client_has_its_keys_scope(stdio_setup: StdioSetup) -> None:
    async with Client(stdio_setup.parameters(stdio_setup.keys["reader"])) as client:
        instances = structured(await client.call_tool("list_instances", {}))
        hidden = await client.call_tool("list_executions", {"instance": "team"})

    assert [i["name"] for i in instances["instances"]] == ["n8n"]
    assert error_text(hidden).startswith("UNKNOWN_INSTANCE: ")


@pytest.mark.parametrize("key", [None, "egk_this-is-not-a-configured-key"])
def test_without_a_valid_key_the_stdio_server_does_not_start(
    stdio_setup: StdioSetup, key: str | None
) -> None:
    env = os.environ | stdio_setup.env
    env.pop("EXECGATE_MCP_KEY", None)
    if key is not None:
        env["EXECGATE_MCP_KEY"] = key
    done = subprocess.run(
        [sys.executable, "-m", "execgate", "mcp", "--config", str(stdio_setup.config)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "EXECGATE_MCP_KEY" in done.stderr
    assert "Traceback" not in done.stderr
    if key is not None:
        assert key not in done.stderr
