"""Per-request loaders: what one request read is let go when its answer is built."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from execgate.api.loaders import Loaders
from execgate.app import gateway_app
from execgate.domain.keys import ExecutionKey
from execgate.service.gateway import Gateway
from tests.fakes import FakeBackend, make_execution

QUERY = "{ executions(first: 5) { edges { node { nativeId nodeExecutions { nodeName } } } } }"


@pytest.fixture
def no_cycle_collector() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _gateway() -> Gateway:
    return Gateway({"acme": FakeBackend("acme", [make_execution("acme", "1", minutes=1)])})


@pytest.mark.usefixtures("no_cycle_collector")
async def test_loaders_are_freed_by_reference_counting_alone() -> None:
    # given: loaders holding a primed execution
    loaders = Loaders(_gateway())
    loaders.prime(make_execution("acme", "1", minutes=1))
    alive = weakref.ref(loaders)

    # when
    del loaders

    # then: no reference cycle kept them (the cycle collector is off)
    assert alive() is None


async def test_release_drops_what_the_request_read() -> None:
    # given: one execution listed in full, one read through the loader
    gateway = _gateway()
    loaders = Loaders(gateway)
    listed = replace(make_execution("acme", "2", minutes=2), workflow_name="Sync")
    loaders.prime(listed)
    await loaders.execution_detail(ExecutionKey("acme", "1"))
    assert loaders.execution._cache and loaders._listed and loaders._named

    # when
    loaders.release()

    # then
    assert not loaders.execution._cache and not loaders.workflow._cache
    assert not loaders._listed and not loaders._named


async def test_listed_executions_and_names_are_answered_without_a_read() -> None:
    # given
    backend = FakeBackend("acme", [make_execution("acme", "1", minutes=1)])
    loaders = Loaders(Gateway({"acme": backend}))
    listed = replace(make_execution("acme", "2", minutes=2), workflow_name="Sync")
    loaders.prime(listed)

    # when
    detail = await loaders.execution_detail(listed.key)
    both = await loaders.executions([listed.key, ExecutionKey("acme", "1")])
    workflow = await loaders.workflow_of(listed.workflow_key)

    # then: only execution 1 was read, once
    assert detail is listed and both[0] is listed
    assert both[1] is not None and both[1].native_id == "1"
    assert workflow is not None and workflow.name == "Sync"
    assert backend.calls == 1


async def test_the_app_releases_each_requests_loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    released: list[int] = []
    original = Loaders.release

    def spy(self: Loaders) -> None:
        original(self)
        released.append(len(self.execution._cache) + len(self._listed))

    monkeypatch.setattr(Loaders, "release", spy)
    transport = httpx.ASGITransport(app=gateway_app(_gateway()))

    # when
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.post("/graphql", json={"query": QUERY})

    # then
    assert response.status_code == 200
    assert response.json()["data"]["executions"]["edges"][0]["node"]["nativeId"] == "1"
    assert released == [0]
