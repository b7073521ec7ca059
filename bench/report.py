"""Tables, targets and RESULTS.md for a benchmark run."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.workloads import WORKLOADS, describe

EXECGATE_COLD = "execgate cold"
EXECGATE_WARM = "execgate warm"
BASELINE = "baseline"
EXECGATE_COLD_1 = "execgate cold, 1 conn"
BASELINE_1 = "baseline, 1 conn"
HIVE = "hive gateway"
BEGIN = "<!-- bench:begin (written by bench/run.py; edit outside these markers) -->"
END = "<!-- bench:end -->"


@dataclass
class Cell:
    latency: float
    workload: str
    target: str
    result: dict[str, Any]
    calls_per_query: float | None
    routes: dict[str, float] = field(default_factory=dict)
    answer: list[tuple[str, int]] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result.get("ok", 0) > 0

    @property
    def throughput(self) -> float:
        return float(self.result.get("throughput", 0.0))

    def latency_ms(self, which: str) -> float:
        return float(self.result.get("latency_ms", {}).get(which, math.nan))

    def server(self) -> dict[str, Any]:
        watched: dict[str, Any] = self.result.get("watched", {})
        server: dict[str, Any] = watched.get("server", {})
        return server

    @property
    def cpu_ms_per_query(self) -> float:
        value = self.server().get("cpu_ms_per_query")
        return math.nan if value is None else float(value)

    @property
    def server_cpu_pct(self) -> float:
        return float(self.server().get("cpu_pct", math.nan))

    @property
    def rss_peak_mb(self) -> float:
        hwm = self.server().get("hwm_kb")
        return math.nan if hwm is None else hwm / 1024

    @property
    def sims_cpu_pct(self) -> float:
        watched: dict[str, Any] = self.result.get("watched", {})
        return sum(float(v.get("cpu_pct", 0.0)) for k, v in watched.items() if k.startswith("sim-"))

    @property
    def loadgen_cpu_pct(self) -> float:
        return float(self.result.get("loadgen_cpu_pct", math.nan))

    @property
    def errors(self) -> int:
        return int(self.result.get("errors", 0)) + int(self.result.get("connect_errors", 0))


@dataclass
class Soak:
    seconds: float
    rss_mb: list[float]
    throughput: float
    errors: int

    @property
    def first(self) -> float:
        return self.rss_mb[0] if self.rss_mb else math.nan

    @property
    def spread(self) -> float:
        """Largest deviation from the first sample, as a fraction of it."""
        if not self.rss_mb:
            return math.nan
        return max(abs(v - self.first) for v in self.rss_mb) / self.first


@dataclass
class Goal:
    name: str
    value: float
    goal: str
    ok: bool | None
    detail: str = ""

    def line(self) -> str:
        status = "n/a " if self.ok is None else ("PASS" if self.ok else "MISS")
        value = "—" if math.isnan(self.value) else f"{self.value:.2f}"
        detail = f" — {self.detail}" if self.detail else ""
        return f"{status}  {self.name}: {value} (target {self.goal}){detail}"


def _num(value: float, digits: int = 1) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def find(cells: Iterable[Cell], latency: float, workload: str, target: str) -> Cell | None:
    for cell in cells:
        if cell.latency == latency and cell.workload == workload and cell.target == target:
            return cell
    return None


HEADER = (
    "| target | q/s | p50 ms | p99 ms | CPU ms/q | server CPU % | calls/q | peak RSS MB "
    "| sims CPU % | gen CPU % | errors | answer |"
)
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"


def _row(cell: Cell, baseline: Cell | None) -> str:
    if cell.error is not None:
        return f"| {cell.target} | failed: {cell.error} |" + " |" * 10
    same = ""
    if baseline is not None and baseline.answer is not None and cell.answer is not None:
        ids = [i for i, _ in cell.answer]
        same = " (same ids)" if ids == [i for i, _ in baseline.answer] else " (ids differ)"
    answer = describe(cell.answer) + same if cell.answer is not None else "—"
    calls = _num(cell.calls_per_query, 1) if cell.calls_per_query is not None else "—"
    return (
        f"| {cell.target} | {_num(cell.throughput)} | {_num(cell.latency_ms('p50'))} "
        f"| {_num(cell.latency_ms('p99'))} | {_num(cell.cpu_ms_per_query, 2)} "
        f"| {_num(cell.server_cpu_pct, 0)} | {calls} | {_num(cell.rss_peak_mb, 0)} "
        f"| {_num(cell.sims_cpu_pct, 0)} | {_num(cell.loadgen_cpu_pct, 0)} | {cell.errors} "
        f"| {answer} |"
    )


def _ratio_row(name: str, cell: Cell | None, base: Cell | None) -> str | None:
    if cell is None or base is None or not cell.ok or not base.ok:
        return None
    return (
        f"| *{name}* | {_num(_ratio(cell.throughput, base.throughput), 2)}x "
        f"| {_num(_ratio(cell.latency_ms('p50'), base.latency_ms('p50')), 2)}x "
        f"| {_num(_ratio(cell.latency_ms('p99'), base.latency_ms('p99')), 2)}x "
        f"| {_num(_ratio(cell.cpu_ms_per_query, base.cpu_ms_per_query), 2)}x | | "
        f"| {_num(_ratio(cell.rss_peak_mb, base.rss_peak_mb), 2)}x | | | | |"
    )


def median_trial(cells: Sequence[Cell]) -> Cell:
    """The trial with the median throughput (the lower one of an even count); failed trials
    count as the slowest. Every figure of the row then comes from one real measurement."""
    ranked = sorted(cells, key=lambda c: c.throughput if c.ok else -1.0)
    return ranked[(len(ranked) - 1) // 2]


def workload_table(cells: Sequence[Cell], latency: float, workload: str) -> str:
    spec = WORKLOADS[workload]
    base = find(cells, latency, workload, BASELINE)
    lines = [f"**{workload}** — {spec.title}, backend latency {latency:g} ms", "", HEADER, RULE]
    order = (EXECGATE_COLD, EXECGATE_WARM, BASELINE, HIVE, EXECGATE_COLD_1, BASELINE_1)
    for target in order:
        cell = find(cells, latency, workload, target)
        if cell is not None:
            lines.append(_row(cell, base))
    for name, target in (
        ("cold ÷ baseline", EXECGATE_COLD),
        ("warm ÷ baseline", EXECGATE_WARM),
        ("hive ÷ baseline", HIVE),
    ):
        row = _ratio_row(name, find(cells, latency, workload, target), base)
        if row is not None:
            lines.append(row)
    for name, a, b in (
        ("cold ÷ hive", EXECGATE_COLD, HIVE),
        ("cold ÷ baseline, 1 conn", EXECGATE_COLD_1, BASELINE_1),
    ):
        row = _ratio_row(name, find(cells, latency, workload, a), find(cells, latency, workload, b))
        if row is not None:
            lines.append(row)
    routes = []
    for target in (EXECGATE_COLD, BASELINE, HIVE):
        cell = find(cells, latency, workload, target)
        if cell is not None and cell.routes:
            parts = ", ".join(f"{route} {n:.1f}" for route, n in cell.routes.items() if n >= 0.05)
            routes.append(f"{target}: {parts}")
    if routes:
        lines.extend(["", "Backend calls per query by route — " + "; ".join(routes) + "."])
    return "\n".join(lines)


def goals(cells: Sequence[Cell], soak: Soak | None, hive_note: str | None) -> list[Goal]:
    out: list[Goal] = []

    def ratio(workload: str, target: str, other: str, latency: float = 0.0) -> float:
        a, b = find(cells, latency, workload, target), find(cells, latency, workload, other)
        if a is None or b is None or not a.ok or not b.ok:
            return math.nan
        return _ratio(a.throughput, b.throughput)

    def add(
        name: str, value: float, floor: float, *, at_most: bool = False, detail: str = ""
    ) -> None:
        goal = f"{'≤' if at_most else '≥'} {floor:g}x"
        ok = None if math.isnan(value) else (value <= floor if at_most else value >= floor)
        out.append(Goal(name, value, goal, ok, detail))

    for workload in ("W1", "W4"):
        add(f"cold {workload} throughput ÷ baseline", ratio(workload, EXECGATE_COLD, BASELINE), 0.6)
    for workload in ("W1", "W4"):
        add(
            f"cold {workload} throughput ÷ Hive Gateway",
            ratio(workload, EXECGATE_COLD, HIVE),
            2.0,
            detail="" if find(cells, 0.0, workload, HIVE) else (hive_note or "Hive not run"),
        )
    for workload in WORKLOADS:
        a = find(cells, 0.0, workload, EXECGATE_COLD)
        b = find(cells, 0.0, workload, BASELINE)
        value = math.nan
        if a is not None and b is not None and a.ok and b.ok:
            value = _ratio(a.cpu_ms_per_query, b.cpu_ms_per_query)
        add(f"cold {workload} gateway CPU/query ÷ baseline", value, 2.0, at_most=True)
    for workload, floor in (("W1", 2.0), ("W2", 2.0), ("W3", 2.0), ("W4", 1.5)):
        add(
            f"warm {workload} throughput ÷ baseline",
            ratio(workload, EXECGATE_WARM, BASELINE),
            floor,
        )
    latencies = sorted({c.latency for c in cells if c.latency > 0})
    if latencies:
        latency = 10.0 if 10.0 in latencies else latencies[0]
        for what, target, base in (
            ("1 connection", EXECGATE_COLD_1, BASELINE_1),
            ("16 connections", EXECGATE_COLD, BASELINE),
        ):
            a, b = find(cells, latency, "W1", target), find(cells, latency, "W1", base)
            value = math.nan
            if a is not None and b is not None and a.ok and b.ok:
                value = _ratio(a.latency_ms("p50"), b.latency_ms("p50"))
            add(
                f"cold W1 p50 ÷ baseline p50 at {latency:g} ms latency, {what}",
                value,
                1.5,
                at_most=True,
            )
    if soak is not None:
        peak = max(soak.rss_mb) if soak.rss_mb else math.nan
        flat = soak.spread <= 0.10
        out.append(
            Goal(
                f"W3 RSS over {soak.seconds:g} s (warm): largest change from the first sample, %",
                100 * soak.spread,
                "≤ 10",
                None if math.isnan(soak.spread) else flat,
                f"{soak.first:.0f} → {soak.rss_mb[-1]:.0f} MB" if soak.rss_mb else "",
            )
        )
        out.append(Goal("W3 peak RSS over the soak, MB", peak, "< 300", peak < 300))
    return out


def render(
    cells: Sequence[Cell],
    soak: Soak | None,
    goal_list: Sequence[Goal],
    header: Sequence[str],
) -> str:
    parts = [*header, ""]
    for latency in sorted({c.latency for c in cells}):
        for workload in WORKLOADS:
            if any(c.workload == workload and c.latency == latency for c in cells):
                parts.extend([workload_table(cells, latency, workload), ""])
    if soak is not None:
        samples = ", ".join(f"{v:.0f}" for v in soak.rss_mb)
        parts.extend(
            [
                f"**Soak** — W3 on a warm gateway for {soak.seconds:g} s: "
                f"{soak.throughput:.1f} q/s, {soak.errors} errors; RSS MB each second: {samples}",
                "",
            ]
        )
    parts.append("**Targets**")
    parts.append("")
    parts.extend(f"- {g.line()}" for g in goal_list)
    return "\n".join(parts)


def write_results(path: Path, body: str, skeleton: str) -> None:
    """Replace the generated section of ``path`` (or create it from ``skeleton``)."""
    section = f"{BEGIN}\n{body}\n{END}"
    if path.exists():
        text = path.read_text()
        if BEGIN in text and END in text:
            pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
            path.write_text(pattern.sub(lambda _: section, text, count=1))
            return
    path.write_text(skeleton.replace("{generated}", section))
