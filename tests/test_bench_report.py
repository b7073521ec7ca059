"""The benchmark keeps the median of interleaved trials, one real measurement per row."""

from __future__ import annotations

from bench.report import Cell, median_trial


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
