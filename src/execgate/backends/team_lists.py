"""Reading a team's execution list: the keyset pages of one page of the stream, the list of
pending executions, and the end of the list.

Executions that have not started carry no time on the list. A server may put them anywhere —
by their creation time, before every execution that started, or after — and may leave them out
of a list bounded by ``to`` (which compares start times). So the keyset read keeps aside those
it meets, and a stream's first page also reads them where they can hide: the pending ones
(``status=PENDING``) and the end of the list, until the server is seen to list them elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from execgate.backends.http import BackendHTTP
from execgate.backends.team_wire import (
    WIRE_STATUS,
    Bound,
    ListPage,
    WireError,
    parse_execution,
    parse_list,
    record_id,
    render_time,
)
from execgate.backends.transport import Response
from execgate.domain.errors import BackendError
from execgate.domain.models import Execution, ExecutionQuery, ExecutionStatus, Unreadable

MAX_PAGE_SIZE = 100
"""The API caps ``size`` at 100."""

UNDATED_ROOM = 10
"""Items a list page holds beyond what the page needs, for executions listed without a time."""

TAIL_PAGES = 2
"""List pages read from the end of the list when a stream starts, for executions a server
lists after all the others because they have no start time."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What a query sends to the API, and whether statuses must still be filtered here."""

    params: dict[str, str] = field(default_factory=dict)
    local: bool = False
    empty: bool = False


def plan(query: ExecutionQuery, bound: Bound | None = None, *, pending: bool = True) -> Plan:
    """``pending``: whether the API takes ``status=PENDING`` (else it is filtered here)."""
    params: dict[str, str] = {}
    local = False
    if query.statuses:
        wire = {WIRE_STATUS[s] for s in query.statuses if s in WIRE_STATUS}
        if ExecutionStatus.UNKNOWN in query.statuses or len(wire) > 1:
            local = True
        elif not wire:
            # Only statuses this API never reports (WAITING, CRASHED): nothing can match.
            return Plan(empty=True)
        elif wire == {"PENDING"} and not pending:
            local = True
        else:
            params["status"] = wire.pop()
    if query.workflow_id is not None:
        params["workflowId"] = query.workflow_id
    if query.started_after is not None:
        params["from"] = render_time(query.started_after)
    upper = query.started_before
    if bound is not None and (upper is None or bound.t < upper):
        upper = bound.t
    if upper is not None:
        params["to"] = render_time(upper)
    return Plan(params, local)


@dataclass
class Scan:
    """What the keyset list showed for one page."""

    dated: list[Execution] = field(default_factory=list)
    undated: dict[str, Execution] = field(default_factory=dict)
    exhausted: bool = False
    calls: int = 0
    total: int | None = None
    listed: int = 0
    """The list's ``totalElements`` (what ``to`` and the filters left)."""
    unreadable: dict[str | None, Unreadable] = field(default_factory=dict)


class TeamLists:
    """The list requests of one team-style instance, and what they taught about the server."""

    def __init__(self, name: str, http: BackendHTTP, path: str) -> None:
        self.name = name
        self.http = http
        self.path = path
        self.pending_filter = True
        """Whether the API takes ``status=PENDING`` (the seed lists four filter values)."""
        self.none_last = False
        """Learned once seen: the server lists an execution without a time before one with a
        time (first, or by creation time), so none hides at the end of the list."""

    def bad(self, exc: WireError) -> BackendError:
        return self.http.bad(str(exc))

    async def ok(self, response: Response, what: str) -> Any:
        if response.status_code != 200:
            raise self.http.bad(f"HTTP {response.status_code} to {what}")
        return await self.http.json(response)

    def parse(self, value: Any) -> ListPage:
        try:
            return parse_list(value)
        except WireError as exc:
            raise self.bad(exc) from exc

    async def page(self, params: Mapping[str, str], page: int, size: int) -> ListPage:
        response = await self.http.request(
            "GET",
            self.path,
            params={**params, "page": str(page), "size": str(size)},
            operation="list_executions",
        )
        return self.parse(await self.ok(response, "a list request"))

    def readable(
        self, records: Sequence[Any], unreadable: dict[str | None, Unreadable]
    ) -> Iterator[Execution]:
        """The records of a list that can be read; the others go to ``unreadable`` (by id)."""
        for raw in records:
            try:
                yield parse_execution(self.name, raw, detail=False)
            except WireError as exc:
                native_id = record_id(raw)
                unreadable[native_id] = Unreadable(self.name, native_id, str(exc))

    async def scan(
        self, plan: Plan, query: ExecutionQuery, bound: Bound | None, limit: int, *, undated: bool
    ) -> Scan:
        """Read the keyset list until it has shown one more item with a start time than
        ``limit`` beyond the bound (or ended). Those without one are kept aside when
        ``undated`` (they can match), by id."""
        slack = 1 + (len(bound.ids) if bound is not None else 0) + UNDATED_ROOM
        size = min(limit + slack, MAX_PAGE_SIZE)
        scan = Scan()
        seen: set[str] = set()
        undated_before = False
        page_no = 0
        while True:
            answer = await self.page(plan.params, page_no, size)
            scan.calls += 1
            if page_no == 0:
                scan.listed = answer.total
                if bound is None and not plan.local:
                    scan.total = answer.total
            fresh = False
            for execution in self.readable(answer.content, scan.unreadable):
                if execution.native_id in seen:
                    continue
                seen.add(execution.native_id)
                fresh = True
                if execution.started_at is None:
                    undated_before = True
                    if undated and query.matches(execution):
                        scan.undated[execution.native_id] = execution
                    continue
                self.none_last = self.none_last or undated_before
                if (bound is None or not bound.passed(execution)) and query.matches(execution):
                    scan.dated.append(execution)
            if len(scan.dated) > limit:
                break
            if (
                not answer.content
                or len(answer.content) < answer.size
                or answer.number + 1 >= answer.total_pages
            ):
                scan.exhausted = True
                break
            if not fresh:
                raise self.http.bad("list pages that do not advance")
            page_no += 1
        return scan

    def lists_pending(self, query: ExecutionQuery) -> bool:
        """Whether a stream's start also lists the pending executions on their own."""
        admitted = not query.statuses or ExecutionStatus.PENDING in query.statuses
        return admitted and self.pending_filter

    async def pending(self, query: ExecutionQuery) -> tuple[list[Execution], int]:
        """Every pending execution (one page of them), wherever the keyset list puts them."""
        params = {"status": "PENDING", "page": "0", "size": str(MAX_PAGE_SIZE)}
        if query.workflow_id is not None:
            params["workflowId"] = query.workflow_id
        response = await self.http.request(
            "GET", self.path, params=params, operation="list_executions"
        )
        if response.status_code == 400:
            self.pending_filter = False  # a server that takes only the values the seed lists
            return [], 1
        answer = self.parse(await self.ok(response, "a list request"))
        found = self.readable(answer.content, {})
        return [e for e in found if e.started_at is None and query.matches(e)], 1

    async def tail(
        self,
        params: Mapping[str, str],
        total: int,
        query: ExecutionQuery,
        unreadable: dict[str | None, Unreadable],
    ) -> tuple[list[Execution], int]:
        """Executions without a time that the server lists after all the others: the last
        pages of the list, back to the first one holding an execution with a time."""
        found: list[Execution] = []
        index = (total - 1) // MAX_PAGE_SIZE
        calls = 0
        while index >= 0 and calls < TAIL_PAGES:
            answer = await self.page(params, index, MAX_PAGE_SIZE)
            calls += 1
            items = list(self.readable(answer.content, unreadable))
            undated = [e for e in items if e.started_at is None]
            found += [e for e in undated if query.matches(e)]
            if not items or len(undated) < len(items):
                break
            index -= 1
        return found, calls


async def nothing() -> tuple[list[Execution], int]:
    """No list (what ``pending`` answers when a page does not read one)."""
    return [], 0
