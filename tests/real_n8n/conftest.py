"""The session-scoped ``real_n8n`` fixture: a real, seeded n8n 2.41.1 server on 127.0.0.1.

The suite runs when ``CI=true`` (``.ci/run`` sets it) or when asked for with
``EXECGATE_REAL_N8N=1``; otherwise its tests skip, saying how to run them. The first run
installs node 24 and n8n into ``~/.cache/execgate/n8n-2.41.1`` (``EXECGATE_N8N_CACHE``
overrides): about 950 MB downloaded, 3.8 GB on disk, 5 minutes on 2 cores, announced on the
terminal before it starts. Without npm the tests fail under ``CI=true`` and skip otherwise.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.real_n8n.harness import Install, RealN8n, ensure_installed, group_alive, start_seeded

INSTALL_SIZE = (
    "node 24 (189 MB) and n8n 2.41.1 with a compiled sqlite3: about 950 MB downloaded, "
    "3.8 GB on disk, 5 minutes"
)


def _asked_for() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("EXECGATE_REAL_N8N") == "1"


def _announce(config: pytest.Config, message: str) -> None:
    """A line on the terminal, whatever pytest captures."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"[real n8n] {message}")


def _require_npm() -> None:
    if shutil.which("npm") is not None:
        return
    reason = "real n8n tests need npm: `npm` is not on PATH (node 24 and n8n install through it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def n8n_install(request: pytest.FixtureRequest) -> Install:
    """The cached install (made on first use, announced with its size)."""
    if not _asked_for():
        pytest.skip(
            "the real-n8n suite installs and runs a real n8n server; run it with "
            "EXECGATE_REAL_N8N=1 (CI=true always runs it). The first run installs " + INSTALL_SIZE
        )
    _require_npm()
    install = Install()
    if not install.is_installed():
        _announce(request.config, f"installing into {install.root}: {INSTALL_SIZE}")
    return ensure_installed()


@pytest.fixture(scope="session")
def real_n8n(n8n_install: Install) -> Iterator[RealN8n]:
    """A seeded server: ``ids`` maps every status to an execution id; stopped at the end."""
    n8n = start_seeded()
    try:
        yield n8n
    finally:
        pid = n8n.pid
        n8n.close()
        assert not group_alive(pid), f"n8n process group {pid} survived the harness stop"
