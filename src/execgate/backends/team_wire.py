"""Pure parsing of the team-style API's JSON into the domain model, and its keyset positions.

Every function here raises ``WireError`` naming what was wrong; the adapter turns it into
``UpstreamBadResponse`` for its instance. Nothing here sends a request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from execgate.domain.keys import ExecutionKey, NodeExecutionKey
from execgate.domain.models import (
    Execution,
    ExecutionMode,
    ExecutionStatus,
    NodeExecution,
)

STATUSES: dict[str, ExecutionStatus] = {
    "PENDING": ExecutionStatus.PENDING,
    "RUNNING": ExecutionStatus.RUNNING,
    "SUCCESS": ExecutionStatus.SUCCESS,
    "FAILED": ExecutionStatus.FAILED,
    "CANCELLED": ExecutionStatus.CANCELLED,
}
"""Team status → domain status; these five are also the values the ``status`` filter takes."""

WIRE_STATUS: dict[ExecutionStatus, str] = {v: k for k, v in STATUSES.items()}

MODES: dict[str, ExecutionMode] = {
    "WEBHOOK": ExecutionMode.WEBHOOK,
    "SCHEDULE": ExecutionMode.SCHEDULE,
    "CRON": ExecutionMode.SCHEDULE,
    "MANUAL": ExecutionMode.MANUAL,
    "API": ExecutionMode.API,
    "EVENT": ExecutionMode.EVENT,
}


class WireError(ValueError):
    """An answer that does not have the shape the team-style API promises."""


def _field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if value is not None and not isinstance(value, kind):
        raise WireError(f"'{name}' has the wrong type")
    return value


def _text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = _field(body, name, str)
    if required and not value:
        raise WireError(f"'{name}' is missing")
    return value  # type: ignore[no-any-return]


def _int(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None or type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise WireError(f"'{name}' is not an integer")


def parse_time(value: Any, name: str = "timestamp") -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset; none means UTC) as an aware datetime."""
    if value is None:
        return None
    if type(value) is not str:
        raise WireError(f"'{name}' is not a timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise WireError(f"'{name}' is not a valid timestamp") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def render_time(moment: datetime) -> str:
    """``moment`` as the API writes it: UTC, milliseconds (microseconds when it has them)."""
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _status(raw: str) -> ExecutionStatus:
    return STATUSES.get(raw.upper(), ExecutionStatus.UNKNOWN)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if type(value) is dict:  # what JSON decodes to: skips the slower ABC check
        return value
    if not isinstance(value, Mapping):
        raise WireError(f"{what} is not an object")
    return value


def parse_execution(instance: str, value: Any, *, detail: bool) -> Execution:
    """One execution from a list item (``detail=False``) or a details answer."""
    body = _object(value, "an execution")
    native_id = _text(body, "id", required=True)
    workflow_id = _text(body, "workflowId", required=True)
    status_raw = _text(body, "status", required=True)
    assert native_id is not None and workflow_id is not None and status_raw is not None
    key = ExecutionKey(instance, native_id)
    mode_raw = _text(body, "trigger" if detail else "triggerType")
    if mode_raw is None:
        mode_raw = _text(body, "triggerType" if detail else "trigger")
    status = _status(status_raw)
    nodes: tuple[NodeExecution, ...] | None = None
    if detail:
        raw_nodes = body.get("nodeExecutions")
        if raw_nodes is None:
            raw_nodes = []
        if not isinstance(raw_nodes, list):
            raise WireError("'nodeExecutions' is not a list")
        nodes = parse_nodes(key, raw_nodes)
    execution = Execution(
        key=key,
        workflow_id=workflow_id,
        status=status,
        status_raw=status_raw,
        mode=MODES.get(mode_raw.upper(), ExecutionMode.UNKNOWN)
        if mode_raw
        else ExecutionMode.UNKNOWN,
        mode_raw=mode_raw,
        finished=status is ExecutionStatus.SUCCESS,
        workflow_name=_text(body, "workflowName"),
        created_at=parse_time(body.get("createdAt"), "createdAt"),
        started_at=parse_time(body.get("startedAt"), "startedAt"),
        finished_at=parse_time(
            body.get("completedAt") if detail else body.get("finishedAt"), "completedAt"
        ),
        duration_ms=_int(body, "durationMs"),
        error_message=_text(body, "errorMessage"),
        input_data=body.get("inputData"),
        output_data=body.get("outputData"),
        node_executions=nodes,
    )
    return execution


def record_id(value: Any) -> str | None:
    """The id of a record, if it has a readable one (to name a record that cannot be read)."""
    if isinstance(value, Mapping):
        found = value.get("id")
        if isinstance(found, str) and found:
            return found[:200]
    return None


def parse_nodes(key: ExecutionKey, raw_nodes: Sequence[Any]) -> tuple[NodeExecution, ...]:
    """The node executions of one execution in array order; ``run_index`` counts repeats.

    A detail page carries every node run of an execution, so this is the adapter's busiest
    parser: fields are read straight from the decoded dict, and only a value of the wrong
    type takes the slower path that names it.
    """
    seen: dict[str, int] = {}
    nodes = []
    for position, value in enumerate(raw_nodes):
        body = _object(value, "a node execution")
        get = body.get
        native_id, name = get("id"), get("nodeName")
        if type(native_id) is not str or not native_id:
            native_id = _text(body, "id", required=True)
        if type(name) is not str or not name:
            name = _text(body, "nodeName", required=True)
        assert isinstance(native_id, str) and isinstance(name, str)
        status_raw, node_type, error = get("status"), get("nodeType"), get("errorMessage")
        if not (_optional_str(status_raw) and _optional_str(node_type) and _optional_str(error)):
            for field in ("status", "nodeType", "errorMessage"):
                _text(body, field)
        run_index = seen.get(name, 0)
        seen[name] = run_index + 1
        nodes.append(
            NodeExecution(
                key=NodeExecutionKey(key, native_id),
                node_name=name,
                node_type=node_type,
                status=_status(status_raw) if status_raw else ExecutionStatus.UNKNOWN,
                status_raw=status_raw,
                position=position,
                run_index=run_index,
                retry_count=_int(body, "retryCount") or 0,
                started_at=parse_time(get("startedAt"), "startedAt"),
                finished_at=parse_time(get("completedAt"), "completedAt"),
                duration_ms=_int(body, "durationMs"),
                input_data=get("inputData"),
                output_data=get("outputData"),
                error_message=error,
            )
        )
    return tuple(nodes)


def _optional_str(value: Any) -> bool:
    return value is None or type(value) is str


@dataclass(frozen=True, slots=True)
class ListPage:
    """One answer of a list endpoint."""

    content: list[Any]
    total: int
    total_pages: int
    number: int
    size: int


def parse_list(value: Any) -> ListPage:
    body = _object(value, "the list answer")
    content = body.get("content")
    if not isinstance(content, list):
        raise WireError("'content' is not a list")
    numbers = {}
    for name in ("totalElements", "totalPages", "number", "size"):
        number = _int(body, name)
        if number is None or number < 0:
            raise WireError(f"'{name}' is missing")
        numbers[name] = number
    return ListPage(
        content,
        numbers["totalElements"],
        numbers["totalPages"],
        numbers["number"],
        numbers["size"],
    )


# --- keyset positions -----------------------------------------------------------------------


MAX_OWED = 32
"""How many executions that have not started a position carries ahead of the walk."""


def _owed_key(entry: tuple[str, datetime | None]) -> tuple[int, float, str]:
    """Owed entries to keep first: those of unknown time (overdue), then the newest."""
    native_id, moment = entry
    return (0, 0.0, native_id) if moment is None else (1, -moment.timestamp(), native_id)


@dataclass(frozen=True, slots=True)
class Bound:
    """Resume right after every item with ``sort_time > t``, and those with ``t`` in ``ids``.

    ``owed``: executions that have not started which the walk already knows of and has not
    returned, by id, with their creation time (``None`` while it is not known). An API may
    leave them out of a list bounded by ``to``, so the position remembers them; they are never
    "passed", even when they now sort above ``t`` (then they are late: returned at once).
    """

    t: datetime
    ids: frozenset[str]
    owed: Mapping[str, datetime | None] = field(default_factory=dict)

    def passed(self, execution: Execution) -> bool:
        """Whether ``execution`` was already returned before this bound (or sorts before it)."""
        if execution.native_id in self.owed:
            return False
        return self.behind(execution)

    def behind(self, execution: Execution) -> bool:
        """Whether ``execution`` sorts at or above the bound (whatever is owed)."""
        moment = execution.sort_time
        if moment is None:
            return False
        return moment > self.t or (moment == self.t and execution.native_id in self.ids)

    def to_position(self) -> dict[str, Any]:
        position: dict[str, Any] = {"t": render_time(self.t), "ids": sorted(self.ids)}
        if self.owed:
            position["o"] = {
                i: (None if m is None else render_time(m)) for i, m in sorted(self.owed.items())
            }
        return position


def parse_position(position: Mapping[str, Any] | None) -> Bound | None:
    """The bound a position stands for; ``None`` (or ``{}``) is the start of the stream."""
    if not position:
        return None
    ids = position.get("ids")
    owed = position.get("o", {})
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("malformed position")
    if not isinstance(owed, dict) or len(owed) > MAX_OWED:
        raise ValueError("malformed position")
    t = position.get("t")
    if not isinstance(t, str):
        raise ValueError("malformed position")
    try:
        moment = parse_time(t, "t")
        times = {i: parse_time(m, "o") for i, m in owed.items()}
    except WireError:
        raise ValueError("malformed position") from None
    assert moment is not None
    return Bound(moment, frozenset(ids), times)


def bound_after(
    previous: Bound | None,
    consumed: Sequence[Execution],
    owed: Mapping[str, datetime | None] | None = None,
) -> Bound:
    """The bound right after the last of ``consumed`` (ties at its time accumulate ids).

    ``owed``: what is owed once ``consumed`` is returned, before it is taken out (by default,
    what ``previous`` owed). Late items (owed ones that sort above ``previous``) move nothing.
    """
    remaining = dict(previous.owed if previous is not None else {}) if owed is None else dict(owed)
    t = previous.t if previous is not None else None
    ids = set(previous.ids) if previous is not None else set()
    for execution in consumed:
        remaining.pop(execution.native_id, None)
        moment = execution.sort_time
        if moment is None:
            raise ValueError("an item without a time cannot bound a position")
        if previous is not None and previous.behind(execution):
            continue
        if moment != t:
            t, ids = moment, set()
        ids.add(execution.native_id)
    if t is None:
        raise ValueError("a position needs an item with a time")
    if len(remaining) > MAX_OWED:
        remaining = dict(sorted(remaining.items(), key=_owed_key)[:MAX_OWED])
    return Bound(t, frozenset(ids), remaining)
