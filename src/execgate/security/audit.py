"""The audit trail: one JSON line per mutation attempt or export, to a file or to stderr.

``AuditLog`` implements the domain's ``AuditSink`` port; the service writes one ``AuditEntry``
per attempt (``Gateway.perform``, ``Gateway.refused``) and the app wires this log to it. A line
holds when (ISO 8601, UTC), who (the client's name, or ``anonymous``), what (the action,
the execution's global ID and its instance), how it ended (``OK`` or the error code), how
long it took, and the ``X-Request-ID`` of the request that asked (``null`` outside one); an
export's line also holds its filter and the rows and bytes it wrote. It never holds a key, a
credential or execution data. The file is opened for appending, line-buffered, and created
with mode 0600.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from execgate.domain.ports import AuditEntry, AuditSink
from execgate.telemetry import context

__all__ = ["MAX_ID_LENGTH", "AuditEntry", "AuditError", "AuditLog", "AuditSink", "audit_line"]

MAX_ID_LENGTH = 200
"""A client-supplied ID longer than this is cut (it is logged as given, so bound its size)."""


def audit_line(entry: AuditEntry, moment: datetime) -> dict[str, Any]:
    """The fields of one audit line, in the documented order."""
    execution_id = entry.execution_id
    if execution_id is not None and len(execution_id) > MAX_ID_LENGTH:
        execution_id = execution_id[:MAX_ID_LENGTH] + "…"
    line: dict[str, Any] = {
        "timestamp": moment.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "client": entry.client,
        "action": entry.action,
        "execution_id": execution_id,
        "instance": entry.instance,
        "outcome": entry.outcome,
        "latency_ms": round(entry.latency_ms, 1),
        "request_id": context.request_id.get(),
    }
    if entry.filter is not None:
        line["filter"] = dict(entry.filter)
        line["rows"] = entry.rows
        line["bytes"] = entry.bytes
    return line


class AuditError(Exception):
    """The audit file cannot be opened (the message names the path, never a secret)."""


def _now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """Writes audit lines to ``path`` (appending) or, without a path, to stderr."""

    def __init__(self, path: str | Path | None = None, *, clock: Callable[[], datetime] = _now):
        self.path = None if path is None else Path(path)
        self.clock = clock
        self._file: TextIO | None = None
        if self.path is not None:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise AuditError(f"cannot open the audit file {self.path}: {reason}") from None
            self._file = os.fdopen(fd, "a", buffering=1, encoding="utf-8")

    def record(self, entry: AuditEntry) -> None:
        fields = audit_line(entry, self.clock())
        line = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        if self._file is not None:
            self._file.write(line + "\n")
        else:
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
