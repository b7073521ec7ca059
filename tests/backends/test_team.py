"""The team-style adapter against the team-style simulator, in process and over a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from execgate.backends import team
from execgate.backends.team import TeamBackend
from execgate.backends.transport import Transport
from execgate.config import HTTPSettings
from execgate.domain.errors import (
    Conflict,
    ExecgateError,
    NotFound,
    Unsupported,
    UpstreamBadResponse,
    UpstreamForbidden,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from execgate.domain.models import (
    BackendKind,
    Capability,
    Execution,
    ExecutionMode,
    ExecutionQuery,
    ExecutionStatus,
)
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.server import BackgroundServer, free_port
from execgate.simulate.store import SimStore
from execgate.simulate.team_api import create_team_app
from tests.simulate.team_store import (
    EMAIL,
    NOW,
    TEAM_ID,
    TOKEN,
    WF_CRM,
    WF_ORDERS,
    WF_REPORT,
    Clock,
    ago,
    execution,
    expected_order,
    make_store,
    uid,
)
from tests.transports import Scripted, backend_http

INSTANCE = "team-a"
FAST = HTTPSettings(timeout_seconds=5, connect_timeout_seconds=1, read_retries=1)


@dataclass
class Rig:
    store: SimStore
    clock: Clock
    base_url: str
    transport: Transport | None
    backend: TeamBackend

    def connect(self, *, token: str = TOKEN, team_id: str = TEAM_ID) -> TeamBackend:
        http = backend_http(
            INSTANCE, self.base_url, TeamBackend.auth_headers(token), self.transport, FAST
        )
        return TeamBackend(INSTANCE, http, team_id)


@pytest.fixture(params=["asgi", "socket"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    clock = Clock()
    store = make_store(clock, extra=12)
    app = create_team_app(store, team_id=TEAM_ID, token=TOKEN)
    server: BackgroundServer | None = None
    transport: Transport | None = None
    if request.param == "socket":
        server = BackgroundServer(app).start()
        base_url = server.base_url
    else:
        transport = InProcessTransport(app)
        base_url = "http://team-a.test"
    rig = Rig(store, clock, base_url, transport, None)  # type: ignore[arg-type]
    rig.backend = rig.connect()
    try:
        yield rig
    finally:
        await rig.backend.http.transport.aclose()
        if server is not None:
            server.stop()


async def walk(
    backend: TeamBackend,
    query: ExecutionQuery,
    limit: int,
    *,
    between: Any = None,
    calls: list[int] | None = None,
) -> list[Execution]:
    """Every item of the stream, page by page; ``between(page_number)`` runs after each page
    and ``calls`` collects how many requests each page took."""
    items: list[Execution] = []
    position = None
    for number in range(500):
        page = await backend.list_executions(query, limit=limit, position=position)
        if calls is not None:
            calls.append(page.calls)
        assert len(page.items) <= limit
        items += page.items
        if page.position is None:
            return items
        assert len(page.items) == limit, "a page short of the limit must end the stream"
        position = page.position
        if between is not None:
            between(number)
    raise AssertionError("the stream never ended")


def _ids(items: list[Execution]) -> list[str]:
    return [e.native_id for e in items]


def test_capabilities_and_kind() -> None:
    backend = TeamBackend(INSTANCE, backend_http(INSTANCE, "http://team-a.test", {}), TEAM_ID)
    assert backend.kind is BackendKind.TEAM
    assert backend.capabilities() == {
        Capability.CANCEL,
        Capability.STATUS_FILTER,
        Capability.WORKFLOW_FILTER,
        Capability.DATE_FILTER,
        Capability.TOTAL_COUNT,
    }
    assert TeamBackend.auth_headers("abc")["Authorization"] == "Bearer abc"


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_paging_returns_every_execution_once_in_order(rig: Rig, limit: int) -> None:
    # when
    items = await walk(rig.backend, ExecutionQuery(), limit)
    # then
    assert _ids(items) == expected_order(rig.store)
    assert len(set(_ids(items))) == len(items)
    times = [e.sort_time for e in items]
    assert all(t is not None and t.tzinfo is not None for t in times)


async def test_ties_are_split_by_the_keyset_position(rig: Rig) -> None:
    # given everything newer than the tied pair plus the first of the pair has been read
    order = expected_order(rig.store)
    cut = min(order.index(uid("tie-a")), order.index(uid("tie-b")))
    first = await rig.backend.list_executions(ExecutionQuery(), limit=cut + 1)
    assert first.position is not None and len(first.position["ids"]) == 1
    # when the next page of one is read
    rest = await rig.backend.list_executions(ExecutionQuery(), limit=1, position=first.position)
    # then it is the other one of the pair, and the position remembers both
    assert _ids(list(rest.items)) == [order[cut + 1]]
    assert rest.position is not None and rest.position["t"] == first.position["t"]
    assert set(rest.position["ids"]) == {uid("tie-a"), uid("tie-b")}


async def test_paging_survives_inserts_at_the_head_and_deletions(rig: Rig) -> None:
    # given the stream as it was when the walk began
    before = expected_order(rig.store)
    removed = {before[1], before[6], before[10]}  # one read already, two not yet

    def churn(page: int) -> None:
        # new executions arrive at the head, and some disappear
        rig.clock.tick(seconds=1)
        rig.store.add(execution(f"new-{page}", started=rig.clock.now))
        if page == 1:
            for native_id in removed:
                rig.store.remove(native_id)

    # when the walk goes on while the store changes
    calls: list[int] = []
    items = await walk(rig.backend, ExecutionQuery(), 3, between=churn, calls=calls)
    # then each execution still there is read once, in order; arrivals are for a new walk
    seen = _ids(items)
    assert len(seen) == len(set(seen))
    assert seen[:3] == before[:3]
    assert seen[3:] == [i for i in before[3:] if i not in removed]
    # and the keyset bound keeps every resumed page to one request; the first page also lists
    # the pending executions and reads the one it finds for its creation time (the list has
    # none; see test_team_undated.py)
    assert calls[0] == 3
    assert set(calls[1:]) == {1}


async def test_single_status_is_pushed_down(rig: Rig) -> None:
    items = await walk(rig.backend, ExecutionQuery(statuses=frozenset({ExecutionStatus.FAILED})), 1)
    assert set(_ids(items)) == {uid("failed"), uid("crashed")}
    assert all(e.status is ExecutionStatus.FAILED for e in items)


async def test_several_statuses_are_filtered_locally(rig: Rig) -> None:
    # given
    wanted = frozenset({ExecutionStatus.RUNNING, ExecutionStatus.PENDING})
    # when
    page = await rig.backend.list_executions(ExecutionQuery(statuses=wanted), limit=5)
    walked = await walk(rig.backend, ExecutionQuery(statuses=wanted), 1)
    # then
    expected = [
        i
        for i in expected_order(rig.store)
        if i in {uid("pending"), uid("running"), uid("waiting")}
    ]
    assert _ids(list(page.items)) == expected and page.position is None
    assert _ids(walked) == expected
    assert page.total is None


async def test_statuses_the_api_never_reports_match_nothing(rig: Rig) -> None:
    query = ExecutionQuery(statuses=frozenset({ExecutionStatus.WAITING}))
    page = await rig.backend.list_executions(query, limit=5)
    assert page.items == () and page.position is None and page.calls == 0
    assert await rig.backend.count_executions(query) == 0


async def test_workflow_and_date_filters(rig: Rig) -> None:
    # given
    crm = await walk(rig.backend, ExecutionQuery(workflow_id=WF_CRM), 2)
    assert {e.workflow_id for e in crm} == {WF_CRM}
    assert set(_ids(crm)) == {uid("crm-loop"), uid("tie-a"), uid("waiting")}
    # when the window is (45 minutes ago, 20 minutes ago], with the tie at the upper bound
    window = ExecutionQuery(started_after=ago(minutes=45), started_before=ago(minutes=20))
    items = await walk(rig.backend, window, 1)
    # then
    expected = {uid(x) for x in ("crm-loop", "cancelled", "crashed", "tie-a", "tie-b")}
    assert set(_ids(items)) == expected
    both = ExecutionQuery(workflow_id=WF_ORDERS, started_before=ago(minutes=20))
    assert uid("tie-a") not in _ids(await walk(rig.backend, both, 2))


async def test_count(rig: Rig) -> None:
    total = len(rig.store.visible())
    assert await rig.backend.count_executions(ExecutionQuery()) == total
    failed = ExecutionQuery(statuses=frozenset({ExecutionStatus.FAILED}))
    assert await rig.backend.count_executions(failed) == 2
    assert await rig.backend.count_executions(ExecutionQuery(workflow_id=WF_REPORT)) == 2
    several = ExecutionQuery(statuses=frozenset({ExecutionStatus.FAILED, ExecutionStatus.SUCCESS}))
    assert await rig.backend.count_executions(several) is None


async def test_a_first_page_of_twenty_is_one_list_call_and_the_pending_list(rig: Rig) -> None:
    # given
    http = rig.backend.http
    calls = http.calls
    # when the first page is read twice
    page = await rig.backend.list_executions(ExecutionQuery(include_nodes=True), limit=20)
    again = await rig.backend.list_executions(ExecutionQuery(include_nodes=True), limit=20)
    # then the first time costs one list request, the pending list and one read of the
    # pending execution (for its creation time); the second only the two lists
    assert len(page.items) == 20 and page.calls == 3 and again.calls == 2
    assert http.calls == calls + 5
    assert page.total == len(rig.store.visible())
    listed = [e for e in page.items if e.native_id != uid("pending")]
    assert all(e.node_executions is None for e in listed)
    assert _ids(list(page.items)) == expected_order(rig.store)[:20] == _ids(list(again.items))


async def test_a_live_poll_is_the_newest_page_and_the_running_and_pending_filters(
    rig: Rig,
) -> None:
    # given more executions than the newest page holds, some active
    http = rig.backend.http
    calls = http.calls
    # when the live poller reads the instance
    watch = await rig.backend.watch(5)
    # then three requests: the newest five, and every running and pending one
    assert watch.calls == http.calls - calls == rig.backend.costs().watch_reads == 3
    assert _ids(list(watch.recent)) == expected_order(rig.store)[:5]
    assert watch.more
    active = {e.id for e in rig.store.visible() if e.status in ("new", "running", "waiting")}
    assert active and {e.native_id for e in watch.active} == active
    assert all(e.status.is_active for e in watch.active)
    # and a page that holds everything says nothing more follows
    assert not (await rig.backend.watch(100)).more


async def test_limit_above_the_api_cap_reads_more_pages(rig: Rig) -> None:
    # given more executions than one capped page holds
    for i in range(110):
        rig.store.add(execution(f"bulk-{i}", started=ago(days=2, minutes=i)))
    # when
    page = await rig.backend.list_executions(ExecutionQuery(), limit=120)
    # then
    assert _ids(list(page.items)) == expected_order(rig.store)[:120]
    # two list pages, the pending list, and the pending execution's creation time
    assert page.calls == 4 and page.position is not None


async def test_get_with_nodes(rig: Rig) -> None:
    # when
    found = await rig.backend.get_executions(
        [uid("crm-loop"), uid("nobody"), "not-a-uuid", uid("pending")], include_nodes=True
    )
    # then
    assert set(found) == {uid("crm-loop"), uid("pending")}
    loop = found[uid("crm-loop")]
    assert loop.workflow_name == "Nightly CRM Sync" and loop.mode is ExecutionMode.SCHEDULE
    assert loop.status is ExecutionStatus.SUCCESS and loop.finished
    assert loop.created_at is not None and loop.finished_at is not None
    assert loop.duration_ms == 2350
    nodes = loop.node_executions
    assert nodes is not None and len(nodes) == 6
    assert [n.position for n in nodes] == list(range(6))
    fetch = [n for n in nodes if n.node_name == "Fetch Contacts Page"]
    assert [n.run_index for n in fetch] == [0, 1, 2]
    assert [n.retry_count for n in fetch] == [0, 1, 0]
    assert fetch[1].input_data == {"page": 1} and fetch[1].output_data == {"contacts": 10}
    assert fetch[1].key.execution == loop.key and fetch[1].key.native_id == uid("crm-loop/fetch/1")
    assert nodes[0].node_type == "SCHEDULE_TRIGGER" and nodes[0].finished_at is not None
    pending = found[uid("pending")]
    assert pending.status is ExecutionStatus.PENDING and pending.started_at is None
    assert pending.sort_time == pending.created_at and pending.node_executions == ()


async def test_execution_level_data_and_errors(rig: Rig) -> None:
    found = await rig.backend.get_executions([uid("ok"), uid("failed")], include_nodes=False)
    ok = found[uid("ok")]
    assert ok.input_data == {"body": {"email": EMAIL}} and ok.output_data == {"ok": True}
    assert ok.mode is ExecutionMode.WEBHOOK and ok.mode_raw == "WEBHOOK"
    failed = found[uid("failed")]
    assert failed.status is ExecutionStatus.FAILED and not failed.finished
    assert failed.node_executions is not None
    assert failed.node_executions[-1].status is ExecutionStatus.FAILED
    assert failed.node_executions[-1].error_message == failed.error_message


async def test_workflows_come_from_their_executions(rig: Rig) -> None:
    found = await rig.backend.get_workflows([WF_CRM, WF_REPORT, uid("no such workflow")])
    assert {k: w.name for k, w in found.items()} == {
        WF_CRM: "Nightly CRM Sync",
        WF_REPORT: "Manual Report",
    }
    assert found[WF_CRM].key.instance == INSTANCE


async def test_cancel(rig: Rig) -> None:
    # when a running execution is cancelled
    assert await rig.backend.cancel(uid("running")) is None
    # then a re-read shows it cancelled
    after = await rig.backend.get_executions([uid("running")], include_nodes=True)
    assert after[uid("running")].status is ExecutionStatus.CANCELLED
    # and a finished one is a conflict, an unknown one not found
    with pytest.raises(Conflict) as conflict:
        await rig.backend.cancel(uid("ok"))
    assert conflict.value.reason == "not_cancellable"
    with pytest.raises(NotFound):
        await rig.backend.cancel(uid("nobody"))


async def test_retry_and_delete_are_unsupported(rig: Rig) -> None:
    calls = rig.backend.http.calls
    with pytest.raises(Unsupported, match="retry"):
        await rig.backend.retry(uid("failed"))
    with pytest.raises(Unsupported, match="delete"):
        await rig.backend.delete(uid("failed"))
    assert rig.backend.http.calls == calls


def _secret_free(error: ExecgateError, rig: Rig) -> None:
    text = str(error)
    assert TOKEN not in text and rig.base_url not in text and "127.0.0.1" not in text
    assert INSTANCE in text


async def test_wrong_token_is_unauthorized(rig: Rig) -> None:
    backend = rig.connect(token="sdk_wrong_token")
    with pytest.raises(UpstreamUnauthorized) as caught:
        await backend.list_executions(ExecutionQuery(), limit=3)
    _secret_free(caught.value, rig)
    await backend.http.transport.aclose()


async def test_wrong_team_is_forbidden(rig: Rig) -> None:
    backend = rig.connect(team_id=uid("another team"))
    with pytest.raises(UpstreamForbidden) as caught:
        await backend.list_executions(ExecutionQuery(), limit=3)
    _secret_free(caught.value, rig)
    await backend.http.transport.aclose()


async def test_stale_running_item_finishes_between_reads(rig: Rig) -> None:
    first = await rig.backend.get_executions([uid("running")], include_nodes=True)
    assert first[uid("running")].status is ExecutionStatus.RUNNING
    rig.clock.tick(hours=2)
    second = await rig.backend.get_executions([uid("running")], include_nodes=True)
    assert second[uid("running")].status is ExecutionStatus.SUCCESS
    assert second[uid("running")].finished_at == NOW + timedelta(hours=1)


# --- backends that misbehave ------------------------------------------------------------------


def _mock(handler: Any) -> TeamBackend:
    http = backend_http(
        "team-b", "http://team-b.test", TeamBackend.auth_headers(TOKEN), Scripted(handler), FAST
    )
    return TeamBackend("team-b", http, TEAM_ID)


def _item(**changes: Any) -> dict[str, Any]:
    item = {
        "id": uid("x"),
        "workflowId": WF_ORDERS,
        "workflowName": "Order Processing",
        "status": "SUCCESS",
        "startedAt": "2026-02-17T10:30:00.000Z",
        "finishedAt": "2026-02-17T10:30:02.350Z",
        "durationMs": 2350,
        "triggerType": "WEBHOOK",
        "nodeCount": 1,
        "errorMessage": None,
        "createdAt": "2026-02-17T10:29:59.950Z",
    }
    item.update(changes)
    return item


def _listing(content: Any, **changes: Any) -> dict[str, Any]:
    body = {"content": content, "totalElements": 1, "totalPages": 1, "number": 0, "size": 20}
    body.update(changes)
    return body


GARBAGE: list[tuple[str, Any]] = [
    ("not json", b"<html>oops</html>"),
    ("a list", []),
    ("content not a list", _listing({"id": 1})),
    ("missing totals", {"content": []}),
    ("pages that repeat", _listing([_item()], totalElements=90, totalPages=9, size=1)),
]

ODD_RECORDS: list[tuple[str, Any, str | None]] = [
    ("item not an object", "x", None),
    ("item without id", _item(id=None), None),
    ("status not a string", _item(id="odd", status=3), "odd"),
    ("bad timestamp", _item(id="odd", startedAt="yesterday"), "odd"),
    ("timestamp not a string", _item(id="odd", startedAt=12), "odd"),
    ("duration not a number", _item(id="odd", durationMs="long"), "odd"),
]


@pytest.mark.parametrize(
    ("label", "record", "native_id"), ODD_RECORDS, ids=[g[0] for g in ODD_RECORDS]
)
async def test_a_record_that_cannot_be_read_is_left_out_and_reported(
    label: str, record: Any, native_id: str | None
) -> None:
    # given: a list page holding one odd record among readable ones
    good = [_item(id="g1", startedAt="2026-02-17T10:31:00Z"), _item(id="g2")]
    body = _listing([good[0], record, good[1]], totalElements=3)
    backend = _mock(lambda request: httpx.Response(200, json=body))
    # when
    page = await backend.list_executions(ExecutionQuery(), limit=10)
    await backend.http.transport.aclose()
    # then: the others are served, and the odd one is named with what was wrong
    assert [e.native_id for e in page.items] == ["g1", "g2"]
    [odd] = page.unreadable
    assert (odd.instance, odd.native_id) == ("team-b", native_id)
    assert odd.reason


async def test_an_execution_cancelled_before_it_started_is_read() -> None:
    cancelled = _item(id="c", status="CANCELLED", startedAt=None, finishedAt=None)
    body = _listing([cancelled, _item(id="g")], totalElements=2)
    backend = _mock(lambda request: httpx.Response(200, json=body))
    page = await backend.list_executions(ExecutionQuery(), limit=10)
    await backend.http.transport.aclose()
    assert {e.native_id for e in page.items} == {"c", "g"}
    assert not page.unreadable
    [read] = [e for e in page.items if e.native_id == "c"]
    assert read.status is ExecutionStatus.CANCELLED and read.started_at is None


async def test_any_status_without_a_start_sorts_by_its_creation_time() -> None:
    # given a list without createdAt (as the seed's): one cancelled before it started and one
    # in a status the API does not document, both created between two that started
    rows = [
        _item(id="new", startedAt="2026-02-17T10:40:00.000Z"),
        _item(id="c", status="CANCELLED", startedAt=None, finishedAt=None, durationMs=None),
        _item(id="q", status="QUEUED", startedAt=None, finishedAt=None, durationMs=None),
        _item(id="old", startedAt="2026-02-17T10:20:00.000Z"),
    ]
    for row in rows:
        del row["createdAt"]
    created = {"c": "2026-02-17T10:30:00.000Z", "q": "2026-02-17T10:35:00.000Z"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/executions/team/"):
            pending = request.url.params.get("status") == "PENDING"
            return httpx.Response(200, json=_listing([] if pending else rows, totalElements=4))
        row = next(r for r in rows if request.url.path.endswith("/" + r["id"]))
        return httpx.Response(200, json={**row, "createdAt": created[row["id"]]})

    backend = _mock(handler)
    # when
    page = await backend.list_executions(ExecutionQuery(), limit=10)
    await backend.http.transport.aclose()
    # then both are read, and placed by their creation time among the others
    assert [e.native_id for e in page.items] == ["new", "q", "c", "old"]
    assert not page.unreadable and page.position is None
    assert page.items[1].status is ExecutionStatus.UNKNOWN and page.items[1].status_raw == "QUEUED"


@pytest.mark.parametrize(("label", "body"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_garbage_lists_are_bad_responses(label: str, body: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(200, content=body)
        return httpx.Response(200, json=body)

    backend = _mock(handler)
    with pytest.raises(UpstreamBadResponse) as caught:
        await backend.list_executions(
            ExecutionQuery(statuses=frozenset({ExecutionStatus.RUNNING, ExecutionStatus.FAILED})),
            limit=3,
        )
    assert TOKEN not in str(caught.value) and "team-b.test" not in str(caught.value)
    await backend.http.transport.aclose()


@pytest.mark.parametrize(
    "detail",
    [
        {**_item(), "nodeExecutions": {"a": 1}},
        {**_item(), "nodeExecutions": [{"id": "n1", "nodeName": None}]},
        {**_item(), "nodeExecutions": [{"id": "n1", "nodeName": "A", "startedAt": "nope"}]},
        {**_item(), "nodeExecutions": [{"id": "n1", "nodeName": "A", "retryCount": "x"}]},
        {**_item(id=uid("someone else")), "nodeExecutions": []},
    ],
)
async def test_garbage_details_are_bad_responses(detail: dict[str, Any]) -> None:
    backend = _mock(lambda request: httpx.Response(200, json=detail))
    with pytest.raises(UpstreamBadResponse):
        await backend.get_executions([uid("x")], include_nodes=True)
    await backend.http.transport.aclose()


async def test_wire_values_are_normalised() -> None:
    # given an answer with offsets, unknown status and trigger, and a CRON trigger
    items = [
        _item(
            id="b", status="PAUSED", triggerType="CHATBOT", startedAt="2026-02-17T12:30:00+02:00"
        ),
        _item(id="a", triggerType="CRON", startedAt="2026-02-17T10:29:00Z"),
    ]
    backend = _mock(lambda request: httpx.Response(200, json=_listing(items, totalElements=2)))
    # when
    page = await backend.list_executions(ExecutionQuery(), limit=5)
    # then
    first, second = page.items
    assert first.status is ExecutionStatus.UNKNOWN and first.status_raw == "PAUSED"
    assert first.mode is ExecutionMode.UNKNOWN and first.mode_raw == "CHATBOT"
    assert first.started_at is not None and first.started_at.utcoffset() == timedelta(hours=2)
    assert second.mode is ExecutionMode.SCHEDULE and page.position is None
    await backend.http.transport.aclose()


async def test_list_sends_pushed_down_filters_and_keyset_bound() -> None:
    # given a backend that records what it was asked
    seen: list[httpx.QueryParams] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params)
        return httpx.Response(200, json=_listing([], totalElements=0, totalPages=0))

    backend = _mock(handler)
    query = ExecutionQuery(
        statuses=frozenset({ExecutionStatus.FAILED}),
        workflow_id=WF_ORDERS,
        started_after=ago(days=1),
        started_before=ago(minutes=1),
    )
    # when it is read from a position older than the window's upper bound
    position = {"t": "2026-02-17T11:00:00.000Z", "ids": ["a", "b"]}
    page = await backend.list_executions(query, limit=10, position=position)
    # then
    params = seen[0]
    assert params["status"] == "FAILED" and params["workflowId"] == WF_ORDERS
    assert params["from"] == "2026-02-16T12:00:00.000Z"
    assert params["to"] == "2026-02-17T11:00:00.000Z"
    # the page, one more, the two ids at the bound, and room for executions without a time
    assert (params["page"], params["size"]) == ("0", str(10 + 1 + 2 + team.UNDATED_ROOM))
    assert page.items == () and page.position is None
    await backend.http.transport.aclose()


async def test_refused_connection_is_unavailable() -> None:
    # given a port nothing listens on
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    http = backend_http(INSTANCE, base_url, TeamBackend.auth_headers(TOKEN), None, FAST)
    backend = TeamBackend(INSTANCE, http, TEAM_ID)
    # when / then
    with pytest.raises(UpstreamUnavailable) as caught:
        await backend.list_executions(ExecutionQuery(), limit=3)
    assert TOKEN not in str(caught.value) and str(port) not in str(caught.value)
    with pytest.raises(UpstreamUnavailable):
        await backend.cancel(uid("running"))
    await backend.http.transport.aclose()
