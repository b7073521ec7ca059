"""``X-Request-ID``: accepted or made, returned, and carried to the backends and the audit."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from execgate.app import create_app
from execgate.backends.transport import Request, Response, Transport
from execgate.config import AuditSettings
from execgate.simulate.embedded import embedded, with_demo_client
from tests.serving import serving

HEX32 = re.compile(r"[0-9a-f]{32}")
FEED = "{ executions(first: 3) { edges { node { id } } } }"
CANCEL = 'mutation { cancelExecution(id: "RXhlY3V0aW9uOmFjbWU6bm9uZQ==") { errors { code } } }'


class Recording:
    """A transport that remembers the headers of every request it sends."""

    def __init__(self, inner: Transport, seen: list[dict[str, str]]) -> None:
        self.inner = inner
        self.seen = seen

    async def send(self, request: Request) -> Response:
        self.seen.append(dict(request.headers))
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Served:
    def __init__(
        self, client: httpx.AsyncClient, key: str, seen: list[dict[str, str]], audit: Path
    ):
        self.client = client
        self.key = key
        self.seen = seen
        self.audit = audit

    async def post(self, query: str, **headers: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}", **headers}
        return await self.client.post("/graphql", json={"query": query}, headers=headers)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    demo = embedded(seed=7)
    settings, key = with_demo_client(demo.settings)
    audit = tmp_path / "audit.jsonl"
    settings = dataclasses.replace(settings, audit=AuditSettings(str(audit)))
    seen: list[dict[str, str]] = []
    transports = {name: Recording(t, seen) for name, t in demo.transports.items()}
    async with serving(create_app(settings, transports=transports)) as client:
        yield Served(client, key, seen, audit)


async def test_an_id_is_made_when_none_is_sent_and_returned(served: Served) -> None:
    first = await served.post(FEED)
    second = await served.post(FEED)
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(HEX32.fullmatch(i) for i in ids)
    assert ids[0] != ids[1]


async def test_the_callers_id_reaches_every_backend_request(served: Served) -> None:
    answer = await served.post(FEED, **{"X-Request-ID": "checkout-4f2a-77"})
    assert answer.headers["x-request-id"] == "checkout-4f2a-77"
    assert served.seen, "the feed read no backend"
    assert {h.get("X-Request-ID") for h in served.seen} == {"checkout-4f2a-77"}


@pytest.mark.parametrize("bad", ["has spaces", "x" * 129, 'quote"d', "semi;colon", ""])
async def test_an_unsafe_id_is_replaced(served: Served, bad: str) -> None:
    answer = await served.post(FEED, **{"X-Request-ID": bad})
    returned = answer.headers["x-request-id"]
    assert HEX32.fullmatch(returned)
    assert {h.get("X-Request-ID") for h in served.seen} == {returned}


async def test_refusals_carry_an_id_too(served: Served) -> None:
    answer = await served.client.post(
        "/graphql", json={"query": FEED}, headers={"X-Request-ID": "r-1"}
    )
    assert answer.status_code == 401
    assert answer.headers["x-request-id"] == "r-1"


async def test_the_audit_line_names_the_request(served: Served) -> None:
    body: dict[str, Any] = (await served.post(CANCEL, **{"X-Request-ID": "ops-cancel-1"})).json()
    assert body["data"]["cancelExecution"]["errors"]
    [line] = served.audit.read_text().splitlines()
    assert json.loads(line)["request_id"] == "ops-cancel-1"
