"""An instance's circuit, as the API shows it: CLOSED while it answers, OPEN once it keeps
failing, with the last failure's message (never its address)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from execgate.app import create_app
from execgate.config import CacheSettings, HTTPSettings, Settings
from tests.faults.backends import FaultyBackend
from tests.faults.catalogue import On, WrongStatus
from tests.serving import serving

HEALTH = "{ instances { name health { state since lastError } } }"
FEED = "{ executions(first: 3) { edges { cursor } skippedInstances { instance code } } }"


async def test_health_follows_the_circuit(
    team_backend: FaultyBackend, n8n_backend: FaultyBackend
) -> None:
    http = HTTPSettings(timeout_seconds=2.0, read_retries=0, circuit_failures=2)
    settings = Settings(
        instances=(team_backend.instance("acme", http), n8n_backend.instance("n8n", http)),
        cache=CacheSettings(enabled=False),
        source="test",
    )
    async with serving(create_app(settings)) as client:
        before = (await client.post("/graphql", json={"query": HEALTH})).json()["data"]
        assert [i["health"]["state"] for i in before["instances"]] == ["CLOSED", "CLOSED"]
        assert all(i["health"]["lastError"] is None for i in before["instances"])

        n8n_backend.proxy.inject(WrongStatus(status="500"), on=On.READS, times=None)
        for _ in range(3):
            page = (await client.post("/graphql", json={"query": FEED})).json()["data"]
            assert page["executions"]["skippedInstances"][0]["instance"] == "n8n"
        await asyncio.sleep(0.2)  # the proxy counts from its own thread
        calls = n8n_backend.proxy.count("GET")

        body = (await client.post("/graphql", json={"query": HEALTH})).json()
        health = {i["name"]: i["health"] for i in body["data"]["instances"]}
        assert health["acme"]["state"] == "CLOSED"
        assert health["n8n"]["state"] == "OPEN"
        assert "HTTP 500" in health["n8n"]["lastError"]
        assert n8n_backend.proxy.url not in body.__repr__()
        opened = datetime.fromisoformat(health["n8n"]["since"])
        assert opened > datetime.fromisoformat(before["instances"][1]["health"]["since"])
        # once open, the instance is skipped without a request
        await client.post("/graphql", json={"query": FEED})
        await asyncio.sleep(0.2)  # the proxy counts from its own thread
        assert n8n_backend.proxy.count("GET") == calls
