"""The service facade the API layer calls: instances, the merged feed, batched reads.

It validates arguments up front (page size, instance names, cursor), fans out to the backends
named in the filter, and leaves rendering to the API layer.

``Gateway.scoped(scope)`` is the view one client gets: only the backends of its instances (the
others answer exactly as if they were not configured) and only its actions. Reads need
``Action.READ``; ``perform`` refuses an action the scope lacks before any backend is asked.

Every mutation attempt is written once to the audit trail (the ``AuditSink`` port): by
``perform``, whatever its outcome, or by ``refused`` for attempts refused before they reached
it (the operation's limits, too many ids).

Live changes (``watch``, ``watch_execution``) come from the ``LiveHub`` every view shares:
a subscription sees only its scope's instances, narrowed by its filter like a feed page, and
an action done through ``perform`` reaches subscribers at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from execgate.domain.access import Action, Scope
from execgate.domain.errors import (
    BackendError,
    Forbidden,
    InvalidArgument,
    NotFound,
    UnknownInstance,
    Unsupported,
    shown,
)
from execgate.domain.keys import ExecutionKey, WorkflowKey
from execgate.domain.live import Change
from execgate.domain.models import (
    BackendKind,
    Capability,
    CostModel,
    Execution,
    ExecutionQuery,
    ExecutionStatus,
    Instance,
    Workflow,
)
from execgate.domain.ports import AuditEntry, AuditSink, Backend
from execgate.domain.stats import StatsAnswer, StatsDimension, Window
from execgate.service import actions
from execgate.service.actions import (
    ActionError,
    ActionErrorCode,
    ActionOutcome,
    ActionTarget,
    Reader,
)
from execgate.service.cursors import PROCESS_SECRET, Cursors, FeedState, filter_digest
from execgate.service.export import merged
from execgate.service.feed import FeedPage, SkippedInstance, read_feed
from execgate.service.health import Circuit, Health
from execgate.service.live import LiveHub, Subscriber
from execgate.service.masking import Masker
from execgate.service.normalise import normalise_error
from execgate.service.segments import ERROR_STATUSES
from execgate.service.stats import StatsCache, StatsRequest, active_statuses
from execgate.service.stats import answer as stats_answer

DEFAULT_STATS_WINDOW = timedelta(hours=24)
"""The window of statistics whose filter has no ``startedAfter``: this long before
``startedBefore`` (or now)."""
MAX_BUCKETS = 10_000


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """A client's filter, before it is narrowed to each backend."""

    instances: tuple[str, ...] | None = None
    workflow: WorkflowKey | None = None
    statuses: frozenset[ExecutionStatus] = field(default_factory=frozenset)
    started_after: datetime | None = None
    started_before: datetime | None = None
    workflow_id: str | None = None
    """A workflow's native id, matched on every selected instance (the MCP tools'
    ``workflowId`` without an instance); ``workflow`` names one workflow of one instance."""

    def digest(self) -> str:
        fields = {
            "i": sorted(self.instances) if self.instances is not None else None,
            "w": list(self.workflow) if self.workflow else None,
            "s": sorted(s.value for s in self.statuses),
            "a": self.started_after.isoformat() if self.started_after else None,
            "b": self.started_before.isoformat() if self.started_before else None,
        }
        if self.workflow_id is not None:
            # Only when set, so the cursors of filters without it keep their digest.
            fields["n"] = self.workflow_id
        return filter_digest(fields)


def _check_dates(feed_filter: FeedFilter) -> None:
    after, before = feed_filter.started_after, feed_filter.started_before
    if after and before and after > before:
        raise InvalidArgument("'startedAfter' is later than 'startedBefore'")


_VERBS = {Action.CANCEL: "cancel", Action.RETRY: "retry", Action.DELETE: "delete"}


class Gateway:
    """All instances behind one facade. ``max_first`` bounds the page size a client may ask;
    ``audit`` receives one entry per mutation attempt (none are written without it)."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        *,
        max_first: int = 100,
        scope: Scope | None = None,
        redact: Callable[[str], str] | None = None,
        cursor_secret: bytes = PROCESS_SECRET,
        audit: AuditSink | None = None,
        clock: Callable[[], float] = time.perf_counter,
        circuits: Mapping[str, Circuit] | None = None,
        bulk: Mapping[str, Backend] | None = None,
        stats_cache: StatsCache | None = None,
        masker: Masker | None = None,
        max_stats_executions: int = 200_000,
        now: Callable[[], datetime] | None = None,
        live: LiveHub | None = None,
    ) -> None:
        self.scope = scope or Scope.full()
        self.cursor_secret = cursor_secret
        """Authenticates cursors (``service.cursors``)."""
        self.backends = {n: b for n, b in backends.items() if self.scope.sees(n)}
        self.max_first = max_first
        self.redact = redact
        """Cleans messages a backend may have written (skipped instances, refused actions)."""
        self.audit = audit
        self.clock = clock
        """Measures an attempt's latency for the audit trail (seconds)."""
        self.circuits = {n: c for n, c in (circuits or {}).items() if n in self.backends}
        """Each instance's circuit breaker, where it has one (``service.health``)."""
        self.bulk = {n: b for n, b in (bulk or backends).items() if n in self.backends}
        """The backends for reads of many executions (statistics, exports): the same
        instances without the execution cache, which such reads would only churn."""
        self.stats_cache = stats_cache
        """Statistics' segments, shared by every scope (``None``: each answer reads in full)."""
        self.masker = masker
        """Masks exported strings (and the error messages statistics group by)."""
        self.max_stats_executions = max_stats_executions
        self.now = now or _utcnow
        """The wall clock (statistics' default window, exports' ``days``)."""
        self.live = live
        """The pollers behind live subscriptions (shared by every scoped view)."""

    def scoped(self, scope: Scope, *, max_first: int | None = None) -> Gateway:
        """The view of this gateway that ``scope`` allows (never wider than this one), with
        its own page bound when ``max_first`` is given (the MCP tools allow 250)."""
        return Gateway(
            self.backends,
            max_first=self.max_first if max_first is None else max_first,
            scope=self.scope.narrowed(scope),
            redact=self.redact,
            cursor_secret=self.cursor_secret,
            audit=self.audit,
            clock=self.clock,
            circuits=self.circuits,
            bulk=self.bulk,
            stats_cache=self.stats_cache,
            masker=self.masker,
            max_stats_executions=self.max_stats_executions,
            now=self.now,
            live=self.live,
        )

    def health(self, name: str) -> Health | None:
        """The instance's circuit: its state, since when, its last failure (cleaned like any
        backend message); ``None`` when it has no circuit or this view lacks it."""
        circuit = self.circuits.get(name)
        if circuit is None:
            return None
        health = circuit.health()
        if self.redact is not None and health.last_error is not None:
            health = replace(health, last_error=self.redact(health.last_error))
        return health

    def _clean_page(self, page: FeedPage) -> FeedPage:
        """The page with every backend's words cleaned: the skipped instances' errors (code
        kept) and the reasons of records that could not be read."""
        redact = self.redact
        if redact is None or not (page.skipped or page.unreadable):
            return page
        skipped = [
            SkippedInstance(s.instance, _reworded(s.error, redact(s.error.message)))
            for s in page.skipped
        ]
        unreadable = tuple(replace(u, reason=redact(u.reason)) for u in page.unreadable)
        return replace(page, skipped=tuple(skipped), unreadable=unreadable)

    def _clean_outcome(self, outcome: ActionOutcome) -> ActionOutcome:
        if self.redact is None or outcome.error is None:
            return outcome
        error = ActionError(outcome.error.code, self.redact(outcome.error.message))
        return replace(outcome, error=error)

    def allows(self, action: Action) -> bool:
        return self.scope.allows(action)

    def _require_read(self) -> None:
        if not self.scope.allows(Action.READ):
            raise Forbidden(f"client {self.scope.client!r} may not read executions")

    def instances(self) -> list[Instance]:
        return [Instance(name, b.kind) for name, b in sorted(self.backends.items())]

    def instance(self, name: str) -> Instance | None:
        backend = self.backends.get(name)
        return None if backend is None else Instance(name, backend.kind)

    def backend(self, name: str) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            raise NotFound(f"no instance named {shown(name)}") from None

    def kinds(self) -> dict[str, BackendKind]:
        """Instance name → kind, for every instance this view sees."""
        return {name: backend.kind for name, backend in self.backends.items()}

    def capabilities(self, name: str) -> frozenset[Capability]:
        """What the instance ``name`` can do now (``NotFound`` when this view lacks it)."""
        return self.backend(name).capabilities()

    def costs(self) -> dict[str, CostModel]:
        """Instance name → what its reads cost, for every instance this view sees."""
        return {name: backend.costs() for name, backend in self.backends.items()}

    def _selected(self, feed_filter: FeedFilter) -> list[str]:
        names = sorted(self.backends)
        if feed_filter.instances is not None:
            unknown = sorted(set(feed_filter.instances) - set(names))
            if unknown:
                raise UnknownInstance(
                    f"unknown instance(s): {', '.join(shown(u) for u in unknown[:5])}"
                    f"{'…' if len(unknown) > 5 else ''}; known: {', '.join(names)}"
                )
            names = [n for n in names if n in feed_filter.instances]
        if feed_filter.workflow is not None:
            names = [n for n in names if n == feed_filter.workflow.instance]
            if feed_filter.workflow.instance not in self.backends:
                raise NotFound("no such workflow")
        return names

    def _query(self, feed_filter: FeedFilter, include_nodes: bool) -> ExecutionQuery:
        return ExecutionQuery(
            statuses=feed_filter.statuses,
            workflow_id=(
                feed_filter.workflow.native_id if feed_filter.workflow else feed_filter.workflow_id
            ),
            started_after=feed_filter.started_after,
            started_before=feed_filter.started_before,
            include_nodes=include_nodes,
        )

    def estimate_feed(
        self, feed_filter: FeedFilter, *, first: int, resuming: bool, include_nodes: bool
    ) -> int:
        """Backend requests one page of ``first`` would make at most, by what each selected
        adapter states of its reads (``Backend.costs``): its list requests, and one detail
        read per execution where node data needs one. ``UnknownInstance`` like ``feed``."""
        models = [self.backends[name].costs() for name in self._selected(feed_filter)]
        statuses = [s.value for s in feed_filter.statuses]
        dated = feed_filter.started_after is not None or feed_filter.started_before is not None
        cost = sum(m.list_reads(first, statuses, dated=dated, resuming=resuming) for m in models)
        if include_nodes:
            cost += first * max((m.detail_reads for m in models), default=0)
        return cost

    def check_first(self, first: int | None) -> int:
        if first is None:
            raise InvalidArgument(f"'first' is required (1..{self.max_first})")
        if first < 1 or first > self.max_first:
            raise InvalidArgument(f"'first' must be between 1 and {self.max_first}, got {first}")
        return first

    async def feed(
        self,
        feed_filter: FeedFilter,
        *,
        first: int | None,
        after: str | None,
        include_nodes: bool,
    ) -> FeedPage:
        self._require_read()
        size = self.check_first(first)
        _check_dates(feed_filter)
        names = self._selected(feed_filter)
        cursors = Cursors(self.cursor_secret, feed_filter.digest())
        state = cursors.decode(after) if after is not None else FeedState()
        query = self._query(feed_filter, include_nodes)
        streams = {name: (self.backends[name], query) for name in names}
        page = await read_feed(streams, state, size, cursors=cursors, started=after is not None)
        return self._clean_page(page)

    def watch(self, feed_filter: FeedFilter) -> Subscriber:
        """Live changes to the executions ``feed_filter`` selects, on this view's instances
        (validated and scoped like ``feed``); ``TooManySubscriptions`` over the client's
        limit. The caller closes the subscriber."""
        self._require_read()
        _check_dates(feed_filter)
        names = self._selected(feed_filter)
        query = self._query(feed_filter, include_nodes=False)

        def wants(change: Change) -> bool:
            return query.matches(change.execution)

        return self._hub().subscribe(names, wants, client=self.scope.client)

    def watch_execution(self, key: ExecutionKey) -> Subscriber:
        """Live changes to one execution (``NotFound`` for one outside this view)."""
        self._require_read()
        if key.instance not in self.backends:
            raise NotFound("the execution does not exist")

        def wants(change: Change) -> bool:
            return change.key == key

        return self._hub().subscribe([key.instance], wants, client=self.scope.client)

    def _hub(self) -> LiveHub:
        if self.live is None:
            raise Unsupported("live subscriptions are not served by this gateway")
        return self.live

    async def count(self, feed_filter: FeedFilter) -> int | None:
        """Exact total when every selected instance reports one, else ``None``."""
        self._require_read()
        names = self._selected(feed_filter)
        query = self._query(feed_filter, include_nodes=False)
        try:
            totals = await asyncio.gather(
                *(self.backends[n].count_executions(query) for n in names)
            )
        except BackendError:
            return None
        if any(t is None for t in totals):
            return None
        return sum(t for t in totals if t is not None)

    # --- statistics ---------------------------------------------------------------------------

    def stats_window(self, feed_filter: FeedFilter) -> Window:
        """The executions statistics cover: the filter's dates, or the day before its end."""
        before = feed_filter.started_before
        after = feed_filter.started_after
        if after is None:
            after = (before or self.now()) - DEFAULT_STATS_WINDOW
        if before is not None and after > before:
            raise InvalidArgument("'startedAfter' is later than 'startedBefore'")
        return Window(after.astimezone(UTC), before.astimezone(UTC) if before else None)

    def normalise(self, message: str) -> str:
        """An error message as statistics group it: normalised, then masked."""
        text = normalise_error(message)
        return self.masker.text(text) if self.masker is not None else text

    async def stats(
        self,
        feed_filter: FeedFilter,
        group_by: Sequence[StatsDimension],
        *,
        max_buckets: int = 1000,
    ) -> StatsAnswer:
        """Statistics over the executions ``feed_filter`` selects (``service/stats.py``)."""
        self._require_read()
        if not 1 <= max_buckets <= MAX_BUCKETS:
            raise InvalidArgument(
                f"'maxBuckets' must be between 1 and {MAX_BUCKETS}, got {max_buckets}"
            )
        names = self._selected(feed_filter)
        window = self.stats_window(feed_filter)
        base = replace(
            self._query(feed_filter, include_nodes=False), started_after=None, started_before=None
        )
        request = StatsRequest(
            names=names,
            base=base,
            window=window,
            group_by=tuple(dict.fromkeys(group_by)),
            max_buckets=max_buckets,
            max_executions=self.max_stats_executions,
        )
        cache = self.stats_cache if self.stats_cache is not None else StatsCache()
        found = await stats_answer(request, self.bulk, cache, self.normalise)
        if self.redact is None or not found.skipped:
            return found
        redact = self.redact
        return replace(found, skipped=tuple((n, c, redact(m)) for n, c, m in found.skipped))

    def estimate_stats(
        self,
        feed_filter: FeedFilter,
        group_by: Sequence[StatsDimension],
        *,
        cold: bool = False,
    ) -> int:
        """Backend requests a statistics answer would make at most: for an instance whose
        segment is kept, a page of its head per stream, one list read per active status and
        its count; otherwise its lean list reads of ``max_stats_executions`` executions; and
        with ``ERROR``, the list reads with node data that bring error messages lists leave
        out. ``cold`` prices every instance as if nothing were kept."""
        names = self._selected(feed_filter)
        window = self.stats_window(feed_filter)
        query = self._query(feed_filter, include_nodes=False)
        statuses = [s.value for s in query.statuses]
        errors = StatsDimension.ERROR in group_by
        error_statuses = [s for s in ERROR_STATUSES if not query.statuses or s in query.statuses]
        cost = 0
        for name in names:
            model = self.backends[name].costs()
            key = (name, query.workflow_id, query.statuses)
            warm = (
                not cold
                and self.stats_cache is not None
                and self.stats_cache.warm(key, window.after)
            )
            if warm:
                cost += model.list_reads(model.page_size - 1, statuses, dated=True, resuming=False)
                # the deletion check: a total of the kept range, one of its cancelled ones, and
                # of those in each of the (at most two) parts the range gained
                cost += len(active_statuses(query)) + 4 * model.count_reads
            else:
                cost += model.list_reads(
                    self.max_stats_executions, statuses, dated=True, resuming=False
                )
            if errors and not model.list_errors:
                per_status = (
                    1 if warm else math.ceil(self.max_stats_executions / model.error_page_size)
                )
                cost += len(error_statuses) * per_status
        return cost

    def stats_budget(self, *, errors: bool, slack: int) -> int:
        """The backend requests one operation's statistics may make: those of one answer read
        afresh over every instance this view sees (grouped by ``ERROR`` when ``errors``), and
        ``slack`` more (the operation limit): one cold window, and kept ones beside it."""
        dimensions = [StatsDimension.ERROR] if errors else []
        return self.estimate_stats(FeedFilter(), dimensions, cold=True) + slack

    # --- exports ------------------------------------------------------------------------------

    def export(self, feed_filter: FeedFilter) -> AsyncIterator[Execution]:
        """Every execution ``feed_filter`` selects, with its node runs, in the feed's order
        (``service/export.py``); ``Forbidden`` without ``Action.EXPORT``, ``UnknownInstance``
        and ``InvalidArgument`` at once, before anything is read."""
        if not (self.scope.allows(Action.EXPORT) and self.scope.allows(Action.READ)):
            raise Forbidden(f"client {self.scope.client!r} may not export executions")
        if (
            feed_filter.started_after
            and feed_filter.started_before
            and feed_filter.started_after > feed_filter.started_before
        ):
            raise InvalidArgument("'startedAfter' is later than 'startedBefore'")
        names = self._selected(feed_filter)
        return merged(self.bulk, names, self._query(feed_filter, include_nodes=True))

    def record_export(
        self,
        described: Mapping[str, object],
        *,
        rows: int,
        size: int,
        outcome: str,
        latency_ms: float,
    ) -> None:
        """The audit line of one export (refused ones too): its filter, rows, bytes, outcome."""
        if self.audit is not None:
            self.audit.record(
                AuditEntry(
                    client=self.scope.client,
                    action=Action.EXPORT.value,
                    execution_id=None,
                    instance=None,
                    outcome=outcome,
                    latency_ms=latency_ms,
                    filter=described,
                    rows=rows,
                    bytes=size,
                )
            )

    async def get_executions(
        self, instance: str, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        self._require_read()
        backend = self.backends.get(instance)
        if backend is None:
            return {}
        return await backend.get_executions(native_ids, include_nodes=include_nodes)

    async def get_workflows(
        self, instance: str, native_ids: Sequence[str]
    ) -> Mapping[str, Workflow]:
        self._require_read()
        backend = self.backends.get(instance)
        if backend is None:
            return {}
        return await backend.get_workflows(native_ids)

    async def perform(
        self, action: Action, target: ActionTarget, read: Reader, *, force: bool = False
    ) -> ActionOutcome:
        """Cancel, retry or delete one execution, if this scope allows it; audited.

        A refused action never reaches a backend: an ID that names no execution answers
        ``INVALID_ID``, then the scope is checked (``FORBIDDEN``), then whether the instance is
        visible at all (``NOT_FOUND`` for one outside the scope, exactly as for one that is not
        configured). Whatever happens, one audit entry is written.
        """
        verb = _VERBS.get(action)
        if verb is None:
            raise ValueError(f"{action!r} is not an action on an execution")
        started = self.clock()
        outcome: ActionOutcome | None = None
        try:
            outcome = await self._perform(action, verb, target, read, force)
            if outcome.ok and outcome.key is not None and self.live is not None:
                await self.live.acted(action, outcome.key, outcome.retry)
            return outcome
        finally:
            key = outcome.key if outcome is not None else None
            self._record(
                action,
                target.execution_id,
                key.instance if key is not None else target.instance,
                "INTERNAL_SERVER_ERROR" if outcome is None else outcome.code,
                (self.clock() - started) * 1000,
            )

    def refused(self, action: Action, targets: Iterable[ActionTarget], code: str) -> None:
        """Audit attempts refused before they reached ``perform``, one entry each, with
        ``code`` as their outcome (the operation's limits, too many ids at once)."""
        for target in targets:
            self._record(action, target.execution_id, target.instance, code, 0.0)

    def _record(
        self,
        action: Action,
        execution_id: str | None,
        instance: str | None,
        outcome: str,
        latency_ms: float,
    ) -> None:
        if self.audit is not None:
            self.audit.record(
                AuditEntry(
                    client=self.scope.client,
                    action=action.value,
                    execution_id=execution_id,
                    instance=instance,
                    outcome=outcome,
                    latency_ms=latency_ms,
                )
            )

    async def _perform(
        self, action: Action, verb: str, target: ActionTarget, read: Reader, force: bool
    ) -> ActionOutcome:
        key = target.key
        if key is None:
            message = target.problem or f"{shown(target.execution_id or '')} is not an execution ID"
            return ActionOutcome(None, ActionError(ActionErrorCode.INVALID_ID, message))
        if not self.scope.allows(action):
            return ActionOutcome(
                key,
                ActionError(
                    ActionErrorCode.FORBIDDEN,
                    f"client {self.scope.client!r} may not {verb} executions",
                ),
            )
        backend = self.backends.get(key.instance)
        if backend is None:
            return ActionOutcome(
                key, ActionError(ActionErrorCode.NOT_FOUND, "the execution does not exist")
            )
        if action is Action.CANCEL:
            outcome = await actions.cancel(backend, key, read)
        elif action is Action.RETRY:
            outcome = await actions.retry(backend, key, read, force=force)
        else:
            outcome = await actions.delete(backend, key, read)
            if outcome.error is None and self.stats_cache is not None:
                self.stats_cache.forget(key)
        return self._clean_outcome(outcome)


def _reworded(error: BackendError, message: str) -> BackendError:
    """A copy of ``error`` (same type, code and attributes) that says ``message``."""
    copy = BackendError.__new__(type(error))
    BackendError.__init__(copy, error.instance, message)
    copy.__dict__.update({k: v for k, v in vars(error).items() if k != "message"})
    return copy


def _utcnow() -> datetime:
    return datetime.now(UTC)
