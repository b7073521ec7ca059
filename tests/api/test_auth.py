"""The HTTP guard: client keys, anonymous loopback mode, rate limits, body size, GraphiQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from execgate.app import gateway_app
from execgate.security.clients import new_key
from execgate.service.gateway import Gateway
from execgate.simulate.server import BackgroundServer
from tests.fakes import FakeBackend, make_execution
from tests.security.world import READ, Grant, demo_backends, world

INSTANCES = "{ instances { name } }"


def _unauthenticated(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="execgate"')
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"errors"}, "no data in a refusal"
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    return error


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": "Basic ZGFzaDpzZWNyZXQ="},
        {"X-Api-Key": "anything"},
    ],
)
async def test_missing_key_is_401_with_a_coded_graphql_body(headers: dict[str, str]) -> None:
    async with world([Grant("dash")]) as gw:
        # when
        response = await gw.client.post("/graphql", json={"query": INSTANCES}, headers=headers)
        # then
        error = _unauthenticated(response)
        assert "Authorization: Bearer" in error["message"]
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
        _unauthenticated(refused)
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
    error = _unauthenticated(response)
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
    _unauthenticated(refused)
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
