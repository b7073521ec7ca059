"""The embedded demo: simulated instances of both kinds, served in process.

``embedded()`` builds one team-style and two n8n-style simulators over seeded data and the
settings that point the gateway at them through an in-process transport (no sockets), so
``execgate demo`` works on a fresh machine with no configuration. ``with_demo_client`` adds the
demo's one full-access API client with a key made at start-up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from execgate.backends.transport import Transport
from execgate.config import ClientSettings, InstanceSettings, Settings
from execgate.domain.access import ALL_ACTIONS
from execgate.domain.models import BackendKind
from execgate.security.clients import hash_key, new_key
from execgate.simulate.generate import DEMO_TEAM_ID, demo_stores
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.store import SimStore
from execgate.simulate.team_api import create_team_app


@dataclass
class Embedded:
    settings: Settings
    transports: dict[str, Transport]
    stores: dict[str, SimStore]


def embedded(seed: int = 7, *, latency_ms: float = 0.0) -> Embedded:
    instances: list[InstanceSettings] = []
    transports: dict[str, Transport] = {}
    stores: dict[str, SimStore] = {}
    for name, (kind, store) in demo_stores(seed).items():
        credential = secrets.token_urlsafe(24)
        if kind == "team":
            app = create_team_app(
                store, team_id=DEMO_TEAM_ID, token=credential, latency_ms=latency_ms
            )
            settings = InstanceSettings(
                name=name,
                kind=BackendKind.TEAM,
                base_url=f"http://{name}.embedded",
                credential=credential,
                team_id=DEMO_TEAM_ID,
            )
        else:
            app = create_n8n_app(store, api_key=credential, latency_ms=latency_ms)
            settings = InstanceSettings(
                name=name,
                kind=BackendKind.N8N,
                base_url=f"http://{name}.embedded",
                credential=credential,
            )
        instances.append(settings)
        transports[name] = InProcessTransport(app)
        stores[name] = store
    return Embedded(
        Settings(instances=tuple(instances), source="embedded demo"), transports, stores
    )


DEMO_CLIENT = "demo"


def with_demo_client(settings: Settings) -> tuple[Settings, str]:
    """``settings`` with one full-access client, ``demo``, and its fresh key (shown at start-up).

    The key exists only in this process: every start makes a new one.
    """
    key = new_key()
    client = ClientSettings(
        name=DEMO_CLIENT,
        key_sha256=hash_key(key),
        instances=None,
        actions=ALL_ACTIONS,
    )
    return replace(settings, clients=(client,)), key
