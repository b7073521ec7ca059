"""The metrics registry: bounded labels, and what a scrape reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from execgate.domain.errors import UpstreamUnavailable
from execgate.service.live import LiveHub
from execgate.telemetry.metrics import ANONYMOUS, OTHER, Metrics, OperationNames
from tests.fakes import FakeBackend, make_execution


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_operation_names_are_bounded() -> None:
    names = OperationNames(limit=3)
    assert [names.label(n) for n in ("A", "B", "C", "D", "A")] == ["A", "B", "C", OTHER, "A"]
    assert names.label(None) == ANONYMOUS
    assert names.label("") == ANONYMOUS


def test_operation_names_that_are_not_graphql_names_are_other() -> None:
    names = OperationNames()
    for bad in ("has space", "1starts_with_digit", "x" * 101, "é", "a{b}", "exec-123"):
        assert names.label(bad) == OTHER
    # and they took no slot
    assert names.label("Fine_1") == "Fine_1"
    assert len(names._seen) == 1


def test_known_instances_and_clients_start_at_zero() -> None:
    metrics = Metrics(["acme", "n8n-prod"], ["dashboard"])
    found = samples(metrics)
    assert found[("execgate_backend_in_flight_requests", (("instance", "acme"),))] == 0
    assert found[("execgate_rate_limited_requests_total", (("client", "dashboard"),))] == 0


class _Cache:
    hits = 7
    misses = 3
    bytes = 4096

    def __len__(self) -> int:
        return 2


def test_cache_and_redis_are_read_when_scraped() -> None:
    metrics = Metrics()
    assert not any(name.startswith("execgate_cache") for name, _ in samples(metrics))
    cache = _Cache()
    metrics.watch_cache(cache)
    up = [True]
    metrics.watch_redis(lambda: up[0])
    found = samples(metrics)
    assert found[("execgate_cache_hits_total", (("layer", "local"),))] == 7
    assert found[("execgate_cache_misses_total", (("layer", "local"),))] == 3
    assert found[("execgate_cache_entries", ())] == 2
    assert found[("execgate_redis_up", ())] == 1
    cache.hits = 9
    up[0] = False
    found = samples(metrics)
    assert found[("execgate_cache_hits_total", (("layer", "local"),))] == 9
    assert found[("execgate_redis_up", ())] == 0


def test_operations_are_recorded_with_bounded_labels() -> None:
    metrics = Metrics()
    metrics.operation("Feed", "query", "ok", 0.02)
    metrics.operation("Feed", "query", "ok", 0.2)
    metrics.operation(None, "mutation", "error", 0.01)
    found = samples(metrics)
    key = (("operation", "Feed"), ("outcome", "ok"), ("type", "query"))
    assert found[("execgate_graphql_operation_duration_seconds_count", key)] == 2
    assert found[("execgate_graphql_operation_duration_seconds_sum", key)] == 0.22
    anonymous = (("operation", "anonymous"), ("outcome", "error"), ("type", "mutation"))
    assert found[("execgate_graphql_operation_duration_seconds_count", anonymous)] == 1


async def reach(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in time")


async def test_live_subscribers_and_polls_after_a_known_workload() -> None:
    fake = FakeBackend("acme", [make_execution("acme", "1", minutes=1)])
    metrics = Metrics(["acme", "beta"])
    hub = LiveHub({"acme": fake, "beta": FakeBackend("beta")}, interval=0.02)
    metrics.watch_live(hub)
    try:
        first = hub.subscribe(["acme"], lambda c: True, client="x")
        hub.subscribe(["acme"], lambda c: True, client="y")
        await asyncio.wait_for(first.settled(), 2)
        await reach(lambda: hub.polls["acme", "ok"] >= 3)
        fake.failure = UpstreamUnavailable("acme", "instance 'acme' is down")
        await reach(lambda: hub.polls["acme", "upstream_unavailable"] >= 1)
        first.close()
        found = samples(metrics)
    finally:
        await hub.aclose()
    assert found[("execgate_live_subscribers", (("instance", "acme"),))] == 1
    assert found[("execgate_live_subscribers", (("instance", "beta"),))] == 0
    ok = found[("execgate_live_polls_total", (("instance", "acme"), ("outcome", "ok")))]
    assert ok == hub.polls["acme", "ok"] >= 3
    failed = (
        "execgate_live_polls_total",
        (("instance", "acme"), ("outcome", "upstream_unavailable")),
    )
    assert found[failed] >= 1
    # no relay: no lease to report
    assert not any(name.startswith("execgate_live_lease") for name, _ in found)
