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
EXECGATE_COLD_SAME = "execgate cold, identical"
EXECGATE_WARM_SAME = "execgate warm, identical"
HIVE = "hive gateway"
BACKEND_LIMIT = 70.0
"""Backend CPU % at or above which a cell is flagged: the backend may be what limits it."""
SOAK_PEAK_MB = 300.0
SOAK_SLOPE_MB_PER_MIN = 1.0
"""The live soak is flat when RSS grows by at most this much a minute over its second half."""
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
    def backend_cpu_pct(self) -> float:
        """The backend's processes' CPU over the window, summed (they share one core)."""
        watched: dict[str, Any] = self.result.get("watched", {})
        found = [
            float(v.get("cpu_pct", 0.0)) for k, v in watched.items() if k.startswith("backend")
        ]
        return sum(found) if found else math.nan

    @property
    def backend_saturated(self) -> bool:
        return self.backend_cpu_pct >= BACKEND_LIMIT

    @property
    def backend_failures(self) -> int:
        """Backend answers that were not 200 during the cell (a request nothing was rendered
        for, with nginx)."""
        return sum(int(n) for n in self.result.get("backend_failures", {}).values())

    @property
    def loadgen_cpu_pct(self) -> float:
        return float(self.result.get("loadgen_cpu_pct", math.nan))

    @property
    def errors(self) -> int:
        return int(self.result.get("errors", 0)) + int(self.result.get("connect_errors", 0))


def slope_per_minute(values: Sequence[float], step_s: float = 1.0) -> float:
    """Least-squares slope of ``values`` sampled every ``step_s`` seconds, per minute."""
    n = len(values)
    if n < 2:
        return math.nan
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return 60 * num / den / step_s


@dataclass
class Soak:
    """The live-feed soak: the gateway's RSS each second while every query meets executions
    it has never seen."""

    seconds: float
    rss_mb: list[float]
    throughput: float
    errors: int
    backend_cpu_pct: float = math.nan
    rate: float = math.nan
    """New executions a second on each API of the feed."""
    new_per_s: float = math.nan
    """Executions the feed started a second, measured (each API)."""
    details_per_s: float = math.nan
    """Single-execution reads a second (reads of executions the gateway did not hold)."""
    error: str | None = None

    @property
    def first(self) -> float:
        return self.rss_mb[0] if self.rss_mb else math.nan

    @property
    def last(self) -> float:
        return self.rss_mb[-1] if self.rss_mb else math.nan

    @property
    def peak(self) -> float:
        return max(self.rss_mb) if self.rss_mb else math.nan

    @property
    def slope(self) -> float:
        """MB a minute over the whole soak."""
        return slope_per_minute(self.rss_mb)

    @property
    def late_slope(self) -> float:
        """MB a minute over the second half (after the caches had time to fill)."""
        return slope_per_minute(self.rss_mb[len(self.rss_mb) // 2 :])

    def summary(self) -> str:
        if self.error is not None and not self.rss_mb:
            return f"live soak failed: {self.error}"
        return (
            f"live soak {self.seconds:g} s: {self.throughput:.1f} q/s, {self.errors} errors; "
            f"feed +{_num(self.new_per_s, 0)} executions/s on each API, "
            f"{_num(self.details_per_s, 0)} detail reads/s; backend CPU "
            f"{_num(self.backend_cpu_pct, 0)} %; RSS start {_num(self.first, 0)} MB, peak "
            f"{_num(self.peak, 0)} MB, end {_num(self.last, 0)} MB; slope "
            f"{_num(self.slope, 2)} MB/min overall, {_num(self.late_slope, 2)} MB/min over the "
            "second half"
        )


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
    "| backend CPU % | gen CPU % | errors | answer |"
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
    if cell.result.get("answers_vary"):
        answer += " (answers varied)"
    if cell.backend_failures:
        answer += f" ({cell.backend_failures} backend answers not 200)"
    calls = _num(cell.calls_per_query, 1) if cell.calls_per_query is not None else "—"
    backend = _num(cell.backend_cpu_pct, 0) + (" ⚠" if cell.backend_saturated else "")
    return (
        f"| {cell.target} | {_num(cell.throughput)} | {_num(cell.latency_ms('p50'))} "
        f"| {_num(cell.latency_ms('p99'))} | {_num(cell.cpu_ms_per_query, 2)} "
        f"| {_num(cell.server_cpu_pct, 0)} | {calls} | {_num(cell.rss_peak_mb, 0)} "
        f"| {backend} | {_num(cell.loadgen_cpu_pct, 0)} | {cell.errors} "
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
    order = (
        EXECGATE_COLD,
        EXECGATE_WARM,
        BASELINE,
        EXECGATE_COLD_SAME,
        EXECGATE_WARM_SAME,
        HIVE,
        EXECGATE_COLD_1,
        BASELINE_1,
    )
    for target in order:
        cell = find(cells, latency, workload, target)
        if cell is not None:
            lines.append(_row(cell, base))
    for name, target in (
        ("cold ÷ baseline", EXECGATE_COLD),
        ("warm ÷ baseline", EXECGATE_WARM),
        ("cold, identical ÷ baseline", EXECGATE_COLD_SAME),
        ("warm, identical ÷ baseline", EXECGATE_WARM_SAME),
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
    """The issue's targets, read from the distinct-variable cells (the identical-body
    figures follow as information, without a verdict)."""
    out: list[Goal] = []

    def pair(
        workload: str, target: str, other: str, latency: float = 0.0
    ) -> tuple[Cell, Cell] | None:
        a, b = find(cells, latency, workload, target), find(cells, latency, workload, other)
        if a is None or b is None or not a.ok or not b.ok:
            return None
        return a, b

    def ratio(workload: str, target: str, other: str, latency: float = 0.0) -> float:
        found = pair(workload, target, other, latency)
        return math.nan if found is None else _ratio(found[0].throughput, found[1].throughput)

    def add(
        name: str, value: float, floor: float, *, at_most: bool = False, detail: str = ""
    ) -> None:
        goal = f"{'≤' if at_most else '≥'} {floor:g}x"
        ok = None if math.isnan(value) else (value <= floor if at_most else value >= floor)
        out.append(Goal(name, value, goal, ok, detail))

    def capped(*found: Cell | None) -> str:
        hot = [c for c in found if c is not None and c.backend_saturated]
        if not hot:
            return ""
        worst = max(c.backend_cpu_pct for c in hot)
        return f"backend at {worst:.0f} % CPU in this comparison: the figure may be capped"

    for workload in ("W1", "W4"):
        add(
            f"cold {workload} throughput ÷ baseline",
            ratio(workload, EXECGATE_COLD, BASELINE),
            0.6,
            detail=capped(
                find(cells, 0.0, workload, EXECGATE_COLD), find(cells, 0.0, workload, BASELINE)
            ),
        )
    for workload in ("W1", "W4"):
        add(
            f"cold {workload} throughput ÷ Hive Gateway",
            ratio(workload, EXECGATE_COLD, HIVE),
            2.0,
            detail="" if find(cells, 0.0, workload, HIVE) else (hive_note or "Hive not run"),
        )
    for workload in WORKLOADS:
        found = pair(workload, EXECGATE_COLD, BASELINE)
        value = math.nan
        if found is not None:
            value = _ratio(found[0].cpu_ms_per_query, found[1].cpu_ms_per_query)
        add(f"cold {workload} gateway CPU/query ÷ baseline", value, 2.0, at_most=True)
    for workload in ("W1", "W2", "W3", "W4"):
        add(
            f"warm {workload} throughput ÷ baseline",
            ratio(workload, EXECGATE_WARM, BASELINE),
            2.0,
        )
    latencies = sorted({c.latency for c in cells if c.latency > 0})
    if latencies:
        latency = 10.0 if 10.0 in latencies else latencies[0]
        for what, target, base in (
            ("1 connection", EXECGATE_COLD_1, BASELINE_1),
            ("16 connections", EXECGATE_COLD, BASELINE),
        ):
            found = pair("W1", target, base, latency)
            value = math.nan
            if found is not None:
                value = _ratio(found[0].latency_ms("p50"), found[1].latency_ms("p50"))
            add(
                f"cold W1 p50 ÷ baseline p50 at {latency:g} ms latency, {what}",
                value,
                1.5,
                at_most=True,
            )
    measured = [c for c in cells if c.ok and not math.isnan(c.backend_cpu_pct)]
    if measured:
        hottest = max(measured, key=lambda c: c.backend_cpu_pct)
        hot = sum(1 for c in measured if c.backend_saturated)
        out.append(
            Goal(
                "backend CPU %, the busiest cell",
                hottest.backend_cpu_pct,
                f"< {BACKEND_LIMIT:g}",
                not hottest.backend_saturated,
                f"{hottest.workload} {hottest.target} at {hottest.latency:g} ms; "
                f"{hot} of {len(measured)} cells at or above {BACKEND_LIMIT:g} %",
            )
        )
    if soak is not None:
        out.append(
            Goal(
                f"live soak ({soak.seconds:g} s): peak RSS, MB",
                soak.peak,
                f"< {SOAK_PEAK_MB:g}",
                None if math.isnan(soak.peak) else soak.peak < SOAK_PEAK_MB,
                f"{_num(soak.first, 0)} → {_num(soak.last, 0)} MB"
                if soak.rss_mb
                else (soak.error or ""),
            )
        )
        late = soak.late_slope
        out.append(
            Goal(
                "live soak: RSS slope over the second half, MB/min",
                late,
                f"≤ {SOAK_SLOPE_MB_PER_MIN:g}",
                None if math.isnan(late) else late <= SOAK_SLOPE_MB_PER_MIN,
                f"{_num(soak.slope, 2)} MB/min over the whole soak",
            )
        )
    for workload in ("W1", "W4"):
        for name, target in (("cold", EXECGATE_COLD_SAME), ("warm", EXECGATE_WARM_SAME)):
            value = ratio(workload, target, BASELINE)
            if not math.isnan(value):
                out.append(
                    Goal(
                        f"(identical bodies) {name} {workload} throughput ÷ baseline",
                        value,
                        "information",
                        None,
                    )
                )
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
        samples = ", ".join(f"{v:.0f}" for v in soak.rss_mb[:: max(1, len(soak.rss_mb) // 60)])
        parts.extend(
            [
                "**Live soak** — the default gateway over bench/livefeed.py (a team-style and an "
                "n8n API whose feed grows all the time), asked for the newest merged page of 50 "
                "with node data, a distinct `startedBefore` per request: "
                + soak.summary()
                + (
                    f". RSS MB (every {max(1, len(soak.rss_mb) // 60)} s): {samples}"
                    if samples
                    else ""
                ),
                "",
            ]
        )
    parts.append("**Targets**")
    parts.append("")
    parts.extend(f"- {g.line()}" for g in goal_list)
    return "\n".join(parts)


def write_results(
    path: Path, body: str, skeleton: str, *, begin: str = BEGIN, end: str = END
) -> None:
    """Replace the generated section of ``path`` between ``begin`` and ``end`` (appended when
    the file has no such section; the file is made from ``skeleton`` when it does not exist)."""
    section = f"{begin}\n{body}\n{end}"
    if path.exists():
        text = path.read_text()
        if begin in text and end in text:
            pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
            path.write_text(pattern.sub(lambda _: section, text, count=1))
            return
        if begin != BEGIN:
            path.write_text(text.rstrip("\n") + "\n\n" + section + "\n")
            return
    path.write_text(skeleton.replace("{generated}", section))
