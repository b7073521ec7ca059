"""Sample a process's memory and a health endpoint's latency while a test runs.

``Sampler(pid=..., url=...)`` starts two daemon threads: one reads ``VmRSS`` from
``/proc/<pid>/status`` every ``interval_ms``, the other times ``GET <url>/healthz`` (a fresh
connection each time, as a prober would) every ``interval_ms``. ``stop()`` ends both and
returns ``Samples``: peak RSS, ``VmHWM`` at the end, and the maximum and 99th-percentile
health-check latency; a failed or timed-out check counts as a failure with its elapsed time.

    with Sampler(url=gateway_url) as sampler:
        ...  # load the gateway
    assert sampler.samples.max_latency_ms < 500
"""

from __future__ import annotations

import http.client
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit


def memory_kb(pid: int) -> dict[str, int]:
    """The ``Vm*`` lines of ``/proc/<pid>/status`` in kB (``VmRSS``, ``VmHWM``, ...)."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name.startswith("Vm") and value.strip().endswith("kB"):
            found[name] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs``); whether it worked."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in (0, 1]) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Samples:
    rss_kb: list[int]
    hwm_kb: int
    """``VmHWM`` when sampling stopped (since the start, when the peak could be reset)."""
    latencies_ms: list[float]
    failures: int
    """Health checks that failed, timed out or answered other than 200."""

    @property
    def peak_rss_kb(self) -> int:
        return max(self.rss_kb, default=0)

    @property
    def max_latency_ms(self) -> float:
        return max(self.latencies_ms, default=0.0)

    @property
    def p99_latency_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)


class Sampler:
    """Samples ``pid``'s RSS (this process by default) and, when ``url`` is given, the latency
    of ``GET url + path``, every ``interval_ms`` in background threads."""

    def __init__(
        self,
        *,
        pid: int | None = None,
        url: str | None = None,
        path: str = "/healthz",
        interval_ms: float = 20.0,
        timeout: float = 5.0,
        reset_hwm: bool = True,
    ) -> None:
        self.pid = pid if pid is not None else os.getpid()
        self.url = url
        self.path = path
        self.interval = interval_ms / 1000
        self.timeout = timeout
        self.reset_hwm = reset_hwm
        self._stop = threading.Event()
        self._rss: list[int] = []
        self._latencies: list[float] = []
        self._failures = 0
        self._threads: list[threading.Thread] = []
        self._samples: Samples | None = None

    @property
    def samples(self) -> Samples:
        if self._samples is None:
            raise RuntimeError("the sampler has not been stopped")
        return self._samples

    def start(self) -> Sampler:
        if self.reset_hwm:
            reset_peak(self.pid)
        self._threads = [threading.Thread(target=self._sample_memory, daemon=True)]
        if self.url is not None:
            self._threads.append(threading.Thread(target=self._probe, daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Samples:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 1)
        self._samples = Samples(
            rss_kb=list(self._rss),
            hwm_kb=memory_kb(self.pid).get("VmHWM", 0),
            latencies_ms=list(self._latencies),
            failures=self._failures,
        )
        return self._samples

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _sample_memory(self) -> None:
        while True:
            self._rss.append(memory_kb(self.pid).get("VmRSS", 0))
            if self._stop.wait(self.interval):
                return

    def _probe(self) -> None:
        assert self.url is not None
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        while True:
            began = time.perf_counter()
            ok = False
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
            try:
                connection.request("GET", self.path)
                answer = connection.getresponse()
                answer.read()
                ok = answer.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
            finally:
                connection.close()
            self._latencies.append((time.perf_counter() - began) * 1000)
            self._failures += not ok
            if self._stop.wait(max(0.0, self.interval - (time.perf_counter() - began))):
                return
