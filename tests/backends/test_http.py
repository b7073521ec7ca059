"""``BackendHTTP`` over real sockets: one retry layer, failures as domain errors.

Every request that reaches the backend is counted there, so the retry bound is proved by
counts: a read is sent at most ``1 + read_retries`` times whatever fails, never again after a
timeout, and a mutation exactly once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from execgate.config import HTTPSettings
from execgate.domain.deadline import within
from execgate.domain.errors import (
    BackendError,
    UpstreamBadResponse,
    UpstreamForbidden,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from execgate.simulate.server import free_port
from tests.backends.raw_server import RawServer, Reply, answer
from tests.transports import backend_http

FAULTS = {
    "reset": lambda n, head: Reply(then="reset"),
    "close": lambda n, head: Reply(then="close"),
    "502": lambda n, head: Reply(answer(502, b"bad gateway", reason="Bad Gateway")),
    "503": lambda n, head: Reply(answer(503, b"", reason="Unavailable")),
    "504": lambda n, head: Reply(answer(504, b"", reason="Gateway Timeout")),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("retries", [0, 1, 3])
async def test_a_read_is_sent_at_most_one_plus_read_retries_times(fault: str, retries: int) -> None:
    with RawServer(FAULTS[fault]) as raw:
        http = backend_http(
            "edge", raw.base_url, {}, None, HTTPSettings(read_retries=retries, timeout_seconds=2)
        )
        try:
            with pytest.raises(BackendError) as caught:
                await http.request("GET", "/api/v1/executions")
        finally:
            await http.transport.aclose()
    assert len(raw.requests) == 1 + retries
    assert isinstance(caught.value, UpstreamUnavailable)
    assert raw.base_url not in caught.value.message


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_mutation_is_sent_exactly_once_and_its_outcome_is_unknown(fault: str) -> None:
    with RawServer(FAULTS[fault]) as raw:
        http = backend_http("edge", raw.base_url, {}, None, HTTPSettings(read_retries=3))
        try:
            with pytest.raises(BackendError) as caught:
                await http.request("DELETE", "/api/v1/executions/7", mutation=True)
        finally:
            await http.transport.aclose()
    assert raw.lines() == ["DELETE /api/v1/executions/7 HTTP/1.1"]
    # a reset or close after sending, or a 5xx other than 501/503, may hide an action that happened
    assert caught.value.outcome_unknown is (fault != "503")


async def test_a_read_that_timed_out_is_not_sent_again() -> None:
    with RawServer(lambda n, head: Reply(then="hang")) as raw:
        http = backend_http(
            "edge", raw.base_url, {}, None, HTTPSettings(read_retries=3, timeout_seconds=0.3)
        )
        try:
            with pytest.raises(UpstreamTimeout):
                await http.request("GET", "/x")
        finally:
            await http.transport.aclose()
    assert len(raw.requests) == 1


async def test_a_read_recovers_on_the_retry() -> None:
    def once_then_fine(n: int, head: bytes) -> Reply:
        return Reply(then="reset") if n == 0 else Reply(answer(200, b'{"ok": true}'))

    with RawServer(once_then_fine) as raw:
        http = backend_http("edge", raw.base_url, {}, None, HTTPSettings(read_retries=1))
        try:
            got = await http.request("GET", "/x", params={"limit": 5, "includeData": True})
            body = await http.json(got)
        finally:
            await http.transport.aclose()
    assert body == {"ok": True}
    assert raw.lines() == ["GET /x?limit=5&includeData=true HTTP/1.1"] * 2


async def test_a_refused_connection_is_retried_then_unavailable_without_the_address() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    http = backend_http("edge", url, {}, None, HTTPSettings(read_retries=2))
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            await http.request("GET", "/x")
    finally:
        await http.transport.aclose()
    assert http.calls == 3
    assert "could not be reached" in caught.value.message
    assert url not in caught.value.message and not caught.value.outcome_unknown


@pytest.mark.parametrize(
    ("status", "wanted"),
    [
        (401, UpstreamUnauthorized),
        (403, UpstreamForbidden),
        (500, UpstreamUnavailable),
        (302, UpstreamBadResponse),
        (204, UpstreamBadResponse),
    ],
)
async def test_statuses_map_to_domain_errors(status: int, wanted: type[BackendError]) -> None:
    with RawServer(lambda n, head: Reply(answer(status, b"", reason="X"))) as raw:
        http = backend_http("edge", raw.base_url, {}, None, HTTPSettings(read_retries=0))
        try:
            with pytest.raises(wanted) as caught:
                await http.request("GET", "/x")
        finally:
            await http.transport.aclose()
    assert caught.value.instance == "edge"


async def test_other_4xx_answers_come_back_to_the_adapter() -> None:
    with RawServer(lambda n, head: Reply(answer(404, b'{"message": "not found"}'))) as raw:
        http = backend_http("edge", raw.base_url, {}, None)
        try:
            got = await http.request("GET", "/x")
        finally:
            await http.transport.aclose()
    assert got.status_code == 404 and got.json() == {"message": "not found"}


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b"\xff\xfe not utf-8", b"[" * 100_000 + b"]" * 100_000]
)
async def test_a_body_that_is_not_json_is_a_bad_response(body: bytes) -> None:
    with RawServer(lambda n, head: Reply(answer(200, body))) as raw:
        http = backend_http("edge", raw.base_url, {}, None)
        try:
            got = await http.request("GET", "/x")
            with pytest.raises(UpstreamBadResponse, match="not JSON"):
                await http.json(got)
        finally:
            await http.transport.aclose()


async def test_a_large_body_is_decoded_off_the_event_loop() -> None:
    big = b'{"data": [' + b",".join(b'{"id": "%d"}' % i for i in range(200_000)) + b"]}"
    assert len(big) > 1 << 20
    with RawServer(lambda n, head: Reply(answer(200, big))) as raw:
        http = backend_http("edge", raw.base_url, {}, None)
        try:
            body = await http.json(await http.request("GET", "/x"))
        finally:
            await http.transport.aclose()
    assert len(body["data"]) == 200_000


async def test_the_request_deadline_bounds_every_call_and_the_wait_for_a_slot() -> None:
    # given: a hung backend, one slot, a long per-read timeout and a short request deadline
    with RawServer(lambda n, head: Reply(then="hang")) as raw:
        http = backend_http(
            "edge", raw.base_url, {}, None, HTTPSettings(timeout_seconds=30, max_concurrency=1)
        )
        started = time.perf_counter()
        try:
            with within(0.5):
                # when: two reads go, the second waiting for the first's slot
                results = await asyncio.gather(
                    http.request("GET", "/a"), http.request("GET", "/b"), return_exceptions=True
                )
        finally:
            await http.transport.aclose()
    # then: both end at the deadline, and the one that never got a slot was never sent
    assert time.perf_counter() - started < 1.5
    assert all(isinstance(r, UpstreamTimeout) for r in results)
    assert raw.lines() == ["GET /a HTTP/1.1"]


async def test_nothing_is_sent_once_the_deadline_has_passed() -> None:
    with RawServer(lambda n, head: Reply(answer(200, b"{}"))) as raw:
        http = backend_http("edge", raw.base_url, {}, None)
        try:
            with within(-1.0), pytest.raises(UpstreamTimeout) as caught:
                await http.request("DELETE", "/x", mutation=True)
        finally:
            await http.transport.aclose()
    assert raw.requests == [] and not caught.value.outcome_unknown
