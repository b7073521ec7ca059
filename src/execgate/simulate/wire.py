"""What both simulators write on the wire: millisecond UTC timestamps, stable ids, JSON bodies.

Each answer renders many timestamps and node ids, so these are written for speed: timestamps
are formatted without ``strftime`` or a needless time-zone conversion, and remembered, as are
name-based UUIDs; bodies are encoded with orjson (the same JSON as ``json.dumps`` with compact
separators and UTF-8 text).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from starlette.responses import Response


def to_utc_ms(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to the millisecond."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    micro = moment.microsecond
    return moment if micro % 1000 == 0 else moment.replace(microsecond=micro - micro % 1000)


def iso_ms(moment: datetime | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, as both APIs write timestamps."""
    return None if moment is None else _iso_ms(moment)


@lru_cache(maxsize=65536)
def _iso_ms(moment: datetime) -> str:
    # Remembered: a simulator renders the same executions' times again and again. Equal
    # moments hash alike whatever their zone, and they all format to the same UTC text.
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}."
        f"{moment.microsecond // 1000:03d}Z"
    )


@lru_cache(maxsize=65536)
def name_uuid(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, remembered."""
    return str(uuid.uuid5(namespace, name))


class JSONBody(Response):
    """A JSON answer encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
