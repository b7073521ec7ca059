"""The adapter for team-style instances (the REST API of the team-style seed).

Listing pages by keyset, never by offset: a position is ``{"t": <time>, "ids": [...]}``, the
sort time of the last item returned and the ids returned at exactly that time. The next read asks
for ``page=0`` with ``to=<t>`` (inclusive) and skips those ids, so executions that arrive at the
head or disappear between reads neither repeat nor vanish. One status, the workflow and the time
window are pushed down to the API; several statuses are filtered here, reading on until the page
is full or the stream ends.

The API has no retry, delete or workflow endpoint: ``retry`` and ``delete`` raise
``Unsupported`` and a workflow's name comes from its newest execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from execgate.backends.each import read_each
from execgate.backends.http import BackendHTTP
from execgate.backends.team_wire import (
    WIRE_STATUS,
    Bound,
    ListPage,
    WireError,
    bound_after,
    parse_execution,
    parse_list,
    parse_position,
    record_id,
    render_time,
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
    ExecutionStatus,
    Page,
    Unreadable,
    Watch,
    Workflow,
)

MAX_PAGE_SIZE = 100
"""The API caps ``size`` at 100."""

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
    list_slack=1,
    local_filter_factor=LOCAL_FILTER_PAGES,
    undated_reads=1,
    undated_on_resume=True,
    detail_reads=1,
    count_reads=1,
    watch_reads=3,
)
"""Lists carry workflow names but no node data: one detail read per execution for it; one
read for a total; pending executions with no time are swept (one page) when a resumed stream
ends."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a query sends to the API, and whether statuses must still be filtered here."""

    params: dict[str, str] = field(default_factory=dict)
    local: bool = False
    empty: bool = False


def _plan(query: ExecutionQuery, bound: Bound | None = None) -> _Plan:
    params: dict[str, str] = {}
    local = False
    if query.statuses:
        wire = {WIRE_STATUS[s] for s in query.statuses if s in WIRE_STATUS}
        if ExecutionStatus.UNKNOWN in query.statuses or len(wire) > 1:
            local = True
        elif not wire:
            # Only statuses this API never reports (WAITING, CRASHED): nothing can match.
            return _Plan(empty=True)
        else:
            params["status"] = wire.pop()
    if query.workflow_id is not None:
        params["workflowId"] = query.workflow_id
    if query.started_after is not None:
        params["from"] = render_time(query.started_after)
    upper = query.started_before
    if bound is not None and bound.t is not None and (upper is None or bound.t < upper):
        upper = bound.t
    if upper is not None:
        params["to"] = render_time(upper)
    return _Plan(params, local)


def _sweeps(query: ExecutionQuery) -> bool:
    """Whether undated pending executions can match ``query`` (no dates, PENDING admitted)."""
    if query.started_after is not None or query.started_before is not None:
        return False
    return not query.statuses or ExecutionStatus.PENDING in query.statuses


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

    def costs(self) -> CostModel:
        return COSTS

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def capabilities(self) -> frozenset[Capability]:
        return _CAPABILITIES

    # --- reading ----------------------------------------------------------------------------

    def _bad(self, exc: WireError) -> BackendError:
        return self.http.bad(str(exc))

    async def _ok(self, response: Response, what: str) -> Any:
        if response.status_code != 200:
            raise self.http.bad(f"HTTP {response.status_code} to {what}")
        return await self.http.json(response)

    def _parse(self, value: Any, *, detail: bool) -> Execution:
        try:
            return parse_execution(self.name, value, detail=detail)
        except WireError as exc:
            raise self._bad(exc) from exc

    async def _list_page(self, params: Mapping[str, str], page: int, size: int) -> ListPage:
        response = await self.http.request(
            "GET", self._team_path, params={**params, "page": str(page), "size": str(size)}
        )
        body = await self._ok(response, "a list request")
        try:
            return parse_list(body)
        except WireError as exc:
            raise self._bad(exc) from exc

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
        plan = _plan(query, bound)
        if plan.empty:
            return Page(items=(), position=None, total=0, calls=0)
        if limit < 1:
            return Page(items=(), position=position, calls=0)
        slack = 1 + (len(bound.ids) if bound is not None else 0)
        size = min(limit + slack, MAX_PAGE_SIZE)
        items: list[Execution] = []
        unreadable: dict[str | None, Unreadable] = {}
        seen: set[str] = set()
        total: int | None = None
        calls = 0
        page_no = 0
        more = False
        while True:
            answer = await self._list_page(plan.params, page_no, size)
            calls += 1
            if page_no == 0 and bound is None and not plan.local:
                total = answer.total
            fresh = False
            for execution in self._readable(answer.content, unreadable):
                if execution.native_id in seen:
                    continue
                seen.add(execution.native_id)
                fresh = True
                if (bound is not None and bound.passed(execution)) or not query.matches(execution):
                    continue
                if len(items) == limit:
                    more = True
                    break
                items.append(execution)
            if more:
                break
            last = (
                not answer.content
                or len(answer.content) < answer.size
                or answer.number + 1 >= answer.total_pages
            )
            if last:
                break
            if not fresh:
                raise self.http.bad("list pages that do not advance")
            page_no += 1
            if len(items) == limit:
                # The page is full and the API says more may follow: resume from here.
                more = True
                break
        if not more and bound is not None and bound.t is not None and _sweeps(query):
            room = limit - len(items)
            undated, sweep_calls = await self._undated(query, bound, seen, room + 1)
            calls += sweep_calls
            more = len(undated) > room
            items.extend(undated[:room])
        resume = self.position_after(position, items) if more and items else None
        return Page(
            items=tuple(items),
            position=resume,
            total=total,
            calls=calls,
            unreadable=tuple(unreadable.values()),
        )

    async def watch(self, recent: int) -> Watch:
        """The newest page (``recent`` executions, at most ``MAX_PAGE_SIZE``) and the first page
        of the ``RUNNING`` and ``PENDING`` filters: three requests at once."""
        size = max(1, min(recent, MAX_PAGE_SIZE))
        newest, running, pending = await asyncio.gather(
            self._list_page({}, 0, size),
            self._list_page({"status": "RUNNING"}, 0, MAX_PAGE_SIZE),
            self._list_page({"status": "PENDING"}, 0, MAX_PAGE_SIZE),
        )
        unreadable: dict[str | None, Unreadable] = {}
        items = tuple(self._readable(newest.content, unreadable))
        active = tuple(
            execution
            for answer in (running, pending)
            for execution in self._readable(answer.content, unreadable)
        )
        more = bool(newest.content) and newest.number + 1 < newest.total_pages
        return Watch(recent=items, active=active, more=more, calls=3)

    def _readable(
        self, records: Sequence[Any], unreadable: dict[str | None, Unreadable]
    ) -> Iterator[Execution]:
        """The records of a list that can be read; the others go to ``unreadable`` (by id)."""
        for raw in records:
            try:
                yield parse_execution(self.name, raw, detail=False)
            except WireError as exc:
                native_id = record_id(raw)
                unreadable[native_id] = Unreadable(self.name, native_id, str(exc))

    async def _undated(
        self, query: ExecutionQuery, bound: Bound, seen: set[str], wanted: int
    ) -> tuple[list[Execution], int]:
        """Pending executions with no time that a keyset read (bounded by ``to``) cannot reach."""
        params = {"status": "PENDING"}
        if query.workflow_id is not None:
            params["workflowId"] = query.workflow_id
        found: list[Execution] = []
        calls = 0
        page_no = 0
        while len(found) < wanted:
            answer = await self._list_page(params, page_no, MAX_PAGE_SIZE)
            calls += 1
            for execution in self._readable(answer.content, {}):
                if (
                    execution.sort_time is None
                    and execution.native_id not in bound.undated
                    and execution.native_id not in seen
                ):
                    seen.add(execution.native_id)
                    found.append(execution)
            if not answer.content or answer.number + 1 >= answer.total_pages:
                break
            page_no += 1
        return found, calls

    def position_after(
        self, previous: Mapping[str, Any] | None, consumed: Sequence[Execution]
    ) -> Mapping[str, Any]:
        return bound_after(self._bound(previous), consumed).to_position()

    async def count_executions(self, query: ExecutionQuery) -> int | None:
        plan = _plan(query)
        if plan.empty:
            return 0
        if plan.local:
            return None
        return (await self._list_page(plan.params, 0, 1)).total

    async def _detail(self, native_id: str) -> Execution | None:
        segment = _segment(native_id)
        if segment is None:
            return None
        response = await self.http.request("GET", f"/api/executions/{segment}")
        if response.status_code in (400, 404):
            return None
        execution = self._parse(await self._ok(response, "an execution read"), detail=True)
        if execution.native_id != native_id:
            raise self.http.bad("an execution read answered another execution")
        return execution

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        # The details answer always carries the node executions, so ``include_nodes`` costs
        # nothing extra and they are always filled in.
        return await read_each(self.name, native_ids, self._detail)

    async def _workflow(self, workflow_id: str) -> Workflow | None:
        response = await self.http.request(
            "GET", "/api/executions", params={"workflowId": workflow_id, "page": "0", "size": "1"}
        )
        if response.status_code in (400, 404):
            return None
        body = await self._ok(response, "a workflow's executions")
        try:
            answer = parse_list(body)
        except WireError as exc:
            raise self._bad(exc) from exc
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
