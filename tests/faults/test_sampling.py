"""The sampler: peak memory of a process and health-check latency, read in the background."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from execgate.simulate.server import BackgroundServer, free_port
from tests.faults.catalogue import MIB
from tests.faults.sampling import Sampler, memory_kb, percentile

SLOW = threading.Event()


async def healthz(request: Request) -> Response:
    if SLOW.is_set():
        await asyncio.sleep(0.25)
    return JSONResponse({"status": "ok"})


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    SLOW.clear()
    with BackgroundServer(Starlette(routes=[Route("/healthz", healthz)])) as running:
        yield running
    SLOW.clear()


def test_sampler_sees_a_memory_peak_and_a_slow_health_check(server: BackgroundServer) -> None:
    with Sampler(url=server.base_url, interval_ms=10) as sampler:
        time.sleep(0.1)
        ballast = b"\x01" * (64 * MIB)
        time.sleep(0.2)
        del ballast
        SLOW.set()
        time.sleep(0.4)
        SLOW.clear()
        time.sleep(0.1)
    samples = sampler.samples
    assert samples.peak_rss_kb - samples.rss_kb[0] >= 48 * 1024
    assert samples.hwm_kb - samples.rss_kb[0] >= 48 * 1024
    assert samples.max_latency_ms >= 250
    assert samples.p99_latency_ms >= 250
    assert samples.failures == 0 and len(samples.latencies_ms) >= 10
    assert min(samples.latencies_ms) < 100


def test_sampler_counts_failed_health_checks() -> None:
    with Sampler(url=f"http://127.0.0.1:{free_port()}", interval_ms=20) as sampler:
        time.sleep(0.15)
    samples = sampler.samples
    assert samples.failures == len(samples.latencies_ms) >= 2
    assert len(samples.rss_kb) >= 2


def test_memory_of_this_process_and_percentiles() -> None:
    found = memory_kb(os.getpid())
    assert 0 < found["VmRSS"] <= found["VmHWM"]
    assert percentile([], 0.99) == 0.0
    assert percentile([float(v) for v in range(1, 101)], 0.99) == 99.0
    assert percentile([5.0, 1.0, 3.0], 1.0) == 5.0
