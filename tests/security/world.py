"""A gateway with API clients over simulated instances, for the security tests.

``World`` builds the settings (instances, clients with fresh keys, limits), the gateway app over
``httpx.ASGITransport`` simulators, and an HTTP client that talks to the gateway in process.
Its audit lines are collected in memory unless a path is configured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from execgate.app import create_app
from execgate.backends.transport import Transport
from execgate.config import (
    AuditSettings,
    ClientSettings,
    InstanceSettings,
    LimitSettings,
    ServerSettings,
    Settings,
)
from execgate.domain.access import Action
from execgate.domain.models import BackendKind
from execgate.domain.ports import AuditEntry
from execgate.security.clients import hash_key, new_key
from execgate.simulate.embedded import embedded
from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.store import SimStore
from execgate.simulate.team_api import create_team_app
from tests.serving import serving

READ = frozenset({Action.READ})


@dataclass(frozen=True)
class Grant:
    """A client to configure: its name, instances (``None``: all), actions and rate."""

    name: str
    instances: tuple[str, ...] | None = None
    actions: frozenset[Action] = READ
    rate_per_second: float | None = None
    burst: int | None = None


class MemoryAudit:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


@dataclass
class Backends:
    instances: tuple[InstanceSettings, ...]
    transports: dict[str, Transport]
    stores: dict[str, SimStore]
    credentials: dict[str, str]


def simulated(kinds: Mapping[str, str], *, seed: int = 11, executions: int = 150) -> Backends:
    """Simulated instances named and kinded by ``kinds`` (``team`` or ``n8n``)."""
    instances: list[InstanceSettings] = []
    transports: dict[str, Transport] = {}
    stores: dict[str, SimStore] = {}
    credentials: dict[str, str] = {}
    for offset, (name, kind) in enumerate(kinds.items()):
        store = generate_store(
            seed + offset, style="team" if kind == "team" else "n8n", executions=executions
        )
        secret = f"backend-secret-{name}-{new_key()}"
        if kind == "team":
            app = create_team_app(store, team_id=DEMO_TEAM_ID, token=secret)
            instance = InstanceSettings(
                name=name,
                kind=BackendKind.TEAM,
                base_url=f"http://{name}.internal.example:9101",
                credential=secret,
                team_id=DEMO_TEAM_ID,
            )
        else:
            app = create_n8n_app(store, api_key=secret)
            instance = InstanceSettings(
                name=name,
                kind=BackendKind.N8N,
                base_url=f"http://{name}.internal.example:9102",
                credential=secret,
            )
        instances.append(instance)
        transports[name] = InProcessTransport(app)
        stores[name] = store
        credentials[name] = secret
    return Backends(tuple(instances), transports, stores, credentials)


def demo_backends(seed: int = 7) -> Backends:
    """The embedded demo's three instances (one team-style, two n8n-style)."""
    demo = embedded(seed)
    credentials = {i.name: i.credential for i in demo.settings.instances}
    return Backends(demo.settings.instances, demo.transports, demo.stores, credentials)


@dataclass
class World:
    settings: Settings
    backends: Backends
    keys: dict[str, str]
    client: httpx.AsyncClient
    app: Any
    audit: MemoryAudit = field(default_factory=MemoryAudit)

    def calls(self) -> dict[str, int]:
        found: dict[str, int] = self.app.state.registry.calls()
        return found

    async def post(
        self,
        document: str,
        *,
        as_client: str | None = None,
        key: str | None = None,
        **variables: Any,
    ) -> httpx.Response:
        headers = {}
        presented = key if key is not None else (self.keys[as_client] if as_client else None)
        if presented is not None:
            headers["Authorization"] = f"Bearer {presented}"
        return await self.client.post(
            "/graphql", json={"query": document, "variables": variables}, headers=headers
        )

    async def query(self, document: str, *, as_client: str, **variables: Any) -> dict[str, Any]:
        response = await self.post(document, as_client=as_client, **variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@asynccontextmanager
async def world(
    grants: list[Grant],
    backends: Backends | None = None,
    *,
    keys: Mapping[str, str] | None = None,
    rate_clock: Any = None,
    use_memory_audit: bool = True,
    **settings: Any,
) -> AsyncIterator[World]:
    """A running gateway for ``grants`` (``keys`` fixes some clients' keys)."""
    backends = backends or demo_backends()
    chosen = {g.name: (keys or {}).get(g.name) or new_key() for g in grants}
    clients = tuple(
        ClientSettings(
            name=g.name,
            key_sha256=hash_key(chosen[g.name]),
            instances=g.instances,
            actions=g.actions,
            rate_per_second=g.rate_per_second,
            burst=g.burst,
        )
        for g in grants
    )
    if "audit_path" in settings:
        settings["audit"] = AuditSettings(path=settings.pop("audit_path"))
    server = {
        k: settings.pop(k)
        for k in ("graphiql", "introspection", "max_body_bytes", "fast_executor", "federation")
        if k in settings
    }
    if "max_first" in settings:
        limits = settings.get("limits", LimitSettings())
        settings["limits"] = dataclasses.replace(limits, max_first=settings.pop("max_first"))
    built = dataclasses.replace(
        Settings(instances=backends.instances, source="test"),
        clients=clients,
        server=ServerSettings(**server),
        **settings,
    )
    audit = MemoryAudit()
    app = create_app(
        built,
        transports=backends.transports,
        rate_clock=rate_clock,
        audit=audit if use_memory_audit else None,
    )
    async with serving(app) as client:
        yield World(built, backends, chosen, client, app, audit)
