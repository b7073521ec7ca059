"""The ``execgate`` command: serve, demo, simulate, export-schema."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


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

    simulate = sub.add_parser("simulate", help="run one simulated backend as an HTTP server")
    simulate.add_argument("kind", choices=["team", "n8n"])
    simulate.add_argument("--host", default=DEFAULT_HOST)
    simulate.add_argument("--port", type=int, required=True)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--executions", type=int, default=400)
    simulate.add_argument("--latency-ms", type=float, default=0.0)
    simulate.add_argument("--token", help="team-style: the Bearer token to expect (default: random)")
    simulate.add_argument("--api-key", help="n8n-style: the X-N8N-API-KEY to expect (default: random)")

    sub.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    return parser


def _serve_app(app: object, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)  # type: ignore[arg-type]


def _banner(source: str, names: Sequence[str], host: str, port: int) -> None:
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    print(
        f"execgate: serving {len(names)} instance(s) from {source}: {', '.join(names)}\n"
        f"execgate: GraphQL (GraphiQL in a browser) at http://{shown}:{port}/graphql",
        file=sys.stderr,
        flush=True,
    )


def _run_demo(host: str, port: int, seed: int) -> int:
    from execgate.app import create_app
    from execgate.simulate.embedded import embedded

    demo = embedded(seed)
    app = create_app(demo.settings, transports=demo.transports)
    _banner("the embedded demo", [i.name for i in demo.settings.instances], host, port)
    _serve_app(app, host, port)
    return 0


def _run_serve(config: str, host: str, port: int) -> int:
    from execgate.app import create_app
    from execgate.config import ConfigError, load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(f"execgate: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    _banner(settings.source, [i.name for i in settings.instances], host, port)
    _serve_app(app, host, port)
    return 0


def _run_simulate(args: argparse.Namespace) -> int:
    from execgate.simulate.generate import DEMO_TEAM_ID, generate_store

    store = generate_store(args.seed, style=args.kind, executions=args.executions)
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
    _serve_app(app, args.host, args.port)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "export-schema":
        from execgate.api.schema import schema

        print(schema.as_str())
        return 0
    if args.command == "demo":
        return _run_demo(args.host, args.port, args.seed)
    if args.command == "serve":
        if args.config is None:
            return _run_demo(args.host, args.port, 7)
        return _run_serve(args.config, args.host, args.port)
    if args.command == "simulate":
        return _run_simulate(args)
    return 2  # pragma: no cover - argparse rejects unknown commands
