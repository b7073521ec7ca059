"""The time by which the current request's backend work must be done.

An entry point (one GraphQL request, say) sets it with ``within``; every backend request made
on its behalf — in whatever task, since tasks copy the context they start in — takes no longer
than what is left of it. Outside any entry point there is no deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("execgate_deadline", default=None)


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Backend work started inside this block ends within ``seconds`` from now."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline (``None``: no deadline; may be negative)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()
