"""``[server] log_format = "json"``: one JSON object per line, with the request's fields."""

from __future__ import annotations

import io
import json
import logging
import secrets

import httpx

from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.security.clients import client_block, hash_key, new_key
from execgate.simulate.generate import generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from execgate.telemetry import context
from execgate.telemetry.logs import LineFormatter, RequestFields
from tests.faults.gateway import gateway_process


def test_a_line_holds_time_level_message_and_the_request() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LineFormatter())
    handler.addFilter(RequestFields())
    logger = logging.getLogger("execgate.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside")
        tokens = [context.request_id.set("r-9"), context.client_name.set("ops")]
        try:
            logger.warning("inside %s", "a request", extra={"instance": "acme"})
        finally:
            context.client_name.reset(tokens[1])
            context.request_id.reset(tokens[0])
    finally:
        logger.removeHandler(handler)
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(outside) == {"time", "level", "logger", "message"}
    assert outside["level"] == "WARNING" and outside["time"].endswith("Z")
    assert inside["message"] == "inside a request"
    assert (inside["request_id"], inside["client"], inside["instance"]) == ("r-9", "ops", "acme")


def test_the_served_gateway_writes_only_json_lines() -> None:
    api_key, key = f"sim-{secrets.token_urlsafe(12)}", new_key()
    store = generate_store(3, style="n8n", executions=10)
    with BackgroundServer(create_n8n_app(store, api_key=api_key)) as n8n:
        instance = InstanceSettings("n8n-prod", BackendKind.N8N, n8n.base_url, api_key)
        tables = '[server]\nlog_format = "json"\n' + client_block("ops", hash_key(key))
        with gateway_process([instance], tables=tables) as gateway:
            httpx.post(
                gateway.url + "/graphql",
                json={"query": "query Few { executions(first: 2) { edges { node { id } } } }"},
                headers={"Authorization": f"Bearer {key}", "X-Request-ID": "ok-1"},
            )
            httpx.post(
                gateway.url + "/graphql",
                json={"query": "{ __typename }"},
                headers={"Authorization": "Bearer egk_" + "A" * 43, "X-Request-ID": "bad-1"},
            )
            log = gateway.log_text()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("serving 1 instance(s)" in line["message"] for line in lines)
    [refusal] = [line for line in lines if line["message"].startswith("refused ")]
    assert refusal["request_id"] == "bad-1" and refusal["level"] == "WARNING"
    access = {line["request_id"]: line for line in lines if line["logger"] == "execgate.access"}
    assert access["bad-1"]["status"] == 401
    assert access["ok-1"]["status"] == 200
    assert access["ok-1"]["client"] == "ops"
    assert access["ok-1"]["operation"] == "Few"
    assert access["ok-1"]["path"] == "/graphql"
    assert isinstance(access["ok-1"]["duration_ms"], float)
    assert key not in log and api_key not in log


def test_text_logs_carry_execgates_own_info_lines() -> None:
    # Python's unconfigured logging drops INFO: the gateway configures it in both formats
    import os
    import subprocess
    import sys
    import time

    from execgate.simulate.server import free_port

    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "execgate", "demo", "--port", str(free_port())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "Application startup complete" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert any(
        "INFO:execgate.telemetry: OpenTelemetry traces on (console exporter)" in line
        for line in seen
    ), seen
    assert not any(line.lstrip().startswith("{") for line in seen)  # text, not JSON
