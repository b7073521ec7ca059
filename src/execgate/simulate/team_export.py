"""The team-style export: CSV and JSON renderings of execution logs, with masking.

Exported data has PII and credential values redacted: e-mail addresses, bearer tokens, API-key
shaped strings, ``password=...``-style values inside text, and the values of object keys such as
``password``, ``token``, ``secret``, ``apiKey`` or ``authorization``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
CSV_COLUMNS = (
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


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(?i)\bbearer\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{8,}")
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|pwd|token|access[_-]?token|refresh[_-]?token|secret|"
    r"client[_-]?secret|api[_-]?key|authorization)\b(\"?'?\s*[:=]\s*\"?'?)"
    r"(?:(?:bearer|basic)\s+)?(?!\[REDACTED\])[^\s\"',;&}]+"
)
_KEY_LIKE = re.compile(
    r"\b(?:sk|pk|rk|sdk|ghp|tok|key)_(?:live_|test_)?[A-Za-z0-9]{8,}\b"
    r"|\bxox[abpr]-[A-Za-z0-9-]{10,}"
)
_SENSITIVE_KEYS = (
    "password",
    "passwd",
    "token",
    "secret",
    "apikey",
    "authorization",
    "credential",
    "credentials",
)
"""Object keys whose values are always redacted (compared lower-case, letters only, by suffix:
``api_key``, ``X-Api-Key``, ``client_secret`` and ``accessToken`` all match)."""


def mask_text(text: str) -> str:
    """``text`` with e-mail addresses, bearer tokens, API keys and secret values redacted."""
    text = _EMAIL.sub(REDACTED, text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _BEARER.sub(f"Bearer {REDACTED}", text)
    return _KEY_LIKE.sub(REDACTED, text)


def mask(value: Any) -> Any:
    """A copy of JSON-shaped ``value`` with every sensitive string or keyed value redacted."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, dict):
        masked: dict[str, Any] = {}
        for key, item in value.items():
            normal = re.sub(r"[^a-z]", "", str(key).lower())
            sensitive = normal.endswith(_SENSITIVE_KEYS) and item is not None
            masked[key] = REDACTED if sensitive else mask(item)
        return masked
    return value


def export_json(rendered: Iterable[Mapping[str, Any]]) -> bytes:
    """The JSON export of executions rendered as details: node executions nested, masked."""
    out = []
    for detail in rendered:
        out.append(
            {
                "executionId": detail["id"],
                "workflowId": detail["workflowId"],
                "workflowName": detail["workflowName"],
                "status": detail["status"],
                "trigger": detail["trigger"],
                "startedAt": detail["startedAt"],
                "completedAt": detail["completedAt"],
                "durationMs": detail["durationMs"],
                "nodeExecutions": [
                    {
                        "nodeId": n["nodeId"],
                        "nodeType": n["nodeType"],
                        "nodeName": n["nodeName"],
                        "status": n["status"],
                        "startedAt": n["startedAt"],
                        "completedAt": n["completedAt"],
                        "durationMs": n["durationMs"],
                        "error": n["errorMessage"],
                    }
                    for n in detail["nodeExecutions"]
                ],
            }
        )
    return json.dumps(mask(out)).encode()


def export_csv(rendered: Iterable[Mapping[str, Any]]) -> bytes:
    """The CSV export: one masked row per node execution (one with empty node columns for an
    execution that ran no node)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for detail in rendered:
        head = [
            detail["id"],
            detail["workflowId"],
            detail["workflowName"],
            detail["status"],
            detail["trigger"],
            detail["startedAt"],
            detail["completedAt"],
            detail["durationMs"],
        ]
        nodes = detail["nodeExecutions"] or [None]
        for n in nodes:
            tail = (
                [None] * 8
                if n is None
                else [
                    n["nodeId"],
                    n["nodeType"],
                    n["nodeName"],
                    n["status"],
                    n["startedAt"],
                    n["completedAt"],
                    n["durationMs"],
                    n["errorMessage"],
                ]
            )
            writer.writerow(["" if v is None else mask(str(v)) for v in head + tail])
    return buffer.getvalue().encode()
