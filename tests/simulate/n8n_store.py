"""A hand-built store for the n8n-style simulator tests: every status, a loop, a retry pair.

Execution ids 1..25 (numeric, like n8n), one per minute from ``T0``; the clock stands still at
``NOW`` unless a test moves it, so running executions stay running.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from execgate.simulate.data import SimEdge, SimExecution, SimNode, SimNodeRun, SimWorkflow
from execgate.simulate.store import SimStore

T0 = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)

WF_OK = "Ok7pQm2ZxW9aLb3K"
WF_FAIL = "Fa1lQm2ZxW9aLb3K"
WF_WAIT = "Wa1tQm2ZxW9aLb3K"
WF_SLOW = "S1owQm2ZxW9aLb3K"
WF_LOOP = "L00pQm2ZxW9aLb3K"

# id → (workflow, status, mode)
LAYOUT: dict[int, tuple[str, str, str]] = {
    1: (WF_OK, "success", "webhook"),
    2: (WF_OK, "success", "webhook"),
    3: (WF_FAIL, "error", "webhook"),
    4: (WF_OK, "success", "cli"),
    5: (WF_FAIL, "error", "webhook"),
    6: (WF_OK, "success", "trigger"),
    7: (WF_OK, "success", "webhook"),
    8: (WF_FAIL, "error", "webhook"),
    9: (WF_LOOP, "success", "manual"),
    10: (WF_WAIT, "waiting", "webhook"),
    11: (WF_SLOW, "canceled", "webhook"),
    12: (WF_SLOW, "crashed", "webhook"),
    13: (WF_FAIL, "error", "webhook"),
    14: (WF_FAIL, "success", "retry"),
    15: (WF_OK, "success", "webhook"),
    16: (WF_FAIL, "error", "webhook"),
    17: (WF_OK, "success", "webhook"),
    18: (WF_OK, "success", "evaluation"),
    19: (WF_FAIL, "error", "webhook"),
    20: (WF_OK, "success", "webhook"),
    21: (WF_SLOW, "running", "webhook"),
    22: (WF_OK, "success", "webhook"),
    23: (WF_SLOW, "new", "webhook"),
    24: (WF_SLOW, "running", "webhook"),
    25: (WF_OK, "success", "manual"),
}
IDS: dict[str, str] = {
    "success": "1",
    "error": "3",
    "waiting": "10",
    "canceled": "11",
    "crashed": "12",
    "running": "21",
    "new": "23",
}
MULTI_RUN_ID = "9"
MULTI_RUN_NODE = "Fetch"
WORKFLOW_NAMES = {
    WF_OK: "orders-sync",
    WF_FAIL: "invoice-export",
    WF_WAIT: "approval-wait",
    WF_SLOW: "slow-report",
    WF_LOOP: "paged-fetch",
}


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def workflows() -> list[SimWorkflow]:
    def chain(wid: str, nodes: list[tuple[str, str]]) -> SimWorkflow:
        edges = [SimEdge(a[0], b[0]) for a, b in itertools.pairwise(nodes)]
        return SimWorkflow(wid, WORKFLOW_NAMES[wid], [SimNode(n, k) for n, k in nodes], edges)

    loop = SimWorkflow(
        WF_LOOP,
        WORKFLOW_NAMES[WF_LOOP],
        [
            SimNode("Start", "manual"),
            SimNode("Fetch", "http"),
            SimNode("More?", "if"),
            SimNode("Done", "set"),
        ],
        [
            SimEdge("Start", "Fetch"),
            SimEdge("Fetch", "More?"),
            SimEdge("More?", "Fetch", output=0),
            SimEdge("More?", "Done", output=1),
        ],
        trigger="manual",
    )
    return [
        chain(WF_OK, [("Webhook", "webhook"), ("Set", "set"), ("Code", "code")]),
        chain(WF_FAIL, [("Webhook", "webhook"), ("Set", "set"), ("Code", "code")]),
        chain(WF_WAIT, [("Webhook", "webhook"), ("Wait", "wait"), ("Code", "code")]),
        chain(WF_SLOW, [("Webhook", "webhook"), ("Code", "code")]),
        loop,
    ]


def _run(
    node: str,
    kind: str,
    index: int,
    at: datetime,
    status: str,
    source: str | None,
    data_in: Any,
    data_out: Any,
    error: str | None = None,
) -> SimNodeRun:
    return SimNodeRun(
        node=node,
        kind=kind,
        run_index=index,
        started_at=at,
        duration_ms=7,
        status=status,  # type: ignore[arg-type]
        input=data_in,
        output=data_out,
        source=source,
        error=error,
    )


def make_execution(
    number: int, workflow: str, status: str, mode: str, at: datetime
) -> SimExecution:
    """One execution of ``workflow`` in ``status`` created at ``at``, with plausible runs."""
    payload = {"headers": {"host": "sim"}, "query": {"i": str(number)}, "body": {}}
    greeting = {"greeting": "hello", "i": number}
    started = None if status == "new" else at + timedelta(milliseconds=5)
    t = (started or at) + timedelta(milliseconds=10)
    step = timedelta(milliseconds=10)
    runs: list[SimNodeRun] = []
    error_message = None
    finished_at = None if status in ("new", "running", "waiting") else t + 10 * step
    wait_till = None
    output: Any = None
    if status == "new":
        pass
    elif workflow == WF_LOOP:
        runs.append(_run("Start", "manual", 0, t, "success", None, None, [{"page": 0}]))
        for page in range(3):
            fetched = [{"page": page, "rows": 2}]
            base = t + (2 * page + 1) * step
            runs.append(
                _run(
                    "Fetch",
                    "http",
                    page,
                    base,
                    "success",
                    "Start" if page == 0 else "More?",
                    [{"page": page}],
                    fetched,
                )
            )
            runs.append(
                _run(
                    "More?",
                    "if",
                    page,
                    base + step,
                    "success",
                    "Fetch",
                    fetched,
                    [{"page": page + 1}] if page < 2 else fetched,
                )
            )
        runs.append(
            _run(
                "Done",
                "set",
                0,
                t + 8 * step,
                "success",
                "More?",
                [{"page": 2, "rows": 2}],
                [{"pages": 3}],
            )
        )
        output = [{"pages": 3}]
    else:
        runs.append(_run("Webhook", "webhook", 0, t, "success", None, None, payload))
        if workflow in (WF_OK, WF_FAIL):
            runs.append(_run("Set", "set", 0, t + step, "success", "Webhook", payload, greeting))
            if status == "error":
                error_message = f"invoice {number} could not be exported"
                runs.append(
                    _run(
                        "Code",
                        "code",
                        0,
                        t + 2 * step,
                        "error",
                        "Set",
                        greeting,
                        None,
                        error_message,
                    )
                )
            else:
                output = {**greeting, "doubled": 42}
                runs.append(
                    _run("Code", "code", 0, t + 2 * step, "success", "Set", greeting, output)
                )
        elif workflow == WF_WAIT:
            runs.append(_run("Wait", "wait", 0, t + step, "waiting", "Webhook", payload, None))
            wait_till = NOW + timedelta(minutes=10)
        elif status == "running":
            runs.append(_run("Code", "code", 0, t + step, "running", "Webhook", payload, None))
        elif status == "crashed":
            error_message = "Workflow did not finish, possible out-of-memory issue"
            runs.append(
                _run("Code", "code", 0, t + step, "error", "Webhook", payload, None, error_message)
            )
        elif status == "canceled":
            error_message = "The execution was cancelled manually"
        else:
            output = {"slept": 20}
            runs.append(_run("Code", "code", 0, t + step, "success", "Webhook", payload, output))
    return SimExecution(
        id=str(number),
        workflow_id=workflow,
        status=status,
        mode=mode,
        created_at=at,
        started_at=started,
        finished_at=finished_at,
        runs=runs,
        error_message=error_message,
        input=payload,
        output=output,
        wait_till=wait_till,
        finishes_at=NOW + timedelta(days=1) if status == "running" else None,
        final_status="success" if status == "running" else None,
    )


def build_store(clock: Clock | None = None, *, extra: int = 0) -> SimStore:
    """The 25 executions of ``LAYOUT`` plus ``extra`` older-looking plain successes after them."""
    executions = [
        make_execution(number, wf, status, mode, T0 + timedelta(minutes=number))
        for number, (wf, status, mode) in LAYOUT.items()
    ]
    retried = executions[12]
    retry = executions[13]
    retried.retry_success_id = retry.id
    retry.retry_of = retried.id
    for offset in range(extra):
        number = len(LAYOUT) + 1 + offset
        executions.append(
            make_execution(number, WF_OK, "success", "webhook", T0 + timedelta(minutes=number))
        )
    return SimStore(workflows(), executions, clock=clock or Clock())


def add_failed(store: SimStore) -> str:
    """A new failed execution (its id is the next one), to mutate in a test."""
    with store.lock:
        number = int(store.new_id())
        store.add(make_execution(number, WF_FAIL, "error", "webhook", store.now()))
        return str(number)


def add_running(store: SimStore) -> str:
    with store.lock:
        number = int(store.new_id())
        store.add(make_execution(number, WF_SLOW, "running", "webhook", store.now()))
        return str(number)
