"""A subscriber's mailbox: bounded, coalescing per execution, never blocking the poller."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from execgate.domain.errors import UpstreamUnavailable
from execgate.domain.live import Change, ChangeType, Notice
from execgate.domain.models import ExecutionStatus
from execgate.service.changes import compare
from execgate.service.mailbox import Closed, Mailbox
from tests.fakes import make_execution

S = ExecutionStatus
AT = datetime(2026, 6, 1, tzinfo=UTC)


def move(native_id: int, before: S | None, after: S) -> Change:
    old = None if before is None else make_execution("a", str(native_id), minutes=1, status=before)
    change = compare(old, make_execution("a", str(native_id), minutes=1, status=after), AT)
    assert change is not None
    return change


async def test_a_slow_reader_gets_the_newest_state_per_execution_in_first_change_order() -> None:
    box = Mailbox(capacity=10)
    box.put(move(1, None, S.PENDING))
    box.put(move(2, S.PENDING, S.RUNNING))
    box.put(move(1, S.PENDING, S.RUNNING))
    box.put(move(2, S.RUNNING, S.SUCCESS))
    box.put(move(1, S.RUNNING, S.FAILED))
    first, second = await box.get(), await box.get()
    assert isinstance(first, Change) and isinstance(second, Change)
    assert (first.execution.native_id, first.type, first.execution.status) == (
        "1",
        ChangeType.CREATED,
        S.FAILED,
    )
    assert (second.execution.native_id, second.type, second.previous) == (
        "2",
        ChangeType.FINISHED,
        S.PENDING,
    )
    assert len(box) == 0


async def test_it_never_holds_more_than_its_capacity_and_says_what_it_dropped() -> None:
    box = Mailbox(capacity=3)
    for number in range(10):
        box.put(move(number, None, S.PENDING))
    assert len(box) == 3
    notice = await box.get()
    assert isinstance(notice, Notice) and notice.dropped == 7
    rest = [await box.get() for _ in range(3)]
    assert [c.execution.native_id for c in rest if isinstance(c, Change)] == ["7", "8", "9"]


async def test_notices_are_kept_per_instance_newest_first_out_in_order() -> None:
    box = Mailbox()
    box.put(Notice("a", UpstreamUnavailable("a", "refused"), retry_in=2))
    box.put(Notice("a", UpstreamUnavailable("a", "refused again"), retry_in=4))
    box.put(move(1, None, S.PENDING))
    notice = await box.get()
    assert isinstance(notice, Notice) and notice.retry_in == 4
    assert isinstance(await box.get(), Change)


async def test_a_waiting_reader_wakes_on_put_and_ends_on_close() -> None:
    box = Mailbox()
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    assert not reader.done()
    box.put(move(1, None, S.PENDING))
    assert isinstance(await asyncio.wait_for(reader, 1), Change)
    box.close()
    box.put(move(2, None, S.PENDING))  # ignored once closed
    with pytest.raises(Closed):
        await asyncio.wait_for(box.get(), 1)
