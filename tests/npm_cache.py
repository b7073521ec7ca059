"""npm packages a test runs, installed on demand into a cache outside the repository.

``ensure(root, packages)`` installs exact versions with npm into ``root`` (with a private npm
cache) unless a marker written after a complete install says they are there already; a lock
keeps concurrent runs from installing over each other. ``node_and_npm`` finds the tools, and
without them skips the test, except under ``CI=true``, where it fails: such tests always run
in CI.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest


def cache_dir(name: str, env: str) -> Path:
    """``~/.cache/execgate/<name>``, or the directory the variable ``env`` names."""
    override = os.environ.get(env)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "execgate" / name


def is_installed(root: Path, packages: Mapping[str, str]) -> bool:
    try:
        recorded = json.loads((root / "installed.json").read_text())
    except (OSError, ValueError):
        return False
    first = root / "node_modules" / next(iter(packages)) / "package.json"
    return first.is_file() and recorded == dict(packages)


def ensure(npm: str, root: Path, packages: Mapping[str, str]) -> Path:
    """``root`` with ``packages`` (name → exact version) installed, by ``npm`` if need be."""
    if is_installed(root, packages):
        return root
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_installed(root, packages):  # another run finished it while this one waited
            return root
        (root / "installed.json").unlink(missing_ok=True)
        (root / "package.json").write_text(
            json.dumps({"name": f"execgate-{root.name}", "private": True}) + "\n"
        )
        env = {
            **os.environ,
            "npm_config_cache": str(root / "npm-cache"),
            "npm_config_update_notifier": "false",
        }
        specs = [f"{name}@{version}" for name, version in packages.items()]
        command = [npm, "install", "--no-audit", "--no-fund", "--save-exact", *specs]
        done = subprocess.run(
            command, cwd=root, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-20:]
            raise RuntimeError(
                f"{' '.join(command)} failed with rc {done.returncode}:\n" + "\n".join(tail)
            )
        (root / "installed.json").write_text(json.dumps(dict(packages)) + "\n")
    return root


def node_and_npm(what: str) -> tuple[str, str]:
    """``node`` and ``npm`` from PATH; skip without them (fail under ``CI=true``)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is not None and npm is not None:
        return node, npm
    reason = f"{what} needs node and npm on PATH"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)
