"""The npm packages of the federation tests: installed once into a cache, then run with node.

Two sets, each in its own folder under ``~/.cache/execgate/federation`` (or
``$EXECGATE_FEDERATION_CACHE``), outside the repository, with a private npm cache:

- ``apollo``: the composition libraries (``@apollo/composition``,
  ``@theguild/federation-composition``), Apollo Gateway with Apollo Server, and
  ``@apollo/subgraph`` for the test's second subgraph — ``APOLLO_SIZE``;
- ``hive``: Hive Gateway — ``HIVE_SIZE``.

Versions are pinned. A marker written after a complete install (naming the packages) makes
later runs reuse it; a half install, or one of other versions, is redone. Scripts run with
``NODE_PATH`` pointing at a set's ``node_modules`` (they are CommonJS, which honours it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "EXECGATE_FEDERATION_CACHE"
MARKER = "installed.json"
SETS: dict[str, tuple[str, ...]] = {
    "apollo": (
        "@apollo/composition@2.14.4",
        "@apollo/gateway@2.14.4",
        "@apollo/subgraph@2.14.4",
        "@apollo/server@5.5.1",
        "@theguild/federation-composition@0.27.0",
        "graphql@16.15.0",
    ),
    "hive": ("@graphql-hive/gateway@2.15.1",),
}
APOLLO_SIZE = "about 40 MB downloaded, 150 MB on disk with its npm cache, 15 seconds"
HIVE_SIZE = "about 180 MB downloaded, 700 MB on disk with its npm cache, a minute"
NODE_DIR = Path(__file__).resolve().parent / "node"


def cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "execgate" / "federation"


@dataclass(frozen=True)
class Packages:
    """One installed set."""

    root: Path

    @property
    def modules(self) -> Path:
        return self.root / "node_modules"

    def bin(self, name: str) -> Path:
        return self.modules / ".bin" / name

    def env(self) -> dict[str, str]:
        return {**os.environ, "NODE_PATH": str(self.modules), "NODE_NO_WARNINGS": "1"}


def is_installed(name: str, root: Path | None = None) -> bool:
    folder = (root or cache_root()) / name
    try:
        recorded = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return recorded == {"packages": list(SETS[name])} and (folder / "node_modules").is_dir()


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".install.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(name: str, root: Path | None = None) -> Packages:
    """The set ``name``, installed first unless a complete install is there.

    Raises ``RuntimeError`` (with the tail of npm's output) when npm is missing or fails.
    """
    folder = (root or cache_root()) / name
    if is_installed(name, root):
        return Packages(folder)
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH")
    with _lock(folder):
        if is_installed(name, root):  # another process finished it meanwhile
            return Packages(folder)
        (folder / MARKER).unlink(missing_ok=True)
        (folder / "package.json").write_text(
            json.dumps({"name": f"execgate-federation-{name}", "private": True}) + "\n"
        )
        started = time.monotonic()
        done = subprocess.run(
            [npm, "install", *SETS[name], "--no-audit", "--no-fund"],
            cwd=folder,
            env={**os.environ, "npm_config_cache": str(folder / "npm-cache")},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise RuntimeError(f"npm install of the {name} set failed ({done.returncode}):\n{tail}")
        (folder / MARKER).write_text(json.dumps({"packages": list(SETS[name])}) + "\n")
        print(f"[federation] {name} set installed in {time.monotonic() - started:.0f} s")
    return Packages(folder)
