"""Seeded, deterministic simulated data that looks like a production instance's history.

``generate_store`` builds one ``SimStore``: workflows drawn from a catalog of realistic
automations (a trigger, then a graph with if/switch branches, sometimes a merge, a pagination
loop or a Wait node) and executions spread over the last 30 days, denser near ``now``. Each
execution's node runs follow one branch at every if/switch, carry plausible JSON (orders, leads,
invoices, with e-mail addresses and now and then an API-key-like value) and stop at the failing
node when the execution failed. n8n-style stores also hold retry chains and ``waiting`` and
``crashed`` executions; team-style stores never do, but about a third of their cancelled
executions were cancelled while still queued (no start time, no node runs).

Everything comes from ``random.Random(seed)``: the same seed and ``now`` give identical data,
and another ``now`` shifts every timestamp by the same amount and changes nothing else.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from execgate.simulate.catalog import (
    AGENTS,
    CATALOG,
    DURATION_MS,
    ERRORS,
    FAIL_WEIGHT,
    SUFFIXES,
    Template,
    make_person,
    make_record,
    make_token,
)
from execgate.simulate.data import SimEdge, SimExecution, SimNode, SimNodeRun, SimWorkflow
from execgate.simulate.store import SimStore, utcnow

Style = Literal["team", "n8n"]
DEMO_TEAM_ID = "0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b"
"""The team id of the demo's team-style instance."""

_CANCELED = "The execution was cancelled manually"
_CRASHED = "Workflow did not finish, possible out-of-memory issue"
_MODES = {"webhook": "webhook", "schedule": "trigger", "manual": "manual"}
_MINUTE_MS = 60_000
_HOUR_MS = 60 * _MINUTE_MS
_DAY_MS = 24 * _HOUR_MS
_MIN_AGE_MS = 5 * _MINUTE_MS
"""Finished executions are created at least this long before ``now``."""


@dataclass
class _Graph:
    workflow: SimWorkflow
    domain: str
    kinds: dict[str, str]
    children: dict[str, list[tuple[int, str]]]
    back: dict[str, int]
    """Loop controllers: the if node's output index that leads back to an earlier node."""


@dataclass
class _Step:
    node: str
    kind: str
    run_index: int
    source: int | None
    output: Any = None
    offset_ms: int = 0
    duration_ms: int = 0
    retry_count: int = 0


@dataclass
class _Plan:
    execution: SimExecution
    graph: _Graph
    path_seed: int
    record: dict[str, Any]
    fail_node: str | None = None
    parent: _Plan | None = None

    @property
    def created(self) -> datetime:
        return self.execution.created_at

    @property
    def finished(self) -> datetime:
        return self.execution.finished_at or self.execution.created_at


def generate_store(
    seed: int,
    *,
    style: Style,
    workflows: int = 8,
    executions: int = 400,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> SimStore:
    """A store of ``workflows`` workflows and exactly ``executions`` executions up to ``now``."""
    rng = random.Random(seed)
    anchor = _anchor(now or utcnow())
    graphs = _workflows(rng, style, max(1, workflows))
    plans = _Builder(rng, style, anchor, graphs).build(max(0, executions))
    if style == "team":
        _cancel_some_while_queued(plans, random.Random(f"queued/{seed}"))
    return SimStore(
        [g.workflow for g in graphs],
        [p.execution for p in plans],
        id_style="uuid" if style == "team" else "numeric",
        clock=clock or utcnow,
    )


def _cancel_some_while_queued(plans: list[_Plan], rng: random.Random) -> None:
    """Make about a third of the cancelled executions ones stopped before they started: no
    start, no node runs, cancelled a few seconds to a few minutes after they were queued.
    (Its own ``rng``, so the rest of the data is what it would be without them.)"""
    for plan in plans:
        execution = plan.execution
        if execution.status != "canceled" or rng.random() >= 1 / 3:
            continue
        execution.started_at = None
        execution.runs = []
        execution.input = execution.output = execution.error_message = None
        execution.finished_at = execution.created_at + _ms(rng.randint(2_000, 300_000))


def demo_stores(seed: int = 7, now: datetime | None = None) -> dict[str, tuple[str, SimStore]]:
    """The embedded demo's instances: name → (kind, store)."""
    at = now or utcnow()
    return {
        "acme": ("team", generate_store(seed, style="team", executions=450, now=at)),
        "n8n-prod": ("n8n", generate_store(seed + 1, style="n8n", executions=450, now=at)),
        "n8n-staging": (
            "n8n",
            generate_store(seed + 2, style="n8n", workflows=6, executions=200, now=at),
        ),
    }


def _anchor(now: datetime) -> datetime:
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _ms(value: int) -> timedelta:
    return timedelta(milliseconds=value)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _workflows(rng: random.Random, style: Style, count: int) -> list[_Graph]:
    """``count`` workflows from the catalog (always one with a loop; for n8n one with a Wait)."""
    order = list(range(len(CATALOG)))
    rng.shuffle(order)
    required = [next(i for i in order if CATALOG[i].has_loop)]
    if style == "n8n":
        required.append(next(i for i in order if CATALOG[i].has_wait))
    order = required + [i for i in order if i not in required]
    graphs = []
    for k in range(count):
        template = CATALOG[order[k % len(order)]]
        suffix = SUFFIXES[(k // len(order)) % len(SUFFIXES)]
        wid = _uuid(rng) if style == "team" else make_token(rng, 16)
        graphs.append(_graph(wid, template.name + suffix, template, rng.randint(1, 12)))
    rng.shuffle(graphs)
    return graphs


def _graph(wid: str, name: str, template: Template, version: int) -> _Graph:
    nodes = [SimNode(node, kind) for node, kind, _ in template.nodes]
    position = {n.name: i for i, n in enumerate(nodes)}
    edges = [
        SimEdge(parent, node, output)
        for node, _, parents in template.nodes
        for parent, output in parents
    ]
    children: dict[str, list[tuple[int, str]]] = {n.name: [] for n in nodes}
    back: dict[str, int] = {}
    for e in edges:
        children[e.source].append((e.output, e.target))
        if position[e.target] <= position[e.source]:
            back[e.source] = e.output
    for targets in children.values():
        targets.sort(key=lambda t: (t[0], position[t[1]]))
    workflow = SimWorkflow(wid, name, nodes, edges, trigger=nodes[0].kind, version=version)
    return _Graph(workflow, template.domain, {n.name: n.kind for n in nodes}, children, back)


def _path(g: _Graph, rng: random.Random) -> list[_Step]:
    """The node runs of one execution, in order: one branch at each if/switch, loops unrolled."""
    pages = rng.choices((1, 2, 3), (0.45, 0.35, 0.2))[0]
    trigger = g.workflow.nodes[0].name
    steps: list[_Step] = []
    runs: dict[str, int] = {}
    stack: list[tuple[str, int | None]] = [(trigger, None)]
    while stack and len(steps) < 40:
        node, source = stack.pop()
        kind = g.kinds[node]
        if kind == "merge" and node in runs:
            continue
        run_index = runs.get(node, 0)
        runs[node] = run_index + 1
        steps.append(_Step(node, kind, run_index, source))
        outs = g.children[node]
        if kind in ("if", "switch") and outs:
            indices = sorted({o for o, _ in outs})
            if node in g.back:
                back = g.back[node]
                rest = [i for i in indices if i != back] or [back]
                chosen = back if run_index < pages - 1 else rest[0]
            else:
                weights = [0.72 if i == 0 else 0.28 / (i * i) for i in indices]
                chosen = rng.choices(indices, weights)[0]
            outs = [t for t in outs if t[0] == chosen]
        stack.extend((target, len(steps) - 1) for _, target in reversed(outs))
    return steps


class _Builder:
    """Plans one store's executions; every random choice comes from ``rng`` in a fixed order."""

    def __init__(self, rng: random.Random, style: Style, anchor: datetime, graphs: list[_Graph]):
        self.rng = rng
        self.style = style
        self.anchor = anchor
        self.graphs = graphs
        self.weights = [rng.uniform(0.4, 2.0) for _ in graphs]

    def build(self, n: int) -> list[_Plan]:
        """Exactly ``n`` executions in creation order, with ids and retry links set."""
        rng, n8n = self.rng, self.style == "n8n"
        retries = n // 25 if n8n else 0
        statuses = ["running"] * max(1, n // 100) + ["new"] * max(1, n // 200)
        if n8n:
            statuses += ["waiting"] * max(1, n // 150) + ["crashed"] * max(1, n // 200)
        finished = max(0, n - retries - len(statuses))
        statuses += ["error"] * max(1, round(finished * 0.13))
        statuses += ["canceled"] * max(1, round(finished * 0.05))
        statuses = statuses[: n - retries]
        statuses += ["success"] * (n - retries - len(statuses))
        rng.shuffle(statuses)
        plans = [self._plan(status) for status in statuses]
        old = self.anchor - _ms(3 * _HOUR_MS)
        originals = [
            p for p in plans if p.execution.status == "error" and p.execution.created_at < old
        ]
        budget = retries
        for original in originals:
            if budget <= 0:
                break
            budget -= self._chain(original, min(budget, rng.choice((1, 1, 2, 3))), plans)
        while len(plans) < n:
            plans.append(self._plan("success"))
        ordered = [p for _, p in sorted(enumerate(plans), key=lambda ip: (ip[1].created, ip[0]))]
        for number, plan in enumerate(ordered, start=1):
            plan.execution.id = _uuid(rng) if self.style == "team" else str(number)
        for plan in ordered:
            if plan.parent is not None:
                plan.execution.retry_of = plan.parent.execution.id
                if plan.execution.status == "success":
                    plan.parent.execution.retry_success_id = plan.execution.id
        return ordered

    def _pick(self, predicate: Callable[[_Graph], bool] | None = None) -> _Graph:
        pool = [(g, w) for g, w in zip(self.graphs, self.weights, strict=True)]
        pool = [(g, w) for g, w in pool if predicate is None or predicate(g)] or pool
        return self.rng.choices([g for g, _ in pool], [w for _, w in pool])[0]

    def _plan(self, status: str) -> _Plan:
        rng, anchor = self.rng, self.anchor
        if status == "waiting":
            plan = self._waiting()
            if plan is not None:
                return plan
            status = "running"
        if status == "running":
            return self._running()
        if status == "new":
            g = self._pick()
            created = anchor - _ms(rng.randint(200, 20_000))
            execution = SimExecution("", g.workflow.id, "new", _mode(g), created, None, None)
            execution.finishes_at = anchor + _ms(rng.randint(5_000, 180_000))
            execution.final_status = "success"
            path_seed, record = rng.getrandbits(32), make_record(g.domain, rng)
            execution.pending, _ = self._runs(
                self._steps(g, path_seed, record), execution.finishes_at, None
            )
            return _Plan(execution, g, path_seed, record)
        age = _MIN_AGE_MS + int((30 * _DAY_MS - _MIN_AGE_MS) * rng.random() ** 2.2)
        return self._finished(self._pick(), status, anchor - _ms(age))

    def _finished(
        self, g: _Graph, status: str, created: datetime, origin: _Plan | None = None
    ) -> _Plan:
        """A finished execution; a retry (``origin`` set) repeats the original's path and input."""
        rng = self.rng
        path_seed = origin.path_seed if origin else rng.getrandbits(32)
        record = origin.record if origin else make_record(g.domain, rng)
        steps = self._steps(g, path_seed, record, origin.execution.input if origin else None)
        fail_node: str | None = None
        message: str | None = None
        if status == "error":
            same = [i for i, s in enumerate(steps) if origin and s.node == origin.fail_node]
            index = same[0] if same else _failing_index(steps, rng)
            steps, fail_node = steps[: index + 1], steps[index].node
            message = rng.choice(ERRORS.get(steps[-1].kind, ERRORS[""]))
        elif status == "canceled":
            steps = steps[: rng.randint(1, len(steps) - 1)]
            message = _CANCELED if self.style == "n8n" else None
        elif status == "crashed":
            steps = steps[: rng.randint(1, len(steps) - 1)]
            message = _CRASHED
        started = created + _ms(rng.randint(3, 120))
        runs, end = self._runs(steps, started, message if status == "error" else None)
        low, high = {"canceled": (300, 30_000), "crashed": (1_000, 90_000)}.get(status, (1, 25))
        execution = SimExecution(
            id="",
            workflow_id=g.workflow.id,
            status=status,
            mode="retry" if origin else _mode(g),
            created_at=created,
            started_at=started,
            finished_at=end + _ms(rng.randint(low, high)),
            runs=runs,
            error_message=message,
            input=runs[0].output,
            output=runs[-1].output if status == "success" else None,
        )
        return _Plan(execution, g, path_seed, record, fail_node)

    def _running(self) -> _Plan:
        """Started up to 90 s ago, part-way through its path, finishing within 4 minutes."""
        rng, anchor = self.rng, self.anchor
        g = self._pick()
        path_seed, record = rng.getrandbits(32), make_record(g.domain, rng)
        steps = self._steps(g, path_seed, record)
        made = rng.randint(1, len(steps) - 1)
        done_ms = steps[made - 1].offset_ms + steps[made - 1].duration_ms
        started = anchor - _ms(max(rng.randint(1_500, 90_000), done_ms + 200))
        runs, _ = self._runs(steps, started, None)
        created = started - _ms(rng.randint(3, 120))
        execution = SimExecution(
            "", g.workflow.id, "running", _mode(g), created, started, None, runs[:made]
        )
        execution.pending = runs[made:]
        execution.input = runs[0].output
        execution.finishes_at = anchor + _ms(rng.randint(3_000, 240_000))
        execution.final_status = "success"
        return _Plan(execution, g, path_seed, record)

    def _waiting(self) -> _Plan | None:
        """Paused in a Wait node until ``wait_till``; None when no workflow reaches a Wait."""
        rng, anchor = self.rng, self.anchor
        g = self._pick(lambda c: "wait" in c.kinds.values())
        record = make_record(g.domain, rng)
        for _ in range(25):
            path_seed = rng.getrandbits(32)
            steps = self._steps(g, path_seed, record)
            waits = [i for i, s in enumerate(steps) if s.kind == "wait"]
            if waits:
                break
        else:
            return None
        paused = waits[0] + 1
        steps[paused - 1].duration_ms = rng.randint(1, 4)
        started = anchor - _ms(rng.randint(_MINUTE_MS, 3 * _HOUR_MS))
        planned, _ = self._runs(steps, started, None)
        runs, rest = planned[:paused], planned[paused:]
        end = runs[-1].started_at + _ms(runs[-1].duration_ms)
        runs[-1].status = "waiting"
        created = started - _ms(rng.randint(3, 120))
        stopped = end + _ms(rng.randint(1, 15))
        execution = SimExecution("", g.workflow.id, "waiting", _mode(g), created, started, stopped)
        execution.runs, execution.input = runs, runs[0].output
        execution.pending = rest
        execution.wait_till = anchor + _ms(rng.randint(2 * _MINUTE_MS, 2 * _HOUR_MS))
        execution.finishes_at = execution.wait_till + _ms(rng.randint(500, 5_000))
        execution.final_status = "success"
        return _Plan(execution, g, path_seed, record)

    def _chain(self, original: _Plan, length: int, plans: list[_Plan]) -> int:
        """Add up to ``length`` retries, each of the previous link; the last one may succeed."""
        rng, previous, added = self.rng, original, 0
        limit = self.anchor - _ms(_MIN_AGE_MS)
        for link in range(length):
            created = previous.finished + _ms(rng.randint(20_000, 40 * _MINUTE_MS))
            if created > limit:
                break
            status = "success" if link == length - 1 and rng.random() < 0.6 else "error"
            plan = self._finished(original.graph, status, created, origin=original)
            plan.parent = previous
            plans.append(plan)
            previous, added = plan, added + 1
        return added

    def _steps(
        self, g: _Graph, path_seed: int, record: dict[str, Any], trigger_output: Any = None
    ) -> list[_Step]:
        """The path (branch choices from ``path_seed``) with payloads, durations and offsets.

        A retry passes the original's ``trigger_output`` so it reruns on the same input.
        """
        rng = self.rng
        steps = _path(g, random.Random(path_seed))
        counts: dict[str, int] = {}
        for s in steps:
            counts[s.node] = counts.get(s.node, 0) + 1
        offset = rng.randint(0, 3)
        for s in steps:
            source = steps[s.source].output if s.source is not None else None
            s.output = _output(s, source, record, counts[s.node], rng)
            if s.source is None and trigger_output is not None:
                s.output = trigger_output
            low, high = DURATION_MS[s.kind]
            s.duration_ms = rng.randint(low, high)
            if s.kind == "http" and rng.random() < 0.08:
                s.retry_count = rng.randint(1, 2)
                s.duration_ms += s.retry_count * rng.randint(1_000, 1_400)
            s.offset_ms = offset
            offset += s.duration_ms + rng.randint(1, 25)
        return steps

    def _runs(
        self, steps: list[_Step], started: datetime, error: str | None
    ) -> tuple[list[SimNodeRun], datetime]:
        """Node runs from ``started`` on and the end of the last; it fails with ``error``."""
        runs: list[SimNodeRun] = []
        for s in steps:
            at = started + _ms(s.offset_ms)
            if s.kind == "schedule" and not s.output["timestamp"]:
                s.output["timestamp"] = at.isoformat(timespec="milliseconds")
            source = steps[s.source] if s.source is not None else None
            run = SimNodeRun(
                s.node, s.kind, s.run_index, at, s.duration_ms, "success", None, s.output
            )
            run.id, run.retry_count = _uuid(self.rng), s.retry_count
            if source is not None:
                run.source, run.input = source.node, source.output
            runs.append(run)
        if error is not None:
            runs[-1].status, runs[-1].error, runs[-1].output = "error", error, None
        return runs, runs[-1].started_at + _ms(runs[-1].duration_ms)


def _mode(g: _Graph) -> str:
    return _MODES.get(g.workflow.trigger, g.workflow.trigger)


def _failing_index(steps: list[_Step], rng: random.Random) -> int:
    weights = [FAIL_WEIGHT.get(s.kind, 0.1) for s in steps[1:]]
    return 1 + rng.choices(range(len(weights)), weights)[0]


def _output(
    step: _Step, source: Any, record: dict[str, Any], runs: int, rng: random.Random
) -> dict[str, Any]:
    """Plausible JSON for one node run, from its kind, its input and the execution's record.

    ``runs`` is how often this node runs in the execution (pages of a pagination loop).
    """
    kind = step.kind
    if kind == "webhook":
        headers = {"content-type": "application/json", "user-agent": rng.choice(AGENTS)}
        if rng.random() < 0.1:
            headers["authorization"] = f"Bearer tok_{make_token(rng, 28)}"
        return {"headers": headers, "params": {}, "query": {}, "body": record}
    if kind == "schedule":
        return {"timestamp": "", "Timezone": "UTC"}
    if kind == "manual":
        return {}
    if kind in ("if", "switch", "merge", "wait"):
        return source if isinstance(source, dict) else {}
    if kind == "http":
        out: dict[str, Any] = {"statusCode": 200, "id": f"res_{make_token(rng, 12)}"}
        if runs > 1 or step.node.startswith("Fetch"):
            results = [make_person(rng) for _ in range(rng.randint(1, 3))]
            out |= {"page": step.run_index + 1, "hasMore": step.run_index < runs - 1}
            out["results"] = results
        else:
            out |= {"status": "ok", "email": record.get("email")}
        if rng.random() < 0.15:
            out["apiKey"] = f"sk_live_{make_token(rng, 24)}"
        return out
    if kind == "db":
        return {"rowCount": rng.randint(1, 50), "data": record}
    if kind == "email":
        to = record.get("email") or record.get("owner") or record.get("requestedBy")
        message_id = f"<{make_token(rng, 16)}@mail.acme.com>"
        return {"accepted": [to], "rejected": [], "messageId": message_id, "response": "250 OK"}
    if kind == "slack":
        ts = f"{rng.randint(1_700_000_000, 1_800_000_000)}.{rng.randint(0, 999_999):06d}"
        text = f"{step.node}: {record.get('email') or record.get('summary') or 'done'}"
        channel = f"C0{make_token(rng, 9).upper()}"
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"type": "message", "text": text},
        }
    page = {"page": source["page"]} if isinstance(source, dict) and "page" in source else {}
    if kind == "code":
        return {**record, **page, "checksum": make_token(rng, 8)}
    return {**record, **page, "normalized" if kind == "set" else "mapped": True}
