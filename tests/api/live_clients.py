"""npm's subscription clients (``graphql-ws`` over ``ws``, ``graphql-sse``) driven against a
running execgate, and the simulated instances behind it whose executions change meanwhile.

The packages go to ``~/.cache/execgate/live-clients-<graphql-ws version>/``
(``$EXECGATE_LIVE_CLIENTS_CACHE`` overrides), about 4 MB, a few seconds, reused afterwards
(``tests/npm.py``). ``LiveRig`` runs a team-style and an n8n-style simulator on real sockets,
each with ``Activity`` (executions queued, running, then finished, on a schedule), and
``execgate serve`` over them as its own process, with one full-access client and one that sees
the team-style instance only. ``run_clients`` runs ``live_clients.cjs`` with a plan and
returns what each subscriber received.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.security.clients import client_block, hash_key, new_key
from execgate.simulate.activity import Activity
from execgate.simulate.data import SimExecution
from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from execgate.simulate.store import SimStore
from execgate.simulate.team_api import create_team_app
from tests.faults.gateway import RunningGateway, gateway_process
from tests.npm import NpmPackages

GRAPHQL_WS_VERSION = "6.4.2"
PACKAGES = NpmPackages(
    folder=f"live-clients-{GRAPHQL_WS_VERSION}",
    packages=(
        ("graphql-ws", GRAPHQL_WS_VERSION),
        ("graphql-sse", "2.6.1"),
        ("ws", "8.23.1"),
        ("graphql", "16.15.0"),
    ),
    cache_env="EXECGATE_LIVE_CLIENTS_CACHE",
    size=f"graphql-ws {GRAPHQL_WS_VERSION}, graphql-sse 2.6.1, ws 8.23.1, graphql 16.15.0, "
    "about 4 MB",
)
SCRIPT = Path(__file__).with_name("live_clients.cjs")

POLL_SECONDS = 0.4
QUEUED = (1.0, 1.4)
RUNNING = (1.0, 1.4)
"""Each state lasts more than two poll intervals, so every one of them is seen."""

EVENTS = (
    "subscription { executionEvents { type previousStatus at "
    "execution { id nativeId status createdAt startedAt finishedAt instance { name } } } }"
)


@dataclass
class Simulated:
    name: str
    store: SimStore
    activity: Activity
    app: Any
    server: BackgroundServer

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        """A new server on the same port over the same store (the instance restarted)."""
        self.server = BackgroundServer(self.app, port=self.server.port).start()


@dataclass
class LiveRig:
    gateway: RunningGateway
    key: str
    scoped_key: str
    instances: dict[str, Simulated]

    @property
    def http_url(self) -> str:
        # node resolves "localhost" to ::1 first; the gateway listens on 127.0.0.1
        return self.gateway.url.replace("localhost", "127.0.0.1") + "/graphql"

    @property
    def ws_url(self) -> str:
        return self.http_url.replace("http://", "ws://")

    def spawned(self) -> list[tuple[str, SimExecution]]:
        """(instance, execution) of every execution the activities created so far."""
        found = []
        for name, simulated in self.instances.items():
            start = simulated.activity.start
            for execution in simulated.store.visible():
                if start is not None and execution.created_at >= start:
                    found.append((name, execution))
        return found


@contextmanager
def live_rig(rate: float = 1.5) -> Iterator[LiveRig]:
    key, scoped_key = new_key(), new_key()
    with ExitStack() as stack:
        team_token, n8n_key = (f"sim-{secrets.token_urlsafe(12)}" for _ in range(2))
        simulated: dict[str, Simulated] = {}
        for name, kind, seed in (("acme", "team", 81), ("n8n-prod", "n8n", 82)):
            store = generate_store(seed, style=kind, executions=40)  # type: ignore[arg-type]
            activity = Activity(rate, seed=seed, queued=QUEUED, running=RUNNING, failures=0.2)
            activity.attach(store)
            if kind == "team":
                app = create_team_app(store, team_id=DEMO_TEAM_ID, token=team_token)
            else:
                app = create_n8n_app(store, api_key=n8n_key)
            server = BackgroundServer(app).start()
            simulated[name] = Simulated(name, store, activity, app, server)
            stack.callback(lambda s=simulated[name]: s.stop())
        instances = [
            InstanceSettings(
                name="acme",
                kind=BackendKind.TEAM,
                base_url=simulated["acme"].server.base_url,
                credential=team_token,
                team_id=DEMO_TEAM_ID,
            ),
            InstanceSettings(
                name="n8n-prod",
                kind=BackendKind.N8N,
                base_url=simulated["n8n-prod"].server.base_url,
                credential=n8n_key,
            ),
        ]
        tables = "\n".join(
            [
                client_block("dashboard", hash_key(key)),
                client_block("acme-only", hash_key(scoped_key), instances=["acme"]),
                f"[live]\npoll_interval_seconds = {POLL_SECONDS}\n",
                "[limits]\nmax_subscriptions_per_client = 100\n",
            ]
        )
        gateway = stack.enter_context(
            gateway_process(
                instances,
                instance_options={"circuit_cooldown_seconds": 1.0, "timeout_seconds": 2.0},
                tables=tables,
            )
        )
        yield LiveRig(gateway, key, scoped_key, simulated)


def clients_command(
    node: str, install: Path, rig: LiveRig, plan: dict[str, Any]
) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "LIVE_CLIENTS_DIR": str(install),
        "LIVE_HTTP": rig.http_url,
        "LIVE_WS": rig.ws_url,
        "LIVE_KEY": rig.key,
        "LIVE_SCOPED_KEY": rig.scoped_key,
        "LIVE_PLAN": json.dumps(plan),
    }
    return [node, str(SCRIPT)], env


def run_clients(node: str, install: Path, rig: LiveRig, plan: dict[str, Any]) -> dict[str, Any]:
    argv, env = clients_command(node, install, rig, plan)
    timeout = plan.get("durationMs", 1000) / 1000 + 60
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"the clients did not run:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def events(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a subscriber received, each with the time it arrived (``t``, ms)."""
    found = []
    for message in record["messages"]:
        event = (message.get("data") or {}).get("executionEvents")
        if event is not None:
            found.append({**event, "t": message["t"]})
    return found


def errors(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The GraphQL errors a subscriber received on its stream, each with ``t``."""
    return [{**e, "t": m["t"]} for m in record["messages"] for e in m.get("errors") or ()]
