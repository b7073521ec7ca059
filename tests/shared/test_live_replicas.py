"""Two ``execgate serve`` processes sharing one instance's live poll through a real Redis.

An n8n-style simulator whose executions start, run and finish on a schedule; both replicas
with ``[shared] redis_url`` and WebSocket subscribers (``graphql-transport-ws``). Counted: the
backend's list requests per poll interval with subscribers on one replica, then on both (the
same: one replica polls for both), the events both receive (the same), and — the polling
replica killed mid-stream — how long the lease takes to move, and that the survivor's
subscriber goes on receiving the changes of executions that start and finish afterwards,
without a burst of spurious events.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.security.clients import client_block, hash_key, new_key
from execgate.simulate.activity import Activity
from execgate.simulate.generate import generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from tests.faults.gateway import RunningGateway, gateway_process
from tests.shared.redis_server import redis_server

INTERVAL = 0.5
INSTANCE = "n8n-prod"
EVENTS = "subscription { executionEvents { type previousStatus at execution { nativeId status } } }"


def list_requests(gateway: RunningGateway) -> float:
    return gateway.metric(
        "execgate_backend_request_duration_seconds_count",
        instance=INSTANCE,
        operation="list_executions",
    )


class Subscriber(threading.Thread):
    """One ``executionEvents`` subscription over WebSocket, in a thread: each event with the
    time it arrived."""

    def __init__(self, gateway: RunningGateway, key: str) -> None:
        super().__init__(daemon=True)
        self.url = gateway.url.replace("http://localhost", "ws://127.0.0.1") + "/graphql"
        self.key = key
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.closed = threading.Event()

    def run(self) -> None:
        try:
            with connect(self.url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
                init = {"Authorization": f"Bearer {self.key}"}
                ws.send(json.dumps({"type": "connection_init", "payload": init}))
                assert json.loads(ws.recv(10))["type"] == "connection_ack"
                ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}))
                self.ready.set()
                while not self.stopping.is_set():
                    try:
                        message = json.loads(ws.recv(0.2))
                    except TimeoutError:
                        continue
                    if message["type"] == "next" and "data" in message["payload"]:
                        event = message["payload"]["data"]["executionEvents"]
                        self.events.append((time.monotonic(), event))
                    elif message["type"] == "ping":
                        ws.send(json.dumps({"type": "pong"}))
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def since(self, moment: float) -> list[tuple[str, str]]:
        return [(e["execution"]["nativeId"], e["type"]) for t, e in self.events if t >= moment]

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


@dataclass
class Rig:
    a: RunningGateway
    b: RunningGateway
    key: str


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    key = new_key()
    api_key = f"sim-{secrets.token_urlsafe(12)}"
    store = generate_store(31, style="n8n", executions=40)
    Activity(1.5, seed=31, queued=(0.8, 1.2), running=(1.2, 1.8), failures=0.2).attach(store)
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server())
        n8n = stack.enter_context(BackgroundServer(create_n8n_app(store, api_key=api_key)))
        instance = InstanceSettings(INSTANCE, BackendKind.N8N, n8n.base_url, api_key)
        tables = (
            f'[shared]\nredis_url = "{redis.url}"\nretry_seconds = 1.0\n'
            f"[live]\npoll_interval_seconds = {INTERVAL}\n"
            "[server]\nmetrics = true\n" + client_block("dashboard", hash_key(key))
        )
        a = stack.enter_context(gateway_process([instance], tables=tables))
        b = stack.enter_context(gateway_process([instance], tables=tables))
        yield Rig(a, b, key)


def requests_per_interval(gateways: tuple[RunningGateway, ...], seconds: float) -> float:
    before = sum(list_requests(g) for g in gateways)
    began = time.monotonic()
    time.sleep(seconds)
    spent = time.monotonic() - began
    return (sum(list_requests(g) for g in gateways) - before) / (spent / INTERVAL)


def wait_for(check: Any, timeout: float) -> float:
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, "not reached in time"
        time.sleep(0.05)
    return time.monotonic() - began


def test_one_replica_polls_for_both_and_the_poll_moves_when_it_dies(rig: Rig) -> None:
    on_a = Subscriber(rig.a, rig.key)
    on_a.start()
    assert on_a.ready.wait(15)
    wait_for(lambda: rig.a.metric("execgate_live_lease_held", instance=INSTANCE) == 1, 10)
    time.sleep(2 * INTERVAL)
    alone = requests_per_interval((rig.a, rig.b), 10 * INTERVAL)

    on_b = Subscriber(rig.b, rig.key)
    on_b.start()
    assert on_b.ready.wait(15)
    wait_for(lambda: rig.b.metric("execgate_live_received_polls_total", instance=INSTANCE) >= 2, 10)
    shared_from = time.monotonic()
    both = requests_per_interval((rig.a, rig.b), 10 * INTERVAL)
    print(f"list requests per poll interval: one replica {alone:.2f}, two replicas {both:.2f}")
    # n8n: four list requests a poll (the plain list and three active streams), once for both
    assert 3.0 <= alone <= 4.5, alone
    assert 3.0 <= both <= 4.5, both
    assert rig.b.metric("execgate_live_polls_total", instance=INSTANCE) == 0
    assert rig.b.metric("execgate_live_lease_held", instance=INSTANCE) == 0
    assert rig.b.metric("execgate_live_subscribers", instance=INSTANCE) == 1

    # both replicas' subscribers heard the same changes (inside a margin at both ends)
    time.sleep(3 * INTERVAL)
    window = (shared_from + 2 * INTERVAL, time.monotonic() - 2 * INTERVAL)
    heard_a = {
        (e["execution"]["nativeId"], e["type"])
        for t, e in on_a.events
        if window[0] <= t <= window[1]
    }
    heard_b = set(on_b.since(shared_from))
    assert heard_a and heard_a <= heard_b, heard_a - heard_b

    # the polling replica dies: the lease moves, the survivor's subscriber keeps hearing
    killed = time.monotonic()
    os.kill(rig.a.pid, signal.SIGKILL)
    moved = wait_for(
        lambda: rig.b.metric("execgate_live_lease_held", instance=INSTANCE) == 1, 10 * INTERVAL
    )
    print(f"the lease moved {moved:.2f} s ({moved / INTERVAL:.1f} poll intervals) after the kill")
    assert moved <= 3 * INTERVAL + 0.5, moved
    before = set(on_b.since(0)) - set(on_b.since(killed))
    time.sleep(12 * INTERVAL)
    after = on_b.since(killed + moved)
    created = [n for n, kind in after if kind == "CREATED"]
    finished = [n for n, kind in after if kind == "FINISHED"]
    assert created and finished, after
    # no execution is created twice, and none already heard of is created again
    assert len(created) == len(set(created))
    assert not {(n, "CREATED") for n in created} & before
    assert rig.b.metric("execgate_live_polls_total", instance=INSTANCE, outcome="ok") >= 5
    on_a.stop()
    on_b.stop()
