"""Command line for the real-n8n test harness.

    python scripts/n8n_harness.py install        # node 24 + n8n into the version-keyed cache
    python scripts/n8n_harness.py start          # fresh server on 127.0.0.1, owner + API key
    python scripts/n8n_harness.py seed           # workflows and one execution per status
    python scripts/n8n_harness.py stop           # stop by PID, remove the data folder

``start`` writes a state file (mode 0600, default ``<cache>/cli-state.json``) holding the port,
PID and API key; ``seed`` and ``stop`` read it. The key is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.real_n8n import harness


def save_state(n8n: harness.RealN8n, path: Path) -> None:
    """Write what another process needs to reach, seed or stop this instance (mode 0600)."""
    cfg = n8n.server.cfg
    state = {
        "config": {
            "data_dir": cfg.data_dir,
            "port": cfg.port,
            "broker_port": cfg.broker_port,
            "encryption_key": cfg.encryption_key,
            "jwt_secret": cfg.jwt_secret,
            "concurrency_limit": cfg.concurrency_limit,
        },
        "pid": n8n.pid,
        "api_key": n8n.api_key,
        "password": n8n.owner_password,
        "workflow_ids": n8n.workflow_ids,
        "workflow_names": n8n.workflow_names,
        "ids": n8n.ids,
        "holder_id": n8n.holder_id,
        "multi_run_id": n8n.multi_run_id,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=1)


def load_state(path: Path) -> harness.RealN8n:
    state = json.loads(path.read_text())
    cfg = harness.ServerConfig(**state["config"])
    server = harness.N8nServer(harness.Install(), cfg, pid=int(state["pid"]))
    n8n = harness.RealN8n(server, state["api_key"], state["password"])
    n8n.workflow_ids = dict(state["workflow_ids"])
    n8n.workflow_names = dict(state["workflow_names"])
    n8n.ids = dict(state["ids"])
    n8n.holder_id = state.get("holder_id")
    n8n.multi_run_id = state.get("multi_run_id")
    return n8n


def _print(payload: dict[str, object]) -> None:
    print(json.dumps(payload, indent=1, sort_keys=True))


def cmd_install(_: argparse.Namespace) -> int:
    started = time.monotonic()
    inst = harness.ensure_installed()
    _print({"cache": str(inst.root), "seconds": round(time.monotonic() - started, 2)})
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    limit = None if args.no_limit else 1
    n8n = harness.start_server(concurrency_limit=limit)
    save_state(n8n, args.state)
    _print(
        {
            "base_url": n8n.base_url,
            "pid": n8n.pid,
            "data_dir": n8n.server.cfg.data_dir,
            "log": str(n8n.server.cfg.log_path),
            "state": str(args.state),
            "timings": {k: round(v, 2) for k, v in n8n.timings.items()},
        }
    )
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    n8n = load_state(args.state)
    if n8n.server.cfg.concurrency_limit != 1:
        print("seed needs a server started with the concurrency limit (no --no-limit)")
        return 2
    n8n.seed()
    save_state(n8n, args.state)
    _print(
        {
            "base_url": n8n.base_url,
            "pid": n8n.pid,
            "ids": n8n.ids,
            "workflow_ids": n8n.workflow_ids,
            "holder_id": n8n.holder_id,
            "timings": {k: round(v, 2) for k, v in n8n.timings.items()},
        }
    )
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    if not args.state.is_file():
        print(f"no state file at {args.state}; nothing to stop")
        return 1
    n8n = load_state(args.state)
    took = n8n.close()
    args.state.unlink(missing_ok=True)
    _print({"pid": n8n.pid, "stopped_in": round(took, 2), "alive": harness.group_alive(n8n.pid)})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="n8n_harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    default_state = harness.cache_root() / "cli-state.json"
    for name, func in (
        ("install", cmd_install),
        ("start", cmd_start),
        ("seed", cmd_seed),
        ("stop", cmd_stop),
    ):
        cmd = sub.add_parser(name)
        cmd.set_defaults(func=func)
        cmd.add_argument("--state", type=Path, default=default_state, help="state file")
        if name == "start":
            cmd.add_argument(
                "--no-limit",
                action="store_true",
                help="no N8N_CONCURRENCY_PRODUCTION_LIMIT (seed then cannot make `new`)",
            )
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
