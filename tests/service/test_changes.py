"""The live diff: what one poll shows against the last, and what it never invents."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from execgate.domain.keys import ExecutionKey
from execgate.domain.live import Change, ChangeType
from execgate.domain.models import Execution, ExecutionStatus
from execgate.service.changes import Tracker, compare
from tests.fakes import make_execution

S = ExecutionStatus
AT = datetime(2026, 6, 1, tzinfo=UTC)


def ex(native_id: int, status: S = S.SUCCESS) -> Execution:
    return make_execution("a", str(native_id), minutes=native_id, status=status)


def window(*ids: int, status: S = S.SUCCESS) -> list[Execution]:
    """Newest first, as an instance lists them."""
    return [ex(i, status) for i in sorted(ids, reverse=True)]


def kinds(changes: list[Change]) -> list[tuple[str, str, str | None]]:
    return sorted(
        (c.type.value, c.execution.native_id, c.previous.value if c.previous else None)
        for c in changes
    )


def tracked(recent: list[Execution], active: list[Execution] | None = None) -> Tracker:
    tracker = Tracker()
    assert tracker.update(recent, active or [], AT) == []  # the baseline says nothing
    return tracker


def test_the_first_poll_is_a_baseline_and_the_next_reports_what_is_new() -> None:
    tracker = tracked(window(1, 2, 3))
    changes = tracker.update([ex(5, S.PENDING), ex(4, S.RUNNING), *window(1, 2, 3)], [], AT)
    assert kinds(changes) == [("CREATED", "4", None), ("CREATED", "5", None)]
    assert all(c.at == AT for c in changes)


def test_status_moves_are_reported_once_with_the_status_before() -> None:
    tracker = tracked([ex(3, S.PENDING), *window(1, 2)], [ex(3, S.PENDING)])
    running = tracker.update([ex(3, S.RUNNING), *window(1, 2)], [ex(3, S.RUNNING)], AT)
    assert kinds(running) == [("STATUS_CHANGED", "3", "PENDING")]
    again = tracker.update([ex(3, S.RUNNING), *window(1, 2)], [ex(3, S.RUNNING)], AT)
    assert again == []
    done = tracker.update(window(1, 2, 3), [], AT)
    assert kinds(done) == [("FINISHED", "3", "RUNNING")]
    assert tracker.update(window(1, 2, 3), [], AT) == []


def test_a_status_never_goes_back_even_when_a_list_read_a_moment_earlier_says_so() -> None:
    tracker = tracked(window(1, 2, 3))
    # the active list was read just before 3 finished: it still shows it running
    assert tracker.update(window(1, 2, 3), [ex(3, S.RUNNING)], AT) == []
    assert tracker.known[ExecutionKey("a", "3")].status is S.SUCCESS


def test_the_same_execution_in_two_lists_counts_once_at_its_furthest_status() -> None:
    tracker = tracked(window(1, 2))
    changes = tracker.update([ex(3, S.SUCCESS), *window(1, 2)], [ex(3, S.RUNNING)], AT)
    assert kinds(changes) == [("CREATED", "3", None)]
    assert changes[0].execution.status is S.SUCCESS


def test_a_finished_execution_missing_from_inside_the_window_was_deleted() -> None:
    tracker = tracked(window(1, 2, 3, 4, 5))
    changes = tracker.update(window(1, 2, 4, 5), [], AT)
    assert kinds(changes) == [("DELETED", "3", "SUCCESS")]
    assert changes[0].execution.native_id == "3"  # the last state seen
    assert tracker.update(window(1, 2, 4, 5), [], AT) == []


def test_one_sliding_out_of_the_bottom_is_forgotten_not_deleted() -> None:
    tracker = tracked(window(1, 2, 3))
    changes = tracker.update(window(2, 3, 4), [], AT)
    assert kinds(changes) == [("CREATED", "4", None)]
    assert ExecutionKey("a", "1") not in tracker.known


def test_an_older_one_coming_into_view_from_below_is_not_new() -> None:
    # n8n hides running executions from its plain list: when 3 starts running, the page of
    # three reaches one further down and shows 1, which is old
    tracker = tracked([ex(5), ex(4), ex(3, S.PENDING)], [ex(3, S.PENDING)])
    changes = tracker.update([ex(5), ex(4), ex(2)], [ex(3, S.RUNNING)], AT)
    assert kinds(changes) == [("STATUS_CHANGED", "3", "PENDING")]
    assert ExecutionKey("a", "2") in tracker.known  # remembered quietly


def test_an_active_execution_that_leaves_every_list_is_read_directly() -> None:
    tracker = tracked(window(5, 6), [ex(1, S.RUNNING), ex(2, S.WAITING)])
    # both left the active lists and are far below the window: read them
    assert sorted(tracker.vanished(window(5, 6), [])) == ["1", "2"]
    read = {ExecutionKey("a", "1"): ex(1, S.FAILED), ExecutionKey("a", "2"): None}
    changes = tracker.update(window(5, 6), [], AT, read=read)
    assert kinds(changes) == [("DELETED", "2", "WAITING"), ("FINISHED", "1", "RUNNING")]
    assert tracker.vanished(window(5, 6), []) == []  # both forgotten now


def test_a_queued_execution_keeps_the_creation_time_it_was_read_with() -> None:
    tracker = tracked(window(1))
    queued = replace(ex(2, S.PENDING), created_at=None, started_at=None)
    assert tracker.undated([queued, ex(1)], [queued]) == ["2"]
    created = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    read = {ExecutionKey("a", "2"): replace(queued, created_at=created)}
    changes = tracker.update([queued, ex(1)], [queued], AT, read=read)
    assert changes[0].execution.created_at == created
    # next poll: known with its time, nothing to read, and the time stays
    assert tracker.undated([queued, ex(1)], [queued]) == []
    later = tracker.update([replace(queued, status=S.RUNNING), ex(1)], [], AT)
    assert later[0].execution.created_at == created


def test_pages_read_below_a_wholly_new_window_report_only_what_is_new() -> None:
    tracker = tracked(window(1, 2, 3))
    # 4..9 arrived: the window of three holds 7..9, the pages below it 4..6 and then 3, 2
    changes = tracker.update(window(7, 8, 9), [], AT, older=[*window(4, 5, 6), *window(2, 3)])
    assert kinds(changes) == [("CREATED", str(i), None) for i in (4, 5, 6, 7, 8, 9)]


def test_mutations_are_applied_between_polls_and_not_reported_twice() -> None:
    tracker = tracked([ex(4, S.RUNNING), *window(1, 2, 3)], [ex(4, S.RUNNING)])
    cancelled = ex(4, S.CANCELLED)
    applied = tracker.apply({ExecutionKey("a", "4"): cancelled, ExecutionKey("a", "2"): None}, AT)
    assert kinds(applied) == [("DELETED", "2", "SUCCESS"), ("FINISHED", "4", "RUNNING")]
    # the next poll shows the same: nothing new
    assert tracker.update([cancelled, *window(1, 3)], [], AT) == []


def test_apply_before_the_baseline_changes_nothing() -> None:
    assert Tracker().apply({ExecutionKey("a", "1"): ex(1)}, AT) == []


def test_coalesced_changes_keep_the_first_status_and_the_newest_state() -> None:
    created = compare(None, ex(1, S.PENDING), AT)
    running = compare(ex(1, S.PENDING), ex(1, S.RUNNING), AT)
    done = compare(ex(1, S.RUNNING), ex(1, S.SUCCESS), AT)
    assert created is not None and running is not None and done is not None
    both = running.then(done)
    assert (both.type, both.previous, both.execution.status) == (
        ChangeType.FINISHED,
        S.PENDING,
        S.SUCCESS,
    )
    assert created.then(done).type is ChangeType.CREATED
    assert created.then(done).previous is None
    deleted = Change(ChangeType.DELETED, ex(1, S.SUCCESS), S.SUCCESS, AT)
    assert done.then(deleted) is deleted
