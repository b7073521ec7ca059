"""Reads of many items made one request each, where one failure costs only its own item."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from execgate.domain.errors import BackendError, PartialRead

T = TypeVar("T")


async def read_each(
    instance: str, native_ids: Sequence[str], read: Callable[[str], Awaitable[T | None]]
) -> dict[str, T]:
    """``read`` of every distinct id at once; ids it finds nothing for are left out.

    When every read fails, the first failure is raised (the instance is unwell); when only some
    do, ``PartialRead`` carries what was read and each failure.
    """
    wanted = list(dict.fromkeys(native_ids))
    results = await asyncio.gather(*(read(i) for i in wanted), return_exceptions=True)
    found: dict[str, T] = {}
    failed: dict[str, BackendError] = {}
    for native_id, result in zip(wanted, results, strict=True):
        if isinstance(result, BackendError):
            failed[native_id] = result
        elif isinstance(result, BaseException):
            raise result
        elif result is not None:
            found[native_id] = result
    if failed:
        if found or len(failed) < len(wanted):
            raise PartialRead(instance, found, failed)
        raise next(iter(failed.values()))
    return found
