"""The Prometheus metrics of one app (``prometheus-client``), served at ``/metrics``.

Every label value is bounded: instances and clients come from the configuration, outcomes and
backend operations from fixed lists in the code, and GraphQL operation names from what clients
send, so those are kept only when they are GraphQL names of at most ``MAX_NAME_LENGTH``
characters, and only the first ``MAX_OPERATION_NAMES`` distinct ones; later names count as
``other``. No execution ID, message or URL is ever a label.

Counts that the gateway already keeps (the execution cache's hits and misses) are read when
scraped, so serving requests costs nothing for them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MAX_OPERATION_NAMES = 200
MAX_NAME_LENGTH = 100
ANONYMOUS = "anonymous"
"""The operation label of an operation without a name."""
OTHER = "other"
"""The operation label of names past ``MAX_OPERATION_NAMES``, or not GraphQL names."""

_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")

OPERATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BACKEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class CacheCounts(Protocol):
    """What the execution cache tells a scrape (``service.cache.ExecutionCache`` has it)."""

    hits: int
    misses: int
    bytes: int

    def __len__(self) -> int: ...


class SharedCounts(Protocol):
    """What the shared cache tells a scrape (``shared.executions.RedisExecutions``)."""

    hits: int
    misses: int


class LiveCounts(Protocol):
    """What the live hub tells a scrape (``service.live.LiveHub`` has it)."""

    @property
    def shared(self) -> bool: ...

    @property
    def polls(self) -> Mapping[tuple[str, str], int]: ...

    @property
    def received(self) -> Mapping[str, int]: ...

    def subscriber_counts(self) -> Mapping[str, int]: ...

    def roles(self) -> Mapping[str, str]: ...


class OperationNames:
    """GraphQL operation names as label values: at most ``limit`` distinct ones."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._seen:
            return name
        if len(name) > MAX_NAME_LENGTH or not _GRAPHQL_NAME.fullmatch(name):
            return OTHER
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(name)
        return name


class _Readings(Collector):
    """Values read at scrape time: the execution cache's counts, Redis's health."""

    def __init__(self) -> None:
        self.cache: CacheCounts | None = None
        self.shared: SharedCounts | None = None
        self.redis: Callable[[], bool] | None = None
        self.live: LiveCounts | None = None

    def collect(self) -> Iterable[Metric]:
        cache = self.cache
        if cache is not None:
            hits = CounterMetricFamily(
                "execgate_cache_hits",
                "Finished executions answered from the cache (layer: this replica's own, or "
                "the replicas' shared one)",
                labels=["layer"],
            )
            misses = CounterMetricFamily(
                "execgate_cache_misses",
                "Finished executions looked up in the cache and not found there",
                labels=["layer"],
            )
            hits.add_metric(["local"], cache.hits)
            misses.add_metric(["local"], cache.misses)
            if self.shared is not None:
                hits.add_metric(["shared"], self.shared.hits)
                misses.add_metric(["shared"], self.shared.misses)
            yield hits
            yield misses
            yield GaugeMetricFamily(
                "execgate_cache_entries", "Executions the cache holds", len(cache)
            )
            yield GaugeMetricFamily(
                "execgate_cache_bytes", "The cache's estimated size in bytes", cache.bytes
            )
        redis = self.redis
        if redis is not None:
            yield GaugeMetricFamily(
                "execgate_redis_up",
                "1 while the shared Redis answers, 0 while each replica works on its own",
                1.0 if redis() else 0.0,
            )
        if self.live is not None:
            yield from _live(self.live)


def _live(live: LiveCounts) -> Iterable[Metric]:
    subscribers = GaugeMetricFamily(
        "execgate_live_subscribers",
        "Live subscriptions on this replica, by instance (one spanning several instances "
        "counts once for each)",
        labels=["instance"],
    )
    counts = live.subscriber_counts()
    for instance, count in counts.items():
        subscribers.add_metric([instance], count)
    yield subscribers
    polls = CounterMetricFamily(
        "execgate_live_polls",
        "Live polls this replica made, by instance and outcome (ok, or the error code in "
        "lower case: a failed poll)",
        labels=["instance", "outcome"],
    )
    for (instance, outcome), count in sorted(live.polls.items()):
        polls.add_metric([instance, outcome], count)
    yield polls
    if not live.shared:
        return
    roles = live.roles()
    held = GaugeMetricFamily(
        "execgate_live_lease_held",
        "1 while this replica holds the instance's live-poll lease and polls it for every replica",
        labels=["instance"],
    )
    alone = GaugeMetricFamily(
        "execgate_live_alone",
        "1 while this replica polls the instance on its own because the shared Redis does "
        "not answer",
        labels=["instance"],
    )
    for instance in counts:
        held.add_metric([instance], 1.0 if roles.get(instance) == "leads" else 0.0)
        alone.add_metric([instance], 1.0 if roles.get(instance) == "alone" else 0.0)
    yield held
    yield alone
    received = CounterMetricFamily(
        "execgate_live_received_polls",
        "Live polls of another replica (the lease holder) received from Redis, by instance",
        labels=["instance"],
    )
    for instance in counts:
        received.add_metric([instance], live.received.get(instance, 0))
    yield received


class Metrics:
    """The metrics of one app, in a registry of its own."""

    def __init__(self, instances: Sequence[str] = (), clients: Sequence[str] = ()) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.names = OperationNames()
        self.operations = Histogram(
            "execgate_graphql_operation_duration_seconds",
            "GraphQL operations by name, type (query, mutation) and outcome (ok: no error; "
            "error: executed with errors; rejected: refused before execution), and how long "
            "each took",
            ["operation", "type", "outcome"],
            buckets=OPERATION_BUCKETS,
            registry=registry,
        )
        self.backend = Histogram(
            "execgate_backend_request_duration_seconds",
            "Requests to the backends by instance, operation and outcome (ok, or the error "
            "code in lower case), and how long each took, retries included",
            ["instance", "operation", "outcome"],
            buckets=BACKEND_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "execgate_backend_in_flight_requests",
            "Requests to each instance waiting for their answer",
            ["instance"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "execgate_rate_limited_requests",
            "Requests and MCP tool calls refused by their client's rate limit",
            ["client"],
            registry=registry,
        )
        self.redis_failures = Counter(
            "execgate_redis_failures",
            "Shared-state operations that Redis did not answer (served per replica instead)",
            ["operation"],
            registry=registry,
        )
        self._readings = _Readings()
        registry.register(self._readings)
        for instance in instances:
            self.in_flight.labels(instance).set(0)
        for client in clients:
            self.rate_limited.labels(client)

    def watch_cache(self, cache: CacheCounts | None, shared: SharedCounts | None = None) -> None:
        """Report ``cache``'s counts at each scrape (``None``: no cache), and the shared
        cache's beside them."""
        self._readings.cache = cache
        self._readings.shared = shared

    def watch_redis(self, up: Callable[[], bool] | None) -> None:
        """Report whether the shared Redis answers (``None``: no Redis configured)."""
        self._readings.redis = up

    def watch_live(self, live: LiveCounts | None) -> None:
        """Report the live hub's subscribers, polls and leases at each scrape."""
        self._readings.live = live

    def operation(self, name: str | None, kind: str, outcome: str, seconds: float) -> None:
        self.operations.labels(self.names.label(name), kind, outcome).observe(seconds)

    def refused(self, client: str) -> None:
        self.rate_limited.labels(client).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)
