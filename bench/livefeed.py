"""A live backend for the memory soak: a team-style and an n8n API whose feed never stops.

Both APIs are served on one port (their paths do not overlap). ``--rate`` new executions start
every second on each API, from the moment the server starts (after a backlog of ``--backlog``
each), so a client that keeps asking for the newest page keeps meeting executions it has
never seen. An execution's content comes from the simulators' own seeded data
(``execgate.simulate``): execution ``n`` is finished template ``n mod T`` of a generated store
(its node runs with their input and output data, the sizes the simulators serve) under its own
id, started at ``start + n / rate``.

Routes, shaped as the simulators answer:

- ``GET /api/executions/team/{teamId}`` (``page``, ``size`` ≤ 100, ``from``, ``to``) and
  ``GET /api/executions/{id}`` (details with node executions), Bearer ``--token``;
- ``GET /api/v1/executions`` (``limit``, ``cursor``, ``status``, ``includeData``,
  ``startedAfter``, ``startedBefore``) and ``GET /api/v1/executions/{id}``, ``X-N8N-API-KEY``
  ``--api-key``. Every execution is finished: ``status=running`` lists nothing.
- ``GET /__stats``: requests by route, executions started so far, details read.

    python -m bench.livefeed --port 9300 --rate 300 --token T --api-key K
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.simserve import route_of

N8N_BASE = 1_000_000
"""n8n ids are ``N8N_BASE + n`` (numeric, increasing with time, as n8n's are)."""


def _iso(epoch_ms: float) -> str:
    seconds, millis = divmod(int(epoch_ms), 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


def _epoch_ms(text: str | None) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def team_id_of(n: int) -> str:
    """A valid UUID naming team-style execution ``n``."""
    return f"{n >> 16 & 0xFFFFFFFF:08x}-{n & 0xFFFF:04x}-4000-8000-{n:012x}"


def team_number(execution_id: str) -> int | None:
    try:
        return int(execution_id.rsplit("-", 1)[1], 16)
    except (IndexError, ValueError):
        return None


class Feed:
    """Which executions exist at a moment: numbers ``0 .. newest()``, ``rate`` more a second."""

    def __init__(self, rate: float, backlog: int, clock: Callable[[], float] = time.time) -> None:
        self.rate = rate
        self.backlog = backlog
        self.clock = clock
        self.start_ms = clock() * 1000 - backlog * 1000 / rate
        """When execution 0 started (the backlog started before the server did)."""

    def newest(self) -> int:
        return int((self.clock() * 1000 - self.start_ms) * self.rate / 1000)

    def started_ms(self, n: int) -> float:
        return self.start_ms + n * 1000 / self.rate

    def number_at(self, epoch_ms: float) -> int:
        """The newest execution started at or before ``epoch_ms`` (-1 if none)."""
        return math.floor((epoch_ms - self.start_ms) * self.rate / 1000)

    def bounds(self, after: str | None, before: str | None) -> tuple[int, int]:
        """Numbers from low to high (inclusive) started within [after, before], up to now."""
        high = self.newest()
        ceiling = _epoch_ms(before)
        if ceiling is not None:
            high = min(high, self.number_at(ceiling))
        low = 0
        floor = _epoch_ms(after)
        if floor is not None:
            low = max(0, math.ceil((floor - self.start_ms) * self.rate / 1000))
        return low, high


class Templates:
    """Finished executions rendered by the simulators, to be reused under new ids and times."""

    def __init__(self, seed: int, count: int) -> None:
        from execgate.simulate.generate import generate_store
        from execgate.simulate.n8n_records import list_item, record
        from execgate.simulate.team_api import details, summary

        team = generate_store(seed, style="team", executions=count)
        n8n = generate_store(seed + 1, style="n8n", executions=count)
        self.team: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for e in team.visible():
            if e.status in ("success", "error"):
                workflow = team.workflows.get(e.workflow_id)
                self.team.append((summary(e, workflow), details(e, workflow)))
        self.n8n: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        self.n8n_durations: list[float] = []
        for e in n8n.visible():
            finished = e.status in ("success", "error")
            if finished and e.retry_of is None and e.retry_success_id is None:
                workflow = n8n.workflows.get(e.workflow_id)
                lean = list_item(e, workflow, include_data=False)
                self.n8n.append(
                    (
                        lean,
                        list_item(e, workflow, include_data=True),
                        record(e, workflow, include_data=True),
                    )
                )
                start, stop = _epoch_ms(lean["startedAt"]), _epoch_ms(lean["stoppedAt"])
                self.n8n_durations.append(stop - start if start and stop else 1000.0)
        if not self.team or not self.n8n:
            raise SystemExit("the generated stores hold no finished executions")


def _duration_ms(template: dict[str, Any]) -> float:
    value = template.get("durationMs")
    return float(value) if isinstance(value, int | float) else 1000.0


class LiveFeed:
    def __init__(self, feed: Feed, templates: Templates, token: str, api_key: str) -> None:
        self.feed = feed
        self.templates = templates
        self.token = f"Bearer {token}"
        self.api_key = api_key
        self.routes: Counter[str] = Counter()
        self.details = 0

    # --- team-style -----------------------------------------------------------------------

    def team_execution(self, n: int, *, full: bool) -> dict[str, Any]:
        summary, details = self.templates.team[n % len(self.templates.team)]
        started = self.feed.started_ms(n)
        out = dict(details if full else summary)
        finished = _iso(started + _duration_ms(summary))
        out.update(id=team_id_of(n), createdAt=_iso(started - 5), startedAt=_iso(started))
        out["completedAt" if full else "finishedAt"] = finished
        return out

    def team_list(self, request: Request) -> Any:
        query = request.query_params
        page = max(0, int(query.get("page", "0")))
        size = max(1, min(100, int(query.get("size", "20"))))
        low, high = self.feed.bounds(query.get("from"), query.get("to"))
        total = max(0, high - low + 1)
        top = high - page * size
        numbers = range(top, max(low, top - size + 1) - 1, -1) if top >= low else range(0)
        return {
            "content": [self.team_execution(n, full=False) for n in numbers],
            "totalElements": total,
            "totalPages": math.ceil(total / size),
            "number": page,
            "size": size,
        }

    def team_detail(self, execution_id: str) -> Any:
        n = team_number(execution_id)
        if n is None or not 0 <= n <= self.feed.newest():
            return None
        self.details += 1
        return self.team_execution(n, full=True)

    # --- n8n ------------------------------------------------------------------------------

    def n8n_execution(self, n: int, *, data: bool, single: bool = False) -> dict[str, Any]:
        index = n % len(self.templates.n8n)
        lean, listed, full = self.templates.n8n[index]
        started = self.feed.started_ms(n)
        out = dict(full if single else (listed if data else lean))
        stopped = started + self.templates.n8n_durations[index]
        out.update(id=str(N8N_BASE + n), startedAt=_iso(started), stoppedAt=_iso(stopped))
        if single:
            out["createdAt"] = _iso(started - 5)
        return out

    def n8n_list(self, request: Request) -> Any:
        query = request.query_params
        limit = int(query.get("limit", "100"))
        limit = 250 if limit == 0 else max(1, min(250, limit))
        data = query.get("includeData") == "true"
        if query.get("status") not in (None, "success", "error"):
            return {"data": [], "nextCursor": None}
        low, high = self.feed.bounds(query.get("startedAfter"), query.get("startedBefore"))
        if "cursor" in query:
            raw = query["cursor"]
            decoded = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
            high = min(high, int(decoded["lastId"]) - N8N_BASE - 1)
            limit = int(decoded.get("limit", limit))
        numbers = list(range(high, max(low, high - limit + 1) - 1, -1)) if high >= low else []
        next_cursor = None
        if numbers and numbers[-1] > low:
            payload = json.dumps({"lastId": str(N8N_BASE + numbers[-1]), "limit": limit})
            next_cursor = base64.b64encode(payload.encode()).decode()
        return {
            "data": [self.n8n_execution(n, data=data) for n in numbers],
            "nextCursor": next_cursor,
        }

    def n8n_detail(self, request: Request, execution_id: str) -> Any:
        if not execution_id.isdigit():
            return None
        n = int(execution_id) - N8N_BASE
        if not 0 <= n <= self.feed.newest():
            return None
        self.details += 1
        data = request.query_params.get("includeData") == "true"
        return self.n8n_execution(n, data=data, single=True)

    # --- HTTP -----------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        from execgate.simulate.wire import JSONBody

        path = request.url.path
        if path == "/__stats":
            return JSONBody(
                {
                    "requests": sum(self.routes.values()),
                    "routes": dict(self.routes),
                    "newest": self.feed.newest(),
                    "rate": self.feed.rate,
                    "details": self.details,
                }
            )
        self.routes[route_of(request.method, path)] += 1
        answer: Any = None
        if path.startswith("/api/v1/"):
            if request.headers.get("x-n8n-api-key") != self.api_key:
                return JSONBody({"message": "Unauthorized"}, status_code=401)
            if path == "/api/v1/executions":
                answer = self.n8n_list(request)
            elif path.startswith("/api/v1/executions/"):
                answer = self.n8n_detail(request, path.rsplit("/", 1)[1])
        elif path.startswith("/api/executions/"):
            if request.headers.get("authorization") != self.token:
                return JSONBody({"message": "Unauthorized"}, status_code=401)
            if path.startswith("/api/executions/team/"):
                answer = self.team_list(request)
            else:
                answer = self.team_detail(path.rsplit("/", 1)[1])
        if answer is None:
            return JSONBody({"message": "Not Found"}, status_code=404)
        return JSONBody(answer)


def create_app(live: LiveFeed) -> Starlette:
    async def endpoint(request: Request) -> Response:
        return await live.dispatch(request)

    handler: Callable[[Request], Awaitable[Response]] = endpoint
    return Starlette(routes=[Route("/{path:path}", handler, methods=["GET"])])


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.livefeed", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--rate", type=float, default=300.0, help="new executions a second, each API"
    )
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--templates", type=int, default=400)
    parser.add_argument("--token", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args(argv)
    templates = Templates(args.seed, args.templates)
    live = LiveFeed(Feed(args.rate, args.backlog), templates, args.token, args.api_key)
    print(
        f"live feed: {args.rate:g} new executions a second on each API, "
        f"{len(templates.team)} team-style and {len(templates.n8n)} n8n templates",
        flush=True,
    )
    uvicorn.run(
        create_app(live), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
