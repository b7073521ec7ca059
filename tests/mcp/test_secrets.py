"""No credential, backend address or client key in any tool answer, error, log or audit line,
whatever the backends do (tests/security/test_secrets.py's failing backends, which echo their
credential and URL), with the official client talking to the app in process."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from execgate.domain.access import ALL_ACTIONS
from tests.security.test_secrets import MODES, VARIABLES, backends, secrets_in
from tests.security.world import Grant, world

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("list_instances", {}),
    ("list_executions", {"limit": 5}),
    ("list_executions", {"instance": "acme", "includeData": True, "limit": 3}),
    ("get_execution", {"id": VARIABLES["a"]}),
    ("get_execution", {"instance": "n8n-prod", "id": 42}),
    ("cancel_execution", {"id": VARIABLES["a"]}),
    ("retry_execution", {"id": VARIABLES["b"]}),
    ("delete_execution", {"instance": "n8n-prod", "id": "42"}),
]


@pytest.mark.parametrize("mode", MODES)
async def test_no_secret_leaves_through_the_tools(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: a gateway whose backends all fail this way, echoing their secrets
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    audit_file = tmp_path / "audit.jsonl"
    grants = [Grant("ops", None, ALL_ACTIONS)]
    async with world(
        grants, backends(mode, seen), use_memory_audit=False, audit_path=str(audit_file)
    ) as gw:
        keys = list(gw.keys.values())
        headers = {"Authorization": f"Bearer {gw.keys['ops']}"}
        transport = httpx2.ASGITransport(app=gw.app)
        # when: every tool is called
        async with (
            httpx2.AsyncClient(
                transport=transport, base_url="http://localhost", headers=headers
            ) as http,
            Client(streamable_http_client("http://localhost/mcp", http_client=http)) as client,
        ):
            results = [await client.call_tool(name, args) for name, args in CALLS]

    # then: the backends were asked and failed, and said so with codes
    assert any("Backend-T0ken" in s for s in seen)
    texts = [r.content[0].text for r in results]
    assert results[0].is_error is False
    failures = [t for r, t in zip(results, texts, strict=True) if r.is_error]
    assert len(failures) >= 5
    assert all(t.split(":", 1)[0].isupper() for t in failures), failures
    # and no secret is anywhere
    for result, text in zip(results, texts, strict=True):
        assert secrets_in(text, keys) == [], text
        assert secrets_in(json.dumps(result.structured_content or {}), keys) == []
    assert secrets_in(caplog.text, keys) == []
    printed = capsys.readouterr()
    assert secrets_in(printed.out + printed.err, keys) == []
    lines = audit_file.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["cancel", "retry", "delete"]
    assert all(json.loads(line)["outcome"] != "OK" for line in lines)
    assert secrets_in("\n".join(lines), keys) == []
