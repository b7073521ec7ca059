"""Automatic persisted queries through the real ``@apollo/client`` ``PersistedQueryLink``.

``execgate serve`` runs as its own process on 127.0.0.1 over an n8n-style simulator, with one
API client; node runs ``apollo_apq.mjs``: two Apollo clients (POST, then hashed queries by
GET), each asking two queries. ``@apollo/client`` is installed into a cache on first use
(``tests/api/apollo_client.py``): without node or npm this skips, except under ``CI=true``,
where it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from typing import Any

import pytest

from execgate.api.persisted import sha256_hex
from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.security.clients import client_block, hash_key, new_key
from execgate.simulate.generate import generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from tests.api.apollo_client import PACKAGES, SCRIPT, cache_root
from tests.faults.gateway import gateway_process
from tests.npm_cache import ensure, node_and_npm


def _run(node: str, install: str, url: str, key: str) -> dict[str, Any]:
    env = {**os.environ, "APOLLO_DIR": install, "APQ_URL": url, "APQ_KEY": key}
    done = subprocess.run([node, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the Apollo client did not run:\n{done.stderr}"
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_apollo_persisted_query_link_registers_then_sends_hashes_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    node, npm = node_and_npm("the Apollo Client APQ test")
    if not (cache_root() / "installed.json").is_file():
        with capsys.disabled():
            print(f"\n[@apollo/client] installing into {cache_root()}")
    install = ensure(npm, cache_root(), PACKAGES)
    api_key, key = f"sim-{secrets.token_urlsafe(12)}", new_key()
    store = generate_store(8, style="n8n", executions=30)
    with BackgroundServer(create_n8n_app(store, api_key=api_key)) as n8n:
        instance = InstanceSettings("n8n-prod", BackendKind.N8N, n8n.base_url, api_key)
        tables = client_block("browser", hash_key(key))
        with gateway_process([instance], tables=tables) as gateway:
            run = _run(node, str(install), gateway.url + "/graphql", key)

    requests, results = run["requests"], run["results"]
    # every query came back with its data
    assert [r["error"] for r in results] == [None] * 4
    assert results[0]["data"]["instances"] == [
        {"__typename": "Instance", "name": "n8n-prod", "kind": "N8N"}
    ]
    assert len(results[1]["data"]["executions"]["edges"]) == 3
    assert results[2]["data"] == results[0]["data"]
    # the first client: hash only, PERSISTED_QUERY_NOT_FOUND, then the document with its hash
    hashes = {r["hash"] for r in requests}
    assert None not in hashes and len(hashes) == 2
    first = [(r["method"], r["hasQuery"], r["code"]) for r in requests[:4]]
    assert first == [
        ("POST", False, "PERSISTED_QUERY_NOT_FOUND"),
        ("POST", True, None),
        ("POST", False, "PERSISTED_QUERY_NOT_FOUND"),
        ("POST", True, None),
    ]
    # the second client, a fresh cache: both documents are known, sent by hash alone with GET
    assert [(r["method"], r["hasQuery"], r["status"], r["code"]) for r in requests[4:]] == [
        ("GET", False, 200, None),
        ("GET", False, 200, None),
    ]
    assert all(len(h) == 64 and h == h.lower() for h in hashes)
    assert sha256_hex("") not in hashes
