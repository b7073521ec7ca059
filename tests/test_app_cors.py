"""CORS (``[server] cors_origins``): preflights and answers for the allowed origins only."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from execgate.app import create_app
from execgate.config import ServerSettings
from execgate.simulate.embedded import embedded, with_demo_client
from tests.serving import serving

ALLOWED = "https://ops.example.com"
OTHER = "https://evil.example.net"


async def _client(origins: tuple[str, ...]) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    demo = embedded(seed=7)
    settings, key = with_demo_client(demo.settings)
    settings = dataclasses.replace(settings, server=ServerSettings(cors_origins=origins))
    async with serving(create_app(settings, transports=demo.transports)) as client:
        yield client, key


@pytest.fixture
async def cors() -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async for pair in _client((ALLOWED,)):
        yield pair


@pytest.fixture
async def plain() -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async for pair in _client(()):
        yield pair


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_a_preflight_from_an_allowed_origin_is_answered(
    cors: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = cors
    answer = await client.options("/graphql", headers=preflight(ALLOWED))
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in answer.headers


async def test_a_preflight_from_another_origin_is_refused(
    cors: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = cors
    answer = await client.options("/graphql", headers=preflight(OTHER))
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


async def test_answers_carry_cors_headers_for_the_allowed_origin_only(
    cors: tuple[httpx.AsyncClient, str],
) -> None:
    client, key = cors
    body = {"query": "{ instances { name } }"}
    auth = {"Authorization": f"Bearer {key}"}
    ok = await client.post("/graphql", json=body, headers={**auth, "Origin": ALLOWED})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    assert "access-control-allow-credentials" not in ok.headers
    other = await client.post("/graphql", json=body, headers={**auth, "Origin": OTHER})
    assert "access-control-allow-origin" not in other.headers
    # a refusal still tells the page why (a browser would hide it without the header)
    refused = await client.post("/graphql", json=body, headers={"Origin": ALLOWED})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ALLOWED


async def test_cookies_are_never_credentials(cors: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = cors
    answer = await client.post(
        "/graphql",
        json={"query": "{ instances { name } }"},
        headers={"Origin": ALLOWED, "Cookie": "session=abc; Authorization=Bearer x"},
    )
    assert answer.status_code == 401


async def test_without_origins_no_cors_headers_at_all(
    plain: tuple[httpx.AsyncClient, str],
) -> None:
    client, key = plain
    answer = await client.options("/graphql", headers=preflight(ALLOWED))
    assert "access-control-allow-origin" not in answer.headers
    ok = await client.post(
        "/graphql",
        json={"query": "{ instances { name } }"},
        headers={"Authorization": f"Bearer {key}", "Origin": ALLOWED},
    )
    assert "access-control-allow-origin" not in ok.headers
