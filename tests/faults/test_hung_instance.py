"""One of three instances hangs: the others keep being served, fast, once its circuit opens.

The gateway runs as its own process over three simulators, each behind a fault proxy. Under 48
concurrent queries it is measured healthy, then with one n8n instance hanging (it accepts
requests and never answers), then over the healthy instances only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import aiohttp
import pytest

from tests.faults.backends import faulty_backend
from tests.faults.catalogue import Hang, On
from tests.faults.gateway import gateway_process
from tests.faults.proxy import FaultProxy

ALL = "{ executions(first: 5) { edges { node { id status } } skippedInstances { instance } } }"
HEALTHY = (
    '{ executions(first: 5, filter: {instances: ["acme", "n8n-a"]}) '
    "{ edges { node { id status } } skippedInstances { instance } } }"
)
TIMEOUT = 1.0
FAILURES = 3
CONCURRENCY = 48


@pytest.fixture
def three() -> Iterator[tuple[str, FaultProxy]]:
    options = {
        "timeout_seconds": TIMEOUT,
        "connect_timeout_seconds": 0.5,
        "circuit_failures": FAILURES,
        "circuit_cooldown_seconds": 30.0,
    }
    with ExitStack() as stack:
        team = stack.enter_context(faulty_backend("team", seed=41, executions=60))
        n8n_a = stack.enter_context(faulty_backend("n8n", seed=42, executions=60))
        n8n_b = stack.enter_context(faulty_backend("n8n", seed=43, executions=60))
        instances = [
            team.instance("acme"),
            n8n_a.instance("n8n-a"),
            n8n_b.instance("n8n-b"),
        ]
        gateway = stack.enter_context(gateway_process(instances, instance_options=options))
        yield gateway.url, n8n_b.proxy


async def _load(
    url: str, query: str, seconds: float
) -> tuple[float, list[float], list[dict[str, Any]]]:
    """Closed-loop load: (queries per second, latencies, the answers)."""
    latencies: list[float] = []
    answers: list[dict[str, Any]] = []
    stop = time.monotonic() + seconds
    body = {"query": query}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def worker() -> None:
            while time.monotonic() < stop:
                started = time.monotonic()
                async with client.post(url + "/graphql", json=body) as answer:
                    answers.append(await answer.json())
                latencies.append(time.monotonic() - started)

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - began
    return len(latencies) / elapsed, latencies, answers


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def test_a_hung_instance_costs_the_others_little_once_its_circuit_is_open(
    three: tuple[str, FaultProxy],
) -> None:
    url, hung_proxy = three
    # given: the throughput of queries over all three instances while all answer
    normal, _, answers = await _load(url, ALL, 3.0)
    assert all(not a["data"]["executions"]["skippedInstances"] for a in answers)

    # when: one instance hangs; the first queries find out, and its circuit opens (identical
    # reads in flight share one request, so each wave of queries counts as one failure)
    hung_proxy.inject(Hang(), on=On.ANY, times=None)
    await _load(url, ALL, FAILURES * TIMEOUT + 1.0)

    # then: queries over all instances keep at least half their throughput, answer within
    # the instance timeout and a half at p99, and say which instance they skipped
    degraded, latencies, answers = await _load(url, ALL, 3.0)
    assert degraded >= 0.5 * normal, (degraded, normal)
    assert _p99(latencies) <= TIMEOUT + 0.5, _p99(latencies)
    skipped = [a["data"]["executions"]["skippedInstances"] for a in answers]
    assert all(s == [{"instance": "n8n-b"}] for s in skipped)
    assert all(len(a["data"]["executions"]["edges"]) == 5 for a in answers)

    # and queries over the healthy instances are not slowed at all
    healthy, healthy_latencies, _ = await _load(url, HEALTHY, 3.0)
    print(
        f"hung instance: {normal:.0f} q/s healthy, {degraded:.0f} q/s with one hung "
        f"(p99 {_p99(latencies) * 1000:.0f} ms), {healthy:.0f} q/s over the healthy two "
        f"(p99 {_p99(healthy_latencies) * 1000:.0f} ms)"
    )
    assert healthy >= 0.8 * normal, (healthy, normal)
    assert _p99(healthy_latencies) <= 0.5
