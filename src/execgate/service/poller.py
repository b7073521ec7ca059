"""The live poll of one instance: one task, whatever the number of subscribers.

Every ``interval`` seconds (measured from the start of the last poll) a ``Poller`` asks its
instance what it holds now with ``Backend.watch`` — the newest ``recent`` executions and the
active ones, the fewest requests the instance's API allows (``CostModel.watch_reads``) — and
hands what changed since the last poll (``changes.Tracker``) to ``publish``. Only now and then
does a poll read more: an active execution that left the active lists far below the newest
page is read directly (it finished, or was deleted), an n8n execution listed as queued is read
once for its creation time (n8n lists leave it out), and when every execution of the newest
page is new the pages below it are read until a known one shows (at most ``CATCH_UP_PAGES``).

When a poll fails (the instance is down, times out, answers garbage, or its circuit is open),
nothing is diffed: the poller waits ``interval * 2 ** (failures - 1)`` seconds, at most
``MAX_BACKOFF_SECONDS`` (or the interval, if that is longer), and tries again; the first failure
of an outage is published as a ``Notice``. The next successful poll diffs against what was
seen before the outage, so what changed meanwhile is published then.

When replicas share the poll (``service/live.py``), a replica whose poll another one runs
clears ``polling``: its poller then waits, without asking the instance anything, until that
replica is gone or stops. ``every_poll`` publishes after every poll, changes or not (the
replica that polls passes its tracker's state on each time); ``report`` hears each poll's
outcome (``ok``, the error code in lower case, or ``error``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from execgate.domain.errors import BackendError
from execgate.domain.keys import ExecutionKey
from execgate.domain.live import Change, Notice
from execgate.domain.models import Execution, ExecutionQuery, Watch
from execgate.domain.ports import Backend
from execgate.service.changes import Tracker

log = logging.getLogger("execgate.live")

RECENT = 50
"""Executions of the newest page each poll reads (a team-style page holds at most 100)."""
CATCH_UP_PAGES = 4
"""Pages read below the newest when all of it is new (more started than it holds)."""
UNDATED_READS = 25
"""Executions a poll reads for their creation time, at most."""
MAX_BACKOFF_SECONDS = 30.0

Publish = Callable[[str, Sequence[Change | Notice]], None]
Report = Callable[[str, str], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Poller:
    def __init__(
        self,
        name: str,
        backend: Backend,
        *,
        interval: float,
        publish: Publish,
        recent: int = RECENT,
        now: Callable[[], datetime] = utcnow,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.backend = backend
        self.interval = interval
        self.publish = publish
        self.recent = recent
        self.now = now
        self.clock = clock
        self.sleep = sleep
        self.tracker = Tracker()
        self.failures = 0
        """Polls failed in a row."""
        self.polls = 0
        """Polls that succeeded."""
        self.calls = 0
        """Backend requests made by polls and refreshes."""
        self.settled = asyncio.Event()
        """Set once the first poll has ended, well or not."""
        self.polling = asyncio.Event()
        """Set while this poller polls; cleared while another replica polls the instance."""
        self.polling.set()
        self.every_poll = False
        """Publish after every poll, even one that found no change."""
        self.report: Report | None = None
        """Told of each poll's outcome (metrics)."""
        self._lock = asyncio.Lock()

    def backoff(self) -> float:
        """Seconds to wait after the current run of failures."""
        ceiling = max(self.interval, MAX_BACKOFF_SECONDS)
        return float(min(self.interval * 2 ** max(0, self.failures - 1), ceiling))

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await self.polling.wait()
            started = self.clock()
            wait = self.interval
            outcome = "ok"
            try:
                await self.poll_once()
            except BackendError as exc:
                outcome = exc.code.lower()
                self.failures += 1
                wait = self.backoff()
                log.warning(
                    "live poll of instance %r failed (%s); next try in %.1f s",
                    self.name,
                    exc.code,
                    wait,
                )
                if self.failures == 1:
                    self.publish(self.name, [Notice(self.name, exc, retry_in=wait)])
            except Exception:
                outcome = "error"
                self.failures += 1
                wait = self.backoff()
                log.exception("live poll of instance %r failed unexpectedly", self.name)
            else:
                if self.failures:
                    log.warning("live poll of instance %r answers again", self.name)
                self.failures = 0
            finally:
                self.settled.set()
            if self.report is not None:
                self.report(self.name, outcome)
            await self.sleep(max(0.0, started + wait - self.clock()))

    async def poll_once(self) -> None:
        """One poll: read, diff, publish (``BackendError`` when the instance failed)."""
        async with self._lock:
            changes = await self._poll()
        self.polls += 1
        if changes or self.every_poll:
            self.publish(self.name, changes)

    async def _poll(self) -> list[Change]:
        watch = await self.backend.watch(self.recent)
        self.calls += watch.calls
        tracker = self.tracker
        older = await self._catch_up(watch) if self._gap(watch) else ()
        wanted = tracker.vanished(watch.recent, (*older, *watch.active))
        wanted += tracker.undated(watch.recent, watch.active)[:UNDATED_READS]
        read = await self._read(list(dict.fromkeys(wanted)))
        return tracker.update(watch.recent, watch.active, self.now(), read=read, older=older)

    def _gap(self, watch: Watch) -> bool:
        """Whether executions may hide between this page and the last (none of it is known)."""
        window = set(self.tracker.window)
        return (
            self.tracker.started
            and bool(window)
            and watch.more
            and not any(e.key in window for e in watch.recent)
        )

    async def _catch_up(self, watch: Watch) -> tuple[Execution, ...]:
        window = set(self.tracker.window)
        found: list[Execution] = []
        position = self.backend.position_after(None, watch.recent)
        for _ in range(CATCH_UP_PAGES):
            page = await self.backend.list_executions(
                ExecutionQuery(), limit=self.recent, position=position
            )
            self.calls += page.calls
            found.extend(page.items)
            if page.position is None or any(e.key in window for e in page.items):
                break
            position = page.position
        if not any(e.key in window for e in found):
            log.warning(
                "more than %d executions started on instance %r within one poll interval; "
                "some may have been reported late or not at all",
                self.recent * (1 + CATCH_UP_PAGES),
                self.name,
            )
        return tuple(found)

    async def _read(self, native_ids: list[str]) -> dict[ExecutionKey, Execution | None]:
        if not native_ids:
            return {}
        found = await self.backend.get_executions(native_ids, include_nodes=False)
        self.calls += len(native_ids)
        return {ExecutionKey(self.name, i): found.get(i) for i in native_ids}

    async def refresh(
        self,
        found: dict[ExecutionKey, Execution | None] | None = None,
        *,
        read: Sequence[str] = (),
        publish: Publish | None = None,
    ) -> None:
        """Publish at once what a mutation changed: ``found`` as known (``None``: deleted),
        and the executions ``read`` as read now (to ``publish``, when given, instead of the
        poll's). Before the first poll there is nothing to compare with, and the poll itself
        will see it."""
        async with self._lock:
            if not self.tracker.started:
                return
            known = dict(found or {})
            known.update(await self._read(list(read)))
            changes = self.tracker.apply(known, self.now())
        if changes:
            (publish or self.publish)(self.name, changes)
