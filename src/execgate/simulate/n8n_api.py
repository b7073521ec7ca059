"""An n8n-style public API (``/api/v1``) over a ``SimStore``, answering like n8n 2.41.1.

Routes: ``GET /executions`` (keyset pages by ``cursor``), ``GET|DELETE /executions/{id}``,
``POST /executions/{id}/retry``, ``POST /executions/{id}/stop``, ``POST /executions/stop``,
``GET /executions/{id}/tags`` and ``GET /workflows/{id}``. Status codes and message strings
are the ones a real server answered (``tests/data/n8n/errors.jsonl``); the JSON shapes come from
``n8n_render`` and ``n8n_records``, and what stop/retry do from ``n8n_actions``.

Listing: id descending; ``limit`` defaults to 100, is clamped to 250, and 0 means every row;
a ``cursor`` is base64 of ``{"lastId": "<id>", "limit": n}`` and its limit wins over the query's;
running executions are left out unless ``status=running`` is asked for; ``nextCursor`` is null
exactly when no older row matches.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from execgate.simulate import n8n_actions
from execgate.simulate.data import ACTIVE_STATUSES, SimExecution
from execgate.simulate.n8n_records import list_item, record, retry_answer
from execgate.simulate.n8n_render import EPOCH_ISO, PROJECT_ID, render_workflow
from execgate.simulate.store import SimStore
from execgate.simulate.wire import JSONBody, iso_ms

STATUSES = ("canceled", "crashed", "error", "new", "running", "success", "unknown", "waiting")
STOPPABLE = ("queued", "running", "waiting")
DEFAULT_LIMIT = 100
MAX_LIMIT = 250

_INT_PREFIX = re.compile(r"\s*([+-]?\d+)")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE
)
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _enum_message(where: str, allowed: Collection[str], received: str) -> str:
    expected = " | ".join(f"'{value}'" for value in allowed)
    return f"{where} Invalid enum value. Expected {expected}, received '{received}'"


def _js_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise ApiError(400, _enum_message(f"request/query/{name}", ("true", "false"), raw))
    return raw == "true"


def _datetime(raw: str | None, where: str) -> datetime | None:
    if raw is None:
        return None
    try:
        if not _DATETIME.match(raw):
            raise ValueError(raw)
        return datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{where} Invalid datetime") from None


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    match = _INT_PREFIX.match(raw)
    if match is None:
        raise ApiError(400, "request/query/limit Param `limit` must be a valid integer")
    value = int(match.group(1))
    if value < 0:
        raise ApiError(400, "request/query/limit Param `limit` must be a non-negative integer")
    return min(value, MAX_LIMIT)


def _cursor(raw: str) -> tuple[int | None, int | None]:
    """``(lastId, limit)`` from a cursor; either may be absent (``{}`` is the first page)."""
    invalid = ApiError(400, "An invalid cursor was provided")
    try:
        decoded = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    if not isinstance(decoded, dict):
        raise invalid
    last = decoded.get("lastId")
    if last is not None and not (
        (isinstance(last, str) and last.isdigit()) or (type(last) is int and last >= 0)
    ):
        raise invalid
    limit = decoded.get("limit")
    size: int | None = None
    if isinstance(limit, int | float) and not isinstance(limit, bool):
        size = max(1, min(MAX_LIMIT, int(limit)))
    return (int(last) if last is not None else None), size


def _encode_cursor(last_id: str, limit: int) -> str:
    payload = json.dumps({"lastId": last_id, "limit": limit}, separators=(",", ":"))
    return base64.b64encode(payload.encode()).decode()


def _number(execution_id: str) -> int:
    """The numeric order of an id (n8n ids are "1", "2", ...; anything else sorts last)."""
    return int(execution_id) if execution_id.isdigit() else -1


def _order(execution: SimExecution) -> int:
    """The list order's key: newest id first."""
    return _number(execution.id)


def _execution_id(raw: str) -> str:
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(400, "request/params/executionId must be a positive integer")
    return str(int(raw))


_ALL: frozenset[str] = frozenset({"*"})


class N8nSimulator:
    """The request handlers of one simulated n8n instance."""

    def __init__(
        self,
        store: SimStore,
        api_key: str,
        latency_ms: float,
        failing_workflows: Collection[str],
        scoped_keys: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        self.store = store
        self.api_key = api_key.encode()
        self.scoped_keys = [(k.encode(), frozenset(v)) for k, v in (scoped_keys or {}).items()]
        self.latency_ms = latency_ms
        self.failing_workflows = frozenset(failing_workflows)
        created = [e.created_at for e in store.executions.values()]
        self.workflows_created = min(created) - timedelta(hours=1) if created else store.now()
        """When the simulated workflows were created (before every execution)."""
        self.restarts: dict[str, int] = {}
        """Retry id → how many node runs it copied (its own runs are numbered from 0 again)."""
        self.routes: list[tuple[str, re.Pattern[str], Handler, str]] = [
            ("GET", re.compile(r"^/api/v1/executions$"), self.list_executions, "execution:list"),
            ("POST", re.compile(r"^/api/v1/executions/stop$"), self.stop_many, "execution:stop"),
            (
                "GET",
                re.compile(r"^/api/v1/executions/([^/]+)$"),
                self.get_execution,
                "execution:read",
            ),
            (
                "DELETE",
                re.compile(r"^/api/v1/executions/([^/]+)$"),
                self.delete_execution,
                "execution:delete",
            ),
            (
                "POST",
                re.compile(r"^/api/v1/executions/([^/]+)/retry$"),
                self.retry,
                "execution:retry",
            ),
            ("POST", re.compile(r"^/api/v1/executions/([^/]+)/stop$"), self.stop, "execution:stop"),
            (
                "GET",
                re.compile(r"^/api/v1/executions/([^/]+)/tags$"),
                self.tags,
                "executionTags:list",
            ),
            ("GET", re.compile(r"^/api/v1/workflows/([^/]+)$"), self.get_workflow, "workflow:read"),
        ]

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self, request: Request) -> Response:
        self.store.advance()
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        path = request.url.path
        matched = [(m, p, h, scope) for m, p, h, scope in self.routes if p.match(path)]
        # n8n's request validator answers unknown paths before it checks the key
        if not matched:
            return JSONBody({"message": "not found"}, status_code=404)
        scopes = self._scopes(request)
        if scopes is None:
            return JSONBody({"message": "Unauthorized"}, status_code=401)
        for method, pattern, handler, scope in matched:
            if method == request.method:
                if scopes is not _ALL and scope not in scopes:
                    return JSONBody({"message": "Forbidden"}, status_code=403)
                found = pattern.match(path)
                assert found is not None
                try:
                    body = await handler(request, *found.groups())
                except ApiError as exc:
                    return JSONBody({"message": exc.message}, status_code=exc.status)
                return JSONBody(body)
        return JSONBody({"message": f"{request.method} method not allowed"}, status_code=405)

    def _scopes(self, request: Request) -> frozenset[str] | None:
        """The scopes of the presented key (``_ALL`` for the full key), ``None`` if unknown."""
        presented = request.headers.get("x-n8n-api-key")
        if presented is None:
            return None
        found: frozenset[str] | None = None
        if hmac.compare_digest(presented.encode(), self.api_key):
            found = _ALL
        for key, scopes in self.scoped_keys:
            if hmac.compare_digest(presented.encode(), key):
                found = scopes
        return found

    def _restart(self, execution: SimExecution) -> int | None:
        return self.restarts.get(execution.id)

    def _found(self, raw_id: str) -> SimExecution | None:
        return self.store.get(_execution_id(raw_id))

    # ------------------------------------------------------------------ reads

    async def list_executions(self, request: Request) -> Any:
        query = request.query_params
        limit = _limit(query.get("limit"))
        include = _flag(query, "includeData")
        _flag(query, "ignoreDataSizeLimit")
        redact = _flag(query, "redactExecutionData")
        status = query.get("status")
        if status is not None and status not in STATUSES:
            raise ApiError(400, _enum_message("request/query/status", STATUSES, status))
        after = _datetime(query.get("startedAfter"), "request/query/startedAfter")
        before = _datetime(query.get("startedBefore"), "request/query/startedBefore")
        last_id: int | None = None
        if "cursor" in query:
            last_id, cursor_limit = _cursor(query["cursor"])
            if cursor_limit is not None:
                limit = cursor_limit
        workflow_id = query.get("workflowId")
        project_id = query.get("projectId")
        with self.store.lock:
            # the dated window first: most of a large store falls outside it
            rows = [
                e
                for e in self.store.window(after, before, active=status in ACTIVE_STATUSES)
                if (after is None or (e.started_at is not None and e.started_at >= after))
                and (before is None or (e.started_at is not None and e.started_at <= before))
                and not e.deleted
                and (e.status == status if status is not None else e.status != "running")
                and (workflow_id is None or e.workflow_id == workflow_id)
                and (project_id is None or project_id == PROJECT_ID)
                and (last_id is None or _number(e.id) < last_id)
            ]
            if limit > 0 and limit * 4 < len(rows):
                # the page alone, without sorting everything that matched
                page = heapq.nlargest(limit, rows, key=_order)
            else:
                rows.sort(key=_order, reverse=True)
                page = rows if limit == 0 else rows[:limit]
            more = len(rows) > len(page)
            data = [
                list_item(
                    e,
                    self.store.workflows.get(e.workflow_id),
                    include_data=include,
                    restart=self._restart(e),
                    redact=redact,
                )
                for e in page
            ]
        next_cursor = _encode_cursor(page[-1].id, limit) if more and page else None
        return {"data": data, "nextCursor": next_cursor}

    async def get_execution(self, request: Request, raw_id: str) -> Any:
        include = _flag(request.query_params, "includeData")
        _flag(request.query_params, "ignoreDataSizeLimit")
        redact = _flag(request.query_params, "redactExecutionData")
        with self.store.lock:
            execution = self._found(raw_id)
            if execution is None:
                raise ApiError(404, "Not Found")
            return record(
                execution,
                self.store.workflows.get(execution.workflow_id),
                include_data=include,
                restart=self._restart(execution),
                redact=redact,
            )

    async def tags(self, request: Request, raw_id: str) -> Any:
        with self.store.lock:
            if self._found(raw_id) is None:
                raise ApiError(404, "Not Found")
        return []

    async def get_workflow(self, request: Request, workflow_id: str) -> Any:
        with self.store.lock:
            workflow = self.store.workflows.get(workflow_id)
            if workflow is None:
                raise ApiError(404, "Not Found")
            return render_workflow(workflow, self.workflows_created)

    # ------------------------------------------------------------------ mutations

    async def delete_execution(self, request: Request, raw_id: str) -> Any:
        with self.store.lock:
            execution = self._found(raw_id)
            if execution is None:
                raise ApiError(404, "Not Found")
            if execution.status == "running":
                raise ApiError(400, "Cannot delete a running execution")
            body = record(execution, self.store.workflows.get(execution.workflow_id))
            self.store.remove(execution.id)
        body["id"] = int(execution.id)
        return body

    async def stop(self, request: Request, raw_id: str) -> Any:
        with self.store.lock:
            execution = self._found(raw_id)
            if execution is None:
                raise ApiError(404, "Failed to find execution to stop")
            if execution.status not in ("new", "running", "waiting"):
                raise ApiError(
                    409,
                    "Only running or waiting executions can be stopped and "
                    f"{execution.id} is currently {execution.status}",
                )
            n8n_actions.stop(execution, self.store.now())
            return {
                "mode": execution.mode,
                "startedAt": iso_ms(execution.started_at) or EPOCH_ISO,
                "stoppedAt": iso_ms(execution.finished_at),
                "finished": False,
                "status": "canceled",
            }

    async def stop_many(self, request: Request) -> Any:
        body = await _json_body(request, required=True)
        if not isinstance(body, dict):
            raise ApiError(400, f"request/body Expected object, received {_js_type(body)}")
        statuses = body.get("status")
        if statuses is None:
            raise ApiError(400, "request/body/status Required")
        if not isinstance(statuses, list) or not statuses:
            raise ApiError(400, "request/body/status Expected array with at least 1 item")
        for index, value in enumerate(statuses):
            if value not in STOPPABLE:
                raise ApiError(
                    400, _enum_message(f"request/body/status/{index}", STOPPABLE, str(value))
                )
        after = _datetime(body.get("startedAfter"), "request/body/startedAfter")
        before = _datetime(body.get("startedBefore"), "request/body/startedBefore")
        wanted = {"new" if value == "queued" else value for value in statuses}
        workflow_id = body.get("workflowId")
        with self.store.lock:
            if workflow_id is not None and workflow_id not in self.store.workflows:
                raise ApiError(404, "Workflow not found or not accessible")
            chosen = [
                e
                for e in self.store.visible()
                if e.status in wanted
                and (workflow_id is None or e.workflow_id == workflow_id)
                and (after is None or (e.started_at is not None and e.started_at >= after))
                and (before is None or (e.started_at is not None and e.started_at <= before))
            ]
            now = self.store.now()
            for execution in chosen:
                n8n_actions.stop(execution, now)
        return {"stopped": len(chosen)}

    async def retry(self, request: Request, raw_id: str) -> Any:
        execution_id = _execution_id(raw_id)
        body = await _json_body(request, required=False)
        if body is not None:
            if not isinstance(body, dict):
                raise ApiError(400, f"request/body Expected object, received {_js_type(body)}")
            load = body.get("loadWorkflow")
            if load is not None and not isinstance(load, bool):
                raise ApiError(
                    400,
                    f"request/body/loadWorkflow Expected boolean, received {_js_type(load)}",
                )
        with self.store.lock:
            original = self.store.get(execution_id)
            if original is None:
                raise ApiError(404, f'The execution with the ID "{execution_id}" does not exist.')
            if original.status == "success":
                raise ApiError(409, "The execution succeeded, so it cannot be retried.")
            fail = original.workflow_id in self.failing_workflows
            created, copied = n8n_actions.retry(self.store, original, fail=fail)
            self.restarts[created.id] = copied
            return retry_answer(
                created, self.store.workflows.get(created.workflow_id), self._restart(created)
            )


Handler = Callable[..., Awaitable[Any]]


async def _json_body(request: Request, *, required: bool) -> Any:
    """The JSON body, ``None`` when absent and optional; 415 without a JSON content type."""
    content_type = request.headers.get("content-type")
    raw = await request.body()
    if content_type is None and not raw:
        if required:
            raise ApiError(415, "unsupported media type undefined")
        return None
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, f"unsupported media type {media or 'undefined'}")
    if not raw:
        if required:
            raise ApiError(400, "request/body Required")
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "Unexpected token in JSON body") from None


def create_n8n_app(
    store: SimStore,
    *,
    api_key: str,
    latency_ms: float = 0.0,
    failing_workflows: Collection[str] = (),
    scoped_keys: Mapping[str, Collection[str]] | None = None,
) -> Starlette:
    """An n8n-style public API over ``store``; requests need header ``X-N8N-API-KEY: api_key``.

    ``failing_workflows``: ids of workflows whose retries fail again (see ``n8n_actions``).
    ``scoped_keys``: further keys holding only some scopes (``execution:list``, ...): any other
    route answers them 403 ``Forbidden``, as n8n does for a key missing the route's scope.
    """
    simulator = N8nSimulator(store, api_key, latency_ms, failing_workflows, scoped_keys)
    app = Starlette(routes=[Route("/{path:path}", simulator.dispatch, methods=_METHODS)])
    app.state.simulator = simulator
    return app
