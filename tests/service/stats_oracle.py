"""A brute-force statistics oracle, written apart from ``service/stats.py``: every execution of
the window read through the adapters' plain list pages (and in full for error messages), then
counted with sorted lists and loops."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from execgate.domain.models import Execution, ExecutionQuery, ExecutionStatus
from execgate.domain.ports import Backend
from execgate.domain.stats import StatsDimension


async def everything(backend: Backend, query: ExecutionQuery) -> list[Execution]:
    found: list[Execution] = []
    position = None
    while True:
        page = await backend.list_executions(query, limit=100, position=position)
        found.extend(page.items)
        if page.position is None:
            return found
        position = page.position


def nearest_rank(values: list[int], p: int) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


def figures(executions: list[Execution]) -> dict[str, Any]:
    counts = {s: 0 for s in ExecutionStatus}
    for e in executions:
        counts[e.status] += 1
    finished = [e for e in executions if e.status.is_finished]
    durations = [e.duration_ms for e in finished if e.duration_ms is not None]
    starts = [e.started_at for e in executions if e.started_at is not None]
    return {
        "count": len(executions),
        "by_status": counts,
        "success_rate": counts[ExecutionStatus.SUCCESS] / len(finished) if finished else None,
        "running": sum(1 for e in executions if e.status.is_active),
        "p50": nearest_rank(durations, 50),
        "p90": nearest_rank(durations, 90),
        "p95": nearest_rank(durations, 95),
        "p99": nearest_rank(durations, 99),
        "max": max(durations) if durations else None,
        "mean": sum(durations) / len(durations) if durations else None,
        "first": min(starts) if starts else None,
        "last": max(starts) if starts else None,
    }


def key_of(e: Execution, dimension: StatsDimension, normalise: Callable[[str], str]) -> Any:
    if dimension is StatsDimension.INSTANCE:
        return e.instance
    if dimension is StatsDimension.WORKFLOW:
        return (e.instance, e.workflow_id)
    if dimension is StatsDimension.STATUS:
        return e.status
    if dimension is StatsDimension.MODE:
        return e.mode
    if dimension is StatsDimension.ERROR:
        return normalise(e.error_message) if e.error_message else None
    moment = e.sort_time
    assert moment is not None
    span = 86_400 if dimension is StatsDimension.DAY else 3_600
    return datetime.fromtimestamp(moment.timestamp() // span * span, UTC)


def grouped(
    executions: list[Execution],
    dimensions: list[StatsDimension],
    normalise: Callable[[str], str],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[Execution]] = defaultdict(list)
    for e in executions:
        groups[tuple(key_of(e, d, normalise) for d in dimensions)].append(e)
    return {key: figures(members) for key, members in groups.items()}


async def window(
    backends: Mapping[str, Backend],
    after: datetime,
    before: datetime | None = None,
    *,
    errors: bool = False,
) -> list[Execution]:
    """Every execution of the window, on every instance (in full where errors are wanted)."""
    query = ExecutionQuery(started_after=after, started_before=before)
    found: list[Execution] = []
    for backend in backends.values():
        items = await everything(backend, query)
        if errors:
            full = await backend.get_executions([e.native_id for e in items], include_nodes=True)
            items = [full.get(e.native_id, e) for e in items]
        found.extend(items)
    return found
