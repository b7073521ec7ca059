"""Statistics through the real adapters over simulators, against a brute-force oracle, while
executions start, finish and are deleted between two answers; repeated answers counted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from execgate.backends.n8n import N8nBackend
from execgate.backends.team import TeamBackend
from execgate.backends.transport import Request, Response
from execgate.domain.errors import TooManyExecutions
from execgate.domain.models import Execution
from execgate.domain.ports import Backend
from execgate.domain.stats import Figures, StatsAnswer, StatsDimension
from execgate.service.gateway import FeedFilter, Gateway
from execgate.service.stats import StatsCache
from execgate.simulate.data import SimExecution
from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.store import SimStore, finish
from execgate.simulate.team_api import create_team_app
from tests.service import stats_oracle as oracle
from tests.transports import backend_http

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY_AGO = NOW - timedelta(days=1)
ALL = [d for d in StatsDimension]


@dataclass
class Counting:
    inner: InProcessTransport
    sent: list[str] = field(default_factory=list)
    arriving: Callable[[Request], None] | None = None
    """Called as each request arrives: a test changes the backend's data between two."""

    async def send(self, request: Request) -> Response:
        self.sent.append(request.url)
        if self.arriving is not None:
            self.arriving(request)
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class World:
    stores: dict[str, SimStore]
    backends: dict[str, Backend]
    transports: dict[str, Counting]
    gateway: Gateway
    clock: list[float]

    def calls(self) -> int:
        return sum(len(t.sent) for t in self.transports.values())


def _world(clock: list[float]) -> World:
    stores: dict[str, SimStore] = {}
    backends: dict[str, Backend] = {}
    transports: dict[str, Counting] = {}
    for name, kind, seed in (("acme", "team", 3), ("prod", "n8n", 4), ("stage", "n8n", 5)):
        store = generate_store(seed, style=kind, executions=700, now=NOW, clock=lambda: NOW)  # type: ignore[arg-type]
        for e in store.visible():
            e.finishes_at = None  # nothing moves unless the test moves it
        if kind == "team":
            app = create_team_app(store, team_id=DEMO_TEAM_ID, token="t")
            headers = TeamBackend.auth_headers("t")
        else:
            app = create_n8n_app(store, api_key="k")
            headers = N8nBackend.auth_headers("k")
        transport = Counting(InProcessTransport(app))
        http = backend_http(name, f"http://{name}", headers, transport)
        backends[name] = (
            TeamBackend(name, http, DEMO_TEAM_ID) if kind == "team" else N8nBackend(name, http)
        )
        stores[name], transports[name] = store, transport
    gateway = Gateway(
        backends,
        stats_cache=StatsCache(ttl_seconds=300, clock=lambda: clock[0]),
        now=lambda: NOW,
    )
    return World(stores, backends, transports, gateway, clock)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    built = _world([0.0])
    yield built
    for transport in built.transports.values():
        await transport.aclose()


def _same(figures: Figures, expected: dict[str, Any]) -> None:
    assert figures.count == expected["count"]
    assert figures.by_status == expected["by_status"]
    assert figures.success_rate == pytest.approx(expected["success_rate"])
    assert figures.running == expected["running"]
    durations = figures.durations
    assert (durations.p50, durations.p90, durations.p95, durations.p99, durations.max) == (
        expected["p50"],
        expected["p90"],
        expected["p95"],
        expected["p99"],
        expected["max"],
    )
    assert durations.mean == pytest.approx(expected["mean"])
    assert (figures.first_started_at, figures.last_started_at) == (
        expected["first"],
        expected["last"],
    )


async def _check(
    world: World, answer: StatsAnswer, after: datetime, only: str | None = None, **kw: Any
) -> None:
    """``answer`` equals the oracle's figures, overall and bucket by bucket."""
    errors = StatsDimension.ERROR in answer.group_by
    backends = {n: b for n, b in world.backends.items() if only in (None, n)}
    everything = await oracle.window(backends, after, errors=errors, **kw)
    assert answer.complete
    _same(answer.overall, oracle.figures(everything))
    dims = list(answer.group_by)
    expected = oracle.grouped(everything, dims, world.gateway.normalise) if dims else {}
    assert answer.bucket_count == len(expected)
    seen = set()
    for bucket in answer.buckets:
        key = bucket.key
        parts = []
        for d in answer.group_by:
            value = {
                StatsDimension.INSTANCE: key.instance,
                StatsDimension.WORKFLOW: key.workflow and tuple(key.workflow),
                StatsDimension.STATUS: key.status,
                StatsDimension.MODE: key.mode,
                StatsDimension.DAY: key.day,
                StatsDimension.HOUR: key.hour,
                StatsDimension.ERROR: key.error,
            }[d]
            parts.append(value)
        seen.add(tuple(parts))
        _same(bucket.figures, expected[tuple(parts)])
    assert seen == set(expected)


@pytest.mark.parametrize(
    "group_by",
    [
        [],
        [StatsDimension.WORKFLOW],
        [StatsDimension.ERROR],
        [StatsDimension.INSTANCE, StatsDimension.STATUS],
        [StatsDimension.MODE, StatsDimension.HOUR],
        [StatsDimension.DAY],
    ],
)
async def test_figures_equal_a_brute_force_count(
    world: World, group_by: list[StatsDimension]
) -> None:
    after = NOW - timedelta(days=3)
    answer = await world.gateway.stats(
        FeedFilter(started_after=after), group_by, max_buckets=10_000
    )
    assert answer.overall.count > 100
    await _check(world, answer, after)


async def test_the_default_window_is_the_last_day(world: World) -> None:
    answer = await world.gateway.stats(FeedFilter(), [])
    assert answer.window.after == DAY_AGO and answer.window.before is None
    await _check(world, answer, DAY_AGO)


def _started(store: SimStore, template: SimExecution, minutes: float, status: str) -> SimExecution:
    moment = NOW - timedelta(minutes=minutes)
    e = SimExecution(
        id=store.new_id(),
        workflow_id=template.workflow_id,
        status=status,
        mode="webhook",
        created_at=moment,
        started_at=moment,
        finished_at=None if status == "running" else moment + timedelta(seconds=2),
        error_message="boom at line 12" if status == "error" else None,
    )
    return store.add(e)


async def test_a_repeat_reads_only_what_changed_and_stays_exact(world: World) -> None:
    after = NOW - timedelta(days=7)
    dims = [StatsDimension.WORKFLOW, StatsDimension.STATUS]
    first = await world.gateway.stats(FeedFilter(started_after=after), dims)
    assert first.scanned == first.overall.count
    await _check(world, first, after)

    cold = world.calls()
    again = await world.gateway.stats(FeedFilter(started_after=after), dims)
    repeat = world.calls() - cold
    # the head of each instance, its active executions, and on team-style one count of the
    # window, one of its pending executions and one of its cancelled ones
    assert repeat <= 14, repeat
    assert again.scanned < first.scanned / 10
    await _check(world, again, after)

    # Between two answers: executions start, finish and are deleted, on every instance.
    for store in world.stores.values():
        visible = sorted(store.visible(), key=lambda e: e.created_at)
        template = visible[-1]
        _started(store, template, 1, "running")
        _started(store, template, 0.5, "error")
        active = [e for e in visible if e.status in ("running", "waiting", "new")]
        for e in active[:3]:
            finish(e, "success", NOW - timedelta(seconds=10))
        old = [e for e in visible if e.status == "success" and e.created_at > after]
        store.remove(old[0].id)  # an old finished one, deleted elsewhere
    world.clock[0] += 400  # past the ttl: n8n instances are read again in full
    changed = await world.gateway.stats(FeedFilter(started_after=after), dims)
    await _check(world, changed, after)


async def test_a_deletion_elsewhere_shows_at_once_on_team_style(world: World) -> None:
    after = NOW - timedelta(days=2)
    await world.gateway.stats(FeedFilter(started_after=after, instances=("acme",)), [])
    store = world.stores["acme"]
    victim = next(e for e in store.visible() if e.status == "success" and e.created_at > after)
    store.remove(victim.id)
    answer = await world.gateway.stats(FeedFilter(started_after=after, instances=("acme",)), [])
    await _check(world, answer, after, "acme")


TEAM_AFTER = NOW - timedelta(days=2)
TEAM_SCOPE = FeedFilter(started_after=TEAM_AFTER, instances=("acme",))


def _queue(world: World, *minutes: float) -> list[SimExecution]:
    """Executions queued on the team-style instance ``minutes`` ago, not started."""
    store = world.stores["acme"]
    template = max(store.visible(), key=lambda e: e.created_at)
    queued = [_started(store, template, m, "new") for m in minutes]
    for e in queued:
        e.started_at = None
    return queued


async def _old_cancelled_deletion_is_read_in_full(world: World) -> None:
    """Delete, behind the gateway's back, a started cancelled execution deep in the window:
    the next answer reads the team-style instance in full again, and is right."""
    store = world.stores["acme"]
    victim = next(
        e
        for e in store.visible()
        if e.status == "canceled"
        and e.started_at is not None
        and TEAM_AFTER < e.started_at < NOW - timedelta(hours=1)
    )
    store.remove(victim.id)
    answer = await world.gateway.stats(TEAM_SCOPE, [])
    assert answer.scanned > 50  # read in full again
    await _check(world, answer, TEAM_AFTER, "acme")


async def test_queued_executions_coming_and_starting_cost_a_team_repeat_no_full_read(
    world: World,
) -> None:
    # A team-style server dates an execution that has not started by its creation time, so
    # its count of a window holds queued ones; they come and start between two answers.
    after, scope = TEAM_AFTER, TEAM_SCOPE
    await world.gateway.stats(scope, [])
    queued = _queue(world, 30, 20)
    for steps in range(2):
        cold = world.calls()
        answer = await world.gateway.stats(scope, [])
        assert world.calls() - cold <= 4, steps  # the head and three counts
        assert answer.scanned < 50
        await _check(world, answer, after, "acme")
        queued[steps].status, queued[steps].started_at = "running", NOW - timedelta(seconds=30)


async def test_a_queued_execution_cancelled_before_it_starts_costs_no_full_read(
    world: World,
) -> None:
    # Cancelled before it started, it has no start time: the server counts it (by creation)
    # but never lists it in a dated window, so the segment cannot hold it.
    after, scope = TEAM_AFTER, TEAM_SCOPE
    queued = _queue(world, 30, 20)
    await world.gateway.stats(scope, [])
    for e in queued:
        finish(e, "canceled", NOW - timedelta(minutes=1))
        e.started_at = None
        cold = world.calls()
        answer = await world.gateway.stats(scope, [])
        assert world.calls() - cold <= 6  # the head, its active ones and three counts
        assert answer.scanned < 50
        await _check(world, answer, after, "acme")
    # ... and a cancelled execution deleted elsewhere still shows at once
    await _old_cancelled_deletion_is_read_in_full(world)


async def test_a_deletion_is_seen_when_the_range_gains_a_cancelled_unstarted_one(
    world: World,
) -> None:
    # An execution queued in the head and cancelled before it starts is not counted until the
    # floor passes it; the answer on which it does must still see a deletion made meanwhile.
    scope, store = TEAM_SCOPE, world.stores["acme"]
    await world.gateway.stats(scope, [])
    (queued,) = _queue(world, 0.5)
    finish(queued, "canceled", NOW)
    queued.started_at = None
    answer = await world.gateway.stats(scope, [])
    assert answer.scanned < 50  # in the head: not counted yet
    template = max(store.visible(), key=lambda e: e.created_at)
    _started(store, template, -5, "success")  # the newest moves on: the next floor passes it
    answer = await world.gateway.stats(scope, [])
    assert answer.scanned < 50
    await _old_cancelled_deletion_is_read_in_full(world)


async def test_a_queued_execution_starting_between_two_counts_costs_no_full_read(
    world: World,
) -> None:
    # The totals are two requests: an execution queued a moment ago that starts between them
    # is in one (by its creation time) and not the other. The check stops before the head.
    after, scope = TEAM_AFTER, TEAM_SCOPE
    await world.gateway.stats(scope, [])
    (queued,) = _queue(world, 0.5)

    def start(request: Request) -> None:
        if "status=PENDING" in request.url and queued.status == "new":
            queued.status, queued.started_at = "running", NOW - timedelta(seconds=1)

    world.transports["acme"].arriving = start
    cold = world.calls()
    answer = await world.gateway.stats(scope, [])
    assert queued.status == "running"
    assert world.calls() - cold <= 6
    assert answer.scanned < 50
    # it started after the head was read: the next answer has it
    world.transports["acme"].arriving = None
    answer = await world.gateway.stats(scope, [])
    assert answer.scanned < 50
    await _check(world, answer, after, "acme")


async def test_a_deletion_through_the_gateway_is_forgotten_at_once(world: World) -> None:
    from execgate.domain.access import Action
    from execgate.domain.keys import ExecutionKey
    from execgate.service.actions import ActionTarget

    after = NOW - timedelta(days=2)
    scope = FeedFilter(started_after=after, instances=("prod",))
    before = await world.gateway.stats(scope, [])
    victim = next(
        e
        for e in world.stores["prod"].visible()
        if e.status == "success" and e.started_at and e.started_at > after
    )
    key = ExecutionKey("prod", victim.id)

    async def read(k: ExecutionKey) -> Execution | None:
        found = await world.backends["prod"].get_executions([k.native_id], include_nodes=False)
        return found.get(k.native_id)

    outcome = await world.gateway.perform(Action.DELETE, ActionTarget(key.encode(), key), read)
    assert outcome.ok
    after_delete = await world.gateway.stats(scope, [])
    assert after_delete.overall.count == before.overall.count - 1
    await _check(world, after_delete, after, "prod")


async def test_a_wider_window_extends_what_is_kept(world: World) -> None:
    near = NOW - timedelta(days=1)
    far = NOW - timedelta(days=10)
    await world.gateway.stats(FeedFilter(started_after=near), [])
    wider = await world.gateway.stats(FeedFilter(started_after=far), [StatsDimension.INSTANCE])
    await _check(world, wider, far)
    narrow = await world.gateway.stats(
        FeedFilter(started_after=far, started_before=near), [StatsDimension.DAY]
    )
    await _check(world, narrow, far, before=near)


async def test_a_window_over_the_bound_is_refused(world: World) -> None:
    world.gateway.max_stats_executions = 50
    with pytest.raises(TooManyExecutions) as refused:
        await world.gateway.stats(FeedFilter(started_after=NOW - timedelta(days=30)), [])
    assert refused.value.code == "STATS_LIMIT_EXCEEDED"


async def test_buckets_are_bounded_and_ordered(world: World) -> None:
    answer = await world.gateway.stats(
        FeedFilter(started_after=NOW - timedelta(days=3)), [StatsDimension.HOUR], max_buckets=5
    )
    assert len(answer.buckets) == 5 and answer.bucket_count > 5
    hours = [b.key.hour for b in answer.buckets]
    assert hours == sorted(hours)  # type: ignore[type-var]


async def test_an_instance_that_fails_is_skipped_and_marked(world: World) -> None:
    world.stores["stage"].lock  # noqa: B018 - the store stays; its transport fails
    transport = world.transports["stage"]

    async def broken(request: Request) -> Response:
        return Response(503, {}, b"down")

    transport.send = broken  # type: ignore[method-assign]
    answer = await world.gateway.stats(FeedFilter(started_after=NOW - timedelta(days=1)), [])
    assert not answer.complete
    assert [name for name, _, _ in answer.skipped] == ["stage"]
    assert answer.skipped[0][1] == "UPSTREAM_UNAVAILABLE"
