"""``/metrics`` after a known workload over the embedded demo, parsed by prometheus-client."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from execgate.app import create_app
from execgate.config import ClientSettings, ServerSettings
from execgate.domain.access import Action
from execgate.security.clients import hash_key, new_key
from execgate.simulate.embedded import embedded, with_demo_client
from tests.serving import serving

FEED = "query Feed { executions(first: 5) { edges { node { id nodeExecutions { nodeName } } } } }"
OPERATIONS = "execgate_graphql_operation_duration_seconds_count"
BACKEND = "execgate_backend_request_duration_seconds_count"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


class Served:
    def __init__(self, client: httpx.AsyncClient, app: Any, key: str, slow_key: str) -> None:
        self.client = client
        self.app = app
        self.key = key
        self.slow_key = slow_key

    async def post(self, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return await self.client.post("/graphql", json=body, headers=headers)

    async def scrape(self) -> Samples:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return parse(response.text)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    demo = embedded(seed=7)
    settings, key = with_demo_client(demo.settings)
    slow_key = new_key()
    slow = ClientSettings("slow", hash_key(slow_key), None, frozenset({Action.READ}), 1.0, 1)
    settings = dataclasses.replace(
        settings,
        clients=(*settings.clients, slow),
        server=ServerSettings(metrics=True),
    )
    # The slow client's bucket never refills: its second and third requests are refused.
    app = create_app(settings, transports=demo.transports, rate_clock=lambda: 0.0)
    async with serving(app) as client:
        yield Served(client, app, key, slow_key)


async def test_metrics_count_a_known_workload(served: Served) -> None:
    before = await served.scrape()
    assert total(before, OPERATIONS) == 0
    for _ in range(3):
        assert (await served.post({"query": FEED})).json()["data"] is not None
    assert (await served.post({"query": "query Broken {"})).status_code == 200
    assert (await served.post({"query": "{ instances { name } }"}, served.slow_key)).is_success
    for _ in range(2):
        assert (
            await served.post({"query": "{ instances { name } }"}, served.slow_key)
        ).status_code == 429

    after = await served.scrape()
    assert total(after, OPERATIONS, operation="Feed", type="query", outcome="ok") == 3
    assert total(after, OPERATIONS, outcome="rejected", type="unknown") == 1
    assert total(after, OPERATIONS, operation="anonymous", type="query", outcome="ok") == 1
    assert total(after, OPERATIONS) == 5
    assert total(after, "execgate_rate_limited_requests_total", client="slow") == 2
    assert total(after, "execgate_rate_limited_requests_total", client="demo") == 0
    # every request the adapters sent is counted once, by instance (no retries here)
    calls = served.app.state.registry.calls()
    for instance, sent in calls.items():
        assert total(after, BACKEND, instance=instance) == sent, instance
        assert total(after, "execgate_backend_in_flight_requests", instance=instance) == 0
    assert sum(calls.values()) > 0
    # the same page again reads its finished executions from the cache
    hits = total(after, "execgate_cache_hits_total")
    await served.post({"query": FEED})
    again = await served.scrape()
    assert total(again, "execgate_cache_hits_total") > hits
    assert total(again, "execgate_cache_misses_total") > 0
    assert "execgate_redis_up" not in {name for name, _ in again}


async def test_labels_hold_no_ids_or_free_text(served: Served) -> None:
    nasty = {"query": 'query Q { execution(id: "RXhlY3V0aW9uOmFjbWU6NDI=") { id } }'}
    await served.post(nasty)
    await served.post({"query": "query Q { instances { name } }", "operationName": "Q"})
    for _ in range(3):
        await served.post({"query": "{ instances { name } }", "operationName": "not a name"})
    text = (await served.client.get("/metrics")).text
    assert "RXhlY3V0aW9u" not in text
    assert "not a name" not in text
    samples = parse(text)
    labels = {dict(ls).get("operation") for name, ls in samples if name == OPERATIONS}
    assert labels <= {"Q", "anonymous", "other"}


async def test_no_metrics_route_unless_switched_on() -> None:
    demo = embedded(seed=7)
    app = create_app(demo.settings, transports=demo.transports)
    async with serving(app) as client:
        assert (await client.get("/metrics")).status_code == 404
