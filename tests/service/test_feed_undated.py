"""The merged feed over team-style simulators whose list items carry no creation time (as in
the seed), holding pending executions and ones cancelled before they started, that start, are
cancelled and are deleted while a client pages: compared with a brute-force sort by start time
(else creation time) newest first, then instance, then id; requests counted at the simulators
never exceed the gateway's estimate for the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execgate.backends.http import BackendHTTP
from execgate.backends.team import TeamBackend
from execgate.service.gateway import FeedFilter, Gateway
from execgate.simulate.data import SimExecution
from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.store import SimStore
from execgate.simulate.team_api import Undated, create_team_app
from tests.simulate.counted import Counted
from tests.transports import backend_http

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MODES: list[Undated] = ["created", "first", "last"]
MOVES = ["start-above", "start-in-place", "cancel", "delete", "arrive"]


@dataclass
class Sim:
    name: str
    store: SimStore
    counted: Counted
    http: BackendHTTP


def _sim(
    name: str, mode: Undated, seed: int, size: int, pending: list[int], early: list[int]
) -> Sim:
    store = generate_store(seed, style="team", executions=size, now=NOW, clock=lambda: NOW)
    for e in store.visible():
        e.finishes_at = None  # nothing moves on its own; the test moves the data itself
    workflow = next(iter(store.workflows))
    for minutes in pending:
        _add(store, workflow, NOW - timedelta(minutes=minutes, milliseconds=7), "new")
    for minutes in early:
        _add(store, workflow, NOW - timedelta(minutes=minutes, milliseconds=3), "canceled")
    counted = Counted(create_team_app(store, team_id=DEMO_TEAM_ID, token="t", undated=mode))
    http = backend_http(
        name, f"http://{name}", TeamBackend.auth_headers("t"), InProcessTransport(counted)
    )
    return Sim(name, store, counted, http)


def _add(store: SimStore, workflow: str, created: datetime, status: str) -> SimExecution:
    finished = created + timedelta(seconds=30) if status == "canceled" else None
    record = SimExecution(store.new_id(), workflow, status, "webhook", created, None, finished)
    return store.add(record)


class _Desc:
    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.value == self.value


def brute_force(sims: list[Sim], keep: set[str]) -> list[str]:
    """The ids of ``keep`` by (start, else creation time) newest first, instance, id desc."""
    rows: list[tuple[Any, str]] = []
    for sim in sims:
        for e in sim.store.visible():
            key = f"{sim.name}:{e.id}"
            if key in keep:
                moment = e.started_at or e.created_at
                rows.append(((-moment.timestamp(), sim.name, _Desc(e.id)), key))
    return [key for _, key in sorted(rows)]


def _move(
    sims: list[Sim], move: str, pick: int, step: int, moved: set[str], deleted: set[str]
) -> None:
    sim = sims[pick % len(sims)]
    queued = sorted(e.id for e in sim.store.visible() if e.status == "new")
    undated = sorted(e.id for e in sim.store.visible() if e.started_at is None)
    if move == "arrive":
        _add(sim.store, next(iter(sim.store.workflows)), NOW + timedelta(minutes=step + 1), "new")
        return
    pool = undated if move == "delete" else queued
    if not pool:
        return
    record = sim.store.executions[pool[pick % len(pool)]]
    key = f"{sim.name}:{record.id}"
    if move == "delete":
        sim.store.remove(record.id)
        deleted.add(key)
    elif move == "cancel":
        record.status, record.finished_at = "canceled", NOW
    else:
        above = move == "start-above"
        record.status = "running"
        record.started_at = (
            NOW + timedelta(hours=1) if above else record.created_at + timedelta(milliseconds=40)
        )
        moved.add(key)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    modes=st.lists(st.sampled_from(MODES), min_size=1, max_size=3),
    size=st.integers(min_value=8, max_value=50),
    pending=st.lists(st.integers(0, 3 * 24 * 60), max_size=3),
    early=st.lists(st.integers(5, 20 * 24 * 60), max_size=3),
    first=st.integers(min_value=1, max_value=25),
    moves=st.lists(st.tuples(st.sampled_from(MOVES), st.integers(0, 10_000)), max_size=6),
    seed=st.integers(0, 50),
)
async def test_a_walk_while_executions_start_are_cancelled_and_deleted(
    modes: list[Undated],
    size: int,
    pending: list[int],
    early: list[int],
    first: int,
    moves: list[tuple[str, int]],
    seed: int,
) -> None:
    sims = [
        _sim(f"t{n}", mode, seed + n, size, pending, early[: n + 1]) for n, mode in enumerate(modes)
    ]
    gateway = Gateway({s.name: TeamBackend(s.name, s.http, DEMO_TEAM_ID) for s in sims})
    original = {f"{s.name}:{e.id}" for s in sims for e in s.store.visible()}
    undated_at_start = max(sum(1 for e in s.store.visible() if e.started_at is None) for s in sims)
    seen: list[str] = []
    moved: set[str] = set()
    deleted: set[str] = set()
    after = None
    try:
        for step in range(2_000):
            before = sum(len(s.counted.seen) for s in sims)
            estimate = gateway.estimate_feed(
                FeedFilter(), first=first, resuming=after is not None, include_nodes=False
            )
            page = await gateway.feed(FeedFilter(), first=first, after=after, include_nodes=False)
            made = sum(len(s.counted.seen) for s in sims) - before
            assert made <= estimate, (step, made, estimate)
            assert not page.skipped and not page.unreadable
            seen.extend(e.node.key.encode() for e in page.edges)
            if step < len(moves):
                _move(sims, *moves[step], step, moved, deleted)
            if not page.has_next_page:
                break
            after = page.cursor(page.end_state)
        else:
            raise AssertionError("the walk never ended")
    finally:
        for s in sims:
            await s.http.transport.aclose()
    # no duplicate; no gap among executions that were there throughout, moved or not
    assert len(seen) == len(set(seen)), "no duplicates"
    survivors = original - deleted
    assert survivors <= set(seen), "no gaps"
    # the order is the brute-force order for every execution whose time did not change, once
    # a page's reads cover the executions without a time its first page finds
    if first + 1 >= undated_at_start:
        stable = survivors - moved
        assert [key for key in seen if key in stable] == brute_force(sims, stable)
