"""The action rules over a fake backend: a lost answer is reported as what a read shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from execgate.domain.errors import UpstreamUnavailable
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import Capability, Execution, ExecutionStatus
from execgate.service import actions
from tests.fakes import FakeBackend, make_execution


def _lost(instance: str) -> UpstreamUnavailable:
    error = UpstreamUnavailable(instance, "connection reset after sending")
    error.outcome_unknown = True
    return error


class Acting(FakeBackend):
    """Acts on every request, then loses the answer; ``reads_fail`` spoils the reads after."""

    def __init__(self, *executions: Execution, lands: bool = True) -> None:
        super().__init__("a", executions)
        self.lands = lands
        self.sent: list[str] = []
        self.reads_fail = False

    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.CANCEL, Capability.RETRY, Capability.DELETE})

    async def get_executions(self, native_ids, *, include_nodes):  # type: ignore[no-untyped-def]
        if self.reads_fail:
            raise UpstreamUnavailable(self.name, "still unreachable")
        return await super().get_executions(native_ids, include_nodes=include_nodes)

    async def cancel(self, native_id: str) -> Execution | None:
        self.sent.append(f"cancel {native_id}")
        if self.lands:
            self.items[native_id] = replace(self.items[native_id], status=ExecutionStatus.CANCELLED)
        raise _lost(self.name)

    async def delete(self, native_id: str) -> None:
        self.sent.append(f"delete {native_id}")
        if self.lands:
            del self.items[native_id]
        raise _lost(self.name)

    async def retry(self, native_id: str) -> Execution:
        self.sent.append(f"retry {native_id}")
        if self.lands:
            new = make_execution("a", "99", minutes=0, status=ExecutionStatus.SUCCESS)
            self.items["99"] = replace(new, retry_of=native_id, started_at=datetime.now(UTC))
        raise _lost(self.name)


def _read(backend: FakeBackend):  # type: ignore[no-untyped-def]
    async def read(key: ExecutionKey) -> Execution | None:
        return backend.items.get(key.native_id)

    return read


KEY = ExecutionKey("a", "1")
RUNNING = ExecutionStatus.RUNNING


@pytest.mark.parametrize("lands", [True, False])
async def test_a_lost_cancel_is_reported_by_what_a_read_shows(lands: bool) -> None:
    backend = Acting(make_execution("a", "1", minutes=0, status=RUNNING), lands=lands)
    outcome = await actions.cancel(backend, KEY, _read(backend))
    assert backend.sent == ["cancel 1"]
    assert outcome.code == ("OK" if lands else "OUTCOME_UNKNOWN")


async def test_a_lost_cancel_of_an_execution_that_finished_meanwhile_is_not_cancellable() -> None:
    backend = Acting(make_execution("a", "1", minutes=0, status=RUNNING), lands=False)
    read = _read(backend)

    async def finishing(key: ExecutionKey) -> Execution | None:
        found = await read(key)
        backend.items["1"] = replace(backend.items["1"], status=ExecutionStatus.SUCCESS)
        return found

    outcome = await actions.cancel(backend, KEY, finishing)
    assert outcome.code == "NOT_CANCELLABLE"
    assert outcome.error is not None and "finished as SUCCESS" in outcome.error.message


@pytest.mark.parametrize("lands", [True, False])
async def test_a_lost_delete_is_done_when_the_execution_is_gone(lands: bool) -> None:
    backend = Acting(make_execution("a", "1", minutes=0), lands=lands)
    outcome = await actions.delete(backend, KEY, _read(backend))
    assert backend.sent == ["delete 1"]
    assert outcome.code == ("OK" if lands else "OUTCOME_UNKNOWN")


@pytest.mark.parametrize("lands", [True, False])
async def test_a_lost_retry_is_found_among_the_workflows_recent_executions(lands: bool) -> None:
    failed = make_execution("a", "1", minutes=0, status=ExecutionStatus.FAILED)
    backend = Acting(failed, lands=lands)
    outcome = await actions.retry(backend, KEY, _read(backend), force=False)
    assert backend.sent == ["retry 1"]
    if lands:
        assert outcome.ok and outcome.retry is not None and outcome.retry.native_id == "99"
    else:
        assert outcome.code == "OUTCOME_UNKNOWN"


async def test_an_older_retry_of_the_same_execution_is_not_taken_for_this_one() -> None:
    failed = make_execution("a", "1", minutes=0, status=ExecutionStatus.FAILED)
    older = replace(make_execution("a", "5", minutes=-600), retry_of="1")
    backend = Acting(failed, older, lands=False)
    backend.items["5"] = replace(older, started_at=older.started_at - timedelta(days=1))
    outcome = await actions.retry(backend, KEY, _read(backend), force=True)
    assert outcome.code == "OUTCOME_UNKNOWN"


@pytest.mark.parametrize("action", ["cancel", "delete", "retry"])
async def test_when_the_read_fails_too_the_outcome_is_unknown_and_nothing_is_sent_again(
    action: str,
) -> None:
    status = ExecutionStatus.FAILED if action == "retry" else ExecutionStatus.RUNNING
    if action == "delete":
        status = ExecutionStatus.SUCCESS
    backend = Acting(make_execution("a", "1", minutes=0, status=status))
    read = _read(backend)
    backend.reads_fail = True
    if action == "retry":
        outcome = await actions.retry(backend, KEY, read, force=False)
    else:
        outcome = await getattr(actions, action)(backend, KEY, read)
    assert backend.sent == [f"{action} 1"]
    assert outcome.code == "OUTCOME_UNKNOWN"
    assert outcome.error is not None and "read it again" in outcome.error.message
