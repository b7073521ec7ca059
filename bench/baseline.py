"""The direct baseline: a hand-written asyncio client behind a minimal HTTP service.

For each workload it makes the backend calls the gateway needs for the same answer with a plain
asyncio HTTP client: aiohttp (one ``ClientSession`` per instance, at most 16 requests in flight
each, as the gateway's ``BackendHTTP``), or httpx's ``AsyncClient`` when aiohttp is not
installed (``BENCH_BASELINE_CLIENT=httpx`` forces it). It maps the JSON it gets to the fields
the GraphQL query selects and answers ``{"data": {"executions": [...]}}``. No GraphQL, no
domain objects, no cache.

It is served like the gateway (uvicorn, one worker, the same event loop and HTTP
implementation), and driven by the same load generator over HTTP: the difference between the
two is exactly what the gateway adds (GraphQL parsing, validation and execution, domain
parsing, the merge and cursors, DataLoaders), not a different transport or server.

    python -m bench.baseline --config baseline.json --port 8100

``baseline.json``: ``{"acme": {"kind": "team", "base_url": ..., "team_id": ...,
"credential_env": "VAR"}, "n8n-prod": {"kind": "n8n", ...}}``. ``POST /W1`` ... ``/W6``. The body
carries the request's own value, as the gateway's variables do: ``{"before": "<date>"}`` for
W1-W5 (sent to the team-style API as ``to``, to n8n as ``startedBefore``; absent, no bound),
``{"ids": [[instance, native id], ...]}`` for W6 (read in that order).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

try:
    import aiohttp
except ImportError:  # pragma: no cover - the project depends on it today
    aiohttp = None  # type: ignore[assignment]

CLIENT = "aiohttp" if aiohttp is not None else "httpx"
if os.environ.get("BENCH_BASELINE_CLIENT") == "httpx":
    CLIENT = "httpx"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Record = dict[str, Any]

TEAM_STATUS = {s: s for s in ("PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED")}
TEAM_MODE = {
    "WEBHOOK": "WEBHOOK",
    "SCHEDULE": "SCHEDULE",
    "CRON": "SCHEDULE",
    "MANUAL": "MANUAL",
    "API": "API",
    "EVENT": "EVENT",
}
N8N_STATUS = {
    "new": "PENDING",
    "running": "RUNNING",
    "waiting": "WAITING",
    "success": "SUCCESS",
    "error": "FAILED",
    "crashed": "CRASHED",
    "canceled": "CANCELLED",
}
N8N_MODE = {
    "webhook": "WEBHOOK",
    "trigger": "TRIGGER",
    "manual": "MANUAL",
    "retry": "RETRY",
    "cli": "CLI",
    "integrated": "INTEGRATED",
    "internal": "INTERNAL",
}
N8N_NODE_STATUS = {
    "success": "SUCCESS",
    "error": "FAILED",
    "running": "RUNNING",
    "waiting": "WAITING",
    "canceled": "CANCELLED",
    "crashed": "CRASHED",
}
TEAM_PAGE_CAP = 100


def _gid(instance: str, native: str) -> str:
    return base64.b64encode(f"Execution:{instance}:{native}".encode()).decode()


def _epoch(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


def _duration(start: str | None, end: str | None) -> int | None:
    if not start or not end:
        return None
    return max(0, round((_epoch(end) - _epoch(start)) * 1000))


def _iso_ms(epoch_ms: Any) -> str | None:
    if not isinstance(epoch_ms, int | float):
        return None
    return datetime.fromtimestamp(epoch_ms / 1000).astimezone().isoformat()


class Instance:
    def __init__(self, name: str, conf: dict[str, Any]) -> None:
        self.name = name
        self.kind = conf["kind"]
        credential = os.environ[conf["credential_env"]]
        if self.kind == "team":
            headers = {"Authorization": f"Bearer {credential}", "Accept": "application/json"}
            self.team_path = f"/api/executions/team/{conf['team_id']}"
        else:
            headers = {"X-N8N-API-KEY": credential, "Accept": "application/json"}
        # At most 16 requests in flight per instance, as the gateway's BackendHTTP (httpx's pool
        # gets slow when hundreds of requests queue inside it).
        self.slots = asyncio.Semaphore(16)
        self.base_url = conf["base_url"]
        self.headers = headers
        self.client = httpx.AsyncClient(
            base_url=conf["base_url"],
            headers=headers,
            timeout=httpx.Timeout(10.0, connect=3.0),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )
        self.session: Any = None

    async def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        async with self.slots:
            if CLIENT == "httpx":
                response = await self.client.get(path, params=params)
                response.raise_for_status()
                return response.json()
            if self.session is None:
                self.session = aiohttp.ClientSession(
                    self.base_url,
                    headers=self.headers,
                    connector=aiohttp.TCPConnector(limit=16),
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=3.0, sock_read=10.0),
                )
            async with self.session.get(path, params=params) as answer:
                answer.raise_for_status()
                return json.loads(await answer.read())

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.session is not None:
            await self.session.close()

    # --- team-style ---------------------------------------------------------------------------

    def team_record(self, item: dict[str, Any]) -> Record:
        started = item.get("startedAt")
        finished = item.get("completedAt", item.get("finishedAt"))
        trigger = item.get("trigger", item.get("triggerType"))
        return {
            "id": _gid(self.name, item["id"]),
            "nativeId": item["id"],
            "status": TEAM_STATUS.get(str(item.get("status")), "UNKNOWN"),
            "mode": TEAM_MODE.get(str(trigger), "UNKNOWN"),
            "startedAt": started,
            "finishedAt": finished,
            "durationMs": item.get("durationMs"),
            "errorMessage": item.get("errorMessage"),
            "instance": {"name": self.name},
            "workflow": {"id": item.get("workflowId"), "name": item.get("workflowName")},
            "_t": _epoch(started or item.get("createdAt")),
        }

    async def team_list(self, count: int, before: str | None) -> tuple[list[Record], bool]:
        """The newest ``count`` executions started before ``before``, and whether more exist
        (from ``totalElements``)."""
        size = min(count + 1, TEAM_PAGE_CAP)
        params = {"page": "0", "size": str(size)}
        if before is not None:
            params["to"] = before
        body = await self.get(self.team_path, params)
        items = [self.team_record(item) for item in body["content"]]
        return items[:count], body["totalElements"] > count

    async def team_detail(self, native: str) -> Record:
        body = await self.get(f"/api/executions/{native}")
        record = self.team_record(body)
        record["nodeExecutions"] = [
            {
                "nodeName": node["nodeName"],
                "nodeType": node.get("nodeType"),
                "status": TEAM_STATUS.get(str(node.get("status")), "UNKNOWN"),
                "startedAt": node.get("startedAt"),
                "durationMs": node.get("durationMs"),
                "errorMessage": node.get("errorMessage"),
            }
            for node in body.get("nodeExecutions") or ()
        ]
        return record

    # --- n8n ----------------------------------------------------------------------------------

    def n8n_record(self, item: dict[str, Any], *, nodes: bool) -> Record:
        started, stopped = item.get("startedAt"), item.get("stoppedAt")
        workflow = item.get("workflowData") or {}
        result = (item.get("data") or {}).get("resultData") or {}
        error = result.get("error") or {}
        record: Record = {
            "id": _gid(self.name, item["id"]),
            "nativeId": item["id"],
            "status": N8N_STATUS.get(str(item.get("status")), "UNKNOWN"),
            "mode": N8N_MODE.get(str(item.get("mode")), "UNKNOWN"),
            "startedAt": started,
            "finishedAt": stopped,
            "durationMs": _duration(started, stopped),
            "errorMessage": error.get("message"),
            "instance": {"name": self.name},
            "workflow": {"id": item.get("workflowId"), "name": workflow.get("name")},
            "_t": _epoch(started or item.get("createdAt")),
        }
        if nodes:
            types = {n.get("name"): n.get("type") for n in workflow.get("nodes") or ()}
            runs = []
            for name, node_runs in (result.get("runData") or {}).items():
                for run in node_runs:
                    run_error = run.get("error") or {}
                    runs.append(
                        (
                            run.get("executionIndex", 0),
                            run.get("startTime") or 0,
                            {
                                "nodeName": name,
                                "nodeType": types.get(name),
                                "status": N8N_NODE_STATUS.get(
                                    str(run.get("executionStatus")), "UNKNOWN"
                                ),
                                "startedAt": _iso_ms(run.get("startTime")),
                                "durationMs": run.get("executionTime"),
                                "errorMessage": run_error.get("message"),
                            },
                        )
                    )
            runs.sort(key=lambda r: (r[0], r[1]))
            record["nodeExecutions"] = [r[2] for r in runs]
        return record

    async def n8n_list(
        self, count: int, before: str | None, *, nodes: bool
    ) -> tuple[list[Record], bool]:
        """The newest ``count`` executions started before ``before``: the default list leaves
        running ones out, so read them with a second call, as the gateway does."""
        params = {"limit": str(count + 1)}
        if before is not None:
            params["startedBefore"] = before
        if nodes:
            params["includeData"] = "true"
        finished, running = await asyncio.gather(
            self.get("/api/v1/executions", params),
            self.get("/api/v1/executions", {**params, "status": "running"}),
        )
        merged = {int(i["id"]): i for i in [*finished["data"], *running["data"]]}
        ordered = [merged[k] for k in sorted(merged, reverse=True)]
        records = [self.n8n_record(item, nodes=nodes) for item in ordered[:count]]
        more = len(ordered) > count or bool(finished["nextCursor"] or running["nextCursor"])
        return records, more

    async def n8n_detail(self, native: str) -> Record:
        body = await self.get(f"/api/v1/executions/{native}", {"includeData": "true"})
        return self.n8n_record(body, nodes=True)

    # --- either ---------------------------------------------------------------------------------

    async def newest(
        self, count: int, before: str | None, *, nodes: bool
    ) -> tuple[list[Record], bool]:
        if self.kind == "team":
            return await self.team_list(count, before)
        return await self.n8n_list(count, before, nodes=nodes)

    async def detail(self, native: str) -> Record:
        if self.kind == "team":
            return await self.team_detail(native)
        return await self.n8n_detail(native)


def _order(record: Record) -> tuple[Any, ...]:
    native = str(record["nativeId"])
    numeric = native.isdigit()
    return (
        -record["_t"],
        record["instance"]["name"],
        0 if numeric else 1,
        -int(native) if numeric else "",
        native if not numeric else "",
    )


class Baseline:
    def __init__(self, config: dict[str, Any]) -> None:
        self.instances = {name: Instance(name, conf) for name, conf in config.items()}
        self.team = next(i for i in self.instances.values() if i.kind == "team")
        self.n8n = sorted(
            (i for i in self.instances.values() if i.kind == "n8n"), key=lambda i: i.name
        )

    async def with_nodes(self, records: list[Record]) -> list[Record]:
        """Team-style list items carry no nodes: read those executions' details, concurrently."""
        team = [r for r in records if "nodeExecutions" not in r]
        details = await asyncio.gather(
            *(self.instances[r["instance"]["name"]].detail(r["nativeId"]) for r in team)
        )
        by_id = {d["id"]: d for d in details}
        return [by_id.get(r["id"], r) for r in records]

    async def single(self, instance: Instance, count: int, before: str | None) -> Record:
        records, more = await instance.newest(count, before, nodes=True)
        return {"executions": await self.with_nodes(records), "hasNextPage": more}

    async def merged(self, count: int, before: str | None, *, nodes: bool) -> Record:
        pages = await asyncio.gather(
            *(
                i.newest(count, before, nodes=nodes)
                for i in sorted(self.instances.values(), key=lambda i: i.name)
            )
        )
        merged = sorted((r for records, _ in pages for r in records), key=_order)
        page = merged[:count]
        more = len(merged) > count or any(more for _, more in pages)
        if nodes:
            page = await self.with_nodes(page)
        return {"executions": page, "hasNextPage": more}

    async def refetch(self, refs: list[list[str]]) -> Record:
        found = await asyncio.gather(
            *(self.instances[inst].detail(native) for inst, native in refs)
        )
        return {"executions": list(found)}

    async def answer(self, workload: str, request: bytes) -> Record:
        sent = json.loads(request) if request else {}
        before = sent.get("before")
        if workload == "W1":
            return await self.single(self.team, 20, before)
        if workload == "W2":
            return await self.single(self.n8n[0], 20, before)
        if workload == "W3":
            return await self.merged(50, before, nodes=True)
        if workload == "W4":
            return await self.single(self.team, 100, before)
        if workload == "W5":
            return await self.merged(50, before, nodes=False)
        if workload == "W6":
            return await self.refetch(sent["ids"])
        raise KeyError(workload)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for instance in self.instances.values():
                        await instance.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        request = b""
        while True:
            message = await receive()
            request += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 200
        try:
            data = await self.answer(scope["path"].strip("/"), request)
            for record in data["executions"]:
                record.pop("_t", None)
            payload = json.dumps({"data": data}).encode()
        except KeyError:
            status, payload = 404, b'{"errors": [{"message": "no such workload"}]}'
        except Exception as exc:  # a backend failure of either client: report it, keep serving
            status = 502
            payload = json.dumps({"errors": [{"message": type(exc).__name__}]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = Baseline(json.loads(Path(args.config).read_text()))
    version = aiohttp.__version__ if CLIENT == "aiohttp" else httpx.__version__
    print(f"bench-baseline: client {CLIENT} {version}", flush=True)
    # Served exactly as ``execgate serve`` serves the gateway.
    from execgate.config import ServerSettings
    from execgate.server import listen, serve

    serve(app, listen(args.host, args.port), header_timeout=ServerSettings().header_timeout_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
