"""``/readyz``'s view of each instance: from its circuit, probing only quiet instances."""

from __future__ import annotations

import asyncio
import contextlib

from execgate.domain.errors import UpstreamUnavailable
from execgate.domain.models import ExecutionQuery
from execgate.service.health import Circuit, GuardedBackend, Readiness
from tests.fakes import FakeBackend, make_execution
from tests.service.test_health import Clock


def _world(clock: Clock) -> tuple[FakeBackend, GuardedBackend, Readiness]:
    fake = FakeBackend("edge", [make_execution("edge", "1", minutes=5)])
    guarded = GuardedBackend(fake, Circuit("edge", failures=2, cool_down=60.0, clock=clock))
    return fake, guarded, Readiness({"edge": guarded}, quiet_seconds=30.0, clock=clock)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_instance_nobody_asked_is_probed_once_then_known() -> None:
    clock = Clock()
    fake, _, readiness = _world(clock)
    assert readiness.report()["edge"]["reachable"] == "unknown"
    assert readiness.report()["edge"]["reachable"] == "unknown"  # the probe is still running
    await _settle()
    assert fake.calls == 1
    # many probes within the quiet period reach the backend no more
    for _ in range(20):
        assert readiness.report()["edge"]["reachable"] == "yes"
    await _settle()
    assert fake.calls == 1
    # once it has been quiet that long, one more probe
    clock.now += 31
    readiness.report()
    await _settle()
    assert fake.calls == 2
    await readiness.aclose()


async def test_traffic_keeps_probes_away() -> None:
    clock = Clock()
    fake, guarded, readiness = _world(clock)
    await guarded.list_executions(fake_query(), limit=5)
    for _ in range(10):
        clock.now += 10
        await guarded.list_executions(fake_query(), limit=5)
        assert readiness.report()["edge"]["reachable"] == "yes"
    await _settle()
    assert fake.calls == 11  # the requests themselves, no probe


async def test_failures_show_and_an_open_circuit_is_not_probed() -> None:
    clock = Clock()
    fake, guarded, readiness = _world(clock)
    fake.failure = UpstreamUnavailable("edge", "refused")
    for _ in range(2):
        with contextlib.suppress(UpstreamUnavailable):
            await guarded.list_executions(fake_query(), limit=1)
    report = readiness.report()["edge"]
    assert report == {"reachable": "no", "circuit": "OPEN", "since": report["since"]}
    clock.now += 45  # quiet, but the circuit decides when to try again
    readiness.report()
    await _settle()
    assert fake.calls == 2
    await readiness.aclose()


def fake_query() -> ExecutionQuery:
    return ExecutionQuery()
