"""The circuit breaker: open after failures in a row, one probe after the cool-down."""

from __future__ import annotations

import asyncio

import pytest

from execgate.domain.errors import (
    NotFound,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from execgate.domain.models import ExecutionQuery
from execgate.service.cursors import Cursors, FeedState
from execgate.service.feed import read_feed
from execgate.service.health import Circuit, CircuitOpen, CircuitState, GuardedBackend
from tests.fakes import FakeBackend, make_execution

CURSORS = Cursors(b"test-secret", "d")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _circuit(clock: Clock, failures: int = 3, cool_down: float = 10.0) -> Circuit:
    return Circuit("edge", failures=failures, cool_down=cool_down, clock=clock)


async def _fail(error: Exception) -> None:
    raise error


async def _ok() -> str:
    return "ok"


async def test_it_opens_after_failures_in_a_row_and_then_refuses_at_once() -> None:
    clock = Clock()
    circuit = _circuit(clock)
    for _ in range(2):
        with pytest.raises(UpstreamTimeout):
            await circuit.call(lambda: _fail(UpstreamTimeout("edge", "no answer in time")))
    assert circuit.health().state is CircuitState.CLOSED
    with pytest.raises(UpstreamUnavailable):
        await circuit.call(lambda: _fail(UpstreamUnavailable("edge", "refused")))
    health = circuit.health()
    assert health.state is CircuitState.OPEN and health.last_error == "refused"
    called = []

    async def tracked() -> str:
        called.append(1)
        return "ok"

    with pytest.raises(CircuitOpen, match="circuit open after 3 failures") as caught:
        await circuit.call(tracked)
    assert called == [] and caught.value.code == "UPSTREAM_UNAVAILABLE"


async def test_a_success_resets_the_count() -> None:
    circuit = _circuit(Clock())
    for _ in range(5):
        with pytest.raises(UpstreamTimeout):
            await circuit.call(lambda: _fail(UpstreamTimeout("edge", "slow")))
        with pytest.raises(UpstreamTimeout):
            await circuit.call(lambda: _fail(UpstreamTimeout("edge", "slow")))
        assert await circuit.call(_ok) == "ok"
    assert circuit.health().state is CircuitState.CLOSED


async def test_refusals_that_say_nothing_about_health_do_not_count() -> None:
    circuit = _circuit(Clock(), failures=1)
    for error in (UpstreamUnauthorized("edge", "401"), NotFound("no such execution")):
        with pytest.raises(type(error)):
            await circuit.call(lambda error=error: _fail(error))
    assert circuit.health().state is CircuitState.CLOSED


async def test_after_the_cool_down_one_probe_goes_and_the_others_wait() -> None:
    # given an open circuit whose cool-down has passed
    clock = Clock()
    circuit = _circuit(clock, failures=1)
    with pytest.raises(UpstreamTimeout):
        await circuit.call(lambda: _fail(UpstreamTimeout("edge", "slow")))
    clock.now = 10.5
    gate = asyncio.Event()
    sent: list[int] = []

    async def probe(i: int) -> int:
        sent.append(i)
        await gate.wait()
        return i

    # when five requests arrive together
    tasks = [asyncio.ensure_future(circuit.call(lambda i=i: probe(i))) for i in range(5)]
    await asyncio.sleep(0)
    # then one is the probe, the others are refused at once
    assert sent == [0] and circuit.health().state is CircuitState.HALF_OPEN
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == 0
    assert all(isinstance(r, CircuitOpen) for r in results[1:])
    assert circuit.health().state is CircuitState.CLOSED


async def test_a_failed_probe_opens_the_circuit_for_another_cool_down() -> None:
    clock = Clock()
    circuit = _circuit(clock, failures=2)
    for _ in range(2):
        with pytest.raises(UpstreamTimeout):
            await circuit.call(lambda: _fail(UpstreamTimeout("edge", "slow")))
    clock.now = 11.0
    with pytest.raises(UpstreamTimeout):
        await circuit.call(lambda: _fail(UpstreamTimeout("edge", "still slow")))
    assert circuit.health().state is CircuitState.OPEN
    clock.now = 15.0
    with pytest.raises(CircuitOpen):
        await circuit.call(_ok)
    clock.now = 21.5
    assert await circuit.call(_ok) == "ok"


async def test_a_page_skips_an_open_instance_and_serves_the_others() -> None:
    # given two instances, one down with its circuit open
    down = FakeBackend("down", [make_execution("down", "1", minutes=1)])
    down.failure = UpstreamUnavailable("down", "refused")
    up = FakeBackend("up", [make_execution("up", str(i), minutes=i) for i in range(1, 4)])
    guarded_down = GuardedBackend(down, _circuit(Clock(), failures=1))
    query = ExecutionQuery()
    streams = {"down": (guarded_down, query), "up": (GuardedBackend(up, _circuit(Clock())), query)}
    await read_feed(streams, FeedState(), 2, cursors=CURSORS, started=False)
    calls = down.calls
    # when the next page is read
    page = await read_feed(streams, FeedState(), 2, cursors=CURSORS, started=False)
    # then the down instance was not asked again and is reported as skipped
    assert down.calls == calls
    assert [s.instance for s in page.skipped] == ["down"]
    assert "circuit open" in page.skipped[0].error.message
    assert [e.node.native_id for e in page.edges] == ["3", "2"]
