"""The HTTP guard: client keys, anonymous loopback mode, rate limits, body size, GraphiQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from execgate.app import gateway_app
from execgate.security.clients import new_key
from execgate.service.gateway import Gateway
from execgate.simulate.server import BackgroundServer
from tests.fakes import FakeBackend, make_execution
from tests.security.world import READ, Grant, World, demo_backends, world

INSTANCES = "{ instances { name } }"


def _unauthenticated(response: httpx.Response, reason: str = "UNKNOWN_KEY") -> dict[str, Any]:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="execgate"')
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"errors"}, "no data in a refusal"
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}
    return error


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"X-Api-Key": "anything"},
    ],
)
async def test_missing_key_is_401_with_a_coded_graphql_body(headers: dict[str, str]) -> None:
    async with world([Grant("dash")]) as gw:
        # when
        response = await gw.client.post("/graphql", json={"query": INSTANCES}, headers=headers)
        # then
        error = _unauthenticated(response, "MISSING_KEY")
        assert "a client key is required" in error["message"]
        assert "Authorization: Bearer" in error["message"]
        assert "error=" not in response.headers["www-authenticate"]
        assert sum(gw.calls().values()) == 0


@pytest.mark.parametrize(
    "header",
    [
        lambda key: key,  # the right key, without "Bearer "
        lambda key: f"Token {key}",
        lambda key: f"Bearer: {key}",
        lambda key: f"Bearer {key[:10]} {key[10:]}",
        lambda key: "Basic ZGFzaDpzZWNyZXQ=",
    ],
    ids=["bare-key", "other-scheme", "colon", "split-key", "basic"],
)
async def test_a_key_not_sent_as_bearer_is_a_malformed_key_not_a_missing_one(header: Any) -> None:
    async with world([Grant("dash")]) as gw:
        # when: the header is there, but not as 'Bearer <key>'
        response = await gw.client.post(
            "/graphql",
            json={"query": INSTANCES},
            headers={"Authorization": header(gw.keys["dash"])},
        )
        # then: 401 saying the header is malformed (not that the key is missing)
        error = _unauthenticated(response, "MALFORMED_KEY")
        assert "malformed" in error["message"]
        assert "required" not in error["message"]
        assert 'error="invalid_request"' in response.headers["www-authenticate"]
        assert gw.keys["dash"] not in response.text
        assert sum(gw.calls().values()) == 0


@pytest.mark.parametrize(
    "mangle", [str.upper, lambda k: k[:-1], lambda k: k + "x", lambda k: k[4:]]
)
async def test_wrong_key_is_401_invalid_token(mangle: Any) -> None:
    async with world([Grant("dash")]) as gw:
        # when a key close to the right one is presented
        response = await gw.post(INSTANCES, key=mangle(gw.keys["dash"]))
        # then
        _unauthenticated(response)
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        # and the right key works
        ok = await gw.post(INSTANCES, as_client="dash")
        assert ok.status_code == 200 and "errors" not in ok.json()


async def test_scheme_is_case_insensitive_and_key_is_trimmed() -> None:
    async with world([Grant("dash")]) as gw:
        key = gw.keys["dash"]
        response = await gw.client.post(
            "/graphql", json={"query": INSTANCES}, headers={"Authorization": f"bearer  {key} "}
        )
        assert response.status_code == 200
        assert response.json()["data"]["instances"]


async def test_revoked_key_stops_working_when_removed_from_the_config() -> None:
    # given two clients, both working
    backends = demo_backends()
    keys = {"a": new_key(), "b": new_key()}
    async with world([Grant("a"), Grant("b")], backends, keys=keys) as before:
        assert (await before.post(INSTANCES, as_client="b")).status_code == 200
    # when b is removed from the config and the gateway restarts
    async with world([Grant("a")], backends, keys=keys) as after:
        revoked = await after.post(INSTANCES, key=keys["b"])
        kept = await after.post(INSTANCES, as_client="a")
    # then b's key is refused, a's still works
    _unauthenticated(revoked)
    assert kept.status_code == 200


async def test_get_queries_need_the_key_too() -> None:
    async with world([Grant("dash")]) as gw:
        params = {"query": INSTANCES}
        refused = await gw.client.get("/graphql", params=params)
        _unauthenticated(refused, "MISSING_KEY")
        ok = await gw.client.get(
            "/graphql", params=params, headers={"Authorization": f"Bearer {gw.keys['dash']}"}
        )
        assert ok.status_code == 200
        assert len(ok.json()["data"]["instances"]) == 3


async def test_healthz_stays_open() -> None:
    async with world([Grant("dash")]) as gw:
        response = await gw.client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


async def test_graphiql_page_needs_no_key_and_carries_none() -> None:
    async with world([Grant("dash")]) as gw:
        page = await gw.client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        assert gw.keys["dash"] not in page.text
        assert "const defaultHeaders = {};" in page.text


async def test_graphiql_switched_off_answers_a_coded_404() -> None:
    async with world([Grant("dash")], graphiql=False) as gw:
        page = await gw.client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 404
        assert page.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


# -- anonymous mode ----------------------------------------------------------------------------


def _anonymous_app() -> Any:
    backend = FakeBackend("acme", [make_execution("acme", "1", minutes=1)])
    return gateway_app(Gateway({"acme": backend}))


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "127.0.0.9"])
async def test_without_clients_loopback_peers_get_full_access(peer: str) -> None:
    transport = httpx.ASGITransport(app=_anonymous_app(), client=(peer, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.post("/graphql", json={"query": INSTANCES})
    assert response.status_code == 200
    assert response.json() == {"data": {"instances": [{"name": "acme"}]}}


@pytest.mark.parametrize("peer", ["203.0.113.5", "10.0.0.2", "::ffff:8.8.8.8"])
async def test_without_clients_other_peers_are_refused(peer: str) -> None:
    transport = httpx.ASGITransport(app=_anonymous_app(), client=(peer, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.post("/graphql", json={"query": INSTANCES})
        health = await client.get("/healthz")
    error = _unauthenticated(response, "NOT_LOOPBACK")
    assert "no clients configured" in error["message"]
    assert health.status_code == 200


# -- rate limits -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_burst_past_the_rate_limit_is_429_with_retry_after() -> None:
    # given a client allowed 0.5 request per second with a burst of 3, and an unlimited one
    clock = Clock()
    grants = [Grant("slow", None, READ, rate_per_second=0.5, burst=3), Grant("free")]
    async with world(grants, rate_clock=clock) as gw:
        # when it sends five requests at once
        answers = [await gw.post(INSTANCES, as_client="slow") for _ in range(5)]
        # then three pass, the rest are refused with a coded body and Retry-After
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        refused = answers[3]
        assert refused.headers["retry-after"] == "2"
        body = refused.json()
        assert set(body) == {"errors"}
        assert body["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 2}
        # and another client is not affected
        assert (await gw.post(INSTANCES, as_client="free")).status_code == 200
        # and after the wait one more request passes, then the bucket is empty again
        clock.now += 2.0
        assert (await gw.post(INSTANCES, as_client="slow")).status_code == 200
        again = await gw.post(INSTANCES, as_client="slow")
        assert again.status_code == 429
        assert again.headers["retry-after"] == "2"


async def test_rate_limited_requests_reach_no_backend() -> None:
    clock = Clock()
    async with world(
        [Grant("slow", None, READ, rate_per_second=1, burst=1)], rate_clock=clock
    ) as gw:
        feed = "{ executions(first: 3) { edges { node { id } } } }"
        assert (await gw.post(feed, as_client="slow")).status_code == 200
        before = gw.calls()
        refused = await gw.post(feed, as_client="slow")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert gw.calls() == before


async def test_unauthenticated_requests_do_not_spend_a_clients_tokens() -> None:
    clock = Clock()
    async with world(
        [Grant("slow", None, READ, rate_per_second=1, burst=1)], rate_clock=clock
    ) as gw:
        for _ in range(5):
            _unauthenticated(await gw.post(INSTANCES, key="egk_wrong"))
        assert (await gw.post(INSTANCES, as_client="slow")).status_code == 200


# -- request bodies ----------------------------------------------------------------------------


async def test_body_over_the_cap_is_413_before_anything_runs() -> None:
    async with world([Grant("dash")], max_body_bytes=4096) as gw:
        headers = {"Authorization": f"Bearer {gw.keys['dash']}"}
        padding = {"query": INSTANCES, "variables": {"pad": "x" * 5000}}
        # when: a declared length over the cap, then a chunked body with no length
        declared = await gw.client.post("/graphql", json=padding, headers=headers)

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"query": "{ instances { name } }", "variables": {"pad": "'
            for _ in range(10):
                await asyncio.sleep(0)
                yield b"y" * 1000
            yield b'"}}'

        chunked = await gw.client.post(
            "/graphql", content=chunks(), headers={**headers, "Content-Type": "application/json"}
        )
        small = await gw.client.post(
            "/graphql", json={"query": INSTANCES, "variables": {"pad": "x" * 100}}, headers=headers
        )
    # then
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json() == {
            "errors": [
                {
                    "message": "the request body is larger than 4096 bytes",
                    "extensions": {"code": "REQUEST_TOO_LARGE", "limit": 4096},
                }
            ]
        }
    assert small.status_code == 200


async def test_batches_and_broken_bodies_get_coded_400s() -> None:
    async with world([Grant("dash")]) as gw:
        headers = {"Authorization": f"Bearer {gw.keys['dash']}", "Content-Type": "application/json"}
        batch = await gw.client.post(
            "/graphql", content=b'[{"query": "{ instances { name } }"}]', headers=headers
        )
        broken = await gw.client.post("/graphql", content=b'{"query": ', headers=headers)
    for response in (batch, broken):
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert batch.json()["errors"][0]["message"] == "Batching is not enabled"


# -- over a real socket ------------------------------------------------------------------------


async def test_keys_over_a_real_socket() -> None:
    async with world([Grant("dash", ("acme",))]) as gw:
        with BackgroundServer(gw.app) as server:
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                refused = await client.post("/graphql", json={"query": INSTANCES})
                ok = await client.post(
                    "/graphql",
                    json={"query": INSTANCES},
                    headers={"Authorization": f"Bearer {gw.keys['dash']}"},
                )
    _unauthenticated(refused, "MISSING_KEY")
    assert ok.json() == {"data": {"instances": [{"name": "acme"}]}}


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("evil.example", None),
        ("evil.example:8000", None),
        ("127.0.0.1.nip.example", None),
        ("localhost:8000", "http://evil.example"),
        ("127.0.0.1:8000", "https://attacker.example:8000"),
        ("[::1]:8000", "null"),
    ],
)
async def test_without_clients_a_foreign_host_or_origin_is_refused_even_from_loopback(
    host: str, origin: str | None
) -> None:
    # given: a loopback peer (a browser on this machine) whose request names another site
    backend = FakeBackend("acme", [make_execution("acme", "1", minutes=1)])
    app = gateway_app(Gateway({"acme": backend}))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    headers = {"Host": host, **({"Origin": origin} if origin else {})}
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        delete = 'mutation { deleteExecution(id: "RXhlY3V0aW9uOmFjbWU6MQ==") { deletedId } }'
        deleted = await client.post("/graphql", json={"query": delete}, headers=headers)
    # then: refused before anything runs
    assert deleted.status_code == 403
    assert deleted.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert backend.calls == 0 and "1" in backend.items


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8000", None),
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("[::1]:8000", "http://localhost:3000"),
    ],
)
async def test_without_clients_loopback_names_are_served(host: str, origin: str | None) -> None:
    transport = httpx.ASGITransport(app=_anonymous_app(), client=("127.0.0.1", 5000))
    headers = {"Host": host, **({"Origin": origin} if origin else {})}
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.post("/graphql", json={"query": INSTANCES}, headers=headers)
    assert response.status_code == 200


# -- one log line per refusal ------------------------------------------------------------------


def _execgate_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("execgate")]


async def _big_chunked(gw: World, headers: dict[str, str]) -> httpx.Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ instances { name } }", "variables": {"pad": "'
        for _ in range(6):
            yield b"y" * 1000
        yield b'"}}'

    return await gw.client.post(
        "/graphql", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )


REFUSALS_WITH_CLIENTS: list[Any] = [
    pytest.param(lambda key: {}, None, 401, "no client key", id="401-missing"),
    pytest.param(lambda key: {"Authorization": key}, None, 401, "not 'Bearer", id="401-bare"),
    pytest.param(
        lambda key: {"Authorization": f"Basic {key}"}, None, 401, "not 'Bearer", id="401-basic"
    ),
    pytest.param(
        lambda key: {"Authorization": f"Bearer {key}x"}, None, 401, "no client has", id="401-wrong"
    ),
    pytest.param(
        lambda key: {"Authorization": f"Bearer {key}"},
        {"query": INSTANCES, "variables": {"pad": "x" * 5000}},
        413,
        "a body over 4096 bytes",
        id="413-declared",
    ),
    pytest.param(
        lambda key: {"Authorization": f"Bearer {key}"}, _big_chunked, 413, "over", id="413-chunked"
    ),
]


@pytest.mark.parametrize(("headers", "body", "status", "why"), REFUSALS_WITH_CLIENTS)
async def test_every_refusal_leaves_one_log_line_without_the_key(
    caplog: pytest.LogCaptureFixture, headers: Any, body: Any, status: int, why: str
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world([Grant("dash")], max_body_bytes=4096) as gw:
        key = gw.keys["dash"]
        sent = headers(key)
        # given: an accepted request leaves no line
        caplog.clear()
        assert (await gw.post(INSTANCES, as_client="dash")).status_code == 200
        assert _execgate_records(caplog) == []
        # when: the refused request
        if callable(body):
            response = await body(gw, sent)
        else:
            response = await gw.client.post(
                "/graphql", json=body or {"query": INSTANCES}, headers=sent
            )
        # then: refused, with exactly one warning saying so, and no key anywhere
        assert response.status_code == status
        [record] = _execgate_records(caplog)
        assert record.levelno == logging.WARNING
        line = record.getMessage()
        assert line.startswith("refused POST /graphql from 127.0.0.1 with HTTP ")
        assert f"HTTP {status}" in line and why in line
        assert key not in caplog.text and key not in response.text
        assert key[4:20] not in caplog.text


async def test_a_rate_limited_request_leaves_one_log_line_naming_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    grants = [Grant("slow", None, READ, rate_per_second=1, burst=1)]
    async with world(grants, rate_clock=clock) as gw:
        assert (await gw.post(INSTANCES, as_client="slow")).status_code == 200
        caplog.clear()
        refused = await gw.post(INSTANCES, as_client="slow")
    assert refused.status_code == 429
    [record] = _execgate_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "refused POST /graphql from 127.0.0.1 with HTTP 429: "
        "client 'slow' is over its rate limit; retry in 1s"
    )
    assert gw.keys["slow"] not in caplog.text


@pytest.mark.parametrize(
    ("peer", "headers", "status", "why"),
    [
        ("203.0.113.5", {}, 401, "the peer is not on loopback"),
        ("127.0.0.1", {"Host": "evil.example"}, 403, "not loopback"),
        ("127.0.0.1", {"Origin": "http://evil.example"}, 403, "not loopback"),
    ],
)
async def test_anonymous_mode_refusals_leave_one_log_line(
    caplog: pytest.LogCaptureFixture, peer: str, headers: dict[str, str], status: int, why: str
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=_anonymous_app(), client=(peer, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        caplog.clear()
        response = await client.post("/graphql", json={"query": INSTANCES}, headers=headers)
    assert response.status_code == status
    [record] = _execgate_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"refused POST /graphql from {peer} with HTTP {status}")
    assert why in record.getMessage()
