"""The audit trail: one JSON line per attempt, to a 0600 file or to stderr, read back readably."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from execgate.security.audit import MAX_ID_LENGTH, AuditEntry, AuditError, AuditLog
from execgate.security.audit_view import follow, last_lines, render
from execgate.telemetry import context

MOMENT = datetime(2026, 11, 24, 9, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
ENTRY = AuditEntry("dashboard", "cancel", "RXhlY3V0aW9uOmFjbWU6MQ==", "acme", "OK", 12.345)


def test_a_line_holds_exactly_the_documented_fields(tmp_path: Path) -> None:
    # given
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=lambda: MOMENT)
    # when
    log.record(ENTRY)
    # then: readable while the log is still open (line-buffered)
    [line] = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "timestamp": "2026-11-24T07:30:05.123Z",
        "client": "dashboard",
        "action": "cancel",
        "execution_id": "RXhlY3V0aW9uOmFjbWU6MQ==",
        "instance": "acme",
        "outcome": "OK",
        "latency_ms": 12.3,
        "request_id": None,
    }
    log.close()


def test_a_line_written_while_serving_a_request_carries_its_id(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=lambda: MOMENT)
    token = context.request_id.set("req-7f3a")
    try:
        log.record(ENTRY)
    finally:
        context.request_id.reset(token)
    log.close()
    assert json.loads(path.read_text(encoding="utf-8"))["request_id"] == "req-7f3a"


def test_the_file_is_created_0600_and_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first = AuditLog(path)
    first.record(ENTRY)
    first.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = AuditLog(path)
    second.record(AuditEntry("ops", "delete", None, None, "INVALID_ID", 0.0))
    second.close()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(e["client"], e["outcome"]) for e in lines] == [
        ("dashboard", "OK"),
        ("ops", "INVALID_ID"),
    ]
    assert lines[1]["execution_id"] is None and lines[1]["instance"] is None


def test_without_a_path_lines_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    AuditLog(clock=lambda: datetime(2026, 1, 1, tzinfo=UTC)).record(ENTRY)
    captured = capsys.readouterr()
    assert captured.out == ""
    entry = json.loads(captured.err)
    assert entry["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert entry["client"] == "dashboard"


def test_a_long_client_supplied_id_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    log.record(AuditEntry("c", "delete", "x" * 5000, None, "INVALID_ID", 0.1))
    log.close()
    entry = json.loads(path.read_text(encoding="utf-8"))
    assert entry["execution_id"] == "x" * MAX_ID_LENGTH + "…"


def test_an_unopenable_file_is_an_audit_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "audit.jsonl"
    with pytest.raises(AuditError) as caught:
        AuditLog(missing)
    assert str(missing) in str(caught.value)
    assert "No such file or directory" in str(caught.value)


def test_render_and_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=lambda: MOMENT)
    for number in range(5):
        log.record(AuditEntry(f"c{number}", "retry", f"id-{number}", "n8n-prod", "OK", number))
    log.close()
    path.write_text(path.read_text(encoding="utf-8") + "not json\n", encoding="utf-8")
    lines = last_lines(path, 3)
    assert len(lines) == 3
    rows = [render(line) for line in lines]
    assert rows[-1] == "not json"
    assert rows[0].split() == [
        "2026-11-24T07:30:05.123Z",
        "c3",
        "retry",
        "OK",
        "n8n-prod",
        "3ms",
        "id-3",
    ]
    assert last_lines(path, 0) == []


def test_follow_prints_lines_appended_later(tmp_path: Path) -> None:
    # given an audit file with an old line, being followed
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, clock=lambda: MOMENT)
    log.record(AuditEntry("old", "cancel", "id-0", "acme", "OK", 1))
    out = io.StringIO()
    stop = threading.Event()
    follower = threading.Thread(
        target=follow,
        args=(path, out),
        kwargs={"poll_seconds": 0.01, "keep_going": lambda: not stop.is_set()},
    )
    follower.start()
    try:
        time.sleep(0.05)
        # when a new attempt is recorded
        log.record(AuditEntry("new", "delete", "id-1", "acme", "FORBIDDEN", 2))
        deadline = time.monotonic() + 5
        while "FORBIDDEN" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        follower.join(timeout=5)
        log.close()
    # then only the new line is printed, rendered
    printed = out.getvalue().splitlines()
    assert len(printed) == 1
    assert printed[0].split()[1:4] == ["new", "delete", "FORBIDDEN"]
