"""Subscriptions over each transport of ``/graphql``, on a real socket: graphql-transport-ws
(Python's ``websockets`` as the client), graphql-sse and multipart HTTP (httpx), with the
gateway's rules — keys, anonymous loopback mode, rate limits, refusals as coded messages, the
GraphiQL page — and a mutation pushed to subscribers at once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from execgate.app import create_app, gateway_app
from execgate.config import ClientSettings, LimitSettings, LiveSettings, Settings
from execgate.domain.access import ALL_ACTIONS
from execgate.security.clients import hash_key, new_key
from execgate.service.gateway import Gateway
from execgate.simulate.activity import Activity
from execgate.simulate.server import BackgroundServer
from tests.fakes import FakeBackend, make_execution
from tests.security.world import simulated

EVENTS = "subscription { executionEvents { type execution { nativeId status } } }"
MULTIPART = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'
RUNNING = (
    '{ executions(first: 1, filter: {status: [RUNNING], instances: ["acme"]}) '
    "{ edges { node { id nativeId } } } }"
)
CANCEL = "mutation Cancel($id: ID!) { cancelExecution(id: $id) { errors { code } } }"


@dataclass
class Served:
    base_url: str
    key: str
    limited_key: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/graphql"


@contextmanager
def served(interval: float = 0.2, **limits: Any) -> Iterator[Served]:
    backends = simulated({"acme": "team", "n8n-prod": "n8n"}, executions=40)
    for seed, store in enumerate(backends.stores.values()):
        Activity(4.0, seed=seed, queued=(0.2, 0.4), running=(0.3, 0.6)).attach(store)
    key, limited = new_key(), new_key()
    clients = (
        ClientSettings("dash", hash_key(key), None, ALL_ACTIONS),
        ClientSettings(
            "slow", hash_key(limited), None, ALL_ACTIONS, rate_per_second=0.001, burst=1
        ),
    )
    settings = dataclasses.replace(
        Settings(instances=backends.instances, source="test"),
        clients=clients,
        live=LiveSettings(poll_interval_seconds=interval),
        limits=LimitSettings(**limits),
    )
    app = create_app(settings, transports=backends.transports, audit=_Discard())
    with BackgroundServer(app) as server:
        yield Served(server.base_url, key, limited)


class _Discard:
    def record(self, entry: object) -> None:
        return None


@pytest.fixture(scope="module")
def gateway() -> Iterator[Served]:
    with served(max_subscriptions_per_client=3, max_backend_calls=5) as running:
        yield running


async def connect(url: str, key: str | None, **options: Any) -> ClientConnection:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], **options)
    payload = {} if key is None else {"Authorization": f"Bearer {key}"}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str), "graphql-transport-ws messages are text frames"
    found: dict[str, Any] = json.loads(message)
    return found


async def subscribe(ws: ClientConnection, op_id: str, query: str = EVENTS) -> None:
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))


async def test_graphql_transport_ws_delivers_events_as_text_frames(gateway: Served) -> None:
    async with await connect(gateway.ws_url, gateway.key) as ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await subscribe(ws, "1")
        message = await receive(ws)
        assert message["type"] == "next" and message["id"] == "1"
        event = message["payload"]["data"]["executionEvents"]
        assert event["type"] in {"CREATED", "STATUS_CHANGED", "FINISHED"}
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await ws.send(json.dumps({"type": "ping"}))
        while (await receive(ws))["type"] != "pong":
            pass


async def test_refusals_of_an_operation_are_coded_error_messages_and_the_socket_stays(
    gateway: Served,
) -> None:
    async with await connect(gateway.ws_url, gateway.key) as ws:
        await receive(ws)
        # over the cost limit (5): node data, the retry chain and two links per event
        costly = (
            "subscription { executionEvents { execution { nodeExecutions { id } "
            "retries { id } retryOf { id } retrySuccess { id } } } }"
        )
        await subscribe(ws, "costly", costly)
        refused = await receive(ws)
        assert refused["type"] == "error" and refused["id"] == "costly"
        assert refused["payload"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
        # more subscriptions than the client may hold (3)
        for op_id in ("a", "b", "c", "d"):
            await subscribe(ws, op_id)
        codes = {}
        while len(codes) < 1:
            message = await receive(ws)
            if message["type"] == "error":
                codes[message["id"]] = message["payload"][0]["extensions"]["code"]
        assert codes == {"d": "TOO_MANY_SUBSCRIPTIONS"}
        await ws.send(json.dumps({"type": "ping"}))
        while (await receive(ws))["type"] != "pong":
            pass


async def test_a_client_over_its_rate_is_refused_per_operation(gateway: Served) -> None:
    async with await connect(gateway.ws_url, gateway.limited_key) as ws:
        await receive(ws)
        await subscribe(ws, "1")  # the bucket's one token
        await subscribe(ws, "2")
        while True:
            message = await receive(ws)
            if message["type"] == "error":
                break
        assert message["id"] == "2"
        extensions = message["payload"][0]["extensions"]
        assert extensions["code"] == "RATE_LIMITED" and extensions["retryAfter"] >= 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({}, "UNAUTHENTICATED: a client key is required"),
        ({"Authorization": "Bearer egk_unknown"}, "UNAUTHENTICATED: the client key is not valid"),
        ({"authorization": "Basic abc"}, "UNAUTHENTICATED: the Authorization parameter is"),
    ],
)
async def test_a_connection_without_a_valid_key_is_closed_with_4401(
    gateway: Served, payload: dict[str, str], reason: str
) -> None:
    ws = await websockets.connect(gateway.ws_url, subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
    assert closed.value.rcvd.reason.startswith(reason)


async def test_the_legacy_graphql_ws_protocol_is_not_spoken(gateway: Served) -> None:
    ws = await websockets.connect(gateway.ws_url, subprotocols=["graphql-ws"])
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


async def _first_part(response: httpx.Response, marker: str) -> str:
    seen = ""
    async for chunk in response.aiter_text():
        seen += chunk
        if marker in seen:
            return seen
    raise AssertionError(f"the stream ended before {marker!r}: {seen!r}")


async def test_graphql_sse_streams_events_to_a_client_with_a_key(gateway: Served) -> None:
    headers = {"Authorization": f"Bearer {gateway.key}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client,
        client.stream("POST", "/graphql", json={"query": EVENTS}, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = await asyncio.wait_for(_first_part(response, "executionEvents"), 10)
    assert "event: next" in text


async def test_graphql_sse_without_a_key_is_a_coded_401(gateway: Served) -> None:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        response = await client.post(
            "/graphql", json={"query": EVENTS}, headers={"Accept": "text/event-stream"}
        )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_multipart_subscriptions_stream_as_apollo_client_asks(gateway: Served) -> None:
    headers = {"Authorization": f"Bearer {gateway.key}", "Accept": MULTIPART}
    async with (
        httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client,
        client.stream("POST", "/graphql", json={"query": EVENTS}, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/mixed")
        assert "subscriptionSpec=1.0" in response.headers["content-type"]
        text = await asyncio.wait_for(_first_part(response, "executionEvents"), 10)
    part = next(line for line in text.splitlines() if "executionEvents" in line)
    assert json.loads(part)["payload"]["data"]["executionEvents"]["type"]


async def test_a_mutation_reaches_subscribers_before_the_next_poll() -> None:
    with served(interval=30.0) as gateway:
        async with (
            await connect(gateway.ws_url, gateway.key) as ws,
            httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client,
        ):
            await receive(ws)
            headers = {"Authorization": f"Bearer {gateway.key}"}
            running = await client.post("/graphql", json={"query": RUNNING}, headers=headers)
            node = running.json()["data"]["executions"]["edges"][0]["node"]
            await subscribe(ws, "1")
            await asyncio.sleep(0.5)  # its first poll (the baseline) is done
            answer = await client.post(
                "/graphql", json={"query": CANCEL, "variables": {"id": node["id"]}}, headers=headers
            )
            assert answer.json() == {"data": {"cancelExecution": {"errors": []}}}
            while True:
                message = await receive(ws, timeout=2.0)  # long before the 30 s poll
                event = message["payload"]["data"]["executionEvents"]
                if event["execution"]["nativeId"] == node["nativeId"]:
                    break
            assert event == {
                "type": "FINISHED",
                "execution": {"nativeId": node["nativeId"], "status": "CANCELLED"},
            }


# -- anonymous mode, GraphiQL ----------------------------------------------------------------


@contextmanager
def anonymous() -> Iterator[str]:
    backend = FakeBackend("acme", [make_execution("acme", "1", minutes=1)])
    app = gateway_app(Gateway({"acme": backend}), ide_headers={"Authorization": "Bearer egk_x"})
    with BackgroundServer(app) as server:
        yield server.base_url


async def test_without_clients_a_loopback_socket_needs_no_key_and_a_rebound_host_is_refused() -> (
    None
):
    with anonymous() as base_url:
        url = base_url.replace("http://", "ws://") + "/graphql"
        async with await connect(url, None) as ws:
            assert await receive(ws) == {"type": "connection_ack"}
        port = int(base_url.rsplit(":", 1)[1])
        rebound = f"ws://rebound.example:{port}/graphql"
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(
                rebound,
                subprotocols=["graphql-transport-ws"],
                host="127.0.0.1",
                port=port,
            )
        assert refused.value.response.status_code == 403


async def test_graphiql_sends_the_preset_key_with_its_subscriptions() -> None:
    with anonymous() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert 'const defaultHeaders = {"Authorization":"Bearer egk_x"};' in html
    assert "subscriptionUrl,\n        wsConnectionParams: defaultHeaders," in html
