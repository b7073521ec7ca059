"""npm packages the tests run with node, installed on demand into a cache outside the repository.

``NpmPackages`` names a set of pinned packages and the cache directory they go to
(``~/.cache/execgate/<folder>``, or the directory an environment variable names). The first use
installs them with a private npm cache; a marker written after a complete install makes later
runs reuse it, and a lock keeps concurrent runs from installing over each other.
``node_and_npm`` finds the tools, or skips the test, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class NpmPackages:
    folder: str
    """The cache directory's name under ``~/.cache/execgate``."""
    packages: tuple[tuple[str, str], ...]
    """(name, exact version) of each package."""
    cache_env: str
    """The environment variable that names another cache directory."""
    size: str
    """What the install brings, for the announcement (``"a and b, about 4 MB"``)."""

    def root(self) -> Path:
        override = os.environ.get(self.cache_env)
        if override:
            return Path(override).expanduser()
        return Path.home() / ".cache" / "execgate" / self.folder

    def expected(self) -> dict[str, str]:
        return dict(self.packages)

    def marker(self, root: Path) -> Path:
        return root / "installed.json"

    def is_installed(self, root: Path | None = None) -> bool:
        root = root or self.root()
        try:
            recorded = json.loads(self.marker(root).read_text())
        except (OSError, ValueError):
            return False
        present = all(
            (root / "node_modules" / name / "package.json").is_file() for name, _ in self.packages
        )
        return present and recorded == self.expected()

    def ensure_installed(self, npm: str, root: Path | None = None) -> Path:
        """The install directory, installed with ``npm`` first unless complete already."""
        root = root or self.root()
        if self.is_installed(root):
            return root
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".install.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.is_installed(root):  # another run finished it while this one waited
                return root
            self.marker(root).unlink(missing_ok=True)
            (root / "package.json").write_text(
                json.dumps({"name": f"execgate-{self.folder}", "private": True}) + "\n"
            )
            env = {
                **os.environ,
                "npm_config_cache": str(root / "npm-cache"),
                "npm_config_update_notifier": "false",
            }
            specs = [f"{name}@{version}" for name, version in self.packages]
            command = [npm, "install", "--no-audit", "--no-fund", "--save-exact", *specs]
            done = subprocess.run(
                command, cwd=root, env=env, capture_output=True, text=True, timeout=300
            )
            if done.returncode != 0:
                tail = (done.stdout + done.stderr).strip().splitlines()[-20:]
                raise RuntimeError(
                    f"{' '.join(command)} failed with rc {done.returncode}:\n" + "\n".join(tail)
                )
            self.marker(root).write_text(json.dumps(self.expected()) + "\n")
        return root

    def install_announced(self, npm: str, capsys: pytest.CaptureFixture[str]) -> Path:
        """``ensure_installed``, saying on the terminal what it installs when it does."""
        if not self.is_installed():
            with capsys.disabled():
                print(f"\n[{self.folder}] installing into {self.root()}: {self.size}")
        return self.ensure_installed(npm)


def tools() -> tuple[str | None, str | None]:
    """``node`` and ``npm`` from PATH (``None`` where missing)."""
    return shutil.which("node"), shutil.which("npm")


def node_and_npm(purpose: str) -> tuple[str, str]:
    """``node`` and ``npm``; without them the test skips, or fails under ``CI=true``."""
    node, npm = tools()
    if node is not None and npm is not None:
        return node, npm
    reason = f"{purpose} needs node and npm on PATH"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)
