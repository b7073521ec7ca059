"""Writing exported executions: CSV (one row per node run), JSON (nested) and JSON lines.

The records follow seed 000's export, with ``instance`` first: CSV columns ``instance,
execution_id, workflow_id, workflow_name, status, trigger, started_at, completed_at,
duration_ms, node_id, node_type, node_name, node_status, node_started_at, node_completed_at,
node_duration_ms, node_error`` (``node_input, node_output`` added with data), quoted as RFC 4180
says (the standard library's ``csv``, lines ending ``\\r\\n``); an execution without node runs is
one row with empty node columns. JSON nests ``nodeExecutions`` in each execution; JSON lines
writes one execution per line.

Every string passes through the masker. A writer turns executions into text chunks and counts
rows (CSV: node rows; otherwise executions); ``failure`` is the marker that ends an export an
instance broke off: a last CSV row whose first field starts with ``#EXPORT INCOMPLETE``, or a
last JSON element / line ``{"exportIncomplete": {...}}``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import orjson

from execgate.domain.models import Execution, NodeExecution
from execgate.export.params import Format
from execgate.service.masking import Masker

CSV_COLUMNS = (
    "instance",
    "execution_id",
    "workflow_id",
    "workflow_name",
    "status",
    "trigger",
    "started_at",
    "completed_at",
    "duration_ms",
    "node_id",
    "node_type",
    "node_name",
    "node_status",
    "node_started_at",
    "node_completed_at",
    "node_duration_ms",
    "node_error",
)
DATA_COLUMNS = ("node_input", "node_output")
INCOMPLETE = "#EXPORT INCOMPLETE"
MEDIA_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.JSON: "application/json",
    Format.JSONL: "application/x-ndjson",
}


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Writer:
    """Text chunks of one export in one format."""

    def __init__(self, chosen: Format, masker: Masker, *, include_data: bool) -> None:
        self.format = chosen
        self.masker = masker
        self.include_data = include_data
        self.rows = 0
        self.executions = 0
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def _text(self, value: str | None) -> str | None:
        return None if value is None else self.masker.text(value)

    def _drain(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def header(self) -> str:
        if self.format is Format.CSV:
            columns = CSV_COLUMNS + (DATA_COLUMNS if self.include_data else ())
            self._csv.writerow(columns)
            return self._drain()
        return "[" if self.format is Format.JSON else ""

    def footer(self) -> str:
        return "]\n" if self.format is Format.JSON else ""

    def _separator(self) -> str:
        return "," if self.format is Format.JSON and self.executions > 1 else ""

    def execution(self, execution: Execution) -> str:
        self.executions += 1
        if self.format is Format.CSV:
            return self._rows(execution)
        self.rows += 1
        body = orjson.dumps(self.record(execution)).decode()
        if self.format is Format.JSON:
            return self._separator() + "\n" + body
        return body + "\n"

    def failure(self, instance: str, code: str, message: str) -> str:
        """The marker that closes an export an instance broke off."""
        said = (
            f"instance {instance!r} failed ({code}): {message}; the export stopped after "
            f"{self.rows} rows"
        )
        if self.format is Format.CSV:
            self._csv.writerow([f"{INCOMPLETE}: {said}"])
            return self._drain()
        marker = {"exportIncomplete": {"instance": instance, "code": code, "message": said}}
        body = orjson.dumps(marker).decode()
        if self.format is Format.JSON:
            return ("," if self.executions else "") + "\n" + body + "\n]\n"
        return body + "\n"

    # --- records --------------------------------------------------------------------------

    def _head(self, e: Execution) -> list[Any]:
        text = self._text
        return [
            e.instance,
            text(e.native_id),
            text(e.workflow_id),
            text(e.workflow_name),
            e.status.value,
            e.mode.value,
            _time(e.started_at),
            _time(e.finished_at),
            e.duration_ms,
        ]

    def _node(self, n: NodeExecution) -> list[Any]:
        text = self._text
        return [
            text(n.key.native_id),
            text(n.node_type),
            text(n.node_name),
            n.status.value,
            _time(n.started_at),
            _time(n.finished_at),
            n.duration_ms,
            text(n.error_message),
        ]

    def _data(self, value: Any) -> str | None:
        if value is None:
            return None
        return orjson.dumps(self.masker.value(value)).decode()

    def _rows(self, e: Execution) -> str:
        head = self._head(e)
        nodes = e.node_executions or ()
        empty = [None] * (8 + (2 if self.include_data else 0))
        if not nodes:
            self._csv.writerow(head + empty)
            self.rows += 1
        for n in nodes:
            row = head + self._node(n)
            if self.include_data:
                row += [self._data(n.input_data), self._data(n.output_data)]
            self._csv.writerow(row)
            self.rows += 1
        return self._drain()

    def record(self, e: Execution) -> dict[str, Any]:
        """Seed 000's nested JSON record of one execution, with ``instance``."""
        text = self._text
        nodes = []
        for n in e.node_executions or ():
            node: dict[str, Any] = {
                "nodeId": text(n.key.native_id),
                "nodeType": text(n.node_type),
                "nodeName": text(n.node_name),
                "status": n.status.value,
                "startedAt": _time(n.started_at),
                "completedAt": _time(n.finished_at),
                "durationMs": n.duration_ms,
                "error": text(n.error_message),
            }
            if self.include_data:
                node["inputData"] = self.masker.value(n.input_data)
                node["outputData"] = self.masker.value(n.output_data)
            nodes.append(node)
        record: dict[str, Any] = {
            "instance": e.instance,
            "executionId": text(e.native_id),
            "workflowId": text(e.workflow_id),
            "workflowName": text(e.workflow_name),
            "status": e.status.value,
            "trigger": e.mode.value,
            "startedAt": _time(e.started_at),
            "completedAt": _time(e.finished_at),
            "durationMs": e.duration_ms,
            "error": text(e.error_message),
        }
        if self.include_data:
            record["inputData"] = self.masker.value(e.input_data)
            record["outputData"] = self.masker.value(e.output_data)
        record["nodeExecutions"] = nodes
        return record


def filename(chosen: Format, days: int | None, now: datetime) -> str:
    span = f"{days}d" if days is not None else "window"
    return f"executions-{span}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.{chosen.value}"
