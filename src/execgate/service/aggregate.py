"""Figures over segments' columns, grouped, with numpy.

Every part (one instance's segment) contributes its live rows whose sort time lies in the
window. Each grouped dimension becomes an integer code per row, the codes are combined into one
group id (mixed radix) and ``numpy.unique`` numbers the groups; then counts per status are one
``bincount``, durations are sorted once by (group, duration) with ``lexsort`` so each group's
percentiles are read at their nearest-rank index, and first and last start times come from
``minimum.at``/``maximum.at``. No Python loop runs per execution, only per group.

Percentiles use the nearest-rank method: the p-th percentile of n sorted durations is the one at
rank ``ceil(p / 100 * n)``, always a duration that was observed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from execgate.domain.keys import WorkflowKey
from execgate.domain.stats import (
    Bucket,
    BucketKey,
    Durations,
    Figures,
    StatsDimension,
    Window,
)
from execgate.service.segments import (
    FINISHED_CODES,
    MODES,
    NO_ERROR,
    STATUSES,
    Snapshot,
)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

_DAY = 86_400
_HOUR = 3_600
_TIME_DIMENSIONS = (StatsDimension.DAY, StatsDimension.HOUR)


@dataclass(slots=True)
class _Rows:
    """The window's rows of every part, concatenated."""

    part: Ints
    sort: Floats
    started: Floats
    duration: Floats
    status: Ints
    mode: Ints
    workflow: Ints
    """Global workflow codes (into ``workflows``)."""
    error: Ints
    """Global error codes: 0 for none, else 1 + index into ``errors``."""
    workflows: list[WorkflowKey]
    names: list[str | None]
    errors: list[str]


def _rows(parts: Sequence[Snapshot], window: Window) -> _Rows:
    after = window.after.timestamp()
    before = window.before.timestamp() if window.before is not None else np.inf
    fields = ("part", "sort", "started", "duration", "status", "mode", "workflow", "error")
    columns: dict[str, list[Any]] = {name: [] for name in fields}
    workflows: list[WorkflowKey] = []
    names: list[str | None] = []
    errors: list[str] = []
    error_codes: dict[str, int] = {}
    for number, segment in enumerate(parts):
        c = segment.columns
        keep = c.alive & (c.sort >= after) & (c.sort <= before)
        size = int(np.count_nonzero(keep))
        columns["part"].append(np.full(size, number, dtype=np.int64))
        columns["sort"].append(c.sort[keep])
        columns["started"].append(c.started[keep])
        columns["duration"].append(c.duration[keep])
        columns["status"].append(c.status[keep].astype(np.int64))
        columns["mode"].append(c.mode[keep].astype(np.int64))
        columns["workflow"].append(c.workflow[keep].astype(np.int64) + len(workflows))
        workflows.extend(WorkflowKey(segment.instance, w) for w in segment.workflows)
        names.extend(segment.names or [None] * len(segment.workflows))
        # Error tables merge across parts: one message is one group whichever instance said it.
        remap = np.zeros(len(segment.errors) + 2, dtype=np.int64)
        for code, message in enumerate(segment.errors):
            if message not in error_codes:
                error_codes[message] = len(errors) + 1
                errors.append(message)
            remap[code] = error_codes[message]
        raw = c.error[keep].astype(np.int64)
        columns["error"].append(np.where(raw >= 0, remap[np.maximum(raw, 0)], 0))
    joined: dict[str, Any] = {
        name: np.concatenate(values) if values else np.zeros(0, dtype=np.int64)
        for name, values in columns.items()
    }
    return _Rows(**joined, workflows=workflows, names=names, errors=errors)


def _codes(rows: _Rows, dimension: StatsDimension) -> tuple[Ints, int, int]:
    """One dimension's code per row, how many codes there are, and the offset of time codes."""
    if dimension is StatsDimension.INSTANCE:
        return rows.part, int(rows.part.max(initial=-1)) + 1, 0
    if dimension is StatsDimension.WORKFLOW:
        return rows.workflow, len(rows.workflows), 0
    if dimension is StatsDimension.STATUS:
        return rows.status, len(STATUSES), 0
    if dimension is StatsDimension.MODE:
        return rows.mode, len(MODES), 0
    if dimension is StatsDimension.ERROR:
        return rows.error, len(rows.errors) + 1, 0
    span = _DAY if dimension is StatsDimension.DAY else _HOUR
    periods = np.floor(rows.sort / span).astype(np.int64)
    low = int(periods.min(initial=0))
    return periods - low, int(periods.max(initial=low)) - low + 1, low


def _figures(
    rows: _Rows, group: Ints, groups: int
) -> tuple[Ints, npt.NDArray[np.int64], dict[int, Floats], Floats, Floats, Floats, Ints]:
    """Per group: counts, counts per status, percentiles, max, mean, first/last start, and how
    many durations each percentile was taken over."""
    statuses = len(STATUSES)
    counts = np.bincount(group, minlength=groups)
    by_status = np.bincount(group * statuses + rows.status, minlength=groups * statuses).reshape(
        groups, statuses
    )
    finished = np.isin(rows.status, list(FINISHED_CODES)) & ~np.isnan(rows.duration)
    durations = rows.duration[finished]
    owners = group[finished]
    order = np.lexsort((durations, owners))
    ranked = durations[order]
    sizes = np.bincount(owners, minlength=groups)
    starts = np.cumsum(sizes) - sizes
    has = sizes > 0
    percentiles: dict[int, Floats] = {}
    for p in (50, 90, 95, 99):
        rank = np.ceil(p / 100 * sizes).astype(np.int64) - 1
        values = np.full(groups, np.nan)
        values[has] = ranked[starts[has] + rank[has]]
        percentiles[p] = values
    largest = np.full(groups, np.nan)
    largest[has] = ranked[starts[has] + sizes[has] - 1]
    totals = np.bincount(owners, weights=durations, minlength=groups)
    mean = np.full(groups, np.nan)
    mean[has] = totals[has] / sizes[has]
    first = np.full(groups, np.inf)
    last = np.full(groups, -np.inf)
    started = ~np.isnan(rows.started)
    np.minimum.at(first, group[started], rows.started[started])
    np.maximum.at(last, group[started], rows.started[started])
    percentiles[100] = largest
    return counts, by_status, percentiles, mean, first, last, sizes


def _int(value: float) -> int | None:
    return None if np.isnan(value) else round(value)


def _time(value: float) -> datetime | None:
    return None if not np.isfinite(value) else datetime.fromtimestamp(value, UTC)


def _build(figures: tuple[Any, ...], index: int) -> Figures:
    counts, by_status, percentiles, mean, first, last, sizes = figures
    return Figures(
        count=int(counts[index]),
        by_status={s: int(by_status[index, code]) for code, s in enumerate(STATUSES)},
        durations=Durations(
            count=int(sizes[index]),
            p50=_int(percentiles[50][index]),
            p90=_int(percentiles[90][index]),
            p95=_int(percentiles[95][index]),
            p99=_int(percentiles[99][index]),
            max=_int(percentiles[100][index]),
            mean=None if np.isnan(mean[index]) else float(mean[index]),
        ),
        first_started_at=_time(first[index]),
        last_started_at=_time(last[index]),
    )


def _key(
    rows: _Rows, dimension: StatsDimension, code: int, low: int, parts: Sequence[Snapshot]
) -> dict[str, Any]:
    if dimension is StatsDimension.INSTANCE:
        return {"instance": parts[code].instance}
    if dimension is StatsDimension.WORKFLOW:
        return {"workflow": rows.workflows[code], "workflow_name": rows.names[code]}
    if dimension is StatsDimension.STATUS:
        return {"status": STATUSES[code]}
    if dimension is StatsDimension.MODE:
        return {"mode": MODES[code]}
    if dimension is StatsDimension.ERROR:
        return {"error": None if code == 0 else rows.errors[code - 1]}
    span = _DAY if dimension is StatsDimension.DAY else _HOUR
    name = "day" if dimension is StatsDimension.DAY else "hour"
    return {name: datetime.fromtimestamp((code + low) * span, UTC)}


def _sortable(key: BucketKey) -> tuple[Any, ...]:
    return (
        key.instance or "",
        key.workflow or ("", ""),
        key.status.value if key.status else "",
        key.mode.value if key.mode else "",
        key.error or "",
    )


def _groups(dimensions: Sequence[tuple[Ints, int]]) -> tuple[list[tuple[int, ...]], Ints]:
    """Each group's codes (one per dimension) and each row's group number.

    The codes are combined into one integer when every combination fits in 62 bits (one
    ``unique`` over a flat array); otherwise the rows of codes are made unique as such.
    """
    combinations = 1
    for _, count in dimensions:
        combinations *= max(count, 1)
    if combinations < 2**62:
        combined = np.zeros(len(dimensions[0][0]), dtype=np.int64)
        for codes, count in dimensions:
            combined = combined * count + codes
        unique, group = np.unique(combined, return_inverse=True)
        tuples = []
        for value in unique.tolist():
            codes_of: list[int] = []
            for _, count in reversed(dimensions):
                value, code = divmod(value, count)
                codes_of.append(code)
            tuples.append(tuple(reversed(codes_of)))
        return tuples, group.astype(np.int64)
    stacked = np.stack([codes for codes, _ in dimensions], axis=1)
    rows, group = np.unique(stacked, axis=0, return_inverse=True)
    return [tuple(int(c) for c in row) for row in rows.tolist()], group.reshape(-1).astype(np.int64)


def aggregate(
    parts: Sequence[Snapshot],
    window: Window,
    group_by: Sequence[StatsDimension],
    *,
    max_buckets: int,
) -> tuple[Figures, tuple[Bucket, ...], int]:
    """The overall figures, the buckets (at most ``max_buckets``) and how many there are.

    Buckets are ordered by their time first when grouped by ``DAY`` or ``HOUR`` (oldest first),
    then by count (largest first), then by their keys.
    """
    rows = _rows(parts, window)
    size = len(rows.sort)
    overall = _build(_figures(rows, np.zeros(size, dtype=np.int64), 1), 0)
    dimensions = list(dict.fromkeys(group_by))
    if not dimensions or size == 0:
        return overall, (), 0
    coded = [(dimension, *_codes(rows, dimension)) for dimension in dimensions]
    tuples, group = _groups([(codes, count) for _, codes, count, _ in coded])
    figures = _figures(rows, group, len(tuples))
    keys: list[BucketKey] = []
    times: list[tuple[datetime, ...]] = []
    for codes in tuples:
        fields: dict[str, Any] = {}
        for (dimension, _, _, low), code in zip(coded, codes, strict=True):
            fields |= _key(rows, dimension, code, low, parts)
        key = BucketKey(**fields)
        keys.append(key)
        times.append(tuple(t for t in (key.day, key.hour) if t is not None))
    counts = figures[0]
    order = sorted(range(len(keys)), key=lambda i: (times[i], -int(counts[i]), _sortable(keys[i])))
    buckets = tuple(Bucket(keys[i], _build(figures, i)) for i in order[:max_buckets])
    return overall, buckets, len(keys)


def window_of(after: datetime, before: datetime | None) -> Window:
    return Window(after.astimezone(UTC), before.astimezone(UTC) if before else None)


__all__ = ["NO_ERROR", "aggregate", "window_of"]
