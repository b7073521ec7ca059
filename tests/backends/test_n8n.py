"""The n8n adapter against the n8n-style simulator (in process and over a socket), plus the
cases only a scripted server can produce: garbage bodies, a closed port, ignored filters."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from execgate.backends.http import BackendHTTP
from execgate.backends.n8n import N8nBackend
from execgate.backends.transport import Transport
from execgate.domain.errors import (
    InvalidCursor,
    NotFound,
    Unsupported,
    UpstreamBadResponse,
    UpstreamUnavailable,
)
from execgate.domain.models import BackendKind, Capability, ExecutionQuery, ExecutionStatus
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer, free_port
from execgate.simulate.store import SimStore
from tests.backends.n8n_contract import (
    TestErrorAnswers,
    TestLimitsAndScopes,
    TestListing,
    TestMutations,
    TestReads,
    TestWireShapes,
    walk,
)
from tests.simulate.n8n_store import (
    IDS,
    MULTI_RUN_ID,
    MULTI_RUN_NODE,
    T0,
    WF_FAIL,
    WF_OK,
    WORKFLOW_NAMES,
    add_failed,
    add_running,
    build_store,
)
from tests.transports import Scripted, backend_http

__all__ = [
    "TestErrorAnswers",
    "TestLimitsAndScopes",
    "TestListing",
    "TestMutations",
    "TestReads",
    "TestWireShapes",
]

INSTANCE = "n8n-sim"
LIST_ONLY = {"list-only-key": ["execution:list"]}


@dataclass
class SimTarget:
    """The contract's ``n8n_target`` for the simulator."""

    backend: N8nBackend
    http: BackendHTTP
    client: httpx.AsyncClient
    api_key: str
    base_url: str
    store: SimStore
    make_transport: Callable[[], Transport | None]
    ids: dict[str, str] = field(default_factory=lambda: dict(IDS))
    workflow_id: str = WF_OK
    workflow_name: str = WORKFLOW_NAMES[WF_OK]
    multi_run_id: str = MULTI_RUN_ID
    multi_run_node: str = MULTI_RUN_NODE
    list_only_key: str = "list-only-key"

    async def fresh_failed(self) -> str:
        return add_failed(self.store)

    async def fresh_running(self) -> str:
        return add_running(self.store)

    def backend_with_key(self, api_key: str) -> N8nBackend:
        http = backend_http(
            INSTANCE, self.base_url, N8nBackend.auth_headers(api_key), self.make_transport()
        )
        return N8nBackend(INSTANCE, http)


@dataclass
class SocketSim:
    store: SimStore
    api_key: str
    server: BackgroundServer


@pytest.fixture(scope="module")
def socket_sim() -> Iterator[SocketSim]:
    """One simulator over a real socket for the module, shared like a real server would be."""
    store = build_store()
    api_key = secrets.token_urlsafe(24)
    app = create_n8n_app(store, api_key=api_key, scoped_keys=LIST_ONLY)
    with BackgroundServer(app) as server:
        yield SocketSim(store, api_key, server)


@pytest.fixture(params=["asgi", "socket"])
async def n8n_target(request: pytest.FixtureRequest) -> AsyncIterator[SimTarget]:
    if request.param == "socket":
        shared: SocketSim = request.getfixturevalue("socket_sim")
        store, api_key, base_url = shared.store, shared.api_key, shared.server.base_url

        def make_transport() -> Transport | None:
            return None

        raw_transport = None
    else:
        store = build_store()
        api_key = secrets.token_urlsafe(24)
        app = create_n8n_app(store, api_key=api_key, scoped_keys=LIST_ONLY)
        base_url = "http://n8n-sim.test"

        def make_transport() -> Transport | None:
            return InProcessTransport(app)

        raw_transport = httpx.ASGITransport(app=app)

    headers = N8nBackend.auth_headers(api_key)
    http = backend_http(INSTANCE, base_url, headers, make_transport())
    raw = httpx.AsyncClient(base_url=base_url, headers=headers, transport=raw_transport)
    try:
        yield SimTarget(
            N8nBackend(INSTANCE, http), http, raw, api_key, base_url, store, make_transport
        )
    finally:
        await http.transport.aclose()
        await raw.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[tuple[SimStore, N8nBackend]]:
    """The simulator in process, with retries of ``WF_FAIL`` failing again."""
    store = build_store()
    app = create_n8n_app(store, api_key="sim-key", failing_workflows={WF_FAIL})
    http = backend_http(
        INSTANCE, "http://n8n.test", N8nBackend.auth_headers("sim-key"), InProcessTransport(app)
    )
    yield store, N8nBackend(INSTANCE, http)
    await http.transport.aclose()


def scripted(handler: Callable[[httpx.Request], httpx.Response]) -> N8nBackend:
    client = backend_http(
        "scripted",
        "http://secret-host.example:5678",
        N8nBackend.auth_headers("secret-key-123"),
        Scripted(handler),
    )
    return N8nBackend("scripted", client)


def _cursor(request: httpx.Request) -> dict[str, Any] | None:
    raw = request.url.params.get("cursor")
    return None if raw is None else dict(json.loads(base64.b64decode(raw)))


# ---------------------------------------------------------------------- simulator only


def test_identity_and_capabilities(sim: tuple[SimStore, N8nBackend]) -> None:
    _, backend = sim
    assert backend.kind is BackendKind.N8N
    assert backend.name == INSTANCE
    assert N8nBackend.auth_headers("k") == {"X-N8N-API-KEY": "k"}
    assert backend.capabilities() == {
        Capability.CANCEL,
        Capability.RETRY,
        Capability.DELETE,
        Capability.STATUS_FILTER,
        Capability.WORKFLOW_FILTER,
        Capability.DATE_FILTER,
        Capability.BATCH_NODE_DATA,
    }


async def test_walk_matches_the_store(sim: tuple[SimStore, N8nBackend]) -> None:
    store, backend = sim
    expected = sorted((e.id for e in store.visible()), key=int, reverse=True)
    for limit in (1, 3, 7, 250):
        assert await walk(backend, ExecutionQuery(), limit) == expected


async def test_a_retry_that_fails_again_leaves_no_success_link(
    sim: tuple[SimStore, N8nBackend],
) -> None:
    # given a workflow whose failing node fails on every run
    store, backend = sim
    failed = add_failed(store)
    # when retrying one of its failed executions
    created = await backend.retry(failed)
    # then the retry failed at the same node, and the original has no successful retry
    assert created.status is ExecutionStatus.FAILED
    assert created.retry_of == failed
    assert created.node_executions is not None
    assert [n.node_name for n in created.node_executions] == ["Webhook", "Set", "Code"]
    assert created.node_executions[-1].status is ExecutionStatus.FAILED
    assert created.error_message == store.executions[failed].error_message
    original = (await backend.get_executions([failed], include_nodes=False))[failed]
    assert original.retry_success_id is None


async def test_a_successful_retry_is_ordered_despite_its_restarted_indexes(
    sim: tuple[SimStore, N8nBackend],
) -> None:
    # given a canceled execution (not in the always-failing workflow)
    store, backend = sim
    created = await backend.retry(IDS["canceled"])
    # then n8n numbered the re-executed node from 0 again, and the adapter still orders by source
    raw = store.executions[created.native_id]
    assert [r.node for r in raw.runs] == ["Webhook", "Code"]
    assert created.status is ExecutionStatus.SUCCESS
    assert created.node_executions is not None
    assert [(n.node_name, n.position) for n in created.node_executions] == [
        ("Webhook", 0),
        ("Code", 1),
    ]
    assert created.node_executions[1].input_data == {
        "main": [created.node_executions[0].output_data["main"][0]]
    }
    original = await backend.get_executions([IDS["canceled"]], include_nodes=False)
    assert original[IDS["canceled"]].retry_success_id == created.native_id


async def test_a_running_execution_finishes_when_its_time_comes() -> None:
    # given a running execution planned to finish in a day
    store = build_store()
    app = create_n8n_app(store, api_key="k")
    client = backend_http(
        INSTANCE, "http://n8n.test", N8nBackend.auth_headers("k"), InProcessTransport(app)
    )
    backend = N8nBackend(INSTANCE, client)
    running = IDS["running"]
    assert (await backend.get_executions([running], include_nodes=False))[
        running
    ].status is ExecutionStatus.RUNNING
    # when the clock passes that moment, the next request advances the store
    store.clock.now += timedelta(days=2)  # type: ignore[attr-defined]
    after = (await backend.get_executions([running], include_nodes=False))[running]
    assert after.status is ExecutionStatus.SUCCESS
    assert after.finished_at is not None
    await client.transport.aclose()


# ---------------------------------------------------------------------- scripted servers


async def test_a_body_that_is_not_json_is_a_bad_response() -> None:
    backend = scripted(lambda request: httpx.Response(200, text="<html>oops</html>"))
    with pytest.raises(UpstreamBadResponse) as caught:
        await backend.list_executions(ExecutionQuery(), limit=3)
    assert "scripted" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"data": {}},
        {"data": [], "nextCursor": 5},
        {"data": [{"id": None, "status": "success", "workflowId": "w"}], "nextCursor": None},
        {"data": [{"id": "x1", "status": "success", "workflowId": "w"}], "nextCursor": None},
    ],
)
async def test_lists_of_the_wrong_shape_are_bad_responses(body: Any) -> None:
    # a list whose records cannot even be placed in id order is unusable as a whole
    backend = scripted(lambda request: httpx.Response(200, json=body))
    with pytest.raises(UpstreamBadResponse) as caught:
        await backend.list_executions(ExecutionQuery(include_nodes=True), limit=3)
    text = str(caught.value)
    assert "secret-key-123" not in text
    assert "secret-host" not in text


def _record(**changes: Any) -> dict[str, Any]:
    return {"id": "5", "status": "success", "workflowId": "w", **changes}


@pytest.mark.parametrize(
    "odd",
    [
        _record(status=3),
        _record(startedAt="soon"),
        _record(data={"resultData": []}),
        _record(data={"resultData": {"runData": {"A": [{"startTime": "noon"}]}}}),
        _record(data={"resultData": {"runData": {"A": {"startTime": 1}}}}),
    ],
)
async def test_a_record_that_cannot_be_read_is_left_out_and_reported(odd: Any) -> None:
    # given: an odd record between two readable ones
    good = [
        _record(id="7", startedAt="2026-02-17T10:31:00.000Z"),
        _record(id="3", startedAt="2026-02-17T10:30:00.000Z"),
    ]
    body = {"data": [good[0], odd, good[1]], "nextCursor": None}
    backend = scripted(lambda request: httpx.Response(200, json=body))
    # when
    page = await backend.list_executions(ExecutionQuery(include_nodes=True), limit=10)
    # then
    assert [e.native_id for e in page.items] == ["7", "3"]
    [record] = page.unreadable
    assert (record.instance, record.native_id) == ("scripted", "5")
    assert record.reason and "secret" not in record.reason


async def test_a_retry_answer_of_the_wrong_shape_is_a_bad_response() -> None:
    backend = scripted(lambda request: httpx.Response(200, json={"id": "5"}))
    with pytest.raises(UpstreamBadResponse):
        await backend.retry("4")
    backend = scripted(lambda request: httpx.Response(400, json={"message": "odd"}))
    with pytest.raises(UpstreamBadResponse):
        await backend.retry("4")


async def test_a_closed_port_is_unavailable_and_names_no_address() -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    client = backend_http("closed", base_url, N8nBackend.auth_headers("secret-key-123"))
    backend = N8nBackend("closed", client)
    with pytest.raises(UpstreamUnavailable) as caught:
        await backend.list_executions(ExecutionQuery(), limit=3)
    text = str(caught.value)
    assert "closed" in text
    assert base_url not in text and str(port) not in text
    assert "secret-key-123" not in text
    await client.transport.aclose()


async def test_requests_carry_own_cursors_and_pushed_down_filters() -> None:
    # given a server that records what it is asked
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        below = _cursor(request)
        top = int(below["lastId"]) if below else 1000
        size = int(request.url.params["limit"])
        ids = list(range(top - 1, max(top - 1 - size, 0), -1))
        status = request.url.params.get("status", "success")
        data = [
            {
                "id": str(i),
                "status": status,
                "workflowId": "wf",
                "mode": "webhook",
                "startedAt": (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            }
            for i in ids
        ]
        more = ids and ids[-1] > 1
        return httpx.Response(200, json={"data": data, "nextCursor": "opaque" if more else None})

    backend = scripted(handler)
    query = ExecutionQuery(
        statuses=frozenset({ExecutionStatus.SUCCESS, ExecutionStatus.RUNNING}),
        workflow_id="wf",
        started_after=T0,
        started_before=T0 + timedelta(days=1),
    )
    # when listing a page larger than n8n serves, then the next one
    page = await backend.list_executions(query, limit=600)
    second = await backend.list_executions(query, limit=600, position=page.position)
    # then n8n was never asked for more than 250 rows, nor for limit=0
    assert {r.url.params["limit"] for r in seen} == {"250"}
    assert sorted({r.url.params["status"] for r in seen}) == ["running", "success"]
    assert {r.url.params["workflowId"] for r in seen} == {"wf"}
    assert {r.url.params["startedAfter"] for r in seen} == {"2026-11-23T19:00:00.000Z"}
    assert {r.url.params["startedBefore"] for r in seen} == {"2026-11-24T19:00:00.000Z"}
    # and resumed each stream with a cursor in n8n's own format
    assert _cursor(seen[0]) is None
    resumed = [_cursor(r) for r in seen[2:]]
    assert all(c is not None and set(c) == {"lastId", "limit"} for c in resumed)
    # both streams hold ids 999..1, so the merge dedupes and every id appears once
    ids = [int(e.native_id) for e in page.items + second.items]
    assert ids == list(range(999, 0, -1))
    assert second.position is None


async def test_filters_the_server_ignored_are_applied_and_reading_continues() -> None:
    # given an old server that ignores workflowId: every other execution is another workflow's
    def handler(request: httpx.Request) -> httpx.Response:
        below = _cursor(request)
        top = int(below["lastId"]) if below else 41
        size = int(request.url.params["limit"])
        if request.url.params.get("status") == "running":
            return httpx.Response(200, json={"data": [], "nextCursor": None})
        ids = list(range(top - 1, max(top - 1 - size, 0), -1))
        data = [
            {
                "id": str(i),
                "status": "success",
                "workflowId": "mine" if i % 2 else "other",
                "startedAt": "2026-01-01T00:00:00.000Z",
            }
            for i in ids
        ]
        more = bool(ids) and ids[-1] > 1
        return httpx.Response(200, json={"data": data, "nextCursor": "x" if more else None})

    backend = scripted(handler)
    query = ExecutionQuery(workflow_id="mine")
    # when asking for 4 items at a time
    page = await backend.list_executions(query, limit=4)
    # then only matching items come back, as many as asked, newest first
    assert [e.native_id for e in page.items] == ["39", "37", "35", "33"]
    assert page.calls > 2
    assert await walk(backend, query, 4) == [str(i) for i in range(39, 0, -2)]


async def test_a_position_that_is_not_ours_is_an_invalid_cursor(
    sim: tuple[SimStore, N8nBackend],
) -> None:
    _, backend = sim
    for position in ({"lastId": "abc"}, {"lastId": 5}, {"done": "running"}):
        with pytest.raises(InvalidCursor):
            await backend.list_executions(ExecutionQuery(), limit=3, position=position)


async def test_a_walk_ends_with_no_position(sim: tuple[SimStore, N8nBackend]) -> None:
    store, backend = sim
    total = len(store.visible())
    page = await backend.list_executions(ExecutionQuery(), limit=total)
    assert len(page.items) == total
    assert page.position is None
    short = await backend.list_executions(ExecutionQuery(), limit=total - 1)
    # the running stream was read to its end above the cut; the plain one was not
    assert short.position == {"lastId": short.items[-1].native_id, "done": ["running"]}


async def test_a_stream_that_passed_started_after_is_not_read_further() -> None:
    # given an old server that ignores startedAfter: 200 executions, one a minute, newest first
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.params.get("status") == "running":
            return httpx.Response(200, json={"data": [], "nextCursor": None})
        below = _cursor(request)
        top = int(below["lastId"]) if below else 201
        size = int(request.url.params["limit"])
        ids = list(range(top - 1, max(top - 1 - size, 0), -1))
        data = [
            {
                "id": str(i),
                "status": "success",
                "workflowId": "wf",
                "startedAt": f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00.000Z",
            }
            for i in ids
        ]
        more = bool(ids) and ids[-1] > 1
        return httpx.Response(200, json={"data": data, "nextCursor": "x" if more else None})

    backend = scripted(handler)
    after = datetime(2026, 1, 1, 2, 55, tzinfo=UTC)  # executions 175..200 are inside
    # when the window is walked 10 at a time
    seen = await walk(backend, ExecutionQuery(started_after=after), 10)
    # then it holds exactly the executions in the window, and reading stopped once past it
    assert seen == [str(i) for i in range(200, 174, -1)]
    assert len(requests) <= 10, "no scan of the whole history"


# ---------------------------------------------------------------------- capability probing


def _routes(
    answers: dict[str, tuple[int, dict[str, Any]]], clock: list[float]
) -> tuple[N8nBackend, list[str]]:
    """An n8n whose stop route answers ``answers["stop"]`` and whose reads answer
    ``answers["read"]``; the adapter's clock is ``clock[0]``."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        key = "stop" if request.url.path.endswith("/stop") else "read"
        status, body = answers[key]
        return httpx.Response(status, json=body)

    http = backend_http("edge", "http://n8n.test", {}, Scripted(handler))
    return N8nBackend("edge", http, clock=lambda: clock[0]), seen


EXISTING = {"id": "7", "finished": False, "mode": "manual", "status": "running", "workflowId": "w"}


async def test_a_405_hides_the_action_for_a_while_then_it_is_tried_again() -> None:
    clock = [0.0]
    backend, seen = _routes({"stop": (405, {"message": "method not allowed"})}, clock)
    with pytest.raises(Unsupported):
        await backend.cancel("7")
    assert Capability.CANCEL not in backend.capabilities()
    clock[0] = 601.0
    assert Capability.CANCEL in backend.capabilities()
    assert seen == ["POST /api/v1/executions/7/stop"]


async def test_a_not_found_for_an_execution_that_exists_means_the_route_is_missing() -> None:
    backend, seen = _routes(
        {"stop": (404, {"message": "not found"}), "read": (200, {**EXISTING, "startedAt": None})},
        [0.0],
    )
    with pytest.raises(Unsupported):
        await backend.cancel("7")
    assert Capability.CANCEL not in backend.capabilities()
    assert seen == ["POST /api/v1/executions/7/stop", "GET /api/v1/executions/7"]


async def test_a_not_found_for_an_execution_that_is_gone_keeps_the_action() -> None:
    # e.g. a proxy in front of n8n, or the execution deleted meanwhile
    backend, _ = _routes(
        {"stop": (404, {"message": "not found"}), "read": (404, {"message": "not found"})},
        [0.0],
    )
    with pytest.raises(NotFound):
        await backend.cancel("7")
    assert Capability.CANCEL in backend.capabilities()


@pytest.mark.parametrize("last", ["²", "³", "9" * 5000, "-1", "1e3"])
async def test_a_position_that_is_not_a_short_number_is_an_invalid_cursor(last: str) -> None:
    backend, seen = _routes({}, [0.0])
    with pytest.raises(InvalidCursor):
        await backend.list_executions(ExecutionQuery(), limit=5, position={"lastId": last})
    assert seen == []


@pytest.mark.parametrize("native_id", ["²", "³", "9" * 5000, "0", "x"])
async def test_ids_that_cannot_name_an_n8n_execution_are_not_sent(native_id: str) -> None:
    backend, seen = _routes({}, [0.0])
    assert await backend.get_executions([native_id], include_nodes=True) == {}
    with pytest.raises(NotFound):
        await backend.delete(native_id)
    assert seen == []
