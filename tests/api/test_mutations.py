"""cancel/retry/delete through GraphQL on both instance kinds, against the simulators."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from execgate.api.ids import encode
from execgate.app import create_app
from execgate.config import HTTPSettings, InstanceSettings, Settings
from execgate.domain.models import BackendKind
from execgate.simulate.embedded import Embedded, embedded
from execgate.simulate.generate import generate_store
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from execgate.simulate.store import SimStore
from tests.serving import serving

CANCEL = """
mutation($id: ID!) {
  cancelExecution(id: $id) { execution { id status } errors { code message } }
}
"""
RETRY = """
mutation($id: ID!, $force: Boolean! = false) {
  retryExecution(id: $id, force: $force) {
    execution { id status retrySuccess { id } }
    retry { id nativeId status mode retryOf { id } }
    errors { code message }
  }
}
"""
DELETE = """
mutation($id: ID!) { deleteExecution(id: $id) { deletedId errors { code message } } }
"""
BULK_CANCEL = """
mutation($ids: [ID!]!) {
  cancelExecutions(ids: $ids) { execution { id status } errors { code } }
}
"""
BULK_DELETE = """
mutation($ids: [ID!]!) { deleteExecutions(ids: $ids) { deletedId errors { code } } }
"""
READ = "query($id: ID!) { execution(id: $id) { id status } }"
CAPABILITIES = "{ instances { name capabilities } }"
CHAIN = """
query($id: ID!) {
  execution(id: $id) { retries { nativeId mode retryOf { nativeId } } }
}
"""


def gid(instance: str, native_id: str) -> str:
    return encode("Execution", f"{instance}:{native_id}")


def pick(store: SimStore, status: str) -> str:
    for execution in sorted(store.visible(), key=lambda e: e.created_at, reverse=True):
        if execution.status == status and execution.finishes_at is None:
            return execution.id
    for execution in store.visible():
        if execution.status == status:
            return execution.id
    raise AssertionError(f"no {status} execution in the store")


class Rig:
    def __init__(self, demo: Embedded, app: Any, client: httpx.AsyncClient) -> None:
        self.demo = demo
        self.app = app
        self.client = client

    def calls(self) -> dict[str, int]:
        counts: dict[str, int] = self.app.state.registry.calls()
        return counts

    async def run(self, document: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": document, "variables": variables}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    demo = embedded(seed=11)
    # keep the demo's running executions running during the test
    for store in demo.stores.values():
        for execution in store.visible():
            if execution.finishes_at is not None:
                execution.finishes_at = execution.finishes_at + timedelta(days=1)
    app = create_app(demo.settings, transports=demo.transports)
    async with serving(app) as client:
        yield Rig(demo, app, client)


async def test_capabilities_tell_what_each_kind_can_do(rig: Rig) -> None:
    data = await rig.run(CAPABILITIES)
    caps = {i["name"]: set(i["capabilities"]) for i in data["instances"]}
    assert {"CANCEL", "TOTAL_COUNT"} <= caps["acme"]
    assert not {"RETRY", "DELETE"} & caps["acme"]
    assert {"CANCEL", "RETRY", "DELETE"} <= caps["n8n-prod"]


@pytest.mark.parametrize("instance", ["acme", "n8n-prod"])
async def test_cancel_running_then_refuse_cancel_of_finished(rig: Rig, instance: str) -> None:
    store = rig.demo.stores[instance]
    running = pick(store, "running")
    # when a running execution is cancelled
    data = await rig.run(CANCEL, id=gid(instance, running))
    # then the payload shows its new state, and the backend holds it
    payload = data["cancelExecution"]
    assert payload["errors"] == []
    assert payload["execution"]["status"] == "CANCELLED"
    assert store.get(running) is not None and store.get(running).status == "canceled"  # type: ignore[union-attr]
    # when a finished one is cancelled, then NOT_CANCELLABLE and no cancel request was sent
    success = pick(store, "success")
    before = rig.calls()[instance]
    refused = (await rig.run(CANCEL, id=gid(instance, success)))["cancelExecution"]
    assert [e["code"] for e in refused["errors"]] == ["NOT_CANCELLABLE"]
    assert refused["execution"]["status"] == "SUCCESS"
    assert rig.calls()[instance] - before <= 1, "only the validating read, no cancel request"


async def test_team_style_has_no_retry_or_delete(rig: Rig) -> None:
    failed = pick(rig.demo.stores["acme"], "error")
    before = rig.calls()["acme"]
    retry = (await rig.run(RETRY, id=gid("acme", failed)))["retryExecution"]
    delete = (await rig.run(DELETE, id=gid("acme", failed)))["deleteExecution"]
    assert [e["code"] for e in retry["errors"]] == ["UNSUPPORTED"]
    assert [e["code"] for e in delete["errors"]] == ["UNSUPPORTED"]
    assert delete["deletedId"] is None
    assert rig.calls()["acme"] - before <= 2, "at most the payload reads"


async def test_n8n_retry_links_and_already_retried(rig: Rig) -> None:
    store = rig.demo.stores["n8n-prod"]
    failed = next(e.id for e in store.visible() if e.status == "error" and not e.retry_success_id)
    # when a failed execution is retried
    payload = (await rig.run(RETRY, id=gid("n8n-prod", failed)))["retryExecution"]
    # then the retry is a new execution linked to the original
    assert payload["errors"] == []
    retry = payload["retry"]
    assert retry["mode"] == "RETRY"
    assert retry["retryOf"]["id"] == gid("n8n-prod", failed)
    assert retry["status"] == "SUCCESS"
    assert payload["execution"]["retrySuccess"]["id"] == retry["id"]
    # when it is retried again, then ALREADY_RETRIED unless forced
    again = (await rig.run(RETRY, id=gid("n8n-prod", failed)))["retryExecution"]
    assert [e["code"] for e in again["errors"]] == ["ALREADY_RETRIED"]
    assert again["retry"] is None
    forced = (await rig.run(RETRY, id=gid("n8n-prod", failed), force=True))["retryExecution"]
    assert forced["errors"] == [] and forced["retry"]["id"] != retry["id"]


async def test_n8n_retry_of_success_is_not_retryable(rig: Rig) -> None:
    success = pick(rig.demo.stores["n8n-prod"], "success")
    payload = (await rig.run(RETRY, id=gid("n8n-prod", success)))["retryExecution"]
    assert [e["code"] for e in payload["errors"]] == ["NOT_RETRYABLE"]


async def test_n8n_delete_and_delete_of_running(rig: Rig) -> None:
    store = rig.demo.stores["n8n-prod"]
    success = pick(store, "success")
    data = (await rig.run(DELETE, id=gid("n8n-prod", success)))["deleteExecution"]
    assert data == {"deletedId": gid("n8n-prod", success), "errors": []}
    assert store.get(success) is None
    assert (await rig.run(READ, id=gid("n8n-prod", success)))["execution"] is None
    running = pick(store, "running")
    refused = (await rig.run(DELETE, id=gid("n8n-prod", running)))["deleteExecution"]
    assert [e["code"] for e in refused["errors"]] == ["RUNNING"]
    assert store.get(running) is not None


@pytest.mark.parametrize(
    ("mutation", "field"),
    [(CANCEL, "cancelExecution"), (RETRY, "retryExecution"), (DELETE, "deleteExecution")],
)
async def test_unknown_and_malformed_ids(rig: Rig, mutation: str, field: str) -> None:
    for instance, native in (("n8n-prod", "999999"), ("ghost", "1")):
        missing = (await rig.run(mutation, id=gid(instance, native)))[field]
        assert [e["code"] for e in missing["errors"]] == ["NOT_FOUND"], (instance, missing)
    garbage = (await rig.run(mutation, id="not-an-id"))[field]
    assert [e["code"] for e in garbage["errors"]] == ["INVALID_ID"]


async def test_bulk_forms_answer_every_id_in_order(rig: Rig) -> None:
    store = rig.demo.stores["n8n-staging"]
    running, success = pick(store, "running"), pick(store, "success")
    ids = [gid("n8n-staging", running), "nope", gid("n8n-staging", success)]
    results = (await rig.run(BULK_CANCEL, ids=ids))["cancelExecutions"]
    assert [[e["code"] for e in r["errors"]] for r in results] == [
        [],
        ["INVALID_ID"],
        ["NOT_CANCELLABLE"],
    ]
    deleted = (await rig.run(BULK_DELETE, ids=[ids[2], ids[1], ids[2]]))["deleteExecutions"]
    assert deleted[0] == {"deletedId": ids[2], "errors": []}
    assert [e["code"] for e in deleted[1]["errors"]] == ["INVALID_ID"]
    assert [e["code"] for e in deleted[2]["errors"]] == ["NOT_FOUND"]


async def test_retry_chain_resolves_in_order_with_few_reads(rig: Rig) -> None:
    store = rig.demo.stores["n8n-prod"]
    by_id = {e.id: e for e in store.visible()}

    def depth(e: Any) -> int:
        n = 0
        while e.retry_of and e.retry_of in by_id:
            e, n = by_id[e.retry_of], n + 1
        return n

    tail = max(store.visible(), key=depth)
    assert depth(tail) >= 1, "the demo data holds retry chains"
    chain = []
    cursor: Any = tail
    while cursor is not None:
        chain.insert(0, cursor.id)
        cursor = by_id.get(cursor.retry_of) if cursor.retry_of else None
    before = rig.calls()["n8n-prod"]
    data = await rig.run(CHAIN, id=gid("n8n-prod", tail.id))
    got = [r["nativeId"] for r in data["execution"]["retries"]]
    assert got[: len(chain)] == chain
    assert rig.calls()["n8n-prod"] - before <= len(got), "at most one read per link"


# --- state changes, timeouts and failures on the wire ---------------------------------------


class Tap:
    """ASGI middleware in front of a simulator: runs a hook on matching requests, counts them."""

    def __init__(
        self,
        app: ASGIApp,
        match: Callable[[str, str], bool],
        hook: Callable[[], Awaitable[None]] | None = None,
        status: int | None = None,
    ) -> None:
        self.app, self.match, self.hook, self.status = app, match, hook, status
        self.hits = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.match(scope["method"], scope["path"]):
            self.hits += 1
            if self.hook is not None:
                await self.hook()
            if self.status is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"message":"Forbidden"}'})
                return
        await self.app(scope, receive, send)


def _single_n8n(base_url: str, key: str, http: HTTPSettings) -> Settings:
    return Settings(
        instances=(
            InstanceSettings(
                name="edge", kind=BackendKind.N8N, base_url=base_url, credential=key, http=http
            ),
        )
    )


def _is_stop(method: str, path: str) -> bool:
    return method == "POST" and path.endswith("/stop")


@contextlib.asynccontextmanager
async def _gateway_over(
    tap: Tap, key: str, http: HTTPSettings | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        _single_n8n("http://edge.test", key, http or HTTPSettings()),
        transports={"edge": InProcessTransport(tap)},
    )
    async with serving(app) as client:
        yield client


async def test_state_changed_between_read_and_write_maps_the_backend_refusal() -> None:
    store = generate_store(3, style="n8n", executions=60)
    running = pick(store, "running")
    victim = store.get(running)
    assert victim is not None

    async def finish_first() -> None:
        # the execution finishes after the gateway read it as running, before the stop lands
        victim.finishes_at = store.now() - timedelta(seconds=1)
        victim.final_status = "success"
        store.advance()

    tap = Tap(create_n8n_app(store, api_key="k"), _is_stop, hook=finish_first)
    async with _gateway_over(tap, "k") as client:
        body = (
            await client.post(
                "/graphql", json={"query": CANCEL, "variables": {"id": gid("edge", running)}}
            )
        ).json()
    payload = body["data"]["cancelExecution"]
    assert [e["code"] for e in payload["errors"]] == ["NOT_CANCELLABLE"]
    assert payload["execution"]["status"] == "SUCCESS"
    assert tap.hits == 1


async def test_a_mutation_that_times_out_is_sent_exactly_once() -> None:
    store = generate_store(3, style="n8n", executions=60)
    running = pick(store, "running")

    async def stall() -> None:
        await asyncio.sleep(1.5)

    tap = Tap(create_n8n_app(store, api_key="k"), _is_stop, hook=stall)
    # a real socket: timeouts are enforced by the connection, not by in-process transports
    with BackgroundServer(tap) as server:
        settings = _single_n8n(server.base_url, "k", HTTPSettings(mutation_timeout_seconds=0.3))
        app = create_app(settings)
        async with serving(app) as client:
            body = (
                await client.post(
                    "/graphql", json={"query": CANCEL, "variables": {"id": gid("edge", running)}}
                )
            ).json()
        await asyncio.sleep(1.6)
    # the stop may still land: reading the execution again, still running, cannot tell
    errors = body["data"]["cancelExecution"]["errors"]
    assert [e["code"] for e in errors] == ["OUTCOME_UNKNOWN"]
    assert "answer was lost" in errors[0]["message"]
    assert tap.hits == 1, "a mutation is never retried"
    assert server.base_url not in str(body)


async def test_forbidden_and_unreachable_backends() -> None:
    store = generate_store(3, style="n8n", executions=60)
    running = pick(store, "running")
    tap = Tap(create_n8n_app(store, api_key="k"), _is_stop, status=403)
    async with _gateway_over(tap, "k") as client:
        body = (
            await client.post(
                "/graphql", json={"query": CANCEL, "variables": {"id": gid("edge", running)}}
            )
        ).json()
    assert [e["code"] for e in body["data"]["cancelExecution"]["errors"]] == ["FORBIDDEN"]
    assert tap.hits == 1
    # a backend that is not there at all
    from execgate.simulate.server import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    app = create_app(_single_n8n(closed, "k", HTTPSettings()))
    async with serving(app) as c:
        down = (
            await c.post("/graphql", json={"query": CANCEL, "variables": {"id": gid("edge", "5")}})
        ).json()
    assert [e["code"] for e in down["data"]["cancelExecution"]["errors"]] == [
        "UPSTREAM_UNAVAILABLE"
    ]
    assert closed not in str(down)


async def test_a_missing_route_is_learned_as_a_missing_capability() -> None:
    store = generate_store(3, style="n8n", executions=60)
    failed = next(e.id for e in store.visible() if e.status == "error" and not e.retry_success_id)

    async def nothing() -> None:
        return None

    class NoRetryRoute(Tap):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"].endswith("/retry"):
                self.hits += 1
                await send(
                    {
                        "type": "http.response.start",
                        "status": 404,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"message":"not found"}'})
                return
            await self.app(scope, receive, send)

    tap = NoRetryRoute(create_n8n_app(store, api_key="k"), lambda m, p: False, hook=nothing)
    async with _gateway_over(tap, "k") as client:
        first = (
            await client.post(
                "/graphql", json={"query": RETRY, "variables": {"id": gid("edge", failed)}}
            )
        ).json()
        caps = (await client.post("/graphql", json={"query": CAPABILITIES})).json()
        second = (
            await client.post(
                "/graphql", json={"query": RETRY, "variables": {"id": gid("edge", failed)}}
            )
        ).json()
    assert [e["code"] for e in first["data"]["retryExecution"]["errors"]] == ["UNSUPPORTED"]
    assert "RETRY" not in caps["data"]["instances"][0]["capabilities"]
    assert [e["code"] for e in second["data"]["retryExecution"]["errors"]] == ["UNSUPPORTED"]
    assert tap.hits == 1, "once learned, the missing route is not asked again"
