"""The gateway over running instances: what ``create_app``'s lifespan and ``execgate mcp``
(stdio) both open.

``open_gateway`` opens each instance's client (the registry), puts each adapter behind its
circuit breaker and, when ``[cache]`` is on, the shared execution cache, and builds the
``Gateway`` over them with the ``LiveHub`` behind live subscriptions (its pollers start with
their first subscriber); on exit it stops the pollers and closes the clients.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from execgate.backends.transport import Transport
from execgate.config import Settings
from execgate.domain.ports import AuditSink, Backend
from execgate.registry import Registry
from execgate.service.cache import CachedBackend, ExecutionCache
from execgate.service.cursors import PROCESS_SECRET
from execgate.service.gateway import Gateway
from execgate.service.health import Circuit, GuardedBackend
from execgate.service.live import LiveHub


@dataclass(frozen=True)
class Opened:
    gateway: Gateway
    registry: Registry
    cache: ExecutionCache | None
    live: LiveHub


@contextlib.asynccontextmanager
async def open_gateway(
    settings: Settings,
    transports: Mapping[str, Transport] | None,
    *,
    audit: AuditSink,
    redact: Callable[[str], str],
) -> AsyncIterator[Opened]:
    """The gateway over the instances of ``settings`` (``transports`` replace the network for
    some of them), writing its audit trail to ``audit``; the clients close on exit."""
    registry = Registry.open(settings, transports)
    live: LiveHub | None = None
    try:
        backends: Mapping[str, Backend] = {
            i.name: GuardedBackend(
                registry.backends[i.name],
                Circuit(
                    i.name,
                    failures=i.http.circuit_failures,
                    cool_down=i.http.circuit_cooldown_seconds,
                ),
            )
            for i in settings.instances
        }
        shared: ExecutionCache | None = None
        cache = settings.cache
        if cache.enabled:
            shared = ExecutionCache(
                max_entries=cache.max_entries,
                max_bytes=cache.max_bytes,
                ttl_seconds=cache.ttl_seconds,
            )
            backends = {name: CachedBackend(b, shared) for name, b in backends.items()}
        secret = settings.server.cursor_secret
        live = LiveHub(
            backends,
            interval=settings.live.poll_interval_seconds,
            max_per_client=settings.limits.max_subscriptions_per_client,
        )
        gateway = Gateway(
            backends,
            max_first=settings.limits.max_first,
            redact=redact,
            audit=audit,
            cursor_secret=secret.encode() if secret is not None else PROCESS_SECRET,
            live=live,
        )
        yield Opened(gateway, registry, shared, live)
    finally:
        if live is not None:
            await live.aclose()
        await registry.aclose()
