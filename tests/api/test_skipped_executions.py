"""A record an instance lists but execgate cannot read is left out of the page and named in
``skippedExecutions`` (with an error beside the data); every other execution is served."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from execgate.app import create_app
from execgate.simulate.embedded import embedded
from execgate.simulate.inprocess import InProcessTransport
from tests.serving import serving

PAGE = """query Page($first: Int!, $instances: [String!]) {
  executions(first: $first, filter: {instances: $instances}) {
    edges { node { nativeId instance { name } } }
    skippedInstances { instance }
    skippedExecutions { instance nativeId reason }
  }
}"""


def spoiling(app: Any, spoil: Any) -> Any:
    """``app`` with ``spoil`` applied to the JSON body of every answer to a read."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                held["start"] = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            with contextlib.suppress(ValueError):
                body = json.dumps(spoil(json.loads(body))).encode()
            headers = [(k, v) for k, v in held["start"]["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**held["start"], "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, capture)

    return wrapped


def _spoil(target: str) -> Any:
    """Breaks the record of ``target`` wherever a list carries it (either kind's shape)."""

    def spoil(body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        for item in body.get("content") or body.get("data") or []:
            if str(item.get("id")) == target:
                item["startedAt"] = "the day after tomorrow"
                item["status"] = {"not": "a status"}
        return body

    return spoil


@pytest.mark.parametrize("instance", ["acme", "n8n-prod"])
async def test_an_unreadable_record_costs_only_itself(instance: str) -> None:
    demo = embedded(seed=5)
    plain = create_app(demo.settings, transports=demo.transports)
    async with serving(plain) as client:
        variables = {"first": 8, "instances": [instance]}
        answer = await client.post("/graphql", json={"query": PAGE, "variables": variables})
        before = [e["node"]["nativeId"] for e in answer.json()["data"]["executions"]["edges"]]

    spoil = _spoil(before[1])
    transports = dict(demo.transports)
    inner = transports[instance]
    assert isinstance(inner, InProcessTransport)
    transports[instance] = InProcessTransport(spoiling(inner.app, spoil))
    async with serving(create_app(demo.settings, transports=transports)) as client:
        answer = await client.post("/graphql", json={"query": PAGE, "variables": variables})
    body = answer.json()
    page = body["data"]["executions"]
    served = [e["node"]["nativeId"] for e in page["edges"]]
    [odd] = page["skippedExecutions"]
    assert odd["instance"] == instance and odd["nativeId"] == before[1]
    assert odd["reason"]
    assert page["skippedInstances"] == []
    assert before[1] not in served
    assert [i for i in before if i != before[1]] == served[: len(before) - 1]
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UPSTREAM_BAD_RESPONSE", "instance": instance}
    assert error["path"] == ["executions"]
