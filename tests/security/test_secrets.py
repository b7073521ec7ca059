"""Secret hygiene, proven: every error path, and no secret in any answer, log or audit line.

Backends are replaced by ``httpx.MockTransport`` handlers that fail in every way a backend can
(401, 403, other 4xx, 5xx, garbage, a wrong shape, timeouts, refused connections) and that
echo the credential and their own URL in their error bodies, as a careless proxy might. The
secrets searched for: both backends' credentials, their base URLs and host names, and every
client key — the caller's, another client's, and a wrong one presented.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from execgate.api.ids import encode
from execgate.backends.transport import ConnectFailed, TimedOut, Transport
from execgate.config import InstanceSettings
from execgate.domain.access import ALL_ACTIONS
from execgate.domain.models import BackendKind
from execgate.security.clients import new_key
from execgate.simulate.generate import DEMO_TEAM_ID
from tests.security.world import Backends, Grant, world
from tests.transports import Scripted

TEAM_TOKEN = "sdk_team-Backend-T0ken-5f1e9a"
N8N_KEY = "n8n-Api-K3y-0c41d7e2"
TEAM_URL = "http://team.corp-internal.example:9101"
N8N_URL = "https://n8n.corp-internal.example:5678/base"

MODES = [
    "401",
    "403",
    "400",
    "404",
    "409",
    "500",
    "502",
    "503",
    "garbage",
    "shape",
    "timeout",
    "refused",
]

DOCUMENTS = [
    "{ executions(first: 5) { totalCount skippedInstances { instance code message } "
    "edges { node { id nodeExecutions { nodeName } } } } }",
    "query($a: ID!, $b: ID!) { node(id: $a) { id } execution(id: $b) { id workflow { name } } }",
    "query($w: ID!) { workflow(id: $w) { name } instances { name capabilities } }",
    "mutation($a: ID!, $b: ID!) { c: cancelExecution(id: $a) { execution { id } errors { code "
    "message } } r: retryExecution(id: $b) { errors { code message } } d: deleteExecutions("
    "ids: [$a, $b]) { errors { code message } } }",
]
VARIABLES = {
    "a": encode("Execution", "acme:41"),
    "b": encode("Execution", "n8n-prod:42"),
    "w": encode("Workflow", "n8n-prod:7"),
}


def failing(mode: str, credential: str, seen: list[str]) -> Scripted:
    def handle(request: httpx.Request) -> httpx.Response:
        presented = request.headers.get("authorization", "") + request.headers.get(
            "x-n8n-api-key", ""
        )
        seen.append(presented)
        echo = f"denied for {presented} at {request.url} (token {credential})"
        if mode == "timeout":
            raise TimedOut(f"read timeout on {request.url}")
        if mode == "refused":
            raise ConnectFailed(f"connection refused by {request.url.host}")
        if mode == "garbage":
            return httpx.Response(200, text=f"<html>{echo}</html>")
        if mode == "shape":
            return httpx.Response(200, json={"data": echo, "content": echo, "id": echo})
        return httpx.Response(
            int(mode), json={"message": echo, "error": echo}, headers={"X-Debug": echo}
        )

    return Scripted(handle)


def backends(mode: str, seen: list[str]) -> Backends:
    instances = (
        InstanceSettings(
            name="acme",
            kind=BackendKind.TEAM,
            base_url=TEAM_URL,
            credential=TEAM_TOKEN,
            team_id=DEMO_TEAM_ID,
        ),
        InstanceSettings(
            name="n8n-prod", kind=BackendKind.N8N, base_url=N8N_URL, credential=N8N_KEY
        ),
    )
    transports: dict[str, Transport] = {
        "acme": failing(mode, TEAM_TOKEN, seen),
        "n8n-prod": failing(mode, N8N_KEY, seen),
    }
    return Backends(instances, transports, {}, {"acme": TEAM_TOKEN, "n8n-prod": N8N_KEY})


def secrets_in(text: str, keys: list[str]) -> list[str]:
    searched = [TEAM_TOKEN, N8N_KEY, TEAM_URL, N8N_URL, "corp-internal.example", *keys]
    return [s for s in searched if s in text]


@pytest.mark.parametrize("mode", MODES)
async def test_no_secret_leaves_the_gateway_on_any_backend_failure(
    mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a gateway whose backends all fail in this way, with its audit in a file
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    audit_file = tmp_path / "audit.jsonl"
    wrong_key = new_key()
    grants = [Grant("ops", None, ALL_ACTIONS), Grant("other")]
    async with world(
        grants, backends(mode, seen), use_memory_audit=False, audit_path=str(audit_file)
    ) as gw:
        keys = [*gw.keys.values(), wrong_key]
        # when every kind of operation runs, and a wrong key is tried
        answers = [await gw.post(doc, as_client="ops", **VARIABLES) for doc in DOCUMENTS]
        answers.append(await gw.post(DOCUMENTS[0], key=wrong_key))
    # then the backends were really asked with their credentials, and failed
    assert any(TEAM_TOKEN in s for s in seen) and any(N8N_KEY in s for s in seen)
    bodies = [a.text for a in answers]
    assert all(a.status_code == 200 for a in answers[:-1])
    assert answers[-1].status_code == 401
    codes = {e["extensions"]["code"] for a in answers[:-1] for e in a.json().get("errors", [])}
    assert codes, "the failures were reported"
    assert all(
        e.get("extensions", {}).get("code") for a in answers for e in a.json().get("errors", [])
    )
    # and no secret is in any answer, header, log record, printed line or audit line
    for body in bodies:
        assert secrets_in(body, keys) == [], body
    for answer in answers:
        assert secrets_in(json.dumps(dict(answer.headers)), keys) == []
    assert secrets_in(caplog.text, keys) == []
    printed = capsys.readouterr()
    assert secrets_in(printed.out + printed.err, keys) == []
    audit_lines = audit_file.read_text(encoding="utf-8").splitlines()
    assert len(audit_lines) == 4  # cancel, retry, and the two deletes of the bulk call
    assert secrets_in("\n".join(audit_lines), keys) == []
    for line in audit_lines:
        entry = json.loads(line)
        assert entry["client"] == "ops"
        assert entry["outcome"] != "OK"


async def test_backend_messages_that_echo_secrets_are_redacted_not_dropped() -> None:
    # given an n8n backend answering a cancel with a 409 whose message echoes its credential
    seen: list[str] = []
    async with world([Grant("ops", None, ALL_ACTIONS)], backends("409", seen)) as gw:
        body = (await gw.query(DOCUMENTS[3], as_client="ops", **VARIABLES))["data"]
        feed = await gw.query(DOCUMENTS[0], as_client="ops")
    # then the message is kept for the client, with the secrets replaced
    messages = [
        e["message"] for payload in (body["c"], body["r"], *body["d"]) for e in payload["errors"]
    ]
    assert any("[redacted]" in m for m in messages), messages
    assert all(secrets_in(m, []) == [] for m in messages)
    assert len(gw.audit.entries) == 4
    # and so is the reason a skipped instance gives, in data and in errors
    skipped = feed["data"]["executions"]["skippedInstances"]
    assert {s["instance"] for s in skipped} == {"acme", "n8n-prod"}
    n8n = next(s for s in skipped if s["instance"] == "n8n-prod")
    assert "[redacted]" in n8n["message"]
    assert secrets_in(json.dumps(feed), []) == []


async def test_audit_to_stderr_holds_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    async with world(
        [Grant("ops", None, ALL_ACTIONS)], backends("500", seen), use_memory_audit=False
    ) as gw:
        await gw.query(DOCUMENTS[3], as_client="ops", **VARIABLES)
        key = gw.keys["ops"]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert len(lines) == 4
    for line in lines:
        entry = json.loads(line)
        assert set(entry) == {
            "timestamp",
            "client",
            "action",
            "execution_id",
            "instance",
            "outcome",
            "latency_ms",
            "request_id",
        }
        assert entry["client"] == "ops"
        assert isinstance(entry["request_id"], str) and len(entry["request_id"]) == 32
        assert entry["outcome"] in ("UPSTREAM_UNAVAILABLE", "UNSUPPORTED")
    assert secrets_in("\n".join(lines), [key]) == []
