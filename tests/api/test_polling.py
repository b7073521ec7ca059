"""A dashboard polling the same page: the answer stays the same, the backend reads shrink."""

from __future__ import annotations

from typing import Any

import httpx

from execgate.backends.transport import Request, Response, Transport
from execgate.domain.access import ALL_ACTIONS
from tests.security.world import Grant, simulated, world

PAGE = """
{ executions(first: 20) { edges { node {
    id status errorMessage workflow { name }
    nodeExecutions { nodeName status inputData outputData }
} } } }
"""


class Recording:
    """A transport that keeps the URL of every request it passes on."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.requests: list[httpx.URL] = []

    async def send(self, request: Request) -> Response:
        self.requests.append(httpx.URL(request.url))
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _finished(body: dict[str, Any]) -> dict[str, Any]:
    nodes = [edge["node"] for edge in body["data"]["executions"]["edges"]]
    return {n["id"]: n for n in nodes if n["status"] in ("SUCCESS", "FAILED", "CANCELED")}


async def test_a_polled_n8n_page_is_listed_lean_and_answers_the_same() -> None:
    # given
    backends = simulated({"n8n-prod": "n8n"})
    recording = Recording(backends.transports["n8n-prod"])
    backends.transports["n8n-prod"] = recording
    async with world([Grant("ops", None, ALL_ACTIONS)], backends) as running:
        # when: the page, then the same page again
        first = await running.query(PAGE, as_client="ops")
        lists_first = [u for u in recording.requests if u.path.endswith("/executions")]
        recording.requests.clear()
        second = await running.query(PAGE, as_client="ops")
        lists_second = [u for u in recording.requests if u.path.endswith("/executions")]

    # then: the first read node data with the lists, the poll did not
    assert "errors" not in first and "errors" not in second
    assert lists_first and all(u.params.get("includeData") == "true" for u in lists_first)
    assert lists_second and all("includeData" not in u.params for u in lists_second)
    finished = _finished(first)
    assert finished and _finished(second) == finished
    assert any(n["nodeExecutions"] for n in finished.values())
    assert any(n["workflow"]["name"] for n in finished.values())
