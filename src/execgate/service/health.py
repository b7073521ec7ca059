"""A circuit breaker per instance: a backend that keeps failing is skipped at once for a while.

``Circuit`` counts consecutive failures of one instance (no connection, no answer in time, a
5xx, an answer that is not what the API promises). At ``failures`` in a row it opens: every
request to the instance fails at once with ``UpstreamUnavailable`` ("circuit open") and
nothing is sent. After ``cool_down`` seconds one request — only one, however many arrive —
goes through as a probe; its success closes the circuit, its failure opens it again for
another cool-down. Refusals that say nothing about the instance's health (401, 403, 4xx
answers the adapter understands, unknown ids) neither count nor reset.

``GuardedBackend`` puts a circuit in front of any ``Backend``. Feed pages already serve the
other instances when one fails; with its circuit open, the failing instance costs nothing but
an entry in ``skippedInstances``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from execgate.domain.errors import (
    BackendError,
    UpstreamBadResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from execgate.domain.models import (
    BackendKind,
    Capability,
    CostModel,
    Execution,
    ExecutionQuery,
    Page,
    Watch,
    Workflow,
)
from execgate.domain.ports import Backend

T = TypeVar("T")

log = logging.getLogger("execgate.health")

_UNHEALTHY = (UpstreamUnavailable, UpstreamTimeout, UpstreamBadResponse)


class CircuitState(enum.Enum):
    CLOSED = "CLOSED"
    """Requests flow."""
    OPEN = "OPEN"
    """Requests fail at once until the cool-down ends."""
    HALF_OPEN = "HALF_OPEN"
    """One probe is in flight; the others fail at once until it answers."""


@dataclass(frozen=True, slots=True)
class Health:
    """A circuit's state, since when, and the last failure it counted (its message)."""

    state: CircuitState
    since: datetime
    last_error: str | None


class CircuitOpen(UpstreamUnavailable):
    """The instance's circuit is open: nothing was sent."""


class Circuit:
    def __init__(
        self,
        instance: str,
        *,
        failures: int,
        cool_down: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.instance = instance
        self.failures = failures
        self.cool_down = cool_down
        self.clock = clock
        self._state = CircuitState.CLOSED
        self._since = datetime.now(UTC)
        self._changed = clock()
        self._count = 0
        self._probing = False
        self._last_error: str | None = None
        self.last_result: tuple[float, bool] | None = None
        """When the last request that told something about the instance ended, and whether
        it succeeded (``None`` before any)."""

    def health(self) -> Health:
        return Health(self._state, self._since, self._last_error)

    def _move(self, state: CircuitState) -> None:
        if state is not self._state:
            self._state = state
            self._since = datetime.now(UTC)
            self._changed = self.clock()

    def admit(self) -> bool:
        """Whether a request may go; ``True`` means it is the probe or the circuit is closed.

        Raises ``CircuitOpen`` when it may not.
        """
        if self._state is CircuitState.OPEN and self.clock() - self._changed >= self.cool_down:
            self._move(CircuitState.HALF_OPEN)
        if self._state is CircuitState.CLOSED:
            return False
        if self._state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        raise CircuitOpen(
            self.instance,
            f"instance {self.instance!r} is skipped: circuit open after {self._count} failures "
            f"in a row ({self._last_error or 'no answer'})",
        )

    def succeeded(self, probe: bool) -> None:
        if probe:
            self._probing = False
        self._count = 0
        self.last_result = (self.clock(), True)
        if self._state is not CircuitState.CLOSED:
            log.info("instance %r answers again", self.instance, extra={"instance": self.instance})
        self._move(CircuitState.CLOSED)

    def failed(self, error: BackendError, probe: bool) -> None:
        if probe:
            self._probing = False
        self._count += 1
        self._last_error = error.message
        self.last_result = (self.clock(), False)
        if (probe or self._count >= self.failures) and self._state is not CircuitState.OPEN:
            log.warning(
                "instance %r skipped for %gs after %d failures in a row",
                self.instance,
                self.cool_down,
                self._count,
                extra={"instance": self.instance},
            )
        if probe or self._count >= self.failures:
            self._move(CircuitState.OPEN)

    def released(self, probe: bool) -> None:
        """The request ended without telling anything about the instance's health."""
        if probe:
            self._probing = False

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        probe = self.admit()
        try:
            result = await request()
        except _UNHEALTHY as exc:
            self.failed(exc, probe)
            raise
        except BaseException:
            self.released(probe)
            raise
        self.succeeded(probe)
        return result


class GuardedBackend:
    """A ``Backend`` whose every request goes through its instance's ``Circuit``."""

    def __init__(self, inner: Backend, circuit: Circuit) -> None:
        self.inner = inner
        self.circuit = circuit
        self.name = inner.name
        self.kind: BackendKind = inner.kind

    def capabilities(self) -> frozenset[Capability]:
        return self.inner.capabilities()

    def costs(self) -> CostModel:
        return self.inner.costs()

    def position_after(
        self,
        previous: Mapping[str, Any] | None,
        consumed: Sequence[Execution],
        page: Page | None = None,
    ) -> Mapping[str, Any]:
        return self.inner.position_after(previous, consumed, page)

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page:
        return await self.circuit.call(
            lambda: self.inner.list_executions(query, limit=limit, position=position)
        )

    async def watch(self, recent: int) -> Watch:
        return await self.circuit.call(lambda: self.inner.watch(recent))

    async def count_executions(self, query: ExecutionQuery) -> int | None:
        return await self.circuit.call(lambda: self.inner.count_executions(query))

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        return await self.circuit.call(
            lambda: self.inner.get_executions(native_ids, include_nodes=include_nodes)
        )

    async def get_workflows(self, native_ids: Sequence[str]) -> Mapping[str, Workflow]:
        return await self.circuit.call(lambda: self.inner.get_workflows(native_ids))

    async def cancel(self, native_id: str) -> Execution | None:
        return await self.circuit.call(lambda: self.inner.cancel(native_id))

    async def retry(self, native_id: str) -> Execution:
        return await self.circuit.call(lambda: self.inner.retry(native_id))

    async def delete(self, native_id: str) -> None:
        await self.circuit.call(lambda: self.inner.delete(native_id))


class Readiness:
    """Each instance's reachability as its circuit last saw it, for ``/readyz``.

    Asking costs no backend request, except for an instance that no request has told anything
    about for ``quiet_seconds``: it gets one probe (a list of one execution, through its
    circuit), at most one at a time, and the answer after it shows the result. So a probe
    every few seconds reaches each backend at most once per ``quiet_seconds``, and not at all
    while traffic flows.
    """

    def __init__(
        self,
        backends: Mapping[str, GuardedBackend],
        *,
        quiet_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backends = dict(backends)
        self.quiet_seconds = quiet_seconds
        self.clock = clock
        self._probes: dict[str, asyncio.Task[None]] = {}

    def report(self) -> dict[str, dict[str, str]]:
        """Instance → ``{"reachable": "yes" | "no" | "unknown", "circuit": state, "since"}``."""
        found: dict[str, dict[str, str]] = {}
        for name, backend in self.backends.items():
            circuit = backend.circuit
            health = circuit.health()
            last = circuit.last_result
            if health.state is CircuitState.OPEN or (last is not None and not last[1]):
                reachable = "no"
            else:
                reachable = "unknown" if last is None else "yes"
            found[name] = {
                "reachable": reachable,
                "circuit": health.state.value,
                "since": health.since.isoformat(timespec="seconds"),
            }
            if health.state is not CircuitState.OPEN and (
                last is None or self.clock() - last[0] >= self.quiet_seconds
            ):
                self._probe(name, backend)
        return found

    def _probe(self, name: str, backend: GuardedBackend) -> None:
        running = self._probes.get(name)
        if running is not None and not running.done():
            return
        self._probes[name] = asyncio.get_running_loop().create_task(self._read_one(backend))

    @staticmethod
    async def _read_one(backend: GuardedBackend) -> None:
        try:
            await backend.list_executions(ExecutionQuery(), limit=1)
        except Exception:  # the circuit has counted it; the next report shows it
            return

    async def aclose(self) -> None:
        for task in self._probes.values():
            task.cancel()
        await asyncio.gather(*self._probes.values(), return_exceptions=True)
