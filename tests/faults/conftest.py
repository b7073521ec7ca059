"""Fixtures: a team-style and an n8n-style simulator, each behind its own fault proxy.

Each test gets fresh ones (the stores are mutable and rules belong to one test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.backends import FaultyBackend, faulty_backend


@pytest.fixture
def team_backend() -> Iterator[FaultyBackend]:
    """A seeded team-style simulator behind a ``FaultProxy``."""
    with faulty_backend("team", seed=31) as backend:
        yield backend


@pytest.fixture
def n8n_backend() -> Iterator[FaultyBackend]:
    """A seeded n8n-style simulator behind a ``FaultProxy``."""
    with faulty_backend("n8n", seed=32) as backend:
        yield backend
