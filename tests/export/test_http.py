"""``GET /export`` over real sockets: ``execgate serve`` as its own process, over simulators
behind fault proxies. Planted secrets never leave; keys without ``export`` are refused; a
backend failing mid-export ends the file with a marker and a broken transfer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from execgate.security.clients import hash_key
from tests.faults.backends import FaultyBackend, faulty_backend
from tests.faults.catalogue import Garbage, On
from tests.faults.gateway import RunningGateway, gateway_process

EXPORTER = "egk_exporter-key-0123456789abcdefghijklmnopqrstuvwxyz012"
READER = "egk_reader-key-0123456789abcdefghijklmnopqrstuvwxyz0123456"
PLANTED = (
    "jane.planted@example.com",
    "abcdefPLANTEDtoken987",
    "4111 1111 1111 1111",
    "hunter2-planted",
    "sk_planted_123456",
    "planted-basic-auth",
    "bob.planted@corp.example",
    "alice.planted@example.org",
    "cookie-planted-value",
)


def _plant(backend: FaultyBackend) -> None:
    """Secrets and PII in names, node errors and node data of the simulator's executions."""
    store = backend.store
    workflow = next(iter(store.workflows.values()))
    workflow.name = "Billing for alice.planted@example.org"
    for number, execution in enumerate(sorted(store.visible(), key=lambda e: e.id)):
        if number % 3:
            continue
        for run in execution.runs:
            run.output = {
                "password": "hunter2-planted",
                "apiKey": "sk_planted_123456",
                "headers": {
                    "Authorization": "Basic planted-basic-auth",
                    "Set-Cookie": "cookie-planted-value",
                },
                "note": "contact bob.planted@corp.example",
            }
            run.input = run.output
        if execution.runs and execution.status == "error":
            execution.runs[-1].status = "error"
            execution.runs[-1].error = (
                "failed for jane.planted@example.com with Bearer abcdefPLANTEDtoken987 "
                "card 4111 1111 1111 1111"
            )
            execution.error_message = execution.runs[-1].error


def _tables(audit: Path) -> str:
    return (
        f'[audit]\npath = "{audit}"\n\n'
        "[[clients]]\n"
        f'name = "exporter"\nkey_sha256 = "{hash_key(EXPORTER)}"\n'
        'instances = ["*"]\nactions = ["read", "export"]\n\n'
        "[[clients]]\n"
        f'name = "reader"\nkey_sha256 = "{hash_key(READER)}"\n'
        'instances = ["*"]\nactions = ["read"]\n'
    )


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[RunningGateway, dict[str, FaultyBackend], Path]]:
    audit = tmp_path / "audit.jsonl"
    with ExitStack() as stack:
        backends = {
            "acme": stack.enter_context(faulty_backend("team", seed=41, executions=300)),
            "prod": stack.enter_context(faulty_backend("n8n", seed=42, executions=700)),
        }
        for backend in backends.values():
            _plant(backend)
        instances = [b.instance(name) for name, b in backends.items()]
        gateway = stack.enter_context(gateway_process(instances, tables=_tables(audit)))
        yield gateway, backends, audit


def _get(gateway: RunningGateway, query: str, key: str = EXPORTER) -> httpx.Response:
    return httpx.get(
        f"{gateway.url}/export?{query}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )


def test_planted_secrets_are_in_no_export(
    running: tuple[RunningGateway, dict[str, FaultyBackend], Path],
) -> None:
    gateway, backends, audit = running
    total = sum(len(b.store.visible()) for b in backends.values())
    for fmt in ("csv", "json", "jsonl"):
        answer = _get(gateway, f"format={fmt}&days=40&include_data=true")
        assert answer.status_code == 200, answer.text
        text = answer.text
        for secret in PLANTED:
            assert secret not in text, (fmt, secret)
        assert "[REDACTED]" in text
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            assert {r["instance"] for r in rows} == {"acme", "prod"}
            executions = {(r["instance"], r["execution_id"]) for r in rows}
        elif fmt == "json":
            executions = {(e["instance"], e["executionId"]) for e in json.loads(text)}
        else:
            executions = {
                (e["instance"], e["executionId"]) for e in map(json.loads, text.splitlines())
            }
        # queued executions (either kind) have no start time, so no dated window holds them
        queued = sum(
            1 for b in backends.values() for e in b.store.visible() if e.started_at is None
        )
        assert len(executions) == total - queued
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    exports = [line for line in lines if line["action"] == "export"]
    assert [line["outcome"] for line in exports] == ["OK", "OK", "OK"]
    assert all(line["client"] == "exporter" and line["rows"] > 0 for line in exports)
    assert all(line["bytes"] > 0 and line["filter"]["include_data"] for line in exports)


def test_csv_is_rfc_4180_in_the_merged_order(
    running: tuple[RunningGateway, dict[str, FaultyBackend], Path],
) -> None:
    gateway, _, _ = running
    answer = _get(gateway, "days=40")
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="executions-40d-')
    assert answer.content.count(b"\r\n") >= answer.content.count(b"\n") - answer.text.count('"\n')
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:2] == ["instance", "execution_id"] and len(rows[0]) == 17
    starts = []
    last = None
    for row in rows[1:]:
        if (row[0], row[1]) != last:
            starts.append(row[6] or "~")
            last = (row[0], row[1])
    assert starts == sorted(starts, reverse=True)


def test_keys_without_export_and_bad_parameters_are_refused(
    running: tuple[RunningGateway, dict[str, FaultyBackend], Path],
) -> None:
    gateway, backends, audit = running
    before = sum(b.proxy.count() for b in backends.values())
    refused = _get(gateway, "days=1", key=READER)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (
        _get(gateway, "days=1", key="egk_nobody-0123456789abcdefghijklmnopqrstuvwxyz01").status_code
        == 401
    )
    cases = {
        "format=xml": "BAD_USER_INPUT",
        "days=0": "BAD_USER_INPUT",
        "days=many": "BAD_USER_INPUT",
        "instances=nope": "UNKNOWN_INSTANCE",
        "status=SIDEWAYS": "BAD_USER_INPUT",
        "startedAfter=yesterday": "BAD_USER_INPUT",
        "days=2&startedAfter=2026-01-01T00:00:00Z": "BAD_USER_INPUT",
        "workflowId=not-an-id": "INVALID_ID",
        "colour=blue": "BAD_USER_INPUT",
    }
    for query, code in cases.items():
        answer = _get(gateway, query)
        assert answer.status_code == 400, (query, answer.text)
        assert answer.json()["errors"][0]["extensions"]["code"] == code, query
    assert sum(b.proxy.count() for b in backends.values()) == before
    outcomes = [json.loads(line)["outcome"] for line in audit.read_text().splitlines()]
    assert outcomes == ["FORBIDDEN", *cases.values()]


def test_a_backend_failing_mid_export_ends_with_a_marker(
    running: tuple[RunningGateway, dict[str, FaultyBackend], Path],
) -> None:
    gateway, backends, audit = running
    received = b""
    with httpx.stream(
        "GET",
        f"{gateway.url}/export?format=jsonl&days=40",
        headers={"Authorization": f"Bearer {EXPORTER}"},
        timeout=60,
    ) as answer:
        assert answer.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in answer.iter_raw():
                if not received:
                    backends["prod"].proxy.inject(Garbage(), on=On.READS, times=None)
                received += chunk
    lines = received.decode().splitlines()
    marker = json.loads(lines[-1])["exportIncomplete"]
    assert marker["instance"] == "prod" and marker["code"] == "UPSTREAM_BAD_RESPONSE"
    assert 0 < len(lines) - 1 < 700
    line = json.loads(audit.read_text().splitlines()[-1])
    assert line["outcome"] == "UPSTREAM_BAD_RESPONSE" and line["rows"] == len(lines) - 1
