"""The seeded data generator: determinism, shapes, status mixes, paths, retries and the clock."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from execgate.simulate.data import ACTIVE_STATUSES, SimExecution, SimNodeRun, SimWorkflow
from execgate.simulate.generate import DEMO_TEAM_ID, demo_stores, generate_store
from execgate.simulate.store import SimStore

NOW = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
TRIGGERS = {"webhook", "schedule", "manual"}
KINDS = TRIGGERS | {
    "set", "if", "switch", "code", "http", "wait", "merge", "slack", "email", "db", "transform"
}  # fmt: skip
DURATIONS = {"http": (80, 900), "code": (2, 120), "set": (1, 5), "if": (1, 4), "db": (5, 250)}
TEAM_STATUSES = {"success", "error", "canceled", "running", "new"}
N8N_STATUSES = TEAM_STATUSES | {"waiting", "crashed"}


@pytest.fixture(scope="module")
def demo() -> dict[str, tuple[str, SimStore]]:
    return demo_stores(7, now=NOW)


@pytest.fixture(scope="module")
def stores(demo: dict[str, tuple[str, SimStore]]) -> list[tuple[str, SimStore]]:
    return list(demo.values())


def fixed_clock(at: datetime) -> tuple[list[datetime], SimStore]:
    holder = [at]
    store = generate_store(3, style="n8n", executions=300, now=at, clock=lambda: holder[0])
    return holder, store


def executions(store: SimStore) -> list[SimExecution]:
    return list(store.executions.values())


def all_executions(
    stores: list[tuple[str, SimStore]],
) -> Iterator[tuple[str, SimWorkflow, SimExecution]]:
    for kind, store in stores:
        for e in store.executions.values():
            yield kind, store.workflows[e.workflow_id], e


def test_same_seed_gives_identical_data() -> None:
    # given two stores from the same seed and now
    first = generate_store(11, style="n8n", now=NOW)
    second = generate_store(11, style="n8n", now=NOW)
    # then every workflow and execution is equal, down to the repr
    assert repr(list(first.workflows.values())) == repr(list(second.workflows.values()))
    assert repr(executions(first)) == repr(executions(second))
    team = [generate_store(11, style="team", now=NOW) for _ in range(2)]
    assert repr(executions(team[0])) == repr(executions(team[1]))


def test_different_seed_gives_different_data() -> None:
    first = generate_store(1, style="team", now=NOW)
    second = generate_store(2, style="team", now=NOW)
    assert set(first.workflows) != set(second.workflows)
    assert [e.runs[0].output for e in executions(first) if e.runs][:20] != [
        e.runs[0].output for e in executions(second) if e.runs
    ][:20]


def test_another_now_shifts_timestamps_and_nothing_else() -> None:
    # given the same seed anchored one day and 7 ms later
    delta = timedelta(days=1, milliseconds=7)
    early = generate_store(5, style="n8n", executions=200, now=NOW)
    late = generate_store(5, style="n8n", executions=200, now=NOW + delta)
    # then ids, statuses and payloads match and every timestamp moved by delta
    assert list(early.workflows) == list(late.workflows)
    for a, b in zip(executions(early), executions(late), strict=True):
        assert (a.id, a.status, a.mode, a.retry_of, a.error_message) == (
            b.id, b.status, b.mode, b.retry_of, b.error_message
        )  # fmt: skip
        assert b.created_at - a.created_at == delta
        if a.finished_at is not None:
            assert b.finished_at is not None and b.finished_at - a.finished_at == delta
        for ra, rb in zip(a.runs, b.runs, strict=True):
            assert rb.started_at - ra.started_at == delta
            assert (ra.id, ra.node, ra.duration_ms) == (rb.id, rb.node, rb.duration_ms)
            if ra.kind != "schedule":
                assert ra.output == rb.output


def test_demo_stores_are_big_varied_and_fast() -> None:
    # when the demo's stores are generated
    started = time.perf_counter()
    demo = demo_stores(7, now=NOW)
    elapsed = time.perf_counter() - started
    # then there are three instances with over 1,000 executions on at least 10 workflows
    assert {name: kind for name, (kind, _) in demo.items()} == {
        "acme": "team", "n8n-prod": "n8n", "n8n-staging": "n8n"
    }  # fmt: skip
    assert sum(len(s.executions) for _, s in demo.values()) > 1000
    assert sum(len(s.workflows) for _, s in demo.values()) >= 10
    names = {w.name for _, s in demo.values() for w in s.workflows.values()}
    assert len(names) >= 10
    assert elapsed < 2.0
    assert str(uuid.UUID(DEMO_TEAM_ID)) == DEMO_TEAM_ID


def test_default_clock_is_real_time() -> None:
    store = generate_store(1, style="team", executions=20)
    assert abs(store.now() - datetime.now(UTC)) < timedelta(seconds=5)
    newest = max(e.created_at for e in executions(store))
    assert datetime.now(UTC) - newest < timedelta(minutes=10)


def test_every_status_is_present_for_each_style(stores: list[tuple[str, SimStore]]) -> None:
    for kind, store in stores:
        statuses = {e.status for e in executions(store)}
        assert statuses == (TEAM_STATUSES if kind == "team" else N8N_STATUSES)
    small = generate_store(4, style="n8n", executions=30, now=NOW)
    assert {e.status for e in executions(small)} == N8N_STATUSES
    assert len(small.executions) == 30


def test_status_mix_is_roughly_production_like(stores: list[tuple[str, SimStore]]) -> None:
    counts = Counter(e.status for _, _, e in all_executions(stores))
    total = sum(counts.values())
    assert 0.70 <= counts["success"] / total <= 0.85
    assert 0.08 <= counts["error"] / total <= 0.18
    assert 0.02 <= counts["canceled"] / total <= 0.07
    assert 2 <= counts["running"] <= 15
    assert 1 <= counts["crashed"] <= 5


def test_some_team_style_executions_were_cancelled_while_queued(
    stores: list[tuple[str, SimStore]],
) -> None:
    for kind, store in stores:
        queued = [e for e in executions(store) if e.started_at is None and e.status != "new"]
        cancelled = [e for e in executions(store) if e.status == "canceled"]
        if kind == "n8n":
            assert queued == []
            continue
        # about a third of the cancellations came before the start
        assert queued and {e.status for e in queued} == {"canceled"}
        assert len(cancelled) / 5 <= len(queued) <= len(cancelled) * 3 / 5
        for e in queued:
            assert e.runs == [] and e.input is None and e.output is None
            assert e.finished_at is not None
            assert timedelta(seconds=2) <= e.finished_at - e.created_at <= timedelta(minutes=5)


def test_workflows_have_a_trigger_and_branches(stores: list[tuple[str, SimStore]]) -> None:
    merges = 0
    for kind, store in stores:
        for wid, w in store.workflows.items():
            names = [n.name for n in w.nodes]
            assert 3 <= len(names) <= 12 and len(set(names)) == len(names)
            assert w.nodes[0].kind in TRIGGERS and w.trigger == w.nodes[0].kind
            assert {n.kind for n in w.nodes} <= KINDS
            assert all(n.kind not in TRIGGERS for n in w.nodes[1:])
            assert all(e.source in names and e.target in names for e in w.edges)
            branching = [n for n in w.nodes if n.kind in ("if", "switch")]
            assert any(
                len({e.output for e in w.edges if e.source == n.name}) >= 2 for n in branching
            )
            reached, todo = {names[0]}, [names[0]]
            while todo:
                node = todo.pop()
                for e in w.edges:
                    if e.source == node and e.target not in reached:
                        reached.add(e.target)
                        todo.append(e.target)
            assert reached == set(names)
            merges += any(n.kind == "merge" for n in w.nodes)
            if kind == "team":
                assert str(uuid.UUID(wid)) == wid
            else:
                assert re.fullmatch(r"[A-Za-z0-9]{16}", wid)
    assert merges >= 1


def test_many_workflows_get_unique_names() -> None:
    store = generate_store(9, style="team", workflows=20, executions=60, now=NOW)
    names = [w.name for w in store.workflows.values()]
    assert len(names) == 20 and len(set(names)) == 20
    assert len(store.executions) == 60


def test_runs_follow_the_graph_along_one_branch(stores: list[tuple[str, SimStore]]) -> None:
    for _, w, e in all_executions(stores):
        if e.status == "new" or e.started_at is None:
            assert e.runs == [] and e.started_at is None
            continue
        edges = {(x.source, x.target): x.output for x in w.edges}
        assert e.runs[0].node == w.nodes[0].name and e.runs[0].source is None
        assert e.input is e.runs[0].output
        latest: dict[str, SimNodeRun] = {}
        for index, run in enumerate(e.runs):
            if index:
                assert run.source is not None and (run.source, run.node) in edges
                assert run.input is latest[run.source].output
            assert run.run_index == sum(1 for r in e.runs[:index] if r.node == run.node)
            latest[run.node] = run


def test_if_and_switch_take_one_output_per_run(stores: list[tuple[str, SimStore]]) -> None:
    chosen: Counter[int] = Counter()
    for _, w, e in all_executions(stores):
        edges = {(x.source, x.target): x.output for x in w.edges}
        for position, run in enumerate(e.runs):
            if run.kind not in ("if", "switch"):
                continue
            outputs = {
                edges[(r.source, r.node)]
                for r in e.runs[position + 1 :]
                if r.source == run.node and r.input is run.output
            }
            assert len(outputs) <= 1
            chosen.update(outputs)
    assert chosen[0] > chosen[1] > 0 and chosen[2] > 0


def test_some_nodes_run_several_times(stores: list[tuple[str, SimStore]]) -> None:
    for kind, store in stores:
        looping = [e for e in executions(store) if any(r.run_index >= 1 for r in e.runs)]
        assert len(looping) >= 3
        assert any(r.run_index == 2 for e in looping for r in e.runs) or kind == "team"
        for e in looping:
            by_node: dict[str, list[object]] = {}
            for r in e.runs:
                by_node.setdefault(r.node, []).append(r.input)
            many = [inputs for inputs in by_node.values() if len(inputs) > 1]
            assert many and all(len({repr(i) for i in inputs}) == len(inputs) for inputs in many)


def test_failures_stop_at_the_failing_node(stores: list[tuple[str, SimStore]]) -> None:
    messages = set()
    for _, _, e in all_executions(stores):
        failed = [r for r in e.runs if r.status == "error"]
        if e.status == "error":
            assert failed == [e.runs[-1]] and failed[0].error == e.error_message
            assert failed[0].output is None and e.output is None
            messages.add(e.error_message)
        else:
            assert failed == []
        if e.status == "success":
            assert e.error_message is None and e.output is e.runs[-1].output
    assert "Request failed with status code 502" in messages
    assert "Cannot read properties of undefined (reading 'email')" in messages


def test_modes_come_from_the_trigger(stores: list[tuple[str, SimStore]]) -> None:
    expected = {"webhook": "webhook", "schedule": "trigger", "manual": "manual"}
    for kind, w, e in all_executions(stores):
        assert e.mode == ("retry" if e.retry_of else expected[w.trigger])
        assert e.mode != "retry" or kind == "n8n"


def test_retry_chains_link_back_and_forth(stores: list[tuple[str, SimStore]]) -> None:
    succeeded = 0
    for kind, store in stores:
        by_id = store.executions
        retries = [e for e in executions(store) if e.retry_of is not None]
        if kind == "team":
            assert retries == [] and all(e.retry_success_id is None for e in executions(store))
            continue
        assert len(retries) >= 5
        for e in retries:
            parent = by_id[e.retry_of or ""]
            assert int(parent.id) < int(e.id) and parent.workflow_id == e.workflow_id
            assert parent.status == "error" and parent.finished_at is not None
            assert parent.finished_at < e.created_at
            assert (parent.retry_success_id == e.id) == (e.status == "success")
            assert e.status in ("success", "error") and e.input == parent.input
        for e in executions(store):
            if e.retry_success_id is not None:
                target = by_id[e.retry_success_id]
                assert target.retry_of == e.id and target.status == "success"
                succeeded += 1
    assert succeeded >= 1


def test_active_executions_are_near_now(stores: list[tuple[str, SimStore]]) -> None:
    for _, w, e in all_executions(stores):
        if e.status not in ACTIVE_STATUSES:
            assert e.finishes_at is None and e.final_status is None and e.wait_till is None
            continue
        assert e.finishes_at is not None and NOW < e.finishes_at < NOW + timedelta(hours=3)
        assert e.final_status == "success"
        assert e.output is None
        if e.status == "running":
            assert e.started_at is not None and NOW - e.started_at < timedelta(minutes=2)
            assert e.finished_at is None and e.finishes_at - NOW <= timedelta(minutes=4)
        if e.status == "new":
            assert NOW - e.created_at < timedelta(seconds=30)
        if e.status == "waiting":
            assert e.wait_till is not None and NOW < e.wait_till < e.finishes_at
            assert e.runs[-1].kind == "wait" and e.runs[-1].status == "waiting"
            assert any(n.kind == "wait" for n in w.nodes)


def test_running_executions_finish_as_the_clock_passes() -> None:
    # given a store whose clock stands at now
    holder, store = fixed_clock(NOW)
    active = {e.id: e.finishes_at or NOW for e in executions(store) if e.status in ACTIVE_STATUSES}
    assert all(at > NOW for at in active.values())
    assert {store.executions[i].status for i in active} == {"running", "new", "waiting"}
    # when it advances without the clock moving, nothing finishes
    store.advance()
    assert all(store.executions[i].status in ACTIVE_STATUSES for i in active)
    # when the clock passes every planned finish
    holder[0] = NOW + timedelta(hours=3)
    store.advance()
    # then each one completed at its planned time
    for execution_id, finishes_at in active.items():
        done = store.executions[execution_id]
        assert done.status == "success" and done.finished_at == finishes_at
        assert done.started_at is not None and done.started_at <= finishes_at


def test_timestamps_are_aware_ordered_and_consistent(stores: list[tuple[str, SimStore]]) -> None:
    for kind, store in stores:
        ordered = executions(store)
        created = [e.created_at for e in ordered]
        assert created == sorted(created)
        assert NOW - min(created) <= timedelta(days=30) and max(created) <= NOW
        recent = sum(1 for c in created if NOW - c < timedelta(days=7))
        assert recent > len(created) / 3  # denser near now
        if kind == "n8n":
            assert [int(e.id) for e in ordered] == list(range(1, len(ordered) + 1))
        else:
            assert all(str(uuid.UUID(e.id)) == e.id for e in ordered)
        for e in ordered:
            assert e.created_at.utcoffset() == timedelta(0)
            if e.started_at is not None:
                assert e.created_at <= e.started_at
            if e.finished_at is not None:
                # one cancelled while queued has no start: it ends after its creation
                begun = e.started_at or e.created_at
                assert begun <= e.finished_at <= NOW
                assert e.started_at is not None or e.status == "canceled"
            end = e.started_at
            for run in e.runs:
                assert run.started_at.tzinfo is not None and end is not None
                assert run.started_at >= end
                end = run.started_at + timedelta(milliseconds=run.duration_ms)
            if e.runs:
                assert end is not None and end <= (e.finished_at or NOW)


def test_node_runs_look_realistic(stores: list[tuple[str, SimStore]]) -> None:
    ids: list[str] = []
    text = []
    retried = 0
    for _, _, e in all_executions(stores):
        for run in e.runs:
            ids.append(run.id)
            low, high = DURATIONS.get(run.kind, (0, 60_000))
            extra = run.retry_count * 1_400
            assert low <= run.duration_ms <= high + extra
            assert run.retry_count == 0 or run.kind == "http"
            retried += run.retry_count > 0
            text.append(repr(run.output))
    assert len(set(ids)) == len(ids) and all(str(uuid.UUID(i)) == i for i in ids)
    joined = "\n".join(text)
    assert re.search(r"'email': '[a-z]+\.[a-z]+@[a-z-]+\.[a-z]+'", joined)
    assert re.search(r"'apiKey': 'sk_live_[A-Za-z0-9]{24}'", joined)
    assert "'orderId'" in joined or "'invoiceId'" in joined or "'leadId'" in joined
    assert retried >= 3


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_every_execution_that_succeeds_ran_its_nodes_and_took_time(seed: int) -> None:
    # given the demo's stores, and every active execution finishing on its own
    from datetime import timedelta

    from execgate.simulate.generate import demo_stores

    for _, (_, store) in demo_stores(seed).items():
        for execution in store.visible():
            if execution.finishes_at is not None:
                execution.finishes_at = store.now() - timedelta(seconds=1)
        store.advance()
        # then: no success without node runs, without a duration, or out of order in time
        for execution in store.visible():
            if execution.status != "success":
                continue
            assert execution.runs, execution.id
            assert execution.started_at is not None and execution.finished_at is not None
            assert execution.finished_at > execution.started_at, execution.id
            ends = [r.started_at + timedelta(milliseconds=r.duration_ms) for r in execution.runs]
            assert max(ends) <= execution.finished_at, execution.id
            starts = [r.started_at for r in execution.runs]
            assert starts == sorted(starts), execution.id
            assert execution.output is not None
