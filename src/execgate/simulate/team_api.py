"""A team-style executions API over a ``SimStore`` (the REST API of the team-style seed).

Routes: ``GET /api/executions/team/{teamId}`` (offset pages, filters), ``GET /api/executions``
(by workflow), ``GET /api/executions/{id}`` (details with node executions),
``POST /api/executions/{id}/cancel`` and ``GET /api/executions/team/{teamId}/export`` (CSV or
JSON, with PII and credential values redacted by ``team_export``).

Every route needs ``Authorization: Bearer <token>`` (401 otherwise); another team's id is 403.
Lists are ordered by start time descending, ties by id descending, at the millisecond precision
the API renders, so a client that pages by time bounds sees exactly what it filtered on.
``size`` defaults to 20 and is capped at 100.

List items carry no ``createdAt`` (as in the seed; details do), so an execution that has not
started — pending, or cancelled before it started — is listed with no time at all. Where it
goes is the app's ``undated`` setting, for tests of every plausible server:

- ``"created"`` (the default): by its creation time, and ``from``/``to`` compare that time;
- ``"first"`` or ``"last"``: before or after every execution that started (among themselves
  by id, descending), and ``from``/``to`` (which compare start times) leave it out.

``list_created_at=True`` adds ``createdAt`` to list items (a server that says more than the
seed).
"""

from __future__ import annotations

import asyncio
import heapq
import hmac
import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from execgate.simulate.data import ACTIVE_STATUSES, SimExecution, SimNodeRun, SimWorkflow
from execgate.simulate.store import SimStore, finish
from execgate.simulate.team_export import export_csv, export_json
from execgate.simulate.wire import JSONBody, iso_ms, name_uuid, to_utc_ms

DEFAULT_SIZE = 20
MAX_SIZE = 100
DEFAULT_EXPORT_DAYS = 30
STATUS = {
    "new": "PENDING",
    "running": "RUNNING",
    "waiting": "RUNNING",
    "success": "SUCCESS",
    "error": "FAILED",
    "crashed": "FAILED",
    "canceled": "CANCELLED",
}
TEAM_STATUSES = frozenset({"PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"})
_NODE_STATUS = {"success": "SUCCESS", "error": "FAILED", "running": "RUNNING", "waiting": "RUNNING"}
_MODE = {
    "webhook": "WEBHOOK",
    "trigger": "SCHEDULE",
    "manual": "MANUAL",
    "retry": "MANUAL",
    "cli": "API",
    "integrated": "API",
    "internal": "API",
}
_NODE_TYPE = {
    "webhook": "WEBHOOK_TRIGGER",
    "schedule": "SCHEDULE_TRIGGER",
    "manual": "MANUAL_TRIGGER",
    "event": "EVENT_TRIGGER",
    "api": "API_TRIGGER",
    "set": "SET_FIELDS",
    "if": "IF_ELSE",
    "switch": "SWITCH",
    "code": "CODE",
    "http": "HTTP_REQUEST",
    "wait": "WAIT",
    "merge": "MERGE",
    "slack": "SLACK",
    "email": "EMAIL",
    "db": "DATABASE",
    "transform": "TRANSFORM",
}
_NODE_NAMESPACE = uuid.UUID("0b6f9a7e-3f4c-4d2a-8c51-2e9d7a10c4b3")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- rendering ------------------------------------------------------------------------------


def _duration(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return int((to_utc_ms(end) - to_utc_ms(start)) / timedelta(milliseconds=1))


def sort_time(execution: SimExecution) -> datetime:
    return to_utc_ms(execution.started_at or execution.created_at)


def team_status(execution: SimExecution) -> str:
    return STATUS.get(execution.status, execution.status.upper())


def _trigger(execution: SimExecution, workflow: SimWorkflow | None) -> str:
    if execution.mode == "trigger" and workflow is not None and workflow.trigger == "event":
        return "EVENT"
    return _MODE.get(execution.mode, execution.mode.upper())


def _node_id(execution: SimExecution, run: SimNodeRun) -> str:
    return name_uuid(_NODE_NAMESPACE, f"{execution.workflow_id}/{run.node}")


def _run_id(execution: SimExecution, index: int, run: SimNodeRun) -> str:
    return run.id or name_uuid(_NODE_NAMESPACE, f"{execution.id}/run/{index}")


def _run_end(run: SimNodeRun) -> datetime | None:
    if run.status in ("running", "waiting"):
        return None
    return run.started_at + timedelta(milliseconds=run.duration_ms)


Undated = Literal["created", "first", "last"]
"""Where a list puts executions that have not started (see the module docstring)."""


def summary(
    execution: SimExecution, workflow: SimWorkflow | None, *, created_at: bool = False
) -> dict[str, Any]:
    """A list item: the seed's fields (``createdAt`` too when ``created_at``)."""
    item = {
        "id": execution.id,
        "workflowId": execution.workflow_id,
        "workflowName": workflow.name if workflow else None,
        "status": team_status(execution),
        "startedAt": iso_ms(execution.started_at),
        "finishedAt": iso_ms(execution.finished_at),
        "durationMs": _duration(execution.started_at, execution.finished_at),
        "triggerType": _trigger(execution, workflow),
        "nodeCount": len(execution.runs),
        "errorMessage": execution.error_message,
    }
    if created_at:
        item["createdAt"] = iso_ms(execution.created_at)
    return item


def details(execution: SimExecution, workflow: SimWorkflow | None) -> dict[str, Any]:
    nodes = []
    for index, run in enumerate(execution.runs):
        end = _run_end(run)
        nodes.append(
            {
                "id": _run_id(execution, index, run),
                "nodeId": _node_id(execution, run),
                "nodeName": run.node,
                "nodeType": _NODE_TYPE.get(run.kind, run.kind.upper()),
                "status": _NODE_STATUS.get(run.status, run.status.upper()),
                "startedAt": iso_ms(run.started_at),
                "completedAt": iso_ms(end),
                "durationMs": run.duration_ms if end is not None else None,
                "inputData": run.input,
                "outputData": run.output,
                "errorMessage": run.error,
                "retryCount": run.retry_count,
            }
        )
    return {
        "id": execution.id,
        "workflowId": execution.workflow_id,
        "workflowName": workflow.name if workflow else None,
        "workflowVersion": workflow.version if workflow else 1,
        "status": team_status(execution),
        "trigger": _trigger(execution, workflow),
        "inputData": execution.input,
        "outputData": execution.output,
        "errorMessage": execution.error_message,
        "createdAt": iso_ms(execution.created_at),
        "startedAt": iso_ms(execution.started_at),
        "completedAt": iso_ms(execution.finished_at),
        "durationMs": _duration(execution.started_at, execution.finished_at),
        "nodeExecutions": nodes,
    }


# --- request parsing ------------------------------------------------------------------------


def _int(raw: str | None, name: str, default: int, minimum: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Parameter '{name}' must be an integer") from None
    if value < minimum:
        raise ApiError(400, f"Parameter '{name}' must be at least {minimum}")
    return value


def _date(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"Parameter '{name}' must be an ISO 8601 date-time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


HEAD_FRACTION = 4
"""A list's head is picked (``heapq.nlargest``) when it holds under a quarter of the matches;
otherwise everything is sorted."""


@dataclass(frozen=True, slots=True)
class Listed:
    """What a list request matches: ``first``, in list order (at least the page asked for),
    and ``total``, how many match in all."""

    first: list[SimExecution]
    total: int


def _page_request(request: Request) -> tuple[int, int]:
    """The ``page`` and ``size`` a list request asks for (``size`` capped)."""
    page = _int(request.query_params.get("page"), "page", 0, 0)
    size = min(_int(request.query_params.get("size"), "size", DEFAULT_SIZE, 1), MAX_SIZE)
    return page, size


def _paged(
    rows: Listed, page: int, size: int, workflows: Mapping[str, SimWorkflow], *, created_at: bool
) -> JSONBody:
    chunk = rows.first[page * size : (page + 1) * size]
    return JSONBody(
        {
            "content": [
                summary(e, workflows.get(e.workflow_id), created_at=created_at) for e in chunk
            ],
            "totalElements": rows.total,
            "totalPages": math.ceil(rows.total / size),
            "number": page,
            "size": size,
        }
    )


def _error(status: int, message: str) -> JSONBody:
    return JSONBody({"message": message}, status_code=status)


Handler = Callable[[Request], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


class _TeamApi:
    """The routes of one team. Handlers are synchronous and run under the store's lock, so a
    test thread that edits the store never sees a half-rendered answer."""

    def __init__(
        self,
        store: SimStore,
        team_id: str,
        token: str,
        latency_ms: float,
        undated: Undated = "created",
        list_created_at: bool = False,
    ) -> None:
        self.store = store
        self.team_id = team_id
        self.token = token.encode()
        self.latency_ms = latency_ms
        self.undated = undated
        self.list_created_at = list_created_at

    def guarded(self, handler: Handler) -> Endpoint:
        async def run(request: Request) -> Response:
            if self.latency_ms > 0:
                await asyncio.sleep(self.latency_ms / 1000)
            self.store.advance()
            scheme, _, credential = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                credential.strip().encode(), self.token
            ):
                return _error(401, "Unauthorized")
            team = request.path_params.get("team_id")
            if team is not None and team != self.team_id:
                return _error(403, "User does not have access to this team")
            try:
                with self.store.lock:
                    return handler(request)
            except ApiError as exc:
                return _error(exc.status, exc.message)

        return run

    def _rows(
        self,
        *,
        status: str | None = None,
        workflow_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        first: int | None = None,
    ) -> Listed:
        """The executions a list shows, in its order: all of them, or (``first``) at least the
        first ``first``, with how many match in all. Each one's time is computed once, and a
        short head is picked without sorting everything (a count asks for one item)."""
        by_creation = self.undated == "created"
        dated: list[tuple[datetime, str, SimExecution]] = []
        undated: list[SimExecution] = []
        for execution in self.store.window(start, end, active=status in ("RUNNING", "PENDING")):
            # the cheapest tests first: most of a large store falls outside a dated window
            if execution.deleted:
                continue
            if execution.started_at is None and not by_creation:
                if start is None and end is None and self._matches(execution, status, workflow_id):
                    undated.append(execution)
                continue
            moment = sort_time(execution)
            if (start is not None and moment < start) or (end is not None and moment > end):
                continue
            if self._matches(execution, status, workflow_id):
                dated.append((moment, execution.id, execution))
        order = itemgetter(0, 1)
        if first is not None and first * HEAD_FRACTION < len(dated):
            head = heapq.nlargest(first, dated, key=order)
        else:
            head = sorted(dated, key=order, reverse=True)
        undated.sort(key=lambda e: e.id, reverse=True)
        ordered = [e for _, _, e in head]
        rows = undated + ordered if self.undated == "first" else ordered + undated
        return Listed(rows, len(dated) + len(undated))

    @staticmethod
    def _matches(execution: SimExecution, status: str | None, workflow_id: str | None) -> bool:
        return (workflow_id is None or execution.workflow_id == workflow_id) and (
            status is None or team_status(execution) == status
        )

    def _execution(self, request: Request) -> SimExecution:
        raw = request.path_params["execution_id"]
        try:
            uuid.UUID(raw)
        except ValueError:
            raise ApiError(404, "Execution not found") from None
        execution = self.store.get(raw)
        if execution is None:
            raise ApiError(404, "Execution not found")
        return execution

    def list_team(self, request: Request) -> Response:
        query = request.query_params
        status = query.get("status")
        if status is not None:
            status = status.upper()
            if status not in TEAM_STATUSES:
                raise ApiError(400, f"Unknown status '{query['status']}'")
        page, size = _page_request(request)
        rows = self._rows(
            status=status,
            workflow_id=query.get("workflowId"),
            start=_date(query.get("from"), "from"),
            end=_date(query.get("to"), "to"),
            first=(page + 1) * size,
        )
        return _paged(rows, page, size, self.store.workflows, created_at=self.list_created_at)

    def list_workflow(self, request: Request) -> Response:
        workflow_id = request.query_params.get("workflowId")
        if not workflow_id:
            raise ApiError(400, "Parameter 'workflowId' is required")
        page, size = _page_request(request)
        rows = self._rows(workflow_id=workflow_id, first=(page + 1) * size)
        return _paged(rows, page, size, self.store.workflows, created_at=self.list_created_at)

    def get(self, request: Request) -> Response:
        execution = self._execution(request)
        return JSONBody(details(execution, self.store.workflows.get(execution.workflow_id)))

    def cancel(self, request: Request) -> Response:
        execution = self._execution(request)
        if execution.status not in ACTIVE_STATUSES:
            raise ApiError(409, "Only executions with RUNNING or PENDING status can be cancelled")
        started = execution.started_at
        finish(execution, "canceled", self.store.now())
        execution.started_at = started  # one cancelled while pending never started
        return Response(status_code=200)

    def export(self, request: Request) -> Response:
        fmt = request.query_params.get("format", "csv").lower()
        if fmt not in ("csv", "json"):
            raise ApiError(400, "Parameter 'format' must be csv or json")
        days = _int(request.query_params.get("days"), "days", DEFAULT_EXPORT_DAYS, 1)
        rows = self._rows(start=to_utc_ms(self.store.now() - timedelta(days=days)))
        workflows = self.store.workflows
        rendered = [details(e, workflows.get(e.workflow_id)) for e in rows.first]
        body = export_csv(rendered) if fmt == "csv" else export_json(rendered)
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        filename = f"executions-{self.team_id}-{days}d.{fmt}"
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


def create_team_app(
    store: SimStore,
    *,
    team_id: str,
    token: str,
    latency_ms: float = 0.0,
    undated: Undated = "created",
    list_created_at: bool = False,
) -> Starlette:
    """The team-style API of one team over ``store``, answering to Bearer ``token`` only;
    ``undated`` and ``list_created_at`` as in the module docstring."""
    api = _TeamApi(store, team_id, token, latency_ms, undated, list_created_at)
    g = api.guarded
    return Starlette(
        routes=[
            Route("/api/executions/team/{team_id}/export", g(api.export), methods=["GET"]),
            Route("/api/executions/team/{team_id}", g(api.list_team), methods=["GET"]),
            Route("/api/executions/{execution_id}/cancel", g(api.cancel), methods=["POST"]),
            Route("/api/executions/{execution_id}", g(api.get), methods=["GET"]),
            Route("/api/executions", g(api.list_workflow), methods=["GET"]),
        ]
    )
