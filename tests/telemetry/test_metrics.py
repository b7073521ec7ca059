"""The metrics registry: bounded labels, and what a scrape reads."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from execgate.telemetry.metrics import ANONYMOUS, OTHER, Metrics, OperationNames


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
