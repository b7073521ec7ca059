"""A small hand-built team-style ``SimStore`` for the simulator and adapter tests.

Three workflows; executions of every store status with node runs, one with several runs of one
node, one pending (``started_at`` None), two with the same start time, one outside the default
30-day export window, and an e-mail address and an API key inside the data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from execgate.simulate.data import SimEdge, SimExecution, SimNode, SimNodeRun, SimWorkflow
from execgate.simulate.store import SimStore

TEAM_ID = "7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
TOKEN = "sdk_test_6f2b9c1d8e7a4f3b"
NOW = datetime(2026, 2, 17, 12, 0, 0, tzinfo=UTC)
EMAIL = "jane.doe@example.com"
API_KEY = "sk_live_abcdef123456"
_NS = uuid.UUID("3d5c1f0e-8a7b-4c2d-9e1f-6a5b4c3d2e1f")


def uid(label: str) -> str:
    return str(uuid.uuid5(_NS, label))


WF_ORDERS = uid("wf/orders")
WF_CRM = uid("wf/crm")
WF_REPORT = uid("wf/report")


@dataclass
class Clock:
    """A settable clock for ``SimStore``."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _workflows() -> list[SimWorkflow]:
    orders = [
        SimNode("Order Webhook", "webhook"),
        SimNode("Validate Order", "if"),
        SimNode("Charge Payment", "http"),
        SimNode("Send Receipt", "email"),
    ]
    crm = [
        SimNode("Every Night", "schedule"),
        SimNode("Fetch Contacts Page", "http"),
        SimNode("More Pages?", "if"),
        SimNode("Upsert Contacts", "db"),
    ]
    report = [SimNode("Run Report", "manual"), SimNode("Build Report", "code")]

    def chain(nodes: list[SimNode]) -> list[SimEdge]:
        return [SimEdge(a.name, b.name) for a, b in pairwise(nodes)]

    return [
        SimWorkflow(WF_ORDERS, "Order Processing", orders, chain(orders), "webhook", version=3),
        SimWorkflow(WF_CRM, "Nightly CRM Sync", crm, chain(crm), "schedule", version=2),
        SimWorkflow(WF_REPORT, "Manual Report", report, chain(report), "manual"),
    ]


_KINDS = {
    WF_ORDERS: [
        ("Order Webhook", "webhook"),
        ("Validate Order", "if"),
        ("Charge Payment", "http"),
        ("Send Receipt", "email"),
    ],
    WF_CRM: [
        ("Every Night", "schedule"),
        ("Fetch Contacts Page", "http"),
        ("More Pages?", "if"),
        ("Upsert Contacts", "db"),
    ],
    WF_REPORT: [("Run Report", "manual"), ("Build Report", "code")],
}


def _runs(
    label: str,
    workflow_id: str,
    start: datetime,
    statuses: list[str],
    *,
    error: str | None = None,
) -> list[SimNodeRun]:
    """One run per status, walking the workflow's nodes in order, 100 ms apart."""
    runs = []
    nodes = _KINDS[workflow_id]
    for index, status in enumerate(statuses):
        name, kind = nodes[index % len(nodes)]
        runs.append(
            SimNodeRun(
                node=name,
                kind=kind,
                run_index=0,
                started_at=start + timedelta(milliseconds=100 * index),
                duration_ms=80,
                status=status,  # type: ignore[arg-type]
                input={"step": index},
                output={"step": index, "ok": status == "success"},
                error=error if status == "error" else None,
                id=uid(f"{label}/run/{index}"),
            )
        )
    return runs


def execution(
    label: str,
    *,
    workflow_id: str = WF_ORDERS,
    status: str = "success",
    mode: str = "webhook",
    started: datetime | None,
    created: datetime | None = None,
    runs: list[SimNodeRun] | None = None,
    error: str | None = None,
    input: Any = None,
    output: Any = None,
) -> SimExecution:
    """An execution with id ``uid(label)``; finished ones end 2.35 s after they start."""
    final = status not in ("new", "running", "waiting")
    finished = started + timedelta(milliseconds=2350) if final and started else None
    if runs is None and started is not None:
        kinds = ["success"] * 3 if status == "success" else ["success"]
        runs = _runs(label, workflow_id, started, kinds)
    return SimExecution(
        id=uid(label),
        workflow_id=workflow_id,
        status=status,
        mode=mode,
        created_at=created or (started - timedelta(milliseconds=50) if started else NOW),
        started_at=started,
        finished_at=finished,
        runs=runs or [],
        error_message=error,
        input=input,
        output=output,
    )


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def make_store(clock: Clock | None = None, *, extra: int = 0) -> SimStore:
    """The hand-built store; ``extra`` adds that many plain successes, one per hour from 2 h."""
    clock = clock or Clock()
    secret_error = f"Card declined for {EMAIL} (apiKey={API_KEY})"
    crm_start = ago(minutes=40)
    crm_runs = _runs("crm-loop", WF_CRM, crm_start, ["success"] * 4)
    fetch = [
        SimNodeRun(
            "Fetch Contacts Page",
            "http",
            page,
            crm_start + timedelta(seconds=1 + page),
            120,
            "success",
            {"page": page},
            {"contacts": page * 10},
            retry_count=1 if page == 1 else 0,
            id=uid(f"crm-loop/fetch/{page}"),
        )
        for page in range(1, 3)
    ]
    crm_runs[2:2] = fetch
    tie = ago(minutes=20)
    executions = [
        execution("old", started=ago(days=40)),
        execution(
            "ok", started=ago(minutes=60), input={"body": {"email": EMAIL}}, output={"ok": True}
        ),
        execution(
            "failed",
            status="error",
            started=ago(minutes=50),
            error=secret_error,
            runs=_runs(
                "failed",
                WF_ORDERS,
                ago(minutes=50),
                ["success"] * 2 + ["error"],
                error=secret_error,
            ),
        ),
        execution("crm-loop", workflow_id=WF_CRM, mode="trigger", started=crm_start, runs=crm_runs),
        execution(
            "cancelled",
            workflow_id=WF_REPORT,
            status="canceled",
            mode="manual",
            started=ago(minutes=30),
        ),
        execution("crashed", status="crashed", started=ago(minutes=25), error="worker died"),
        execution("tie-a", workflow_id=WF_CRM, mode="trigger", started=tie),
        execution("tie-b", started=tie),
        execution(
            "running",
            status="running",
            started=ago(minutes=5),
            runs=_runs("running", WF_ORDERS, ago(minutes=5), ["success", "running"]),
        ),
        execution(
            "waiting",
            workflow_id=WF_CRM,
            status="waiting",
            mode="trigger",
            started=ago(minutes=3),
            runs=_runs("waiting", WF_CRM, ago(minutes=3), ["success", "waiting"]),
        ),
        execution(
            "pending",
            workflow_id=WF_REPORT,
            status="new",
            mode="manual",
            started=None,
            created=ago(minutes=1),
        ),
    ]
    executions += [execution(f"extra-{i}", started=ago(hours=2 + i)) for i in range(extra)]
    store = SimStore(_workflows(), executions, id_style="uuid", clock=clock)
    running = store.executions[uid("running")]
    running.finishes_at = NOW + timedelta(hours=1)
    running.final_status = "success"
    return store


def expected_order(store: SimStore) -> list[str]:
    """Every visible id in the team feed order: start (or creation) time, then id, descending."""

    def key(e: SimExecution) -> tuple[datetime, str]:
        moment = e.started_at or e.created_at
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000), e.id

    return [e.id for e in sorted(store.visible(), key=key, reverse=True)]
