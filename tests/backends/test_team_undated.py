"""Team-style executions that have not started (pending, or cancelled before they started):
their list items carry no time at all, as in the seed, and the adapter places them by the
creation time their details carry — whatever the server does with them on its lists (by
creation time, first, or last, left out by ``to``) and while they start, are cancelled or are
deleted between pages. Counted at the simulator, over the in-process transport and a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from execgate.backends import team
from execgate.backends.team import TeamBackend
from execgate.backends.team_wire import MAX_OWED, Bound, bound_after, parse_position
from execgate.config import HTTPSettings
from execgate.domain.errors import InvalidCursor
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import (
    Execution,
    ExecutionMode,
    ExecutionQuery,
    ExecutionStatus,
    Page,
)
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.server import BackgroundServer
from execgate.simulate.store import SimStore
from execgate.simulate.team_api import Undated, create_team_app
from tests.simulate.counted import Counted, Seen
from tests.simulate.team_store import (
    NOW,
    TEAM_ID,
    TOKEN,
    WF_CRM,
    WF_REPORT,
    Clock,
    ago,
    execution,
    expected_order,
    make_store,
    uid,
)
from tests.transports import backend_http

MODES: list[Undated] = ["created", "first", "last"]
FAST = HTTPSettings(timeout_seconds=5, connect_timeout_seconds=1, read_retries=0)
UNDATED = ["pending", "queued-new", "queued-old", "cancelled-early", "cancelled-older"]


def _never_started(label: str, created: Any, status: str, workflow_id: str = WF_REPORT) -> Any:
    record = execution(label, workflow_id=workflow_id, status=status, started=None, created=created)
    if status == "canceled":
        record.finished_at = created + timedelta(seconds=40)
    return record


def _store(clock: Clock) -> SimStore:
    """The hand-built store (one pending execution), with two more pending ones (one queued
    for hours) and two cancelled before they started, one of them days ago."""
    store = make_store(clock, extra=12)
    for record in (
        _never_started("queued-new", ago(minutes=2), "new"),
        _never_started("queued-old", ago(hours=5, minutes=30), "new", WF_CRM),
        _never_started("cancelled-early", ago(hours=3, minutes=30), "canceled"),
        _never_started("cancelled-older", ago(days=3), "canceled", WF_CRM),
    ):
        store.add(record)
    return store


@dataclass
class Rig:
    store: SimStore
    clock: Clock
    counted: Counted
    backend: TeamBackend

    def page_calls(self, since: int) -> int:
        return len(self.counted.seen) - since


async def _rig(
    mode: Undated, *, socket: bool = False, list_created_at: bool = False
) -> tuple[Rig, BackgroundServer | None]:
    clock = Clock()
    store = _store(clock)
    counted = Counted(
        create_team_app(
            store, team_id=TEAM_ID, token=TOKEN, undated=mode, list_created_at=list_created_at
        )
    )
    server = BackgroundServer(counted).start() if socket else None
    base_url = server.base_url if server else "http://team.test"
    transport = None if server else InProcessTransport(counted)
    http = backend_http("team-a", base_url, TeamBackend.auth_headers(TOKEN), transport, FAST)
    return Rig(store, clock, counted, TeamBackend("team-a", http, TEAM_ID)), server


@pytest.fixture(params=MODES)
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    made, _ = await _rig(request.param)
    yield made
    await made.backend.http.transport.aclose()


async def walk(
    rig: Rig,
    query: ExecutionQuery,
    limit: int,
    *,
    between: Callable[[int, Page], None] | None = None,
    prefix: int | None = None,
) -> list[str]:
    """Every id of the stream, page by page, resuming as the merged feed does (from a prefix
    of ``prefix`` items when given); checks each page's requests against the estimate."""
    ids: list[str] = []
    position = None
    for number in range(200):
        since = len(rig.counted.seen)
        page = await rig.backend.list_executions(query, limit=limit, position=position)
        made = rig.page_calls(since)
        assert made == page.calls
        statuses = [s.value for s in query.statuses]
        dated = query.started_after is not None or query.started_before is not None
        estimate = team.COSTS.list_reads(
            limit, statuses, dated=dated, resuming=position is not None
        )
        assert made <= estimate, (number, made, estimate)
        used = page.items[:prefix] if prefix and len(page.items) > prefix else page.items
        ids += [e.native_id for e in used]
        if page.position is None and len(used) == len(page.items):
            return ids
        position = rig.backend.position_after(position, used, page)
        if between is not None:
            between(number, page)
    raise AssertionError("the stream never ended")


def _order(store: SimStore, labels: list[str] | None = None) -> list[str]:
    order = expected_order(store)
    return order if labels is None else [i for i in order if i in {uid(x) for x in labels}]


# --- the order -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("list_created_at", [False, True])
@pytest.mark.parametrize("limit", [1, 2, 6, 40])
async def test_a_walk_is_the_brute_force_order(
    mode: Undated, list_created_at: bool, limit: int
) -> None:
    # given a server that lists executions that have not started its way
    rig, _ = await _rig(mode, list_created_at=list_created_at)
    expected = _order(rig.store)
    try:
        # when the stream is walked once (creation times not known yet), then again
        cold = await walk(rig, ExecutionQuery(), limit)
        details = rig.counted.details()
        warm = await walk(rig, ExecutionQuery(), limit)
    finally:
        await rig.backend.http.transport.aclose()
    # then each walk returns every execution once; in the exact order once the page's reads
    # cover the executions without a time the first page finds (five), and always the second
    # time, when every creation time is remembered
    assert sorted(cold) == sorted(expected) and len(cold) == len(set(cold))
    if limit + 1 >= len(UNDATED) or list_created_at:
        assert cold == expected
    assert warm == expected
    # each creation time is read once; a server that lists them in place shows their state on
    # the way, one that leaves them out of `to`-bounded lists has them read again (only) before
    # they are returned, in case they started, were cancelled or were deleted meanwhile
    again = rig.counted.details() - details
    if mode == "created":
        assert (details, again) == (0 if list_created_at else len(UNDATED), 0)
    else:
        assert details >= (0 if list_created_at else len(UNDATED))
        assert again <= len(UNDATED)


async def test_over_a_real_socket() -> None:
    rig, server = await _rig("last", socket=True)
    assert server is not None
    try:
        ids = await walk(rig, ExecutionQuery(), 7)
    finally:
        await rig.backend.http.transport.aclose()
        server.stop()
    assert ids == _order(rig.store)


async def test_a_prefix_of_a_page_carries_what_the_page_learned(rig: Rig) -> None:
    # when the walk takes only the first item of every page of six (as the merged feed may)
    ids = await walk(rig, ExecutionQuery(), 6, prefix=1)
    # then nothing the pages found beyond that item is lost
    assert ids == _order(rig.store)


# --- while the data moves ----------------------------------------------------------------------


def _first_page_then(action: Callable[[Rig], None], rig: Rig) -> Callable[[int, Page], None]:
    def between(number: int, page: Page) -> None:
        if number == 0:
            action(rig)

    return between


async def test_cancelled_between_pages_keeps_its_place(rig: Rig) -> None:
    # given a walk past its first page, with a pending execution queued hours ago still ahead
    def cancel(rig: Rig) -> None:
        record = rig.store.executions[uid("queued-old")]
        record.status, record.finished_at = "canceled", rig.clock.now

    # when it is cancelled before it started (the list's `to` may leave it out now)
    ids = await walk(rig, ExecutionQuery(), 4, between=_first_page_then(cancel, rig))
    # then it is returned once, by its creation time, like everything else
    assert ids == _order(rig.store)


async def test_started_between_pages_is_returned_once(rig: Rig) -> None:
    # given a pending execution queued hours ago, ahead of the walk
    def start(rig: Rig) -> None:
        record = rig.store.executions[uid("queued-old")]
        record.status, record.started_at = "running", rig.clock.now

    # when it starts after the first page: it moves above the walk's position
    ids = await walk(rig, ExecutionQuery(), 4, between=_first_page_then(start, rig))
    # then it is still returned, once (on the next page, above the rest of it), and every other
    # execution in order
    assert ids.count(uid("queued-old")) == 1
    rest = [i for i in ids if i != uid("queued-old")]
    assert rest == [i for i in _order(rig.store) if i != uid("queued-old")]


async def test_started_in_its_place_is_returned_in_order(rig: Rig) -> None:
    def start(rig: Rig) -> None:
        record = rig.store.executions[uid("queued-old")]
        record.status, record.started_at = "running", ago(hours=4)

    ids = await walk(rig, ExecutionQuery(), 4, between=_first_page_then(start, rig))
    assert ids == _order(rig.store)


async def test_deleted_between_pages_are_not_returned(rig: Rig) -> None:
    before = _order(rig.store)

    def delete(rig: Rig) -> None:
        for label in ("queued-old", "cancelled-early", "cancelled-older"):
            rig.store.remove(uid(label))

    ids = await walk(rig, ExecutionQuery(), 4, between=_first_page_then(delete, rig))
    gone = {uid(x) for x in ("queued-old", "cancelled-early", "cancelled-older")}
    assert ids == [i for i in before if i not in gone]


# --- filters -----------------------------------------------------------------------------------


async def test_cancelled_before_start_sort_among_the_cancelled(rig: Rig) -> None:
    query = ExecutionQuery(statuses=frozenset({ExecutionStatus.CANCELLED}))
    ids = await walk(rig, query, 1)
    assert ids == _order(rig.store, ["cancelled", "cancelled-early", "cancelled-older"])


async def test_pending_alone(rig: Rig) -> None:
    query = ExecutionQuery(statuses=frozenset({ExecutionStatus.PENDING}))
    ids = await walk(rig, query, 2)
    assert ids == _order(rig.store, ["pending", "queued-new", "queued-old"])


async def test_a_workflow_filter_applies_to_them_too(rig: Rig) -> None:
    ids = await walk(rig, ExecutionQuery(workflow_id=WF_CRM), 2)
    assert uid("queued-old") in ids and uid("cancelled-older") in ids
    assert ids == [i for i in _order(rig.store) if rig.store.executions[i].workflow_id == WF_CRM]


async def test_a_date_filter_leaves_them_out_without_reading_them(rig: Rig) -> None:
    # when the window holds their creation times
    window = ExecutionQuery(started_after=ago(days=4), started_before=NOW)
    ids = await walk(rig, window, 5)
    # then they match no date filter (they have not started), and nothing was read for them
    assert not {uid(x) for x in UNDATED} & set(ids)
    assert rig.counted.details() == 0
    started = {i: rig.store.executions[i].started_at for i in _order(rig.store)}
    assert ids == [i for i, at in started.items() if at and ago(days=4) <= at]


# --- odd servers and odd records ----------------------------------------------------------------


def _detail_of(seen: Seen, label: str) -> bool:
    return seen.is_detail and seen.path.endswith(uid(label))


async def test_a_read_that_fails_costs_only_its_execution(rig: Rig) -> None:
    # given the details of one pending execution failing for the first page
    rig.counted.refuse = lambda seen: (
        (500, {"message": "boom"}) if _detail_of(seen, "queued-new") else None
    )
    first = await rig.backend.list_executions(ExecutionQuery(), limit=4)
    # then the others are served and that one is named
    assert [u.native_id for u in first.unreadable] == [uid("queued-new")]
    assert uid("queued-new") not in [e.native_id for e in first.items]
    assert first.items and first.position is not None
    # and once it can be read, it is returned (late, on the next page), once
    rig.counted.refuse = lambda seen: None
    rest = await walk_from(rig, first)
    seen = [e.native_id for e in first.items] + rest
    assert sorted(seen) == sorted(_order(rig.store)) and len(seen) == len(set(seen))


async def walk_from(rig: Rig, page: Page) -> list[str]:
    ids: list[str] = []
    position = rig.backend.position_after(None, page.items, page)
    while True:
        page = await rig.backend.list_executions(ExecutionQuery(), limit=4, position=position)
        ids += [e.native_id for e in page.items]
        if page.position is None:
            return ids
        position = rig.backend.position_after(position, page.items, page)


async def test_details_without_a_creation_time_leave_only_that_one_out(rig: Rig) -> None:
    def strip(seen: Seen, body: Any) -> Any:
        if _detail_of(seen, "queued-new"):
            body["createdAt"] = None
        return body

    rig.counted.edit = strip
    page = await rig.backend.list_executions(ExecutionQuery(), limit=40)
    assert [u.native_id for u in page.unreadable] == [uid("queued-new")]
    assert "createdAt" in page.unreadable[0].reason
    assert [e.native_id for e in page.items] == [
        i for i in _order(rig.store) if i != uid("queued-new")
    ]


async def test_a_server_without_the_pending_filter(rig: Rig) -> None:
    # given a server that takes only the status filter values the seed lists
    def refuse(seen: Seen) -> tuple[int, Any] | None:
        if "status=PENDING" in seen.query:
            return 400, {"message": "Unknown status 'PENDING'"}
        return None

    rig.counted.refuse = refuse
    # when it is walked, and its pending executions are asked for
    ids = await walk(rig, ExecutionQuery(), 40)
    query = ExecutionQuery(statuses=frozenset({ExecutionStatus.PENDING}))
    pending = await walk(rig, query, 5)
    # then it is asked once, and the pending executions are found where the lists show them
    assert sum("status=PENDING" in s.query for s in rig.counted.seen) == 1
    assert ids == _order(rig.store)
    assert pending == _order(rig.store, ["pending", "queued-new", "queued-old"])


# --- positions ---------------------------------------------------------------------------------


def _item(native_id: str, created: Any, started: Any = None) -> Execution:
    return Execution(
        key=ExecutionKey("team-a", native_id),
        workflow_id=WF_CRM,
        status=ExecutionStatus.PENDING if started is None else ExecutionStatus.RUNNING,
        status_raw="PENDING" if started is None else "RUNNING",
        mode=ExecutionMode.WEBHOOK,
        mode_raw="WEBHOOK",
        finished=False,
        created_at=created,
        started_at=started,
    )


def test_a_position_keeps_the_owed_executions_it_can_carry() -> None:
    # given more owed executions than a position carries, one of unknown creation time
    owed: dict[str, Any] = {f"id-{n:03d}": ago(minutes=n) for n in range(MAX_OWED + 5)}
    owed["unknown"] = None
    # when a page of one execution is consumed
    bound = bound_after(None, [_item("a", ago(seconds=1), ago(seconds=1))], owed)
    # then the overdue one and the newest others are kept, and survive a round trip
    assert len(bound.owed) == MAX_OWED and bound.owed["unknown"] is None
    assert set(bound.owed) == {"unknown"} | {f"id-{n:03d}" for n in range(MAX_OWED - 1)}
    assert parse_position(bound.to_position()) == bound


def test_a_late_item_leaves_the_keyset_bound_where_it_was() -> None:
    # given a bound that owes one execution created above it (its time came late)
    previous = Bound(ago(hours=1), frozenset({"d1"}), {"late": ago(minutes=5), "ahead": None})
    # when the late one and one below the bound are consumed
    late, below = _item("late", ago(minutes=5)), _item("d2", ago(hours=2), ago(hours=2))
    after = bound_after(previous, [late, below])
    # then the bound moves to the one below only, and owes only what is left
    assert (after.t, after.ids) == (ago(hours=2), frozenset({"d2"}))
    assert dict(after.owed) == {"ahead": None}
    only_late = bound_after(previous, [late])
    assert (only_late.t, only_late.ids) == (previous.t, previous.ids)
    # and an owed execution is never "passed", even above the bound
    assert not previous.passed(late) and previous.behind(late)


def test_old_or_malformed_positions_are_invalid_cursors() -> None:
    backend = TeamBackend("team-a", backend_http("team-a", "http://team.test", {}), TEAM_ID)
    for position in (
        {"t": None, "ids": [], "u": ["x"]},
        {"t": "2026-01-01T00:00:00Z", "ids": [], "o": {"x": "yesterday"}},
        {"t": "2026-01-01T00:00:00Z", "ids": [], "o": ["x"]},
        {"t": "2026-01-01T00:00:00Z", "ids": [], "o": {str(n): None for n in range(99)}},
    ):
        with pytest.raises(InvalidCursor):
            backend.position_after(position, [])
