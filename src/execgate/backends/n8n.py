"""The adapter for n8n's public REST API (``/api/v1``), as n8n 2.41 serves it.

Listing: n8n filters by one status per call and leaves running executions out of its plain
list, so the adapter reads several *streams* and merges them by numeric id, descending: with
no status filter the plain stream (``*``) and the ``status=running`` stream; otherwise one
stream per requested status. Each stream is read with a cursor the adapter builds itself
(base64 of ``{"lastId": "<id>", "limit": n}``, the format n8n uses), so nothing fetched but not
used is lost.

Position: ``{"lastId": "<id>", "done": ["<stream>", ...]}``. Because the merge is by id over
all streams, everything above ``lastId`` has been returned on every stream, and every stream
resumes strictly below it; ``done`` names streams already read to their end. ``lastId`` absent
means from the newest. A page is ``None``-positioned once every stream is exhausted.

Filters are pushed down (``status``, ``workflowId``, ``startedAfter``/``startedBefore``) and
applied again here, since older n8n versions ignore some of them; when that drops items the
adapter reads on until it has ``limit`` items or the streams end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from execgate.backends.each import read_each
from execgate.backends.http import BackendHTTP
from execgate.backends.n8n_wire import N8N_STATUS, WireError, parse_execution
from execgate.backends.transport import Response
from execgate.domain.errors import Conflict, InvalidCursor, NotFound, Unsupported, shown
from execgate.domain.keys import WorkflowKey, as_number
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

API = "/api/v1"
UNDATED_READS = 25
ROUTE_RECHECK_SECONDS = 600.0
"""How long an action whose route seemed missing stays off ``capabilities``."""

_CAPABILITIES = frozenset(
    {
        Capability.CANCEL,
        Capability.RETRY,
        Capability.DELETE,
        Capability.STATUS_FILTER,
        Capability.WORKFLOW_FILTER,
        Capability.DATE_FILTER,
        Capability.BATCH_NODE_DATA,
    }
)
MAX_PAGE = 250
PLAIN = "*"
RUNNING = "running"
ACTIVE_STREAMS = ("running", "waiting", "new")
"""The streams a live poll reads beside the plain one: n8n's plain list hides running
executions, and waiting or queued ones older than the newest page need their own stream."""

COSTS = CostModel(
    page_size=MAX_PAGE,
    streams=len((PLAIN, RUNNING)),
    stream_per_status=True,
    undated_reads=UNDATED_READS,
    workflow_name_reads=1,
    list_errors=False,
    watch_reads=1 + len(ACTIVE_STREAMS),
)
"""Lists carry node data but no workflow names (one read per workflow) and no creation time
(queued executions are read one by one, at most ``UNDATED_READS`` per page); no totals; an
execution's error message only with its data (``includeData``)."""


def _page_size(limit: int) -> int:
    """n8n reads ``limit=0`` as "every row" and clamps above 250, so stay within 1..250."""
    return max(1, min(MAX_PAGE, limit))


def make_cursor(last_id: str, limit: int) -> str:
    payload = json.dumps({"lastId": last_id, "limit": limit}, separators=(",", ":"))
    return base64.b64encode(payload.encode()).decode()


def _iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _is_native_id(native_id: str) -> bool:
    number = as_number(native_id)
    return number is not None and number > 0


def streams_for(query: ExecutionQuery) -> list[str]:
    if not query.statuses:
        return [PLAIN, RUNNING]
    return sorted(N8N_STATUS[status] for status in query.statuses)


@dataclass(frozen=True, slots=True)
class _Position:
    last_id: int | None
    done: frozenset[str]

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None) -> _Position:
        if raw is None:
            return cls(None, frozenset())
        last = raw.get("lastId")
        done = raw.get("done", [])
        number = as_number(last) if isinstance(last, str) else None
        if (last is not None and number is None) or not (
            isinstance(done, list) and all(isinstance(name, str) for name in done)
        ):
            raise InvalidCursor("the cursor holds a position this n8n instance cannot resume")
        return cls(number, frozenset(done))

    def dump(self) -> dict[str, Any]:
        body: dict[str, Any] = {"done": sorted(self.done)}
        if self.last_id is not None:
            body["lastId"] = str(self.last_id)
        return body


@dataclass(frozen=True, slots=True)
class _Fetched:
    stream: str
    items: list[Execution]
    lowest: int | None
    """The smallest id the stream returned (matching or not)."""
    exhausted: bool
    unreadable: list[Unreadable]


def _record_id(raw: Any) -> str | None:
    """A listed record's id as text, when it has one (n8n sends ids as strings)."""
    found = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(found, int) and not isinstance(found, bool):
        return str(found)
    return found if isinstance(found, str) else None


class N8nBackend:
    """One n8n instance, spoken to with an API key (header ``X-N8N-API-KEY``)."""

    kind = BackendKind.N8N

    def __init__(
        self, name: str, http: BackendHTTP, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.http = http
        self.clock = clock
        self._missing_until: dict[Capability, float] = {}
        """Actions whose route this n8n seemed to lack, and until when to believe it."""

    @staticmethod
    def auth_headers(api_key: str) -> dict[str, str]:
        return {"X-N8N-API-KEY": api_key}

    def capabilities(self) -> frozenset[Capability]:
        now = self.clock()
        return _CAPABILITIES - {c for c, until in self._missing_until.items() if until > now}

    def costs(self) -> CostModel:
        return COSTS

    async def _route_missing(
        self, response: Response, capability: Capability, native_id: str
    ) -> bool:
        """Whether the answer says the action's route does not exist on this n8n version.

        n8n answers a known path with the wrong method with 405, and an unknown ``/api/v1``
        path with 404 ``{"message":"not found"}`` — which a proxy in front of it, or an
        execution deleted meanwhile, can answer too. So a 404 counts only when the execution
        is still there when read again, and either verdict holds for ``ROUTE_RECHECK_SECONDS``
        only: then the action is tried again, so one odd answer is never a permanent verdict.
        """
        status = response.status_code
        if status == 404 and self._message(response) == "not found":
            if not (await self.get_executions([native_id], include_nodes=False)):
                return False
        elif status != 405:
            return False
        self._missing_until[capability] = self.clock() + ROUTE_RECHECK_SECONDS
        return True

    def _unsupported(self, action: str) -> Unsupported:
        return Unsupported(f"instance {self.name!r} has no {action} endpoint in its API version")

    # ------------------------------------------------------------------ parsing helpers

    def _execution(self, body: Any, *, include_nodes: bool) -> Execution:
        try:
            return parse_execution(self.name, body, include_nodes=include_nodes)
        except WireError as exc:
            raise self.http.bad(str(exc)) from exc

    def _message(self, response: Response) -> str:
        """The ``message`` of an n8n error body (n8n's own words), or the status code."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"])
        return f"HTTP {response.status_code}"

    def _unexpected(self, response: Response) -> Exception:
        """An answer the API does not give here; n8n's message names the problem, no secret."""
        message = self._message(response)
        status = f"HTTP {response.status_code}"
        return self.http.bad(status if message == status else f"{status}: {message}")

    # ------------------------------------------------------------------ listing

    async def _fetch(
        self, stream: str, query: ExecutionQuery, below: int | None, size: int
    ) -> _Fetched:
        params: dict[str, Any] = {"limit": size}
        if below is not None:
            params["cursor"] = make_cursor(str(below), size)
        if stream != PLAIN:
            params["status"] = stream
        if query.workflow_id is not None:
            params["workflowId"] = query.workflow_id
        if query.started_after is not None:
            params["startedAfter"] = _iso(query.started_after)
        if query.started_before is not None:
            params["startedBefore"] = _iso(query.started_before)
        if query.include_nodes:
            params["includeData"] = "true"
        response = await self.http.request(
            "GET", f"{API}/executions", params=params, operation="list_executions"
        )
        if response.status_code != 200:
            raise self._unexpected(response)
        body = await self.http.json(response)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise self.http.bad("an execution list without a data array")
        next_cursor = body.get("nextCursor")
        if next_cursor is not None and not isinstance(next_cursor, str):
            raise self.http.bad("an execution list with a nextCursor that is not a string")
        items: list[Execution] = []
        unreadable: list[Unreadable] = []
        lowest: int | None = None
        for raw in body["data"]:
            native_id = _record_id(raw)
            number = None if native_id is None else as_number(native_id)
            if number is None:
                raise self.http.bad("an execution id that is not a number")
            if below is not None and number >= below:
                continue  # a server that ignored the cursor: already handled
            lowest = number if lowest is None else min(lowest, number)
            try:
                items.append(parse_execution(self.name, raw, include_nodes=query.include_nodes))
            except WireError as exc:
                unreadable.append(Unreadable(self.name, native_id, str(exc)))
        exhausted = next_cursor is None or lowest is None
        if query.started_after is not None and any(
            i.started_at is not None and i.started_at < query.started_after for i in items
        ):
            # A server that ignored startedAfter: in id order this stream has passed the window,
            # and everything older started earlier still, so it need not be read further.
            exhausted = True
        return _Fetched(stream, items, lowest, exhausted, unreadable)

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page:
        state = _Position.load(position)
        streams = streams_for(query)
        floor, done = state.last_id, set(state.done)
        size = _page_size(limit)
        out: list[Execution] = []
        unreadable: dict[str | None, Unreadable] = {}
        calls = 0
        while len(out) < limit:
            open_streams = [s for s in streams if s not in done]
            if not open_streams:
                break
            fetched = await asyncio.gather(
                *(self._fetch(s, query, floor, size) for s in open_streams)
            )
            calls += len(fetched)
            # below the highest "lowest id" of an unfinished stream, an unread item may hide
            frontier = max(
                (f.lowest for f in fetched if not f.exhausted and f.lowest is not None),
                default=None,
            )
            candidates: dict[int, Execution] = {}
            for f in fetched:
                for item in f.items:
                    number = int(item.native_id)
                    if (frontier is None or number >= frontier) and query.matches(item):
                        candidates.setdefault(number, item)
            taken = [candidates[n] for n in sorted(candidates, reverse=True)][: limit - len(out)]
            out.extend(taken)
            if len(out) >= limit:
                cut = int(out[-1].native_id)
            elif frontier is not None:
                cut = frontier
            else:
                done.update(f.stream for f in fetched)
                unreadable.update((r.native_id, r) for f in fetched for r in f.unreadable)
                break
            for f in fetched:
                if f.exhausted and (f.lowest is None or f.lowest >= cut):
                    done.add(f.stream)
                for record in f.unreadable:
                    # reported with the page whose stretch of ids holds it
                    if int(record.native_id or 0) >= cut:
                        unreadable[record.native_id] = record
            floor = cut
        if all(s in done for s in streams):
            next_position = None
        else:
            next_position = _Position(floor, frozenset(done)).dump()
        dated, extra = await self._with_creation_times(out)
        return Page(
            items=tuple(dated),
            position=next_position,
            total=None,
            calls=calls + extra,
            unreadable=tuple(unreadable.values()),
        )

    async def _with_creation_times(self, items: list[Execution]) -> tuple[list[Execution], int]:
        """Give queued executions their creation time, which list items do not carry.

        The feed orders an execution that has not started by its creation time; only a single
        read has ``createdAt``. Queued executions are few, and at most ``UNDATED_READS`` of a
        page are read; any others keep no time (the feed then counts them as the newest).
        """
        undated = [e.native_id for e in items if e.sort_time is None][:UNDATED_READS]
        if not undated:
            return items, 0
        found = await self.get_executions(undated, include_nodes=False)
        dated = [
            replace(e, created_at=found[e.native_id].created_at)
            if e.sort_time is None and e.native_id in found
            else e
            for e in items
        ]
        return dated, len(undated)

    async def watch(self, recent: int) -> Watch:
        """The running, waiting and queued streams (``MAX_PAGE`` each, three requests at once),
        then the plain list's newest ``recent`` executions. In that order an execution that
        finishes meanwhile is in one of them: n8n's plain list hides running executions, so
        read first it could miss one that then left the running stream before it was read,
        and the poller would have to read it by itself. Queued executions keep no creation
        time here (their single read has it): the poller reads that once per execution."""
        query = ExecutionQuery()
        active = await asyncio.gather(
            *(self._fetch(stream, query, None, MAX_PAGE) for stream in ACTIVE_STREAMS)
        )
        plain = await self._fetch(PLAIN, query, None, _page_size(recent))
        return Watch(
            recent=tuple(plain.items),
            active=tuple(item for fetched in active for item in fetched.items),
            more=not plain.exhausted,
            calls=1 + len(active),
        )

    def position_after(
        self,
        previous: Mapping[str, Any] | None,
        consumed: Sequence[Execution],
        page: Page | None = None,
    ) -> Mapping[str, Any]:
        state = _Position.load(previous)
        return _Position(int(consumed[-1].native_id), state.done).dump()

    async def count_executions(self, query: ExecutionQuery) -> int | None:
        return None

    # ------------------------------------------------------------------ reads

    async def _get_one(self, native_id: str, include_nodes: bool) -> Execution | None:
        if not _is_native_id(native_id):
            return None
        params = {"includeData": "true"} if include_nodes else None
        response = await self.http.request(
            "GET", f"{API}/executions/{native_id}", params=params, operation="get_execution"
        )
        if response.status_code in (400, 404):
            return None
        if response.status_code != 200:
            raise self._unexpected(response)
        return self._execution(await self.http.json(response), include_nodes=include_nodes)

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        return await read_each(
            self.name, native_ids, lambda native_id: self._get_one(native_id, include_nodes)
        )

    async def _get_workflow(self, native_id: str) -> Workflow | None:
        if not native_id:
            return None
        response = await self.http.request(
            "GET", f"{API}/workflows/{quote(native_id, safe='')}", operation="get_workflow"
        )
        if response.status_code in (400, 404):
            return None
        if response.status_code != 200:
            raise self._unexpected(response)
        body = await self.http.json(response)
        if not isinstance(body, dict):
            raise self.http.bad("a workflow that is not an object")
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise self.http.bad("a workflow name that is not a string")
        return Workflow(WorkflowKey(self.name, native_id), name)

    async def get_workflows(self, native_ids: Sequence[str]) -> Mapping[str, Workflow]:
        wanted = list(dict.fromkeys(native_ids))
        found = await asyncio.gather(*(self._get_workflow(i) for i in wanted))
        return {i: w for i, w in zip(wanted, found, strict=True) if w is not None}

    # ------------------------------------------------------------------ mutations

    def _missing(self, native_id: str) -> NotFound:
        return NotFound(f"execution {shown(native_id)} does not exist on instance {self.name!r}")

    async def cancel(self, native_id: str) -> Execution | None:
        if not _is_native_id(native_id):
            raise self._missing(native_id)
        response = await self.http.request(
            "POST",
            f"{API}/executions/{native_id}/stop",
            mutation=True,
            operation="cancel",
            timeout=self.http.policy.mutation_timeout,
        )
        if response.status_code == 200:
            return None
        if await self._route_missing(response, Capability.CANCEL, native_id):
            raise self._unsupported("stop")
        if response.status_code in (400, 404):
            raise self._missing(native_id)
        if response.status_code == 409:
            raise Conflict(self._message(response), reason="not_cancellable")
        raise self._unexpected(response)

    async def retry(self, native_id: str) -> Execution:
        if not _is_native_id(native_id):
            raise self._missing(native_id)
        response = await self.http.request(
            "POST",
            f"{API}/executions/{native_id}/retry",
            mutation=True,
            operation="retry",
            timeout=self.http.policy.retry_timeout,
        )
        if response.status_code == 200:
            return self._execution(await self.http.json(response), include_nodes=True)
        if await self._route_missing(response, Capability.RETRY, native_id):
            raise self._unsupported("retry")
        if response.status_code == 404:
            raise self._missing(native_id)
        if response.status_code == 409:
            raise Conflict(self._message(response), reason="not_retryable")
        raise self.http.bad(f"retry answered HTTP {response.status_code}")

    async def delete(self, native_id: str) -> None:
        if not _is_native_id(native_id):
            raise self._missing(native_id)
        response = await self.http.request(
            "DELETE",
            f"{API}/executions/{native_id}",
            mutation=True,
            operation="delete",
            timeout=self.http.policy.mutation_timeout,
        )
        if response.status_code == 200:
            return
        if await self._route_missing(response, Capability.DELETE, native_id):
            raise self._unsupported("delete")
        if response.status_code == 404:
            raise self._missing(native_id)
        if response.status_code == 400 and "running" in self._message(response):
            raise Conflict(self._message(response), reason="running")
        raise self._unexpected(response)
