"""n8n's public-API execution JSON → domain ``Execution`` and ``NodeExecution`` (pure parsing).

Anything of the wrong shape raises ``WireError`` (the adapter turns it into
``UpstreamBadResponse``); no ``KeyError`` or ``TypeError`` escapes.

Node runs: ``data.resultData.runData`` maps a node name to its list of runs. They are put in
execution order by ``executionIndex`` (runs without one: by ``startTime``; ties by the order the
nodes appear in ``runData``, then run index), with two constraints that always win: a run comes
after the run it read from (``source``) and after the node's previous run. The constraints
matter for what n8n really stores: a retry numbers the nodes it re-executes from 0 again, and a
crashed node's run says ``executionIndex: 0``.

Data: ``output_data`` is the run's ``data`` exactly as n8n gives it, ``{"main": [[item, ...],
...]}`` (one list per output, items ``{"json": ..., "pairedItem": ...}``). n8n records no
inputs, so ``input_data`` is rebuilt in the same shape n8n uses for a node's input,
``{"main": [[item, ...], ...]}`` with one list per entry of ``source``: the items of output
``previousNodeOutput`` of run ``previousNodeRun`` of ``previousNode``. A trigger (empty
``source``) has no input. An execution's input is its trigger's output and its output the last
executed node's output.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from execgate.domain.keys import ExecutionKey, NodeExecutionKey
from execgate.domain.models import (
    Execution,
    ExecutionMode,
    ExecutionStatus,
    JSONValue,
    NodeExecution,
)

STATUSES: Mapping[str, ExecutionStatus] = {
    "new": ExecutionStatus.PENDING,
    "running": ExecutionStatus.RUNNING,
    "waiting": ExecutionStatus.WAITING,
    "success": ExecutionStatus.SUCCESS,
    "error": ExecutionStatus.FAILED,
    "crashed": ExecutionStatus.CRASHED,
    "canceled": ExecutionStatus.CANCELLED,
    "unknown": ExecutionStatus.UNKNOWN,
}
N8N_STATUS: Mapping[ExecutionStatus, str] = {domain: raw for raw, domain in STATUSES.items()}

MODES: Mapping[str, ExecutionMode] = {
    "webhook": ExecutionMode.WEBHOOK,
    "trigger": ExecutionMode.TRIGGER,
    "manual": ExecutionMode.MANUAL,
    "retry": ExecutionMode.RETRY,
    "cli": ExecutionMode.CLI,
    "integrated": ExecutionMode.INTEGRATED,
    "internal": ExecutionMode.INTERNAL,
    "error": ExecutionMode.ERROR_WORKFLOW,
    "evaluation": ExecutionMode.EVALUATION,
    "chat": ExecutionMode.CHAT,
}

_RUN_STATUSES: Mapping[str, ExecutionStatus] = {
    "success": ExecutionStatus.SUCCESS,
    "error": ExecutionStatus.FAILED,
    "waiting": ExecutionStatus.WAITING,
    "running": ExecutionStatus.RUNNING,
    "crashed": ExecutionStatus.CRASHED,
    "canceled": ExecutionStatus.CANCELLED,
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_BELOW = 100_000_000_000
"""A ``startTime`` below this (1973 in ms, year 5138 in s) is in seconds, as crashed runs have."""
_MILLISECOND = timedelta(milliseconds=1)


class WireError(ValueError):
    """The backend's JSON does not have the shape the n8n API promises."""


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def identifier(value: Any, what: str) -> str:
    """An id that n8n sends as a string (or, after a DELETE, as a number)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise WireError(f"{what} is not an id")


def _optional_id(value: Any, what: str) -> str | None:
    return None if value is None else identifier(value, what)


def timestamp(value: Any, what: str) -> datetime | None:
    """An ISO timestamp; null and the epoch (n8n's "never") are ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise WireError(f"{what} is not a timestamp")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise WireError(f"{what} is not a timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return None if moment == _EPOCH else moment


def _epoch_ms(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not _is_number(value):
        raise WireError(f"{what} is not a number")
    millis = float(value) * 1000 if 0 <= value < _SECONDS_BELOW else float(value)
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        raise WireError(f"{what} is out of range") from None


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{what} is not an object")
    return value


def _optional_dict(value: Any, what: str) -> dict[str, Any] | None:
    return None if value is None else _dict(value, what)


def _error_message(error: Any) -> str | None:
    if isinstance(error, dict):
        message = error.get("message")
        return message if isinstance(message, str) else None
    return None


def parse_execution(instance: str, body: Any, *, include_nodes: bool) -> Execution:
    """One execution from a list item, a single read or a retry answer.

    A failure names the execution (``execution 12: startedAt is not a timestamp``); the
    message is put together only then, as every answer's executions are parsed here."""
    item = _dict(body, "an execution")
    native_id = identifier(item.get("id"), "execution id")
    try:
        return _parse(instance, native_id, item, include_nodes)
    except WireError as exc:
        raise WireError(f"execution {native_id}: {exc}") from None


def _parse(instance: str, native_id: str, item: dict[str, Any], include_nodes: bool) -> Execution:
    status_raw = item.get("status")
    if not isinstance(status_raw, str):
        raise WireError("status is not a string")
    mode_raw = item.get("mode")
    if mode_raw is not None and not isinstance(mode_raw, str):
        raise WireError("mode is not a string")
    workflow_id = identifier(item.get("workflowId"), "workflowId")
    finished = item.get("finished", status_raw == "success")
    if not isinstance(finished, bool):
        raise WireError("finished is not a boolean")
    started = timestamp(item.get("startedAt"), "startedAt")
    stopped = timestamp(item.get("stoppedAt"), "stoppedAt")
    duration = None
    if started is not None and stopped is not None:
        duration = max(0, (stopped - started) // _MILLISECOND)
    workflow_data = _optional_dict(item.get("workflowData"), "workflowData")
    workflow_name = None
    if workflow_data is not None and isinstance(workflow_data.get("name"), str):
        workflow_name = workflow_data["name"]
    key = ExecutionKey(instance, native_id)
    data = _optional_dict(item.get("data"), "data")
    result = _optional_dict((data or {}).get("resultData"), "resultData") or {}
    nodes: tuple[NodeExecution, ...] | None = None
    input_data: JSONValue = None
    output_data: JSONValue = None
    if include_nodes and data is not None:
        parsed = parse_run_data(key, result, workflow_data)
        nodes, input_data, output_data = parsed.nodes, parsed.input_data, parsed.output_data
    return Execution(
        key=key,
        workflow_id=workflow_id,
        status=STATUSES.get(status_raw, ExecutionStatus.UNKNOWN),
        status_raw=status_raw,
        mode=MODES.get(mode_raw, ExecutionMode.UNKNOWN) if mode_raw else ExecutionMode.UNKNOWN,
        mode_raw=mode_raw,
        finished=finished,
        workflow_name=workflow_name,
        created_at=timestamp(item.get("createdAt"), "createdAt"),
        started_at=started,
        finished_at=stopped,
        duration_ms=duration,
        error_message=_error_message(result.get("error")),
        input_data=input_data,
        output_data=output_data,
        retry_of=_optional_id(item.get("retryOf"), "retryOf"),
        retry_success_id=_optional_id(item.get("retrySuccessId"), "retrySuccessId"),
        node_executions=nodes,
    )


def _sources(body: dict[str, Any]) -> tuple[tuple[str, int, int] | None, ...]:
    """``(previousNode, previousNodeRun, previousNodeOutput)`` per input (None: unknown)."""
    raw = body.get("source")
    if not isinstance(raw, list):
        return ()
    found: list[tuple[str, int, int] | None] = []
    for entry in raw:
        if isinstance(entry, dict) and isinstance(entry.get("previousNode"), str):
            run = entry.get("previousNodeRun", 0)
            output = entry.get("previousNodeOutput", 0)
            found.append(
                (
                    entry["previousNode"],
                    run if isinstance(run, int) else 0,
                    output if isinstance(output, int) else 0,
                )
            )
        else:
            found.append(None)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _Run:
    node: str
    index: int
    node_order: int
    body: dict[str, Any]
    sources: tuple[tuple[str, int, int] | None, ...]
    """Read once from the body (see ``_sources``)."""

    @property
    def ref(self) -> tuple[str, int]:
        return (self.node, self.index)

    def sort_key(self) -> tuple[Any, ...]:
        position = self.body.get("executionIndex")
        if _is_number(position):
            return (0, float(position), self.node_order, self.index)
        start = self.body.get("startTime")
        moment = float(start) if _is_number(start) else float("inf")
        return (1, moment, self.node_order, self.index)


def _in_dependency_order(ordered: list[_Run]) -> bool:
    """Whether every run comes after the runs it depends on (its sources, and its node's
    previous run) that are there."""
    refs = {run.ref for run in ordered}
    done: set[tuple[str, int]] = set()
    for run in ordered:
        for source in run.sources:
            if source is not None:
                dep = (source[0], source[1])
                if dep in refs and dep not in done and dep != run.ref:
                    return False
        if run.index > 0 and (run.node, run.index - 1) not in done:
            return False  # the node's runs are numbered from 0: its previous one is there
        done.add(run.ref)
    return True


def execution_order(runs: list[_Run]) -> list[_Run]:
    """Runs in the order they ran: by sort key, never before a run they depend on.

    Usually the sort keys already put every run after its dependencies, and the sorted list is
    the answer (the walk below would pop the smallest ready run each time: the same list);
    a retry that renumbered its runs takes the walk."""
    by_key = sorted(runs, key=_Run.sort_key)
    if _in_dependency_order(by_key):
        return by_key
    by_ref = {run.ref: run for run in runs}
    needs: dict[tuple[str, int], set[tuple[str, int]]] = {}
    dependents: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for run in runs:
        deps = {(s[0], s[1]) for s in run.sources if s is not None and (s[0], s[1]) in by_ref}
        if run.index > 0:
            deps.add((run.node, run.index - 1))
        deps.discard(run.ref)
        needs[run.ref] = deps
        for dep in deps:
            dependents.setdefault(dep, []).append(run.ref)
    ready = [(run.sort_key(), run.ref) for run in runs if not needs[run.ref]]
    heapq.heapify(ready)
    ordered: list[_Run] = []
    done: set[tuple[str, int]] = set()
    while len(ordered) < len(runs):
        if not ready:
            # a dependency cycle in malformed data: release the earliest run still blocked
            blocked = [run for run in runs if run.ref not in done]
            first = min(blocked, key=_Run.sort_key)
            needs[first.ref].clear()
            ready.append((first.sort_key(), first.ref))
        _, ref = heapq.heappop(ready)
        if ref in done:
            continue
        done.add(ref)
        ordered.append(by_ref[ref])
        for other in dependents.get(ref, ()):
            if other in done or not needs[other]:
                continue
            needs[other].discard(ref)
            if not needs[other]:
                heapq.heappush(ready, (by_ref[other].sort_key(), other))
    return ordered


@dataclass(frozen=True, slots=True)
class ParsedRuns:
    nodes: tuple[NodeExecution, ...]
    input_data: JSONValue
    output_data: JSONValue


def _node_types(workflow_data: dict[str, Any] | None) -> dict[str, str]:
    types: dict[str, str] = {}
    nodes = (workflow_data or {}).get("nodes")
    if isinstance(nodes, list):
        for node in nodes:
            if isinstance(node, dict):
                name, kind = node.get("name"), node.get("type")
                if isinstance(name, str) and isinstance(kind, str):
                    types[name] = kind
    return types


def _output_items(data: Any, output: int) -> list[Any]:
    if isinstance(data, dict):
        main = data.get("main")
        if isinstance(main, list) and 0 <= output < len(main) and isinstance(main[output], list):
            return list(main[output])
    return []


def parse_run_data(
    key: ExecutionKey,
    result: dict[str, Any],
    workflow_data: dict[str, Any] | None,
) -> ParsedRuns:
    run_data = result.get("runData", {})
    if run_data is None:
        run_data = {}
    if not isinstance(run_data, dict):
        raise WireError("runData is not an object")
    runs: list[_Run] = []
    for order, (node, node_runs) in enumerate(run_data.items()):
        if not isinstance(node_runs, list):
            raise WireError("runData of a node is not a list")
        for index, body in enumerate(node_runs):
            if type(body) is not dict:
                body = _dict(body, "a node run")
            runs.append(_Run(node, index, order, body, _sources(body)))
    ordered = execution_order(runs)
    outputs = {run.ref: run.body.get("data") for run in runs}
    types = _node_types(workflow_data)
    nodes: list[NodeExecution] = []
    trigger_output: JSONValue = None
    for position, run in enumerate(ordered):
        body = run.body
        try:
            started = _epoch_ms(body.get("startTime"), "startTime")
        except WireError as exc:
            raise WireError(f"run {run.index} of a node: {exc}") from None
        elapsed = body.get("executionTime")
        duration = int(elapsed) if _is_number(elapsed) and elapsed >= 0 else None
        finished = (
            started + timedelta(milliseconds=duration)
            if started is not None and duration is not None
            else None
        )
        raw_status = body.get("executionStatus")
        if raw_status is None:
            status = ExecutionStatus.FAILED if "error" in body else ExecutionStatus.SUCCESS
        elif type(raw_status) is str:
            status = _RUN_STATUSES.get(raw_status, ExecutionStatus.UNKNOWN)
        else:
            raise WireError(f"run {run.index} of a node: executionStatus is not a string")
        sources = run.sources
        input_data: JSONValue = None
        if sources and any(source is not None for source in sources):
            input_data = {
                "main": [
                    _output_items(outputs.get((s[0], s[1])), s[2]) if s is not None else []
                    for s in sources
                ]
            }
        elif not sources and trigger_output is None:
            trigger_output = body.get("data")
        nodes.append(
            NodeExecution(
                key=NodeExecutionKey(key, f"{run.node}#{run.index}"),
                node_name=run.node,
                node_type=types.get(run.node),
                status=status,
                status_raw=raw_status,
                position=position,
                run_index=run.index,
                started_at=started,
                finished_at=finished,
                duration_ms=duration,
                input_data=input_data,
                output_data=body.get("data"),
                error_message=_error_message(body.get("error")),
            )
        )
    last_node = result.get("lastNodeExecuted")
    output_data: JSONValue = None
    if isinstance(last_node, str) and isinstance(run_data.get(last_node), list):
        last_runs = run_data[last_node]
        output_data = last_runs[-1].get("data") if last_runs else None
    elif ordered:
        output_data = ordered[-1].body.get("data")
    return ParsedRuns(tuple(nodes), trigger_output, output_data)
