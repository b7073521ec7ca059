"""The session-scoped ``real_n8n`` fixture: a real, seeded n8n 2.41.1 server on 127.0.0.1.

Without npm the tests skip with a visible reason, unless ``CI=true``: then they fail loudly.
The first run installs node 24 and n8n into ``~/.cache/execgate/n8n-2.41.1`` (about 5 min).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.real_n8n.harness import Install, RealN8n, ensure_installed, group_alive, start_seeded


def _require_npm() -> None:
    if shutil.which("npm") is not None:
        return
    reason = "real n8n tests need npm: `npm` is not on PATH (node 24 and n8n install through it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def n8n_install() -> Install:
    """The cached install (made on first use)."""
    _require_npm()
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
