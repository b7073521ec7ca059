"""Node processes of the federation tests: started on 127.0.0.1, awaited, stopped by their id."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


class Started:
    """A running process and what it printed."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    ready: str,
    timeout: float = 60.0,
) -> Iterator[Started]:
    """``argv`` in its own process group until the ``with`` ends (then stopped by its id), ready
    once the URL ``ready`` answers an HTTP GET, whatever its status; its output goes to
    ``log``."""
    with log.open("w") as out:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    started = Started(process, log)
    try:
        _await(started, ready, timeout)
        yield started
    finally:
        _stop(process)


def _await(started: Started, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            raise RuntimeError(f"{url}: the process ended early:\n{started.output()[-3000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: nothing answered in {timeout:.0f} s:\n{started.output()[-3000:]}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    timer = threading.Timer(10.0, lambda: _kill(process))
    timer.start()
    try:
        process.wait()
    finally:
        timer.cancel()


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
