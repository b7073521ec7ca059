"""The benchmark's fast backend: nginx serving the simulators' answers, rendered beforehand.

The Python simulators (``execgate simulate``) saturate their core long before a direct client
does, which caps the baseline and pulls every ratio toward 1. Here the same API shapes come
from nginx (a compiled server, one worker process): ``render`` asks the simulator apps
themselves (in process, over ASGI, with the clock stopped) for every answer the workloads need
and writes each body to a file; ``nginx_conf`` routes a request to its file by path and by the
query arguments the answer depends on:

- team-style: ``GET /api/executions/team/{teamId}`` by ``page``, ``size`` and ``status``;
  ``GET /api/executions/{id}``;
- n8n: ``GET /api/v1/executions`` by ``limit``, ``status``, ``includeData``, whether
  ``startedBefore`` is present, and ``cursor`` (no cursor page is rendered: a request with one
  answers 404 and shows in the route counts); ``GET /api/v1/executions/{id}`` by
  ``includeData``.

Date arguments are not looked at: the benchmark only sends far-future ones
(``bench/bodies.py``), which exclude nothing the team-style API holds, and on n8n only the
executions that have not started, so an n8n list with ``startedBefore`` is rendered with the
earliest of those values. Credentials are checked as the APIs do (401 otherwise). With a
latency, every answer waits that long first (``echo_sleep`` of the echo module, a timer, no
CPU). Every request is logged as ``port method uri status``; ``RouteLog`` counts them per
instance and route, as ``bench/simserve.py`` does for the simulators.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bench.bodies import date_value
from bench.simserve import route_of

if TYPE_CHECKING:
    from execgate.simulate.generate import Style

TEAM_SIZES = (20, 21, 31, 50, 51, 61, 100)
"""``size`` values rendered for team-style lists (the API caps it at 100): the adapter asks
for ``first + 1``, plus room for executions listed without a time (``UNDATED_ROOM``)."""
TEAM_PAGES = (0, 1, 2)
TEAM_STATUSES = ("", "PENDING")
N8N_LIMITS = (20, 21, 50, 51, 100, 101)
N8N_STATUSES = ("", "running")
FLAGS = ("", "true")
ECHO_MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/etc/nginx/modules")
APT_HINT = "apt-get install -y nginx libnginx-mod-http-echo"


@dataclass(frozen=True, slots=True)
class Site:
    """One instance as nginx serves it."""

    name: str
    kind: str
    port: int
    root: Path
    credential: str
    team_id: str | None = None


# --- the answers ------------------------------------------------------------------------------


def team_files(team_id: str, execution_ids: Iterable[str]) -> dict[str, str]:
    """Relative file path → request path and query of every team-style answer rendered."""
    out: dict[str, str] = {}
    base = f"/api/executions/team/{team_id}"
    for page in TEAM_PAGES:
        for size in TEAM_SIZES:
            for status in TEAM_STATUSES:
                query = {"page": page, "size": size, **({"status": status} if status else {})}
                out[f"{base}-p{page}-s{size}-st{status}.json"] = f"{base}?{urlencode(query)}"
    for execution_id in execution_ids:
        path = f"/api/executions/{execution_id}"
        out[f"{path}.json"] = path
    return out


def n8n_files(execution_ids: Iterable[str]) -> dict[str, str]:
    """Relative file path → request path and query of every n8n answer rendered."""
    out: dict[str, str] = {}
    base = "/api/v1/executions"
    for limit in N8N_LIMITS:
        for status in N8N_STATUSES:
            for data in FLAGS:
                for dated in (0, 1):
                    query: dict[str, object] = {"limit": limit}
                    if status:
                        query["status"] = status
                    if data:
                        query["includeData"] = data
                    if dated:
                        query["startedBefore"] = date_value(0)
                    name = f"{base}-l{limit}-st{status}-d{data}-b{dated}-c.json"
                    out[name] = f"{base}?{urlencode(query)}"
    for execution_id in execution_ids:
        for data in FLAGS:
            suffix = "?includeData=true" if data else ""
            out[f"{base}/{execution_id}-d{data}.json"] = f"{base}/{execution_id}{suffix}"
    return out


async def _fetch_all(
    app: object, headers: dict[str, str], files: Mapping[str, str]
) -> dict[str, bytes]:
    import httpx

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    bodies: dict[str, bytes] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        for name, target in files.items():
            answer = await client.get(target, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"the simulator answered {answer.status_code} to {target}")
            bodies[name] = answer.content
    return bodies


def render(
    kind: Style,
    seed: int,
    executions: int,
    root: Path,
    *,
    credential: str,
    now: datetime | None = None,
) -> int:
    """Write the simulator's answers for one instance under ``root``; the number of files.

    The store is the one ``execgate simulate KIND --seed SEED --executions N`` serves, with
    its clock stopped at ``now``, so every answer describes the same moment."""
    from execgate.simulate.generate import DEMO_TEAM_ID, generate_store

    moment = now or datetime.now(UTC)
    store = generate_store(
        seed, style=kind, executions=executions, now=moment, clock=lambda: moment
    )
    ids = [e.id for e in store.visible()]
    if kind == "team":
        from execgate.simulate.team_api import create_team_app

        app: object = create_team_app(store, team_id=DEMO_TEAM_ID, token=credential)
        headers = {"Authorization": f"Bearer {credential}"}
        files = team_files(DEMO_TEAM_ID, ids)
    else:
        from execgate.simulate.n8n_api import create_n8n_app

        app = create_n8n_app(store, api_key=credential)
        headers = {"X-N8N-API-KEY": credential}
        files = n8n_files(ids)
    bodies = asyncio.run(_fetch_all(app, headers, files))
    for name, content in bodies.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return len(bodies)


# --- nginx ------------------------------------------------------------------------------------


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found is None and Path("/usr/sbin/nginx").exists():
        found = "/usr/sbin/nginx"
    return found


def echo_module() -> Path | None:
    """The echo module's shared object (Debian's ``libnginx-mod-http-echo``), if installed."""
    for directory in ECHO_MODULE_DIRS:
        candidate = Path(directory) / "ngx_http_echo_module.so"
        if candidate.exists():
            return candidate
    return None


def _quote(value: str) -> str:
    if any(c in value for c in '"\\$;{}\n\r') or not value.isprintable():
        raise ValueError("a value nginx cannot hold literally")
    return f'"{value}"'


def _location(match: str, name: str, files: str, latency_s: float) -> list[str]:
    serve = f"try_files {files} =404;"
    if latency_s <= 0:
        return [f"    location {match} {{ {serve} }}"]
    return [
        f"    location {match} {{ echo_sleep {latency_s:g}; echo_exec @{name}; }}",
        f"    location @{name} {{ {serve} }}",
    ]


def nginx_conf(
    sites: Iterable[Site],
    workdir: Path,
    *,
    latency_ms: float = 0.0,
    module: Path | None = None,
    access_log: Path,
) -> str:
    """An nginx configuration serving ``sites`` on 127.0.0.1, every path under ``workdir``
    (pid, temp files), in the foreground, one worker; nothing needs root."""
    latency_s = latency_ms / 1000
    if latency_s > 0 and module is None:
        raise ValueError("a latency needs the echo module")
    temp = workdir / "nginx-temp"
    lines = [f"load_module {module};"] if latency_s > 0 else []
    lines += [
        "worker_processes 1;",
        "daemon off;",
        f"pid {workdir / 'nginx.pid'};",
        "events { worker_connections 4096; }",
        "http {",
        "  default_type application/json;",
        "  log_format counted '$server_port $request_method $request_uri $status';",
        f"  access_log {access_log} counted;",
        *(
            f"  {kind}_temp_path {temp / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        "  sendfile on;",
        "  tcp_nodelay on;",
        "  etag off;",
        "  server_tokens off;",
        "  keepalive_requests 1000000;",
        "  keepalive_timeout 300s;",
        "  open_file_cache max=20000 inactive=600s;",
        "  open_file_cache_valid 600s;",
        "  open_file_cache_errors on;",
        '  map $arg_startedBefore $n8n_dated { "" 0; default 1; }',
    ]
    for site in sites:
        lines += [
            "  server {",
            f"    listen 127.0.0.1:{site.port};",
            f"    root {site.root};",
        ]
        if site.kind == "team":
            lines.append(
                f"    if ($http_authorization != {_quote('Bearer ' + site.credential)}) "
                '{ return 401 \'{"message":"Unauthorized"}\'; }'
            )
            lines += _location(
                f"= /api/executions/team/{site.team_id}",
                "list",
                "$uri-p${arg_page}-s${arg_size}-st${arg_status}.json",
                latency_s,
            )
            lines += _location("/api/executions/", "detail", "$uri.json", latency_s)
        else:
            lines.append(
                f"    if ($http_x_n8n_api_key != {_quote(site.credential)}) "
                '{ return 401 \'{"message":"Unauthorized"}\'; }'
            )
            lines += _location(
                "= /api/v1/executions",
                "list",
                "$uri-l${arg_limit}-st${arg_status}-d${arg_includeData}-b${n8n_dated}"
                "-c${arg_cursor}.json",
                latency_s,
            )
            lines += _location(
                "/api/v1/executions/", "detail", "$uri-d${arg_includeData}.json", latency_s
            )
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def open_up(path: Path) -> None:
    """Let nginx's workers read ``path`` and what is under it when the master runs as root
    (they run as an unprivileged user then): directories 0755, files 0644."""
    targets = [path, *path.rglob("*")] if path.is_dir() else [path]
    for target in targets:
        os.chmod(target, 0o755 if target.is_dir() else 0o644)


def worker_pids(master: int) -> list[int]:
    """The pids of an nginx master's worker processes (its children)."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class RouteLog:
    """Counts what nginx served, from its access log: ``instance method route`` → requests,
    and the answers that were not 200."""

    def __init__(self, path: Path, names: Mapping[int, str]) -> None:
        self.path = path
        self.names = dict(names)
        self.offset = 0
        self.routes: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def read(self) -> tuple[Counter[str], Counter[str]]:
        """Every request logged so far (cumulative counts)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return self.routes, self.failures
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        self.count(chunk[:end].decode("utf-8", "replace").splitlines())
        return self.routes, self.failures

    def count(self, lines: Iterable[str]) -> None:
        for line in lines:
            parts = line.split(" ")
            if len(parts) != 4:
                continue
            port, method, uri, status = parts
            name = self.names.get(int(port), port) if port.isdigit() else port
            route = f"{name} {route_of(method, uri.split('?', 1)[0])}"
            self.routes[route] += 1
            if status != "200":
                self.failures[f"{route} {status}"] += 1
