"""``execgate export`` and ``execgate stats`` over the embedded demo."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from execgate.cli import main
from execgate.export.formats import CSV_COLUMNS


def test_export_writes_every_row_and_reports_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "week.csv"
    assert main(["export", "--format", "csv", "--days", "7", "-o", str(target)]) == 0
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) > 100
    assert {row[0] for row in rows[1:]} == {"acme", "n8n-prod", "n8n-staging"}
    err = capsys.readouterr().err
    assert f"{len(rows) - 1} rows" in err and "rows/s" in err
    audit = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert audit[-1]["action"] == "export" and audit[-1]["rows"] == len(rows) - 1


def test_export_of_one_instance_as_json_lines(tmp_path: Path) -> None:
    target = tmp_path / "acme.jsonl"
    argv = ["export", "--format", "jsonl", "--days", "2", "--instances", "acme"]
    assert main([*argv, "--no-progress", "-o", str(target)]) == 0
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert records and {r["instance"] for r in records} == {"acme"}
    assert all("nodeExecutions" in r for r in records)


def test_export_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.csv"
    assert main(["export", "--days", "0", "-o", str(target)]) == 2
    assert main(["export", "--instances", "nope", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "BAD_USER_INPUT" in err and "UNKNOWN_INSTANCE" in err
    assert "Traceback" not in err


def test_stats_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--group-by", "workflow", "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert "workflow" in out and "p95 ms" in out and "success" in out
    assert "(acme)" in out and "(n8n-prod)" in out
    assert "all" in out


def test_stats_refuses_an_unknown_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--group-by", "colour"]) == 2
    assert "unknown dimension 'colour'" in capsys.readouterr().err
