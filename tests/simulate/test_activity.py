"""Simulated activity: executions created on a schedule, queued, running, then finished, each
change at the moment its timestamps say."""

from __future__ import annotations

from datetime import timedelta

import pytest

from execgate.simulate.activity import FAILED, Activity
from execgate.simulate.generate import Style, generate_store
from execgate.simulate.store import SimStore
from tests.simulate.team_store import NOW, Clock


def _store(clock: Clock, style: Style = "n8n") -> SimStore:
    return generate_store(3, style=style, executions=30, now=NOW, clock=clock)


def test_executions_arrive_on_schedule_and_progress_at_their_own_times() -> None:
    clock = Clock()
    store = _store(clock)
    before = set(store.executions)
    activity = Activity(2.0, seed=5, queued=(1.0, 1.0), running=(2.0, 2.0), failures=0.0)
    activity.attach(store)
    store.advance()  # the schedule starts now: one execution at once
    clock.tick(seconds=1.9)
    store.advance()
    spawned = [store.executions[i] for i in store.executions if i not in before]
    assert len(spawned) == activity.created == 4  # at 0, 0.5, 1.0 and 1.5 s
    first = spawned[0]
    assert [e.created_at - NOW for e in spawned] == [
        timedelta(seconds=s) for s in (0.0, 0.5, 1.0, 1.5)
    ]
    assert (first.status, first.started_at) == ("running", NOW + timedelta(seconds=1))
    assert spawned[-1].status == "new" and spawned[-1].started_at is None
    clock.tick(seconds=1.2)  # 3.1 s: the first finished at 3.0
    store.advance()
    assert first.status == "success"
    assert first.finished_at is not None and first.finished_at <= NOW + timedelta(seconds=3)
    assert first.runs and first.runs[-1].started_at < first.finished_at
    assert int(first.id) == max(int(i) for i in before) + 1  # n8n ids keep growing


def test_the_same_seed_makes_the_same_schedule_and_failures_fail() -> None:
    runs = []
    for _ in range(2):
        clock = Clock()
        store = _store(clock, "team")
        Activity(5.0, seed=9, failures=1.0, start=NOW).attach(store)
        clock.tick(seconds=10)
        store.advance()
        runs.append(
            sorted(
                (e.created_at, e.started_at, e.finished_at, e.status, e.error_message)
                for e in store.visible()
                if e.created_at >= NOW
            )
        )
    assert runs[0] == runs[1] and len(runs[0]) == 51
    assert {r[3] for r in runs[0] if r[2] is not None} == {"error"}
    assert {r[4] for r in runs[0] if r[2] is not None} == {FAILED}


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Activity(0)
