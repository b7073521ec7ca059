"""The store's moving set and index by time: what ``advance`` and ``window`` give equals what a
scan of every execution gives, while executions start, finish, come, go and are cancelled."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from execgate.simulate.activity import Activity
from execgate.simulate.data import ACTIVE_STATUSES, SimExecution
from execgate.simulate.generate import generate_store
from execgate.simulate.store import INDEX_FROM, SimStore, finish

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _in(execution: SimExecution, after: datetime | None, before: datetime | None) -> bool:
    moment = execution.started_at or execution.created_at
    return (after is None or moment >= after) and (before is None or moment <= before)


def _exact(store: SimStore, after: datetime | None, before: datetime | None) -> set[str]:
    return {e.id for e in store.window(after, before) if _in(e, after, before)}


def _brute(store: SimStore, after: datetime | None, before: datetime | None) -> set[str]:
    return {e.id for e in store.executions.values() if _in(e, after, before)}


def test_a_large_store_answers_windows_as_a_scan_would_while_it_changes() -> None:
    clock = [NOW]
    store = generate_store(
        11, style="n8n", executions=INDEX_FROM + 500, now=NOW, clock=lambda: clock[0]
    )
    Activity(rate=5.0, seed=3).attach(store)
    rng = random.Random(5)
    oldest = min(e.created_at for e in store.executions.values())
    span = (NOW - oldest).total_seconds()
    for step in range(60):
        clock[0] += timedelta(seconds=rng.uniform(0, 40))
        store.advance()
        if step % 5 == 0:  # one deleted, one cancelled, one finished by hand
            store.remove(rng.choice(list(store.executions)))
            active = [e for e in store.executions.values() if e.status in ACTIVE_STATUSES]
            if active:
                finish(rng.choice(active), "canceled", clock[0])
        start = oldest + timedelta(seconds=rng.uniform(0, span))
        windows = [
            (start, start + timedelta(minutes=rng.choice([1, 30, 600]))),
            (start, None),
            (None, start),
            (clock[0] - timedelta(minutes=2), None),
        ]
        for after, before in windows:
            assert _exact(store, after, before) == _brute(store, after, before), (step, after)
            active = {
                e.id
                for e in store.window(after, before, active=True)
                if e.status in ACTIVE_STATUSES and _in(e, after, before)
            }
            assert active == {
                i
                for i in _brute(store, after, before)
                if store.executions[i].status in ACTIVE_STATUSES
            }, (step, after)
    assert store._moments is not None  # the index was used, not the scan


def test_advance_moves_only_active_executions_and_drops_them_once_final() -> None:
    clock = [NOW]
    store = generate_store(2, style="team", executions=300, now=NOW, clock=lambda: clock[0])
    moving = {e.id for e in store.executions.values() if e.status in ACTIVE_STATUSES}
    assert moving and set(store._moving) == moving
    clock[0] += timedelta(days=2)  # every active execution's time has come
    store.advance()
    assert not store._moving
    assert not [e for e in store.executions.values() if e.status in ACTIVE_STATUSES]


def test_an_execution_removed_and_added_again_is_listed_once() -> None:
    clock = [NOW]
    store = generate_store(4, style="team", executions=INDEX_FROM, now=NOW, clock=lambda: clock[0])
    store.window(NOW - timedelta(days=40), None)  # the index is built
    done = next(e for e in store.executions.values() if e.status == "success")
    active = next(e for e in store.executions.values() if e.status in ACTIVE_STATUSES)
    store.remove(done.id)
    store.add(done)
    store.add(active)  # again, still active
    clock[0] += timedelta(days=2)
    store.advance()  # it finishes and is indexed once
    found = [e.id for e in store.window(NOW - timedelta(days=40), None)]
    assert len(found) == len(set(found)) == len(store.executions)
