"""Simulated backends served over real sockets, each behind its own ``FaultProxy``.

``faulty_backend("team" | "n8n")`` starts a seeded simulator with ``BackgroundServer`` and a
proxy in front of it, and yields a ``FaultyBackend``: the proxy (where faults are set and
requests counted), the simulator's store (to check what a request did), the credential the
simulator expects and, for team-style, the team id. ``instance(name)`` gives the gateway's
settings for it, pointed at the proxy.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from execgate.config import HTTPSettings, InstanceSettings
from execgate.domain.models import BackendKind
from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from execgate.simulate.store import SimStore
from execgate.simulate.team_api import create_team_app
from tests.faults.proxy import FaultProxy

Kind = Literal["team", "n8n"]


@dataclass
class FaultyBackend:
    kind: Kind
    proxy: FaultProxy
    server: BackgroundServer
    store: SimStore
    credential: str
    team_id: str | None
    """The team the credential belongs to (team-style only)."""

    @property
    def url(self) -> str:
        """Where clients connect: the proxy."""
        return self.proxy.url

    @property
    def headers(self) -> dict[str, str]:
        """The authentication header the simulator expects."""
        if self.kind == "team":
            return {"Authorization": f"Bearer {self.credential}"}
        return {"X-N8N-API-KEY": self.credential}

    @property
    def list_path(self) -> str:
        """The path of the executions list."""
        if self.kind == "team":
            return f"/api/executions/team/{self.team_id}"
        return "/api/v1/executions"

    def instance(self, name: str, http: HTTPSettings | None = None) -> InstanceSettings:
        """Gateway settings for this backend, reached through the proxy."""
        return InstanceSettings(
            name=name,
            kind=BackendKind.TEAM if self.kind == "team" else BackendKind.N8N,
            base_url=self.proxy.url,
            credential=self.credential,
            team_id=self.team_id,
            http=http or HTTPSettings(),
        )


@contextmanager
def faulty_backend(kind: Kind, *, seed: int = 31, executions: int = 120) -> Iterator[FaultyBackend]:
    """A seeded ``kind`` simulator behind a fresh proxy; both stop on exit, and the proxy must
    have met no unexpected error."""
    store = generate_store(seed, style=kind, executions=executions)
    credential = f"sim-{kind}-{secrets.token_urlsafe(12)}"
    if kind == "team":
        app = create_team_app(store, team_id=DEMO_TEAM_ID, token=credential)
        team_id: str | None = DEMO_TEAM_ID
    else:
        app = create_n8n_app(store, api_key=credential)
        team_id = None
    with BackgroundServer(app) as server, FaultProxy(server.base_url) as proxy:
        yield FaultyBackend(kind, proxy, server, store, credential, team_id)
    assert proxy.errors == [], f"the proxy met unexpected errors: {proxy.errors!r}"
