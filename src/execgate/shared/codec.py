"""Finished executions as JSON for the shared cache, and live broadcasts for the replicas'
shared poll (``encode_broadcast``), and back.

Plain JSON (orjson), never pickle: whatever can write to Redis can at most make a replica
answer wrong data, never run code. A value carries its format version (``v``); one of another
version, or that does not decode, is taken as not cached (a broadcast: as not received).
Values hold what the backends answered about an execution, and a notice's error code and
message (which name the instance, never its address), never a credential.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from execgate.domain.errors import BackendError, UpstreamUnavailable
from execgate.domain.keys import ExecutionKey, NodeExecutionKey
from execgate.domain.live import Broadcast, Change, ChangeType, Notice, TrackerState
from execgate.domain.models import Execution, ExecutionMode, ExecutionStatus, NodeExecution

VERSION = 1
BROADCAST_VERSION = 1

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


def _error_classes(base: type[BackendError]) -> dict[str, type[BackendError]]:
    found = {base.code: base}
    for sub in base.__subclasses__():
        for code, cls in _error_classes(sub).items():
            found.setdefault(code, cls)
    return found


_ERRORS = _error_classes(BackendError)
_ERRORS[BackendError.code] = UpstreamUnavailable


def encode_broadcast(broadcast: Broadcast, sender: str) -> bytes:
    """``broadcast`` from the replica ``sender`` (an opaque token) as one message."""
    items: list[dict[str, Any]] = []
    for item in broadcast.items:
        if isinstance(item, Change):
            items.append({"c": item.type, "e": item.execution, "p": item.previous, "t": item.at})
        else:
            error = item.error
            items.append(
                {
                    "n": item.instance,
                    "code": None if error is None else error.code,
                    "m": None if error is None else error.message,
                    "r": item.retry_in,
                    "d": item.dropped,
                }
            )
    state = broadcast.state
    return orjson.dumps(
        {
            "v": BROADCAST_VERSION,
            "o": sender,
            "i": broadcast.instance,
            "a": broadcast.acted,
            "items": items,
            "s": None if state is None else {"k": state.known, "w": state.window},
        },
        default=_keys,
    )


def decode_broadcast(raw: bytes) -> tuple[str, Broadcast] | None:
    """The sender and broadcast ``raw`` holds, or ``None`` when it is not one this version
    wrote."""
    try:
        value = orjson.loads(raw)
        if not isinstance(value, dict) or value.get("v") != BROADCAST_VERSION:
            return None
        instance = str(value["i"])
        items = tuple(_item(instance, item) for item in value["items"])
        state = value.get("s")
        tracked = (
            None
            if state is None
            else TrackerState(
                tuple(_execution(e) for e in state["k"]),
                tuple(ExecutionKey(*key) for key in state["w"]),
            )
        )
        return str(value["o"]), Broadcast(instance, items, tracked, bool(value["a"]))
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _item(instance: str, fields: dict[str, Any]) -> Change | Notice:
    if "c" in fields:
        previous = fields["p"]
        return Change(
            ChangeType(fields["c"]),
            _execution(fields["e"]),
            None if previous is None else ExecutionStatus(previous),
            datetime.fromisoformat(fields["t"]),
        )
    code = fields["code"]
    error = None
    if code is not None:
        error = _ERRORS.get(code, UpstreamUnavailable)(instance, str(fields["m"]))
    retry = fields["r"]
    return Notice(
        fields["n"], error, retry_in=None if retry is None else float(retry), dropped=fields["d"]
    )
