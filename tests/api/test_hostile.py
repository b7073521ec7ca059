"""Hostile input over HTTP: every one answered with a 4xx or a typed error, nothing echoed whole,
nothing forwarded to a backend, no 500 and no traceback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from execgate.api.ids import MAX_ID_LENGTH, encode
from execgate.app import create_app
from execgate.simulate.embedded import embedded
from tests.serving import serving

EXECUTION = "query($id: ID!) { execution(id: $id) { id status } }"
CANCEL = "mutation($id: ID!) { cancelExecution(id: $id) { errors { code message } } }"
FEED = """query($after: DateTime, $before: DateTime) {
  executions(first: 3, filter: {startedAfter: $after, startedBefore: $before}) {
    edges { node { id } }
  }
}"""


class Probe:
    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client = client
        self.app = app

    def sent(self) -> int:
        return sum(self.app.state.registry.calls().values())

    async def post(self, body: bytes | str) -> httpx.Response:
        content = body.encode() if isinstance(body, str) else body
        response = await self.client.post(
            "/graphql", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text and "INTERNAL" not in response.text
        return response

    async def ask(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.post(json.dumps({"query": query, "variables": variables}))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def probe() -> AsyncIterator[Probe]:
    demo = embedded(seed=3)
    app = create_app(demo.settings, transports=demo.transports)
    async with serving(app) as client:
        yield Probe(client, app)


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"query": "{ instances { name } }", "variables": ' + b'{"a":' * 1100 + b"1" + b"}" * 1101,
        b'{"query": "\xff\xfe { instances { name } }"}',
        b'{"query": ' + b"1" * 5000 + b"}",
        b"\x00\x01\x02",
    ],
    ids=["nested-array", "nested-variables", "not-utf8", "huge-number", "binary"],
)
async def test_a_body_that_is_not_a_graphql_request_is_a_400(probe: Probe, body: bytes) -> None:
    response = await probe.post(body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("native", ["²", "³", "9" * 5000, "1" * 19, "0x1f", "-1", "../../x"])
@pytest.mark.parametrize("instance", ["n8n-prod", "acme"])
async def test_an_odd_native_id_names_no_execution(
    probe: Probe, instance: str, native: str
) -> None:
    body = await probe.ask(EXECUTION, id=encode("Execution", f"{instance}:{native}"))
    if len(encode("Execution", f"{instance}:{native}")) > MAX_ID_LENGTH:
        assert _codes(body) == ["INVALID_ID"]
    else:
        assert body == {"data": {"execution": None}}


@pytest.mark.parametrize("size", [MAX_ID_LENGTH + 1, 100_000, 700_000])
async def test_a_long_id_is_refused_before_any_backend_sees_it(probe: Probe, size: int) -> None:
    before = probe.sent()
    raw = encode("Execution", "acme:" + "a" * size)
    for query in (EXECUTION, CANCEL):
        response = await probe.post(json.dumps({"query": query, "variables": {"id": raw}}))
        text = response.text
        assert len(text) < 1000, "the ID came back whole"
        assert "INVALID_ID" in text
    assert probe.sent() == before


async def test_a_long_instance_name_is_quoted_only_in_part(probe: Probe) -> None:
    query = "query($i: [String!]) { executions(first: 2, filter: {instances: $i}) { totalCount } }"
    body = await probe.ask(query, i=["z" * 10_000] * 20)
    assert _codes(body) == ["UNKNOWN_INSTANCE"]
    assert len(body["errors"][0]["message"]) < 200


async def test_several_operations_without_a_name_are_refused(probe: Probe) -> None:
    document = "query A { instances { name } } query B { instances { kind } }"
    body = await probe.ask(document)
    assert body["data"] is None and _codes(body) == ["BAD_REQUEST"]
    assert "operationName" in body["errors"][0]["message"]
    named = await probe.post(json.dumps({"query": document, "operationName": "B"}))
    assert {"kind"} == set(named.json()["data"]["instances"][0])
    single = await probe.ask("query Only { instances { name } }")
    assert "errors" not in single


@pytest.mark.parametrize(
    "moment", ["2026-12-01T00:00:00", "2026-12-01", "2026-12-01T10:00:00.123456"]
)
@pytest.mark.parametrize("side", ["after", "before"])
async def test_a_time_without_its_offset_is_bad_input(probe: Probe, moment: str, side: str) -> None:
    body = await probe.ask(FEED, **{side: moment})
    assert body["data"] is None and _codes(body) == ["BAD_USER_INPUT"]
    assert "2026-12-01T00:00:00Z" in body["errors"][0]["message"]
    field = "startedAfter" if side == "after" else "startedBefore"
    inline = f'{{ executions(first: 3, filter: {{{field}: "{moment}"}}) {{ edges {{ cursor }} }} }}'
    body = await probe.ask(inline)
    assert _codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("moment", ["2026-12-01T00:00:00Z", "2026-12-01T09:30:00+01:00"])
async def test_a_time_with_its_offset_filters(probe: Probe, moment: str) -> None:
    body = await probe.ask(FEED, before=moment)
    assert "errors" not in body
    assert len(body["data"]["executions"]["edges"]) == 3


async def test_several_operations_without_a_name_are_a_400_in_the_graphql_response_type(
    probe: Probe,
) -> None:
    response = await probe.client.post(
        "/graphql",
        json={"query": "query A { instances { name } } query B { instances { kind } }"},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
