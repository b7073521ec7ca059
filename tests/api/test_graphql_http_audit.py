"""The ``graphql-http`` server audit (GraphQL-over-HTTP conformance) against a running gateway.

``execgate serve`` runs as its own process on 127.0.0.1 over a team-style and an n8n-style
simulator (real sockets), with one API client; node runs every audit of npm's
``graphql-http`` (``serverAudits``) against ``/graphql`` with that client's key, and none may
end in ``error`` (a MUST) or ``warn`` (a SHOULD). ``graphql-http`` is installed into a cache on
first use (``tests/api/graphql_http.py``): this test always runs, and without node or npm it
skips, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.security.clients import client_block, hash_key, new_key
from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from execgate.simulate.team_api import create_team_app
from tests.api.graphql_http import AUDIT_SCRIPT, INSTALL_SIZE, cache_root, ensure_installed, tools
from tests.faults.gateway import RunningGateway, gateway_process


def _node_and_npm() -> tuple[str, str]:
    node, npm = tools()
    if node is not None and npm is not None:
        return node, npm
    reason = "the graphql-http audit needs node and npm on PATH"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[RunningGateway, str]]:
    """The gateway process over two simulators, and its client's key."""
    key = new_key()
    with ExitStack() as stack:
        team_token, n8n_key = (f"sim-{secrets.token_urlsafe(12)}" for _ in range(2))
        team = stack.enter_context(
            BackgroundServer(
                create_team_app(
                    generate_store(61, style="team", executions=40),
                    team_id=DEMO_TEAM_ID,
                    token=team_token,
                )
            )
        )
        n8n = stack.enter_context(
            BackgroundServer(
                create_n8n_app(generate_store(62, style="n8n", executions=40), api_key=n8n_key)
            )
        )
        instances = [
            InstanceSettings(
                name="acme",
                kind=BackendKind.TEAM,
                base_url=team.base_url,
                credential=team_token,
                team_id=DEMO_TEAM_ID,
            ),
            InstanceSettings(
                name="n8n-prod", kind=BackendKind.N8N, base_url=n8n.base_url, credential=n8n_key
            ),
        ]
        gateway = stack.enter_context(
            gateway_process(instances, tables=client_block("auditor", hash_key(key)))
        )
        yield gateway, key


def _audit(node: str, install: str, url: str, key: str) -> list[dict[str, Any]]:
    env = {**os.environ, "GRAPHQL_HTTP_DIR": install, "AUDIT_URL": url, "AUDIT_KEY": key}
    done = subprocess.run(
        [node, str(AUDIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"the audit did not run:\n{done.stderr}"
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_the_graphql_http_server_audit_finds_no_error_and_no_warning(
    served: tuple[RunningGateway, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # given: graphql-http installed (announced when it is not yet), and the gateway running
    node, npm = _node_and_npm()
    if not (cache_root() / "installed.json").is_file():
        with capsys.disabled():
            print(f"\n[graphql-http] installing into {cache_root()}: {INSTALL_SIZE}")
    install = ensure_installed(npm)
    gateway, key = served

    # when: every server audit runs against /graphql with the client's key
    results = _audit(node, str(install), gateway.url + "/graphql", key)

    # then: the whole list ran, and nothing failed a MUST or a SHOULD
    assert len(results) >= 60, f"only {len(results)} audits ran"
    failed = [
        f"{r['status']} {r['id']} {r['name']}: {r['reason']}"
        for r in results
        if r["status"] in ("error", "warn")
    ]
    assert failed == [], "graphql-http audits failed:\n" + "\n".join(failed)
    notices = [f"{r['id']} {r['name']}: {r['reason']}" for r in results if r["status"] == "notice"]
    assert notices == [], "optional (MAY) audits failed:\n" + "\n".join(notices)
    # and no request of the audit was refused, nor did the key reach the log
    log = gateway.log_text()
    assert "refused" not in log
    assert key not in log


def test_a_refusal_of_the_running_server_leaves_one_line_in_its_log_without_the_key(
    served: tuple[RunningGateway, str],
) -> None:
    # given: the gateway process, its log so far
    gateway, key = served
    before = gateway.log_text().count("refused ")
    wrong = key[:-4] + "AAAA"
    # when: a request with a key that no client has, and one without the Bearer prefix
    for header in (f"Bearer {wrong}", key):
        answer = httpx.post(
            gateway.url + "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": header},
            timeout=10,
        )
        assert answer.status_code == 401
    # then: its log (stderr, as the server runs it) has one line for each, without either key
    log = gateway.log_text()
    lines = [line for line in log.splitlines() if "refused " in line]
    assert len(lines) - before == 2, log
    assert "a client key that no client has" in lines[-2]
    assert "not 'Bearer <key>'" in lines[-1]
    assert key not in log and wrong not in log
