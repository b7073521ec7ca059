"""The npm package ``graphql-http`` (its GraphQL-over-HTTP server audits), installed on demand.

Installed with npm into ``~/.cache/execgate/graphql-http-<version>/``
(``$EXECGATE_GRAPHQL_HTTP_CACHE`` overrides), outside the repository, with a private npm cache:
two packages, about 4 MB, a few seconds. A marker written after a complete install makes later
runs reuse it; a lock keeps concurrent runs from installing over each other.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

GRAPHQL_HTTP_VERSION = "1.23.1"
GRAPHQL_VERSION = "16.15.0"
"""``graphql-http``'s peer dependency, pinned too so every run audits with the same code."""

CACHE_ENV = "EXECGATE_GRAPHQL_HTTP_CACHE"
INSTALL_SIZE = f"graphql-http {GRAPHQL_HTTP_VERSION} and graphql {GRAPHQL_VERSION}, about 4 MB"
AUDIT_SCRIPT = Path(__file__).with_name("graphql_http_audit.cjs")


def cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "execgate" / f"graphql-http-{GRAPHQL_HTTP_VERSION}"


def _marker(root: Path) -> Path:
    return root / "installed.json"


def _expected() -> dict[str, str]:
    return {"graphql-http": GRAPHQL_HTTP_VERSION, "graphql": GRAPHQL_VERSION}


def is_installed(root: Path) -> bool:
    package = root / "node_modules" / "graphql-http" / "package.json"
    try:
        recorded = json.loads(_marker(root).read_text())
    except (OSError, ValueError):
        return False
    return package.is_file() and recorded == _expected()


def ensure_installed(npm: str, root: Path | None = None) -> Path:
    """The install directory, installed with ``npm`` first unless complete already."""
    root = root or cache_root()
    if is_installed(root):
        return root
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_installed(root):  # another run finished it while this one waited
            return root
        _marker(root).unlink(missing_ok=True)
        (root / "package.json").write_text(
            json.dumps({"name": "execgate-graphql-http-audit", "private": True}) + "\n"
        )
        env = {
            **os.environ,
            "npm_config_cache": str(root / "npm-cache"),
            "npm_config_update_notifier": "false",
        }
        specs = [f"{name}@{version}" for name, version in _expected().items()]
        command = [npm, "install", "--no-audit", "--no-fund", "--save-exact", *specs]
        done = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-20:]
            raise RuntimeError(
                f"{' '.join(command)} failed with rc {done.returncode}:\n" + "\n".join(tail)
            )
        _marker(root).write_text(json.dumps(_expected()) + "\n")
    return root


def tools() -> tuple[str | None, str | None]:
    """``node`` and ``npm`` from PATH (``None`` where missing)."""
    return shutil.which("node"), shutil.which("npm")
