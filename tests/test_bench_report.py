"""The benchmark's report: the median of interleaved trials, the targets, the flags."""

from __future__ import annotations

from bench.report import (
    BASELINE,
    BASELINE_1,
    EXECGATE_COLD,
    EXECGATE_COLD_1,
    EXECGATE_COLD_SAME,
    EXECGATE_WARM,
    HIVE,
    Cell,
    Goal,
    Soak,
    goals,
    median_trial,
    slope_per_minute,
    workload_table,
)


def _cell(throughput: float, *, error: str | None = None) -> Cell:
    result = {"ok": 0 if error else 10, "throughput": throughput}
    return Cell(0.0, "W1", "execgate cold", result, 21.0, error=error)


def test_the_median_trial_is_kept_whole() -> None:
    trials = [_cell(97.2), _cell(108.0), _cell(105.8)]

    assert median_trial(trials) is trials[2]


def test_an_even_count_keeps_the_lower_middle_and_failures_rank_lowest() -> None:
    trials = [_cell(50.0), _cell(0.0, error="refused"), _cell(60.0), _cell(40.0)]

    assert median_trial(trials).throughput == 40.0
    assert median_trial([_cell(0.0, error="refused")]).error == "refused"


def _measured(
    workload: str,
    target: str,
    throughput: float,
    *,
    cpu_ms: float = 5.0,
    p50: float = 50.0,
    backend_pct: float = 20.0,
    latency: float = 0.0,
) -> Cell:
    result = {
        "ok": 100,
        "throughput": throughput,
        "latency_ms": {"p50": p50, "p99": 2 * p50},
        "watched": {
            "server": {"cpu_pct": 95.0, "cpu_ms_per_query": cpu_ms, "hwm_kb": 64_000},
            "backend-nginx-0": {"cpu_pct": backend_pct},
        },
    }
    return Cell(latency, workload, target, result, 21.0)


def _lines(goal_list: list[Goal]) -> dict[str, str]:
    return {g.name: g.line() for g in goal_list}


def test_the_targets_are_the_issues_and_read_the_distinct_cells() -> None:
    cells = [
        _measured("W1", EXECGATE_COLD, 130.0, cpu_ms=9.0),
        _measured("W1", EXECGATE_WARM, 420.0),
        _measured("W1", BASELINE, 200.0, cpu_ms=4.0),
        _measured("W1", EXECGATE_COLD_SAME, 330.0),
        _measured("W1", HIVE, 50.0),
        _measured("W1", EXECGATE_COLD, 50.0, p50=80.0, latency=10.0),
        _measured("W1", BASELINE, 60.0, p50=50.0, latency=10.0),
        _measured("W1", EXECGATE_COLD_1, 20.0, p50=48.0, latency=10.0),
        _measured("W1", BASELINE_1, 21.0, p50=45.0, latency=10.0),
    ]

    lines = _lines(goals(cells, None, None))

    assert lines["cold W1 throughput ÷ baseline"].startswith("PASS  cold W1 throughput")
    assert "0.65 (target ≥ 0.6x)" in lines["cold W1 throughput ÷ baseline"]
    assert lines["cold W1 gateway CPU/query ÷ baseline"].startswith("MISS")
    assert "2.25 (target ≤ 2x)" in lines["cold W1 gateway CPU/query ÷ baseline"]
    assert "2.10 (target ≥ 2x)" in lines["warm W1 throughput ÷ baseline"]
    assert "(target ≥ 2x)" in lines["warm W4 throughput ÷ baseline"]
    assert "2.60 (target ≥ 2x)" in lines["cold W1 throughput ÷ Hive Gateway"]
    one = lines["cold W1 p50 ÷ baseline p50 at 10 ms latency, 1 connection"]
    assert one.startswith("PASS") and "1.07 (target ≤ 1.5x)" in one
    many = lines["cold W1 p50 ÷ baseline p50 at 10 ms latency, 16 connections"]
    assert many.startswith("MISS") and "1.60 (target ≤ 1.5x)" in many
    assert lines["backend CPU %, the busiest cell"].startswith("PASS")
    same = lines["(identical bodies) cold W1 throughput ÷ baseline"]
    assert same.startswith("n/a") and "1.65" in same


def test_a_backend_at_70_percent_is_flagged_in_its_row_and_the_targets() -> None:
    cold = _measured("W1", EXECGATE_COLD, 130.0)
    base = _measured("W1", BASELINE, 200.0, backend_pct=85.0)

    table = workload_table([cold, base], 0.0, "W1")
    lines = _lines(goals([cold, base], None, None))

    assert "| 85 ⚠ |" in table
    assert "| 20 |" in table
    assert lines["backend CPU %, the busiest cell"].startswith("MISS")
    assert "may be capped" in lines["cold W1 throughput ÷ baseline"]


def test_the_live_soak_is_judged_on_its_peak_and_its_late_slope() -> None:
    filling = [60.0 + 2 * i for i in range(60)] + [180.0] * 60
    soak = Soak(120.0, filling, 25.0, 0, backend_cpu_pct=30.0, rate=300.0)
    growing = Soak(120.0, [60.0 + 3 * i for i in range(120)], 25.0, 0)

    flat = _lines(goals([], soak, None))
    leaking = _lines(goals([], growing, None))

    assert flat["live soak (120 s): peak RSS, MB"].startswith("PASS")
    assert flat["live soak: RSS slope over the second half, MB/min"].startswith("PASS")
    assert leaking["live soak (120 s): peak RSS, MB"].startswith("MISS")
    assert "180.00" in leaking["live soak: RSS slope over the second half, MB/min"]
    assert slope_per_minute([1.0, 2.0, 3.0]) == 60.0
    assert "peak 180 MB" in soak.summary()
