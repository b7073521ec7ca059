"""The gateway over running instances: what ``create_app``'s lifespan and ``execgate mcp``
(stdio) both open.

``open_gateway`` opens each instance's client (the registry), puts each adapter behind its
circuit breaker and, when ``[cache]`` is on, the shared execution cache (reads of many
executions, statistics and exports, go around it) and the statistics' segments, and builds the
``Gateway`` over them, with the masking rules of ``[export]`` and the ``LiveHub`` behind live
subscriptions (its pollers start with their first subscriber; with a ``relay``, the replicas
share each instance's poll); on exit it stops the pollers and closes the clients.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from execgate.backends.transport import Transport
from execgate.config import Settings
from execgate.domain.ports import AuditSink, Backend, Relay, SharedExecutions
from execgate.registry import Registry
from execgate.service.cache import CachedBackend, ExecutionCache
from execgate.service.cursors import PROCESS_SECRET
from execgate.service.gateway import Gateway
from execgate.service.health import Circuit, GuardedBackend, Readiness
from execgate.service.live import LiveHub
from execgate.service.masking import Masker
from execgate.service.stats import StatsCache
from execgate.telemetry.seam import BackendObserver


@dataclass(frozen=True)
class Opened:
    gateway: Gateway
    registry: Registry
    cache: ExecutionCache | None
    readiness: Readiness
    stats: StatsCache | None
    live: LiveHub


@contextlib.asynccontextmanager
async def open_gateway(
    settings: Settings,
    transports: Mapping[str, Transport] | None,
    *,
    audit: AuditSink,
    redact: Callable[[str], str],
    observer: BackendObserver | None = None,
    shared: SharedExecutions | None = None,
    relay: Relay | None = None,
) -> AsyncIterator[Opened]:
    """The gateway over the instances of ``settings`` (``transports`` replace the network for
    some of them), writing its audit trail to ``audit``, each backend request reporting to
    ``observer`` (metrics, spans), sharing finished executions with the other replicas
    through ``shared`` when there is one, and each instance's live poll through ``relay``; the
    clients close on exit."""
    registry = Registry.open(settings, transports, observer)
    readiness: Readiness | None = None
    live: LiveHub | None = None
    try:
        circuits = {
            i.name: Circuit(
                i.name, failures=i.http.circuit_failures, cool_down=i.http.circuit_cooldown_seconds
            )
            for i in settings.instances
        }
        guarded = {
            name: GuardedBackend(registry.backends[name], circuit)
            for name, circuit in circuits.items()
        }
        readiness = Readiness(guarded)
        backends: Mapping[str, Backend] = guarded
        kept: ExecutionCache | None = None
        bulk = dict(backends)
        stats: StatsCache | None = None
        cache = settings.cache
        if cache.enabled:
            kept = ExecutionCache(
                max_entries=cache.max_entries,
                max_bytes=cache.max_bytes,
                ttl_seconds=cache.ttl_seconds,
            )
            backends = {name: CachedBackend(b, kept, shared) for name, b in backends.items()}
            stats = StatsCache(
                ttl_seconds=cache.ttl_seconds,
                max_executions=2 * settings.limits.max_stats_executions,
            )
        secret = settings.server.cursor_secret
        live = LiveHub(
            backends,
            interval=settings.live.poll_interval_seconds,
            max_per_client=settings.limits.max_subscriptions_per_client,
            relay=relay,
        )
        gateway = Gateway(
            backends,
            max_first=settings.limits.max_first,
            redact=redact,
            audit=audit,
            cursor_secret=secret.encode() if secret is not None else PROCESS_SECRET,
            live=live,
            circuits=circuits,
            bulk=bulk,
            stats_cache=stats,
            masker=Masker(settings.export.mask_keys, settings.export.mask_patterns),
            max_stats_executions=settings.limits.max_stats_executions,
        )
        yield Opened(gateway, registry, kept, readiness, stats, live)
    finally:
        if live is not None:
            await live.aclose()
        if readiness is not None:
            await readiness.aclose()
        await registry.aclose()
