"""Child processes of a benchmark run: started pinned to a core, stopped for sure.

Every process is started in its own session (so its whole group can be signalled), its output
goes to a log file in the run's work directory, and ``Procs.stop_all`` (also run on Ctrl-C, on
SIGTERM and on errors, through the context manager) terminates each one by its own id: SIGTERM,
then SIGKILL after a grace period.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class StartError(RuntimeError):
    pass


class Procs:
    """The processes of one run; a context manager that always stops them all."""

    def __init__(self, workdir: Path, *, pin: bool = True) -> None:
        self.workdir = workdir
        self.taskset = shutil.which("taskset") if pin else None
        self.running: list[Proc] = []
        self._count = 0

    @property
    def pinned(self) -> bool:
        return self.taskset is not None

    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        cpu: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        port: int | None = None,
    ) -> Proc:
        self._count += 1
        log = self.workdir / f"{self._count:03d}-{name}.log"
        command = list(argv)
        if self.taskset is not None and cpu is not None:
            command = [self.taskset, "-c", cpu, *command]
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, port)
        self.running.append(proc)
        return proc

    def wait_http(self, proc: Proc, path: str, timeout: float = 30.0) -> None:
        """Wait until ``proc`` answers HTTP on ``path`` (any status), or fail with its log."""
        deadline = time.monotonic() + timeout
        while True:
            if proc.popen.poll() is not None:
                raise StartError(
                    f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}"
                )
            try:
                with urllib.request.urlopen(proc.url + path, timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise StartError(
                    f"{proc.name} did not answer within {timeout:.0f} s:\n{proc.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, proc: Proc, grace: float = 5.0) -> None:
        if proc in self.running:
            self.running.remove(proc)
        if proc.popen.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            proc.popen.wait(timeout=grace)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            self.stop(proc)

    def __enter__(self) -> Procs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str, body: bytes, timeout: float = 30.0) -> Any:
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())
