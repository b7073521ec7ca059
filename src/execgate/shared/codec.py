"""Finished executions as JSON for the shared cache, and back.

Plain JSON (orjson), never pickle: whatever can write to Redis can at most make a replica
answer wrong data, never run code. A value carries its format version (``v``); one of another
version, or that does not decode, is taken as not cached. Values hold what the backends
answered about an execution, never a credential or a backend address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from execgate.domain.keys import ExecutionKey, NodeExecutionKey
from execgate.domain.models import Execution, ExecutionMode, ExecutionStatus, NodeExecution

VERSION = 1

_MOMENTS = ("created_at", "started_at", "finished_at")


def _keys(value: object) -> object:
    """orjson's fallback: the keys (named tuples) as arrays."""
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def encode(execution: Execution) -> bytes:
    return orjson.dumps({"v": VERSION, "e": execution}, default=_keys)


def decode(raw: bytes) -> Execution | None:
    """The execution ``raw`` holds, or ``None`` when it is not one this version wrote."""
    try:
        value = orjson.loads(raw)
        if not isinstance(value, dict) or value.get("v") != VERSION:
            return None
        return _execution(value["e"])
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _execution(fields: dict[str, Any]) -> Execution:
    fields = dict(fields)
    fields["key"] = ExecutionKey(*fields["key"])
    fields["status"] = ExecutionStatus(fields["status"])
    fields["mode"] = ExecutionMode(fields["mode"])
    for name in _MOMENTS:
        fields[name] = _moment(fields.get(name))
    nodes = fields.get("node_executions")
    if nodes is not None:
        fields["node_executions"] = tuple(_node(node) for node in nodes)
    return Execution(**fields)


def _node(fields: dict[str, Any]) -> NodeExecution:
    fields = dict(fields)
    execution, native_id = fields["key"]
    fields["key"] = NodeExecutionKey(ExecutionKey(*execution), native_id)
    fields["status"] = ExecutionStatus(fields["status"])
    for name in ("started_at", "finished_at"):
        fields[name] = _moment(fields.get(name))
    return NodeExecution(**fields)
