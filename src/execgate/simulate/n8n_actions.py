"""What the n8n-style simulator does to its store on stop and retry.

Stop: a ``new``, ``running`` or ``waiting`` execution becomes ``canceled`` at once, stopped now,
with n8n's "cancelled manually" error; a ``new`` one keeps ``startedAt`` null (n8n then answers
the epoch as its start).

Retry (synchronous, like n8n's ``POST /executions/{id}/retry``): a new execution with mode
``retry`` and ``retryOf`` set is created and run to completion before the call answers. It
copies the node runs that succeeded in the retried execution, then executes the workflow from
the node where that one stopped (the node that failed, was interrupted or was waiting; or the
next node along the workflow's edges), one millisecond per node, passing items through. The
outcome is deterministic: the retry succeeds, unless the workflow is one of the app's
``failing_workflows`` (a workflow whose failing node fails on every run, like a Code node that
always throws); then it fails again at the first node it executes, with the original message.
The retried execution gets ``retrySuccessId`` only when the retry succeeded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from execgate.simulate.data import SimExecution, SimNodeRun, SimWorkflow
from execgate.simulate.n8n_records import ordered_runs
from execgate.simulate.store import SimStore, finish

CANCELLED_MESSAGE = "The execution was cancelled manually"


def stop(execution: SimExecution, now: datetime) -> None:
    started = execution.started_at
    execution.error_message = CANCELLED_MESSAGE
    finish(execution, "canceled", now)
    execution.started_at = started


def _successors(workflow: SimWorkflow | None, node: str) -> list[str]:
    if workflow is None:
        return []
    return [edge.target for edge in workflow.edges if edge.source == node]


def _kinds(workflow: SimWorkflow | None) -> dict[str, str]:
    return {node.name: node.kind for node in workflow.nodes} if workflow else {}


def _restart_point(
    original: SimExecution, copied: list[SimNodeRun], workflow: SimWorkflow | None
) -> tuple[str | None, str | None]:
    """The node the retry executes first, and the node whose output feeds it."""
    stopped = next((run for run in ordered_runs(original) if run.status != "success"), None)
    if stopped is not None:
        return stopped.node, stopped.source
    if copied:
        done = {run.node for run in copied}
        following = [n for n in _successors(workflow, copied[-1].node) if n not in done]
        return (following[0] if following else None), copied[-1].node
    if workflow is not None and workflow.nodes:
        return workflow.nodes[0].name, None
    return None, None


def retry(store: SimStore, original: SimExecution, *, fail: bool) -> tuple[SimExecution, int]:
    """Run a retry of ``original`` to completion; returns it and how many runs it copied."""
    now = store.now()
    workflow = store.workflows.get(original.workflow_id)
    kinds = _kinds(workflow)
    copied = [replace(run) for run in ordered_runs(original) if run.status == "success"]
    node, source = _restart_point(original, copied, workflow)
    outputs: dict[str, Any] = {run.node: run.output for run in copied}
    message = original.error_message or "Node execution failed"
    if original.status == "canceled":
        message = "Node execution failed"
    runs: list[SimNodeRun] = []
    moment = now
    counts: dict[str, int] = {}
    for run in copied:
        counts[run.node] = counts.get(run.node, 0) + 1
    visited: set[str] = set()
    limit = len(workflow.nodes) if workflow else 1
    failed = False
    while node is not None and node not in visited and len(runs) < limit:
        visited.add(node)
        items = outputs.get(source) if source is not None else original.input
        fails_here = fail and not runs
        runs.append(
            SimNodeRun(
                node=node,
                kind=kinds.get(node, "code"),
                run_index=counts.get(node, 0),
                started_at=moment,
                duration_ms=1,
                status="error" if fails_here else "success",
                input=items,
                output=None if fails_here else items,
                source=source,
                error=message if fails_here else None,
            )
        )
        counts[node] = counts.get(node, 0) + 1
        moment += timedelta(milliseconds=1)
        if fails_here:
            failed = True
            break
        outputs[node] = items
        following = [n for n in _successors(workflow, node) if n not in visited]
        source, node = node, (following[0] if following else None)
    everything = copied + runs
    new = SimExecution(
        id=store.new_id(),
        workflow_id=original.workflow_id,
        status="error" if failed else "success",
        mode="retry",
        created_at=now,
        started_at=now,
        finished_at=moment,
        runs=everything,
        error_message=message if failed else None,
        input=original.input,
        output=None if failed or not everything else everything[-1].output,
        retry_of=original.id,
    )
    store.add(new)
    if not failed:
        original.retry_success_id = new.id
    return new, len(copied)
