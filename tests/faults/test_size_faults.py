"""Answers too big to hold: the gateway stays small and keeps answering its health check.

The gateway runs as its own process over an n8n simulator behind a fault proxy, with the
default ``max_response_mb``. While each fault answers its reads, the gateway's RSS and the
latency of ``/healthz`` are sampled every 20 ms. The gateway's cache is off, so every read
reaches the backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from execgate.api.ids import encode
from tests.faults.backends import FaultyBackend, faulty_backend
from tests.faults.catalogue import Endless, EndlessHeaders, Fault, GzipBomb, Huge, On
from tests.faults.gateway import RunningGateway, gateway_process
from tests.faults.sampling import Sampler

QUERY = "query One($id: ID!) { execution(id: $id) { id status nodeExecutions { nodeName } } }"
MAX_RSS_MB = 300
MAX_HEALTHZ_MS = 100


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FaultyBackend, RunningGateway]]:
    with (
        faulty_backend("n8n", seed=51, executions=40) as backend,
        gateway_process(
            [backend.instance("edge")],
            instance_options={"timeout_seconds": 20.0},
            tables="[cache]\nenabled = false\n",  # every read reaches the backend
        ) as gateway,
    ):
        yield backend, gateway


async def _ask(url: str, ids: list[str]) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:

        async def one(native_id: str) -> dict[str, Any]:
            variables = {"id": encode("Execution", f"edge:{native_id}")}
            async with session.post(
                url + "/graphql", json={"query": QUERY, "variables": variables}
            ) as answer:
                assert answer.status == 200
                body: dict[str, Any] = await answer.json()
                return body

        return list(await asyncio.gather(*(one(i) for i in ids)))


@pytest.mark.parametrize(
    ("fault", "reads", "wording"),
    [
        (Endless(chunk_bytes=64 * 1024), 4, "answer too large"),
        (EndlessHeaders(), 1, "not valid HTTP/1.1"),
        (Huge(megabytes=200), 4, "answer too large"),
        (GzipBomb(compressed_mb=2.0), 2, "answer too large"),
    ],
    ids=["four-endless-bodies", "endless-headers", "four-200MB-bodies", "two-gzip-bombs"],
)
async def test_an_oversized_answer_is_a_bad_response_in_bounded_memory_and_time(
    served: tuple[FaultyBackend, RunningGateway], fault: Fault, reads: int, wording: str
) -> None:
    backend, gateway = served
    ids = [e.id for e in backend.store.visible()][:reads]
    backend.proxy.clear()
    backend.proxy.inject(fault, on=On.READS, times=None)
    try:
        with Sampler(pid=gateway.pid, url=gateway.url, interval_ms=20) as sampler:
            answers = await _ask(gateway.url, ids)
    finally:
        backend.proxy.clear()
    samples = sampler.samples
    for body in answers:
        [error] = body["errors"]
        assert error["extensions"]["code"] == "UPSTREAM_BAD_RESPONSE", body
        assert error["extensions"]["instance"] == "edge"
        assert wording in error["message"]
    print(
        f"{type(fault).__name__}: peak RSS {samples.peak_rss_kb // 1024} MB, "
        f"/healthz max {samples.max_latency_ms:.0f} ms over {len(samples.latencies_ms)} checks"
    )
    assert samples.peak_rss_kb < MAX_RSS_MB * 1024
    assert samples.failures == 0
    assert samples.max_latency_ms < MAX_HEALTHZ_MS
    # and the instance answers normally again afterwards
    [after] = await _ask(gateway.url, ids[:1])
    assert "errors" not in after and after["data"]["execution"]["id"]
