"""Reading the audit file back: the last lines, rendered one per row, and following it."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

_FIELDS = ("timestamp", "client", "action", "outcome", "instance", "execution_id")


def render(line: str) -> str:
    """One audit line as a readable row; a line that is not an audit entry is shown as is."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(entry, dict):
        return line.rstrip("\n")
    cells = ["-" if entry.get(key) is None else str(entry[key]) for key in _FIELDS]
    latency = entry.get("latency_ms")
    shown = "-" if not isinstance(latency, int | float) else f"{latency:g}ms"
    timestamp, client, action, outcome, instance, execution_id = cells
    if "rows" in entry:
        execution_id = f"rows={entry.get('rows')} bytes={entry.get('bytes')}"
    return (
        f"{timestamp:<24}  {client:<16}  {action:<7}  {outcome:<20}  {instance:<14}  "
        f"{shown:>9}  {execution_id}"
    )


def last_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of the file (read in one pass, keeping only those)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in deque(handle, maxlen=max(count, 0))]


def follow(
    path: Path,
    out: TextIO,
    *,
    poll_seconds: float = 0.5,
    keep_going: Callable[[], bool] = lambda: True,
) -> None:
    """Print lines appended to ``path`` from now on, until ``keep_going`` says stop."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(0, 2)
        pending = ""
        while keep_going():
            chunk = handle.readline()
            if not chunk:
                time.sleep(poll_seconds)
                continue
            pending += chunk
            if pending.endswith("\n"):
                print(render(pending), file=out, flush=True)
                pending = ""
