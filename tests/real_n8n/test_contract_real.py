"""The n8n adapter's contract (tests/backends/n8n_contract.py) against a real n8n 2.41.1.

The same test classes run against the simulator in tests/backends/test_n8n.py; here the
``n8n_target`` fixture points them at the seeded real server instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from execgate.backends.http import BackendHTTP
from execgate.backends.n8n import N8nBackend
from execgate.config import HTTPSettings
from tests.backends.n8n_contract import (
    TestErrorAnswers,
    TestLimitsAndScopes,
    TestListing,
    TestMutations,
    TestReads,
    TestWireShapes,
)
from tests.real_n8n.harness import RealN8n
from tests.transports import backend_http

__all__ = [
    "TestErrorAnswers",
    "TestLimitsAndScopes",
    "TestListing",
    "TestMutations",
    "TestReads",
    "TestWireShapes",
]

pytestmark = pytest.mark.real_n8n

INSTANCE = "n8n-real"
MIN_EXECUTIONS = 24


@dataclass
class RealTarget:
    """The contract's ``n8n_target`` for a real server."""

    n8n: RealN8n
    backend: N8nBackend
    http: BackendHTTP
    client: httpx.AsyncClient
    api_key: str
    base_url: str
    ids: dict[str, str] = field(default_factory=dict)
    workflow_id: str = ""
    workflow_name: str = ""
    multi_run_id: str = ""
    multi_run_node: str = "Code"
    list_only_key: str = ""

    async def fresh_failed(self) -> str:
        return await asyncio.to_thread(self.n8n.new_execution, "error")

    async def fresh_running(self) -> str:
        return await asyncio.to_thread(self.n8n.new_execution, "running")

    def backend_with_key(self, api_key: str) -> N8nBackend:
        headers = N8nBackend.auth_headers(api_key)
        return N8nBackend(INSTANCE, backend_http(INSTANCE, self.base_url, headers))


@pytest.fixture(scope="session")
def seeded_enough(real_n8n: RealN8n) -> RealN8n:
    """The contract pages through at least 20 executions: add successes until there are."""
    with httpx.Client(
        base_url=real_n8n.base_url, headers={"X-N8N-API-KEY": real_n8n.api_key}
    ) as client:
        count = len(client.get("/api/v1/executions", params={"limit": 250}).json()["data"])
    for _ in range(max(0, MIN_EXECUTIONS - count)):
        real_n8n.new_execution("success")
    return real_n8n


@pytest.fixture(scope="session")
def list_only_key(real_n8n: RealN8n) -> str:
    return real_n8n.create_scoped_key(["execution:list"], label="execgate-list-only")


@pytest.fixture
async def n8n_target(seeded_enough: RealN8n, list_only_key: str) -> AsyncIterator[RealTarget]:
    n8n = seeded_enough
    headers = N8nBackend.auth_headers(n8n.api_key)
    settings = HTTPSettings(timeout_seconds=30, retry_timeout_seconds=120)
    # the instance's HTTP side as the gateway builds it (aiohttp over the network)
    http = backend_http(INSTANCE, n8n.base_url, headers, None, settings)
    raw = httpx.AsyncClient(base_url=n8n.base_url, headers=headers, timeout=30)
    ids = {status: i for status, i in n8n.ids.items() if status != "new"}
    ids["new"] = n8n.ids["new"]
    assert n8n.multi_run_id is not None
    try:
        yield RealTarget(
            n8n=n8n,
            backend=N8nBackend(INSTANCE, http),
            http=http,
            client=raw,
            api_key=n8n.api_key,
            base_url=n8n.base_url,
            ids=ids,
            workflow_id=n8n.workflow_ids["ok"],
            workflow_name=n8n.workflow_names["ok"],
            multi_run_id=n8n.multi_run_id,
            list_only_key=list_only_key,
        )
    finally:
        await http.transport.aclose()
        await raw.aclose()
