"""The adapter for team-style instances (the REST API of the team-style seed).

Listing pages by keyset, never by offset: a position is ``{"t": <time>, "ids": [...]}``, the
sort time of the last item returned and the ids returned at exactly that time. The next read asks
for ``page=0`` with ``to=<t>`` (inclusive) and skips those ids, so executions that arrive at the
head or disappear between reads neither repeat nor vanish. One status, the workflow and the time
window are pushed down to the API; several statuses are filtered here, reading on until the page
is full or the stream ends.

Executions that have not started carry no time on the list (no ``startedAt``, and list items
have no ``createdAt``): ``team_undated`` places them by the creation time their details carry.
The API may list them anywhere (by creation time, first or last) and may leave them out of a
list bounded by ``to``, so the start of a stream also looks for them where they can hide — a
``status=PENDING`` list and the end of the list — and the position carries those it has not
returned yet (``"o"``: id → creation time).

The API has no retry, delete or workflow endpoint: ``retry`` and ``delete`` raise
``Unsupported`` and a workflow's name comes from its newest execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from execgate.backends.each import read_each
from execgate.backends.http import BackendHTTP
from execgate.backends.team_lists import (
    MAX_PAGE_SIZE,
    TAIL_PAGES,
    UNDATED_ROOM,
    TeamLists,
    nothing,
    plan,
)
from execgate.backends.team_undated import UNDATED_READS, CreationTimes, Listed, State, place
from execgate.backends.team_wire import (
    Bound,
    WireError,
    bound_after,
    parse_execution,
    parse_position,
)
from execgate.backends.transport import Response
from execgate.domain.errors import (
    BackendError,
    Conflict,
    InvalidCursor,
    NotFound,
    Unsupported,
    shown,
)
from execgate.domain.keys import WorkflowKey
from execgate.domain.models import (
    BackendKind,
    Capability,
    CostModel,
    Execution,
    ExecutionQuery,
    Page,
    Unreadable,
    Watch,
    Workflow,
)

__all__ = ["COSTS", "MAX_PAGE_SIZE", "TAIL_PAGES", "UNDATED_READS", "UNDATED_ROOM", "TeamBackend"]

_CAPABILITIES = frozenset(
    {
        Capability.CANCEL,
        Capability.STATUS_FILTER,
        Capability.WORKFLOW_FILTER,
        Capability.DATE_FILTER,
        Capability.TOTAL_COUNT,
    }
)

LOCAL_FILTER_PAGES = 4
"""List pages allowed for per page wanted when several statuses are filtered here (the API
takes one): the adapter reads on until the page is full."""

COSTS = CostModel(
    page_size=MAX_PAGE_SIZE,
    list_slack=1 + UNDATED_ROOM,
    local_filter_factor=LOCAL_FILTER_PAGES,
    undated_reads=UNDATED_READS,
    undated_any_status=True,
    undated_lists=1 + TAIL_PAGES,
    detail_reads=1,
    count_reads=2,
    watch_reads=3,
)
"""Lists carry workflow names but no node data: one detail read per execution for it; one
read for a total (two with a date filter: the pending executions a server counts by their
creation time are counted apart and taken out). Executions without a time (of any status: one
cancelled before it started has none either) cost a detail read each, at most
``UNDATED_READS`` a page, and the start of a stream looks for them with a pending list and up
to ``TAIL_PAGES`` pages from the list's end."""


def _undated(query: ExecutionQuery) -> bool:
    """Whether executions that have not started can match ``query``: they match no date
    filter (they have not started after or before anything)."""
    return query.started_after is None and query.started_before is None


def _segment(native_id: str) -> str | None:
    """``native_id`` as one URL path segment, or ``None`` if it cannot name an execution."""
    if native_id in ("", ".", ".."):
        return None
    return quote(native_id, safe="")


class TeamBackend:
    """One team-style instance, read and acted on through ``BackendHTTP``."""

    kind = BackendKind.TEAM

    def __init__(self, name: str, http: BackendHTTP, team_id: str) -> None:
        self.name = name
        self.http = http
        self.team_id = team_id
        self._team_path = f"/api/executions/team/{quote(team_id, safe='')}"
        self.lists = TeamLists(name, http, self._team_path)
        self._times = CreationTimes()

    def costs(self) -> CostModel:
        return COSTS

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def capabilities(self) -> frozenset[Capability]:
        return _CAPABILITIES

    # --- reading ----------------------------------------------------------------------------

    def _parse(self, value: Any, *, detail: bool) -> Execution:
        try:
            return parse_execution(self.name, value, detail=detail)
        except WireError as exc:
            raise self.lists.bad(exc) from exc

    def _bound(self, position: Mapping[str, Any] | None) -> Bound | None:
        try:
            return parse_position(position)
        except ValueError:
            raise InvalidCursor(
                f"the position for instance {self.name!r} is not valid; start again"
            ) from None

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page:
        bound = self._bound(position)
        sent = plan(query, bound, pending=self.lists.pending_filter)
        if sent.empty:
            return Page(items=(), position=None, total=0, calls=0)
        if limit < 1:
            return Page(items=(), position=position, calls=0)
        unstarted = _undated(query)
        start = bound is None and unstarted
        scan, (pending, pending_calls) = await asyncio.gather(
            self.lists.scan(sent, query, bound, limit, undated=unstarted),
            self.lists.pending(query) if start and self.lists.lists_pending(query) else nothing(),
        )
        calls = scan.calls + pending_calls
        found = {e.native_id: e for e in pending}
        if start and not scan.exhausted and not self.lists.none_last:
            tail, tail_calls = await self.lists.tail(
                sent.params, scan.listed, query, scan.unreadable
            )
            calls += tail_calls
            found.update((e.native_id, e) for e in tail)
        undated = dict(scan.undated)  # the keyset list's first: they are nearest this page
        for native_id, execution in found.items():
            undated.setdefault(native_id, execution)
        listed = Listed(scan.dated, undated, scan.exhausted)
        placed = await place(
            listed,
            bound,
            query,
            limit,
            known=self._times.get,
            read=self._states,
            instance=self.name,
        )
        items = placed.items
        if not placed.more:
            resume = None
        elif items:
            resume = bound_after(bound, items, placed.owed).to_position()
        else:
            # nothing could be placed yet (reads ran out): the same position, read again
            resume = dict(position or {})
        return Page(
            items=items,
            position=resume,
            total=scan.total,
            calls=calls + placed.reads,
            unreadable=(*scan.unreadable.values(), *placed.unreadable),
            carry=placed.owed,
        )

    async def watch(self, recent: int) -> Watch:
        """The newest page (``recent`` executions, at most ``MAX_PAGE_SIZE``) and the first page
        of the ``RUNNING`` and ``PENDING`` filters: three requests at once (two on a server
        that does not take ``status=PENDING``)."""
        size = max(1, min(recent, MAX_PAGE_SIZE))
        newest, running, (pending, pending_calls) = await asyncio.gather(
            self.lists.page({}, 0, size),
            self.lists.page({"status": "RUNNING"}, 0, MAX_PAGE_SIZE),
            self.lists.pending(ExecutionQuery()) if self.lists.pending_filter else nothing(),
        )
        unreadable: dict[str | None, Unreadable] = {}
        items = tuple(self.lists.readable(newest.content, unreadable))
        active = (*self.lists.readable(running.content, unreadable), *pending)
        more = bool(newest.content) and newest.number + 1 < newest.total_pages
        return Watch(recent=items, active=active, more=more, calls=2 + pending_calls)

    async def _states(self, native_ids: Sequence[str]) -> dict[str, State]:
        """Each execution's details now: the execution, ``None`` if it is gone, or what went
        wrong reading it (one failure costs only its own execution)."""
        results = await asyncio.gather(
            *(self._detail(i) for i in native_ids), return_exceptions=True
        )
        states: dict[str, State] = {}
        for native_id, result in zip(native_ids, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, BackendError):
                raise result
            states[native_id] = result
        return states

    def position_after(
        self,
        previous: Mapping[str, Any] | None,
        consumed: Sequence[Execution],
        page: Page | None = None,
    ) -> Mapping[str, Any]:
        owed: dict[str, Any] | None = None
        if page is not None and page.carry is not None:
            owed = dict(page.carry)
            for execution in page.items[len(consumed) :]:
                if execution.started_at is None:
                    owed[execution.native_id] = execution.created_at
        return bound_after(self._bound(previous), consumed, owed).to_position()

    async def count_executions(self, query: ExecutionQuery) -> int | None:
        sent = plan(query, pending=self.lists.pending_filter)
        if sent.empty:
            return 0
        if sent.local:
            return None
        status = sent.params.get("status")
        if _undated(query) or status not in (None, "PENDING") or not self.lists.pending_filter:
            return (await self.lists.page(sent.params, 0, 1)).total
        # A date filter matches no execution that has not started, but a server may date those
        # by their creation time and count them: its pending ones in the window are taken out.
        if status == "PENDING":
            return 0
        total, pending = await asyncio.gather(
            self.lists.page(sent.params, 0, 1),
            self.lists.page({**sent.params, "status": "PENDING"}, 0, 1),
        )
        return max(0, total.total - pending.total)

    async def _detail(self, native_id: str) -> Execution | None:
        segment = _segment(native_id)
        if segment is None:
            return None
        response = await self.http.request(
            "GET", f"/api/executions/{segment}", operation="get_execution"
        )
        if response.status_code in (400, 404):
            return None
        execution = self._parse(await self.lists.ok(response, "an execution read"), detail=True)
        if execution.native_id != native_id:
            raise self.http.bad("an execution read answered another execution")
        if execution.started_at is None and execution.created_at is not None:
            self._times.put(native_id, execution.created_at)
        return execution

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        # The details answer always carries the node executions, so ``include_nodes`` costs
        # nothing extra and they are always filled in.
        return await read_each(self.name, native_ids, self._detail)

    async def _workflow(self, workflow_id: str) -> Workflow | None:
        response = await self.http.request(
            "GET",
            "/api/executions",
            params={"workflowId": workflow_id, "page": "0", "size": "1"},
            operation="get_workflow",
        )
        if response.status_code in (400, 404):
            return None
        answer = self.lists.parse(await self.lists.ok(response, "a workflow's executions"))
        if not answer.content:
            return None
        execution = self._parse(answer.content[0], detail=False)
        if execution.workflow_id != workflow_id:
            raise self.http.bad("a workflow's executions belong to another workflow")
        return Workflow(WorkflowKey(self.name, workflow_id), execution.workflow_name)

    async def get_workflows(self, native_ids: Sequence[str]) -> Mapping[str, Workflow]:
        wanted = [i for i in dict.fromkeys(native_ids) if i]
        found = await asyncio.gather(*(self._workflow(i) for i in wanted))
        return {i: w for i, w in zip(wanted, found, strict=True) if w is not None}

    # --- actions ----------------------------------------------------------------------------

    async def cancel(self, native_id: str) -> Execution | None:
        segment = _segment(native_id)
        if segment is None:
            raise NotFound(f"no execution {shown(native_id)} on instance {self.name!r}")
        response = await self.http.request(
            "POST",
            f"/api/executions/{segment}/cancel",
            mutation=True,
            operation="cancel",
            timeout=self.http.policy.mutation_timeout,
            ok=frozenset({200, 202, 204}),
        )
        status = response.status_code
        if status in (200, 202, 204):
            return None
        if status == 404:
            raise NotFound(f"no execution {shown(native_id)} on instance {self.name!r}")
        if status in (400, 409):
            raise Conflict(
                f"instance {self.name!r} refused to cancel execution {shown(native_id)}: "
                f"{self._message(response)}",
                reason="not_cancellable",
            )
        raise self.http.bad(f"HTTP {status} to a cancel request")

    @staticmethod
    def _message(response: Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        if isinstance(message, str) and message:
            return message
        return "only running or pending executions can be cancelled"

    async def retry(self, native_id: str) -> Execution:
        raise Unsupported(
            f"instance {self.name!r} is team-style; its API cannot retry an execution"
        )

    async def delete(self, native_id: str) -> None:
        raise Unsupported(
            f"instance {self.name!r} is team-style; its API cannot delete an execution"
        )
