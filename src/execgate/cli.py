"""The ``execgate`` command: serve, demo, mcp, simulate, export-schema, keys, audit, export,
stats."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from execgate.backends.transport import Transport
    from execgate.config import Settings
    from execgate.domain.access import Scope

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEMO_ACTIVITY = 0.2
"""New executions a second on each demo instance, so live subscriptions have something to show."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execgate",
        description="One GraphQL API over the execution history of many workflow instances.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve GraphQL over the instances in a config file")
    serve.add_argument("--config", help="TOML file listing the instances (default: embedded demo)")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)

    demo = sub.add_parser("demo", help="serve GraphQL over embedded simulated instances")
    demo.add_argument("--host", default=DEFAULT_HOST)
    demo.add_argument("--port", type=int, default=DEFAULT_PORT)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--activity",
        type=float,
        default=DEMO_ACTIVITY,
        help="new executions a second on each instance, each queued, then running, then "
        f"finished (default: {DEMO_ACTIVITY}; 0 for none)",
    )

    mcp = sub.add_parser(
        "mcp",
        help="serve the MCP tools over stdin/stdout (for a local assistant); the client key "
        "comes from the environment variable [mcp] key_env names (EXECGATE_MCP_KEY)",
    )
    mcp.add_argument("--config", help="TOML file listing the instances (default: embedded demo)")

    simulate = sub.add_parser("simulate", help="run one simulated backend as an HTTP server")
    simulate.add_argument("kind", choices=["team", "n8n"])
    simulate.add_argument("--host", default=DEFAULT_HOST)
    simulate.add_argument("--port", type=int, required=True)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--executions", type=int, default=400)
    simulate.add_argument("--latency-ms", type=float, default=0.0)
    simulate.add_argument(
        "--activity",
        type=float,
        default=0.0,
        help="new executions a second, each queued, then running, then finished (default: 0)",
    )
    simulate.add_argument(
        "--token", help="team-style: the Bearer token to expect (default: random)"
    )
    simulate.add_argument(
        "--api-key", help="n8n-style: the X-N8N-API-KEY to expect (default: random)"
    )

    export = sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument(
        "--federation",
        action="store_true",
        help="print the Apollo Federation v2 subgraph schema ([server] federation = true)",
    )

    keys = sub.add_parser("keys", help="API client keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    new = keys_sub.add_parser("new", help="make a client key; print it once, and its [[clients]]")
    new.add_argument("name", help="the client's name (letters, digits, '-' and '_')")
    new.add_argument(
        "--instances", default="*", help="comma-separated instance names, or * (default: *)"
    )
    new.add_argument(
        "--actions",
        default="read",
        help="comma-separated: read, cancel, retry, delete, export (default: read)",
    )

    export = sub.add_parser(
        "export", help="export executions with their node runs to a file (CSV, JSON, JSON lines)"
    )
    export.add_argument("--config", help="TOML file listing the instances (default: embedded demo)")
    export.add_argument("--format", choices=["csv", "json", "jsonl"], default="csv")
    window = export.add_mutually_exclusive_group()
    window.add_argument("--days", help="the days before now (default: [export] default_days)")
    window.add_argument("--started-after", help="ISO 8601 time with its offset")
    export.add_argument("--started-before", help="ISO 8601 time with its offset")
    export.add_argument("--instances", help="comma-separated instance names (default: all)")
    export.add_argument("--status", help="comma-separated statuses (default: all)")
    export.add_argument("--workflow-id", help="a workflow's global ID")
    export.add_argument("--include-data", action="store_true", help="node input and output too")
    export.add_argument("-o", "--output", required=True, help="the file to write ('-': stdout)")
    export.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    stats = sub.add_parser("stats", help="print health statistics as a table")
    stats.add_argument("--config", help="TOML file listing the instances (default: embedded demo)")
    stats.add_argument(
        "--group-by",
        default="",
        help="comma-separated: instance, workflow, status, mode, day, hour, error",
    )
    stats.add_argument("--days", type=float, default=1.0, help="the days before now (default: 1)")
    stats.add_argument("--instances", help="comma-separated instance names (default: all)")

    audit = sub.add_parser("audit", help="the audit trail of mutations")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    tail = audit_sub.add_parser("tail", help="print the last audit lines, readably")
    where = tail.add_mutually_exclusive_group()
    where.add_argument("--config", help="read the audit file's path from this config file")
    where.add_argument("--file", help="the audit file itself")
    tail.add_argument("-n", type=int, default=20, help="how many lines (default: 20)")
    tail.add_argument("--follow", "-f", action="store_true", help="then print new lines")
    return parser


def _serve_app(
    app: object, listener: socket.socket, header_timeout: float, log_format: str = "text"
) -> None:
    from execgate.server import serve

    serve(app, listener, header_timeout=header_timeout, log_format=log_format)


_json_logs = False
"""Whether the start-up lines go out as JSON log lines (``[server] log_format = "json"``)."""


def _logging(log_format: str) -> None:
    """Log lines from here on, in ``log_format`` (text or json): execgate's own INFO lines
    included (an instance answering again, the live poll's lease, traces on), which Python's
    unconfigured logging would drop."""
    import logging.config

    from execgate.telemetry.logs import logging_config

    global _json_logs
    logging.config.dictConfig(logging_config(log_format))
    _json_logs = log_format == "json"


def _listen(host: str, port: int) -> socket.socket | None:
    """The bound socket, or ``None`` after one line saying why not (before anything else is
    printed: no banner or key for a server that cannot start)."""
    from execgate.server import listen

    try:
        return listen(host, port)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        _say(f"cannot listen on {host}:{port}: {reason}")
        return None


def _banner(source: str, names: Sequence[str], host: str, port: int) -> None:
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    _say(f"serving {len(names)} instance(s) from {source}: {', '.join(names)}")
    _say(f"GraphQL (GraphiQL in a browser) at http://{shown}:{port}/graphql")


def _say(message: str) -> None:
    if _json_logs:
        import logging

        logging.getLogger("execgate.cli").info(message)
        return
    print(f"execgate: {message}", file=sys.stderr, flush=True)


def _run_demo(host: str, port: int, seed: int, activity: float = 0.0) -> int:
    from execgate.app import create_app
    from execgate.security.audit import AuditError
    from execgate.security.middleware import is_loopback
    from execgate.simulate.embedded import embedded, with_demo_client

    demo = embedded(seed)
    if activity > 0:
        from execgate.simulate.activity import Activity

        for number, store in enumerate(demo.stores.values()):
            Activity(activity, seed=seed + number).attach(store)
    settings, key = with_demo_client(demo.settings)
    _logging(settings.server.log_format)
    header = f"Authorization: Bearer {key}"
    local = is_loopback(host)
    try:
        app = create_app(
            settings,
            transports=demo.transports,
            # The page carries the key only when nobody else can load it.
            ide_headers={"Authorization": f"Bearer {key}"} if local else None,
        )
    except AuditError as exc:
        _say(str(exc))
        return 2
    listener = _listen(host, port)
    if listener is None:
        return 2
    _banner("the embedded demo", [i.name for i in settings.instances], host, port)
    _say(f"demo client key (full access, new at every start): {key}")
    _say(f"send it as this header:  {header}")
    if local:
        _say("GraphiQL already sends it")
    else:
        _say("paste that header into GraphiQL's Headers tab (as JSON)")
    _serve_app(app, listener, settings.server.header_timeout_seconds, settings.server.log_format)
    return 0


def _clients_banner(settings: Settings, host: str) -> str | None:
    """The start-up line about clients, or ``None`` when serving must be refused."""
    from execgate.security.middleware import is_loopback

    if settings.clients:
        names = ", ".join(c.name for c in settings.clients)
        return f"{len(settings.clients)} API client(s): {names}"
    if not is_loopback(host):
        return None
    return (
        f"no [[clients]] in {settings.source}: anonymous full access, answered on loopback "
        "only (add a client with 'execgate keys new NAME')"
    )


def _run_serve(config: str, host: str, port: int) -> int:
    from execgate.api.persisted import ManifestError
    from execgate.app import create_app
    from execgate.config import ConfigError, load_settings
    from execgate.security.audit import AuditError

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        _say(str(exc))
        return 2
    _logging(settings.server.log_format)
    clients = _clients_banner(settings, host)
    if clients is None:
        _say(
            f"refusing to serve on {host} without API clients: anyone who can reach it would "
            f"have full access. Run 'execgate keys new NAME' and paste the [[clients]] table it "
            f"prints into {config}, or serve on 127.0.0.1."
        )
        return 2
    try:
        app = create_app(settings)
    except (AuditError, ManifestError) as exc:
        _say(str(exc))
        return 2
    listener = _listen(host, port)
    if listener is None:
        return 2
    if not _serve_metrics(app, settings):
        listener.close()
        return 2
    _banner(settings.source, [i.name for i in settings.instances], host, port)
    _say(clients)
    audit = settings.audit.path or "stderr"
    _say(f"audit trail of mutations: {audit}")
    _serve_app(app, listener, settings.server.header_timeout_seconds, settings.server.log_format)
    return 0


def _serve_metrics(app: object, settings: Settings) -> bool:
    """``/metrics`` on its own address (``[server] metrics_listen``), served by
    prometheus-client's HTTP server in a thread; false after one line when it cannot listen."""
    address = settings.server.metrics_listen
    if not settings.server.metrics:
        return True
    if address is None:
        _say("Prometheus metrics at /metrics")
        return True
    from prometheus_client import start_http_server

    host, _, port = address.rpartition(":")
    try:
        start_http_server(int(port), addr=host.strip("[]"), registry=app.state.metrics.registry)  # type: ignore[attr-defined]
    except OSError as exc:
        _say(f"cannot listen on {address} for metrics: {exc.strerror or type(exc).__name__}")
        return False
    _say(f"Prometheus metrics at http://{address}/metrics")
    return True


def _mcp_scope(settings: Settings, environ: Mapping[str, str]) -> Scope | str:
    """The scope of the stdio client, or why it has none (one line, never the key)."""
    from execgate.app import build_clients
    from execgate.domain.access import Scope
    from execgate.security.clients import ClientDirectory

    variable = settings.mcp.key_env
    key = environ.get(variable, "").strip()
    if not settings.clients:
        return Scope.full("anonymous")
    if not key:
        return (
            f"{settings.source} has API clients: put one's key in the environment variable "
            f"{variable} (made by 'execgate keys new NAME')"
        )
    client = ClientDirectory(build_clients(settings)).authenticate(key)
    if client is None:
        return f"the key in {variable} is not the key of any client in {settings.source}"
    return client.scope


def _run_mcp(config: str | None) -> int:
    import asyncio

    from execgate.config import ConfigError, load_settings
    from execgate.security.audit import AuditError

    transports = None
    if config is None:
        from execgate.simulate.embedded import embedded

        demo = embedded(7)
        settings, transports = demo.settings, demo.transports
    else:
        try:
            settings = load_settings(config)
        except ConfigError as exc:
            _say(str(exc))
            return 2
    if not settings.mcp.enabled:
        _say(f"the MCP tools are switched off in {settings.source} ([mcp] enabled = false)")
        return 2
    scope = _mcp_scope(settings, os.environ)
    if isinstance(scope, str):
        _say(scope)
        return 2
    try:
        asyncio.run(_serve_mcp(settings, scope, transports))
    except AuditError as exc:
        _say(str(exc))
        return 2
    except KeyboardInterrupt:
        pass
    return 0


async def _serve_mcp(
    settings: Settings, scope: Scope, transports: Mapping[str, Transport] | None
) -> None:
    """The MCP tools over stdio for the client of ``scope``, until stdin closes."""
    from execgate import __version__
    from execgate.app import build_clients, settings_redactor
    from execgate.mcp.arguments import MAX_LIMIT
    from execgate.mcp.server import Toolbox, build_server
    from execgate.mcp.stdio import serve_stdio
    from execgate.runtime import open_gateway
    from execgate.security.audit import AuditLog
    from execgate.security.ratelimit import RateLimiter
    from execgate.security.redact import quiet_transport_logs

    quiet_transport_logs()
    audit = AuditLog(settings.audit.path)
    redactor = settings_redactor(settings)
    limiter = RateLimiter(build_clients(settings))
    names = ", ".join(i.name for i in settings.instances)
    _say(
        f"MCP tools over stdio for client {scope.client!r}: {len(settings.instances)} "
        f"instance(s) from {settings.source}: {names}; pages up to {MAX_LIMIT}"
    )
    _say(f"audit trail of mutations: {settings.audit.path or 'stderr'}")
    try:
        async with open_gateway(settings, transports, audit=audit, redact=redactor.clean) as opened:
            toolbox = Toolbox(
                gateway=lambda: opened.gateway,
                throttle=limiter.admit,
                default_instance=settings.mcp.default_instance,
                max_backend_calls=settings.limits.max_backend_calls,
                request_timeout=settings.server.request_timeout_seconds,
            )
            await serve_stdio(build_server(toolbox, lambda _request: scope, version=__version__))
    finally:
        audit.close()


def _run_keys_new(name: str, instances: str, actions: str) -> int:
    from execgate.config.reader import NAME
    from execgate.domain.access import Action
    from execgate.security.clients import client_block, hash_key, new_key

    if not NAME.fullmatch(name):
        _say(f"a client name may hold only letters, digits, '-' and '_': {name!r}")
        return 2
    scope = [i.strip() for i in instances.split(",") if i.strip()] or ["*"]
    granted = [a.strip() for a in actions.split(",") if a.strip()]
    valid = [a.value for a in Action]
    unknown = [a for a in granted if a not in valid]
    if unknown or not granted:
        _say(f"unknown action(s) {', '.join(unknown) or '(none)'}; valid: {', '.join(valid)}")
        return 2
    if Action.READ.value not in granted:
        granted.insert(0, Action.READ.value)
    key = new_key()
    print(
        f"# A new key for client {name!r}. It is shown only now: execgate keeps only its sha256.\n"
        "# The client sends it as the header 'Authorization: Bearer <key>'.\n"
        f"{key}\n\n"
        "# Paste this table into the gateway's config file:\n"
        f"{client_block(name, hash_key(key), instances=scope, actions=granted)}",
        end="",
        flush=True,
    )
    return 0


def _run_audit_tail(args: argparse.Namespace) -> int:
    from pathlib import Path

    from execgate.config import ConfigError, read_audit_path
    from execgate.security.audit_view import follow, last_lines, render

    path = args.file
    if args.config is not None:
        try:
            path = read_audit_path(args.config)
        except ConfigError as exc:
            _say(str(exc))
            return 2
        if path is None:
            _say(f"{args.config} sends audit lines to stderr ([audit] path is not set)")
            return 2
    if path is None:
        _say("name the audit file: --config FILE (its [audit] path) or --file PATH")
        return 2
    audit_file = Path(path)
    if not audit_file.is_file():
        _say(f"no audit file at {audit_file}")
        return 2
    for line in last_lines(audit_file, args.n):
        print(render(line), flush=True)
    if args.follow:
        with contextlib.suppress(KeyboardInterrupt):
            follow(audit_file, sys.stdout)
    return 0


def _run_simulate(args: argparse.Namespace) -> int:
    from execgate.simulate.generate import DEMO_TEAM_ID, generate_store

    store = generate_store(args.seed, style=args.kind, executions=args.executions)
    if args.activity > 0:
        from execgate.simulate.activity import Activity

        Activity(args.activity, seed=args.seed).attach(store)
    listener = _listen(args.host, args.port)
    if listener is None:
        return 2
    if args.kind == "team":
        from execgate.simulate.team_api import create_team_app

        token = args.token or "sdk_" + secrets.token_urlsafe(24)
        app = create_team_app(store, team_id=DEMO_TEAM_ID, token=token, latency_ms=args.latency_ms)
        print(
            f"team-style simulator: http://{args.host}:{args.port}\n"
            f"  team_id = {DEMO_TEAM_ID}\n  Bearer token = {token}",
            flush=True,
        )
    else:
        from execgate.simulate.n8n_api import create_n8n_app

        key = args.api_key or secrets.token_urlsafe(24)
        app = create_n8n_app(store, api_key=key, latency_ms=args.latency_ms)
        print(
            f"n8n-style simulator: http://{args.host}:{args.port}/api/v1\n  X-N8N-API-KEY = {key}",
            flush=True,
        )
    from execgate.config import ServerSettings

    _serve_app(app, listener, ServerSettings().header_timeout_seconds)
    return 0


def _settings(config: str | None) -> tuple[Settings, dict[str, Transport] | None] | None:
    from execgate.config import ConfigError, load_settings

    if config is None:
        from execgate.simulate.embedded import embedded

        demo = embedded(7)
        return demo.settings, demo.transports
    try:
        return load_settings(config), None
    except ConfigError as exc:
        _say(str(exc))
        return None


def _run_export(args: argparse.Namespace) -> int:
    import asyncio

    from execgate.insights_cli import run_export
    from execgate.security.audit import AuditError

    loaded = _settings(args.config)
    if loaded is None:
        return 2
    query: dict[str, list[str]] = {"format": [args.format]}
    for name, value in (
        ("days", args.days),
        ("startedAfter", args.started_after),
        ("startedBefore", args.started_before),
        ("instances", args.instances),
        ("status", args.status),
        ("workflowId", args.workflow_id),
    ):
        if value is not None:
            query[name] = [value]
    if args.include_data:
        query["include_data"] = ["true"]
    try:
        return asyncio.run(
            run_export(
                loaded[0],
                loaded[1],
                query=query,
                output=args.output,
                progress=not args.no_progress,
            )
        )
    except AuditError as exc:
        _say(str(exc))
        return 2
    except OSError as exc:
        _say(f"cannot write {args.output}: {exc.strerror or type(exc).__name__}")
        return 2


def _run_stats(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from execgate.domain.stats import StatsDimension
    from execgate.insights_cli import run_stats
    from execgate.security.audit import AuditError
    from execgate.service.gateway import FeedFilter

    dimensions = []
    for raw in (part.strip() for part in args.group_by.split(",") if part.strip()):
        try:
            dimensions.append(StatsDimension[raw.upper()])
        except KeyError:
            valid = ", ".join(d.value.lower() for d in StatsDimension)
            _say(f"unknown dimension {raw!r}; valid: {valid}")
            return 2
    if not 0 < args.days <= 3650:
        _say("--days must be more than 0 and at most 3650")
        return 2
    loaded = _settings(args.config)
    if loaded is None:
        return 2
    instances = [i.strip() for i in (args.instances or "").split(",") if i.strip()]
    feed_filter = FeedFilter(
        instances=tuple(instances) or None,
        started_after=datetime.now(UTC) - timedelta(days=args.days),
    )
    try:
        return asyncio.run(
            run_stats(loaded[0], loaded[1], feed_filter=feed_filter, group_by=dimensions)
        )
    except AuditError as exc:
        _say(str(exc))
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "export-schema":
        from execgate.api.schema import export_schema

        print(export_schema(federation=args.federation))
        return 0
    if args.command == "demo":
        return _run_demo(args.host, args.port, args.seed, args.activity)
    if args.command == "serve":
        if args.config is None:
            return _run_demo(args.host, args.port, 7)
        return _run_serve(args.config, args.host, args.port)
    if args.command == "mcp":
        return _run_mcp(args.config)
    if args.command == "simulate":
        return _run_simulate(args)
    if args.command == "keys":
        return _run_keys_new(args.name, args.instances, args.actions)
    if args.command == "audit":
        return _run_audit_tail(args)
    if args.command == "export":
        return _run_export(args)
    if args.command == "stats":
        return _run_stats(args)
    return 2  # pragma: no cover - argparse rejects unknown commands
