"""The gateway's audit trail and what it tells the API about its instances."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from execgate.domain.access import Action, Scope
from execgate.domain.errors import NotFound
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import BackendKind, Capability, ExecutionStatus
from execgate.domain.ports import AuditEntry
from execgate.service.actions import ActionTarget
from execgate.service.gateway import Gateway
from tests.fakes import FakeBackend, make_execution


class Audit:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


def _gateway(audit: Audit, scope: Scope | None = None) -> Gateway:
    backends = {
        "acme": FakeBackend(
            "acme",
            [
                make_execution("acme", "1", minutes=1, status=ExecutionStatus.RUNNING),
                make_execution("acme", "2", minutes=2),
            ],
        ),
        "n8n": FakeBackend("n8n", [], kind=BackendKind.N8N),
    }
    ticks = itertools.count()
    gateway = Gateway(backends, audit=audit, clock=lambda: next(ticks) * 0.002)
    return gateway if scope is None else gateway.scoped(scope)


def _target(instance: str, native_id: str) -> ActionTarget:
    return ActionTarget(f"gid:{instance}:{native_id}", ExecutionKey(instance, native_id))


async def _read(key: ExecutionKey) -> Any:
    return make_execution(key.instance, key.native_id, minutes=1, status=ExecutionStatus.RUNNING)


def _lines(audit: Audit) -> list[tuple[str, str, str | None, str | None, str]]:
    return [(e.client, e.action, e.execution_id, e.instance, e.outcome) for e in audit.entries]


async def test_every_attempt_is_audited_once_whatever_its_outcome() -> None:
    # given
    audit = Audit()
    ops = _gateway(audit, Scope.of("ops", ["acme"], [Action.READ, Action.CANCEL]))

    # when: done, refused by the backend's rules, forbidden, hidden, not an ID
    await ops.perform(Action.CANCEL, _target("acme", "1"), _read)
    await ops.perform(Action.RETRY, _target("acme", "1"), _read)
    await ops.perform(Action.CANCEL, _target("n8n", "5"), _read)
    await ops.perform(Action.CANCEL, ActionTarget("nonsense", None, "'nonsense' is no ID"), _read)

    # then
    assert _lines(audit) == [
        ("ops", "cancel", "gid:acme:1", "acme", "OK"),
        ("ops", "retry", "gid:acme:1", "acme", "FORBIDDEN"),
        ("ops", "cancel", "gid:n8n:5", "n8n", "NOT_FOUND"),
        ("ops", "cancel", "nonsense", None, "INVALID_ID"),
    ]
    assert [e.latency_ms for e in audit.entries] == pytest.approx([2.0] * 4)


async def test_an_invalid_id_reaches_no_backend_and_says_why() -> None:
    audit = Audit()
    gateway = _gateway(audit)

    outcome = await gateway.perform(
        Action.DELETE, ActionTarget("x", None, "'x' is not an execgate ID"), _read
    )

    assert outcome.error is not None and outcome.error.message == "'x' is not an execgate ID"
    assert outcome.code == "INVALID_ID"
    assert all(b.calls == 0 for b in gateway.backends.values())  # type: ignore[attr-defined]


async def test_an_attempt_that_fails_unexpectedly_is_still_audited() -> None:
    audit = Audit()
    gateway = _gateway(audit)

    async def broken(key: ExecutionKey) -> Any:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        await gateway.perform(Action.CANCEL, _target("acme", "1"), broken)

    assert _lines(audit) == [("anonymous", "cancel", "gid:acme:1", "acme", "INTERNAL_SERVER_ERROR")]


def test_attempts_refused_before_the_service_are_audited_with_their_code() -> None:
    audit = Audit()
    gateway = _gateway(audit, Scope.full("dash"))

    gateway.refused(
        Action.DELETE,
        [_target("acme", "1"), ActionTarget(None, None, "no ID")],
        "QUERY_TOO_EXPENSIVE",
    )

    assert _lines(audit) == [
        ("dash", "delete", "gid:acme:1", "acme", "QUERY_TOO_EXPENSIVE"),
        ("dash", "delete", None, None, "QUERY_TOO_EXPENSIVE"),
    ]
    assert [e.latency_ms for e in audit.entries] == [0.0, 0.0]


async def test_without_an_audit_sink_nothing_is_written() -> None:
    gateway = Gateway({"acme": FakeBackend("acme", [make_execution("acme", "1", minutes=1)])})
    outcome = await gateway.perform(Action.DELETE, _target("acme", "1"), _read)
    gateway.refused(Action.DELETE, [_target("acme", "1")], "BAD_USER_INPUT")
    assert outcome.code == "UNSUPPORTED"


def test_the_api_asks_for_kinds_capabilities_and_costs_within_its_scope() -> None:
    gateway = _gateway(Audit(), Scope.of("ops", ["n8n"], [Action.READ]))

    assert gateway.kinds() == {"n8n": BackendKind.N8N}
    assert gateway.capabilities("n8n") == frozenset({Capability.CANCEL})
    assert gateway.costs() == {"n8n": gateway.backends["n8n"].costs()}
    with pytest.raises(NotFound):
        gateway.capabilities("acme")
