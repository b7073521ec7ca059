"""Fixtures of the federation tests: the npm packages they run, installed once into a cache.

The Apollo set (composition libraries, Apollo Gateway) is small and always used: without npm,
or when its install fails, the tests fail under ``CI=true`` and skip otherwise, saying why.
Hive Gateway is large: its tests run when ``CI=true`` or ``EXECGATE_HIVE_GATEWAY=1``, and skip
otherwise, saying how to run them. A first install is announced with its size.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.federation.npm import APOLLO_SIZE, HIVE_SIZE, Packages, cache_root, ensure, is_installed


def _in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _announce(config: pytest.Config, message: str) -> None:
    """A line on the terminal, whatever pytest captures."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"[federation] {message}")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason}; CI=true, so this is an error, not a skip", pytrace=False)
    pytest.skip(reason)


def _packages(request: pytest.FixtureRequest, name: str, size: str) -> Packages:
    if shutil.which("node") is None or shutil.which("npm") is None:
        _unavailable("the federation tests need node and npm on PATH")
    if not is_installed(name):
        _announce(request.config, f"installing the {name} set into {cache_root() / name}: {size}")
    try:
        return ensure(name)
    except RuntimeError as exc:
        _unavailable(str(exc))
        raise  # unreachable: _unavailable fails or skips


@pytest.fixture(scope="session")
def apollo(request: pytest.FixtureRequest) -> Packages:
    """Composition libraries, Apollo Gateway and Server, @apollo/subgraph."""
    return _packages(request, "apollo", APOLLO_SIZE)


@pytest.fixture(scope="session")
def hive(request: pytest.FixtureRequest) -> Packages:
    """Hive Gateway (its CLI, ``hive-gateway``)."""
    if not (_in_ci() or os.environ.get("EXECGATE_HIVE_GATEWAY") == "1"):
        pytest.skip(
            "the Hive Gateway tests install @graphql-hive/gateway; run them with "
            f"EXECGATE_HIVE_GATEWAY=1 (CI=true always does): {HIVE_SIZE}"
        )
    return _packages(request, "hive", HIVE_SIZE)
