"""An export's parameters, from ``/export``'s query string or the command line, checked.

``instances`` (comma-separated, or repeated), ``status`` (execution statuses, comma-separated,
any case), ``workflowId`` (a workflow's global ID), ``startedAfter`` and ``startedBefore`` (ISO
8601 with an offset), ``days`` (the days before now, default ``[export] default_days``; not
with ``startedAfter``), ``format`` (``csv``, the default, ``json`` or ``jsonl``) and
``include_data`` (``true`` adds node input and output). Anything else is refused.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from execgate.domain import ids
from execgate.domain.errors import InvalidArgument, shown
from execgate.domain.models import ExecutionStatus
from execgate.service.gateway import FeedFilter

MAX_DAYS = 3650
KNOWN = (
    "format",
    "instances",
    "status",
    "workflowId",
    "startedAfter",
    "startedBefore",
    "days",
    "include_data",
)


class Format(enum.Enum):
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"


@dataclass(frozen=True, slots=True)
class ExportParams:
    format: Format
    filter: FeedFilter
    include_data: bool
    days: int | None
    """The days the window covers when it was given in days (for the file name)."""

    def described(self) -> dict[str, Any]:
        """The filter as the audit line records it."""
        f = self.filter
        return {
            "format": self.format.value,
            "instances": list(f.instances) if f.instances is not None else None,
            "status": sorted(s.value for s in f.statuses) or None,
            "workflowId": ids.encode("Workflow", f.workflow.encode()) if f.workflow else None,
            "startedAfter": f.started_after.isoformat() if f.started_after else None,
            "startedBefore": f.started_before.isoformat() if f.started_before else None,
            "include_data": self.include_data,
        }


def _moment(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{name} must be an ISO 8601 time, not {shown(raw)}") from None
    if value.utcoffset() is None:
        raise InvalidArgument(f"{name} needs a time with its offset, such as 2026-12-01T00:00:00Z")
    return value


def _split(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse(query: Mapping[str, Sequence[str]], *, now: datetime, default_days: int) -> ExportParams:
    """The parameters of ``query`` (each name → its values), or ``InvalidArgument``."""
    unknown = sorted(set(query) - set(KNOWN))
    if unknown:
        raise InvalidArgument(f"unknown parameter {shown(unknown[0])}; known: {', '.join(KNOWN)}")
    for name, values in query.items():
        if name not in ("instances", "status") and len(values) > 1:
            raise InvalidArgument(f"{name} is given more than once")

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    raw_format = (one("format") or "csv").lower()
    try:
        chosen = Format(raw_format)
    except ValueError:
        raise InvalidArgument(
            f"format must be csv, json or jsonl, not {shown(raw_format)}"
        ) from None
    statuses: set[ExecutionStatus] = set()
    for raw in _split(query.get("status", [])):
        try:
            statuses.add(ExecutionStatus[raw.upper()])
        except KeyError:
            valid = ", ".join(s.value for s in ExecutionStatus)
            raise InvalidArgument(f"unknown status {shown(raw)}; valid: {valid}") from None
    instances = _split(query.get("instances", []))
    workflow = one("workflowId")
    after_raw, before_raw, days_raw = one("startedAfter"), one("startedBefore"), one("days")
    if after_raw is not None and days_raw is not None:
        raise InvalidArgument("give either days or startedAfter, not both")
    days: int | None = None
    if after_raw is None:
        try:
            days = int(days_raw) if days_raw is not None else default_days
        except ValueError:
            raise InvalidArgument(
                f"days must be a whole number, not {shown(days_raw or '')}"
            ) from None
        if not 1 <= days <= MAX_DAYS:
            raise InvalidArgument(f"days must be between 1 and {MAX_DAYS}, got {days}")
    after = _moment("startedAfter", after_raw) if after_raw else now - timedelta(days=days or 0)
    before = _moment("startedBefore", before_raw) if before_raw else None
    if before is not None and after > before:
        raise InvalidArgument("startedAfter is later than startedBefore")
    data = (one("include_data") or "false").lower()
    if data not in ("true", "false"):
        raise InvalidArgument(f"include_data must be true or false, not {shown(data)}")
    return ExportParams(
        format=chosen,
        filter=FeedFilter(
            instances=tuple(instances) if instances else None,
            workflow=ids.workflow_key(workflow) if workflow else None,
            statuses=frozenset(statuses),
            started_after=after,
            started_before=before,
        ),
        include_data=data == "true",
        days=days,
    )
