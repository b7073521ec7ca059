"""The federation subgraph over simulated instances: ``_service``, ``_entities``, scopes, reads.

``ops`` sees every instance; ``dash`` sees acme and n8n-prod only. Entities are resolved the way
``node(id:)`` resolves IDs, so most tests hold ``_entities`` against ``nodes(ids:)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from execgate.api import ids
from execgate.api.schema import export_schema
from execgate.config import HTTPSettings, InstanceSettings, LimitSettings
from execgate.domain.access import ALL_ACTIONS
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import BackendKind
from execgate.simulate.data import ACTIVE_STATUSES
from execgate.simulate.generate import generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer, free_port
from tests.security.world import READ, Backends, Grant, World, demo_backends, world

GRANTS = [Grant("ops", None, ALL_ACTIONS), Grant("dash", ("acme", "n8n-prod"), READ)]
INSTANCES = ("acme", "n8n-prod", "n8n-staging")

SELECTION = """
    __typename
    ... on Execution { id status workflow { id } nodeExecutions { id nodeName status } }
    ... on NodeExecution { id nodeName status }
    ... on Instance { id name kind }
    ... on Workflow { id workflowName: name }
"""
ENTITIES = f"""
query Entities($representations: [_Any!]!) {{
  _entities(representations: $representations) {{ {SELECTION} }}
}}
"""
NODES = f"query Nodes($ids: [ID!]!) {{ nodes(ids: $ids) {{ {SELECTION} }} }}"


def execution_id(instance: str, native_id: str) -> str:
    return ids.encode("Execution", ExecutionKey(instance, native_id).encode())


def finished(backends: Backends, instance: str, count: int) -> list[str]:
    """Global IDs of ``count`` finished executions of ``instance`` (cacheable once read)."""
    done = [
        e.id
        for e in backends.stores[instance].visible()
        if e.status not in ACTIVE_STATUSES and e.finished_at is not None
    ]
    assert len(done) >= count
    return [execution_id(instance, native) for native in sorted(done)[:count]]


def representation(type_name: str, global_id: object) -> dict[str, Any]:
    return {"__typename": type_name, "id": global_id}


def spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after}


def codes(body: dict[str, Any]) -> dict[int, str]:
    """Index of the representation → the code of its error."""
    return {e["path"][1]: e["extensions"]["code"] for e in body.get("errors") or ()}


@pytest.fixture
async def subgraph() -> AsyncIterator[World]:
    async with world(GRANTS, federation=True) as running:
        yield running


async def test_service_answers_the_subgraph_sdl_with_its_federation_link(subgraph: World) -> None:
    # when
    body = await subgraph.query("{ _service { sdl } }", as_client="dash")
    # then: the SDL that `execgate export-schema --federation` prints, a Federation 2 schema
    sdl = body["data"]["_service"]["sdl"]
    assert sdl == export_schema(federation=True)
    assert sdl.startswith(
        'schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@key", "@shareable"]) {'
    )
    for entity in ("Execution", "NodeExecution", "Instance", "Workflow"):
        assert f'type {entity} implements Node @key(fields: "id") {{' in sdl
    assert "type PageInfo @shareable {" in sdl
    assert "_entities(representations: [_Any!]!): [_Entity]!" in sdl


async def test_the_public_schema_has_no_federation_fields() -> None:
    async with world(GRANTS) as public:
        body = await public.query("{ _service { sdl } }", as_client="ops")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_each_entity_type_resolves_as_nodes_resolves_its_id(subgraph: World) -> None:
    # given: one object of each entity type
    [execution] = finished(subgraph.backends, "n8n-prod", 1)
    found = await subgraph.query(
        "query($id: ID!) { execution(id: $id) { workflow { id } nodeExecutions { id } } }",
        as_client="ops",
        id=execution,
    )
    detail = found["data"]["execution"]
    wanted = [
        ("Execution", execution),
        ("NodeExecution", detail["nodeExecutions"][0]["id"]),
        ("Instance", ids.encode("Instance", "acme")),
        ("Workflow", detail["workflow"]["id"]),
    ]
    # when
    entities = await subgraph.query(
        ENTITIES, as_client="ops", representations=[representation(*w) for w in wanted]
    )
    nodes = await subgraph.query(NODES, as_client="ops", ids=[w[1] for w in wanted])
    # then: every one, in order, exactly what nodes(ids:) answers
    assert "errors" not in entities, entities
    answered = entities["data"]["_entities"]
    assert [e["__typename"] for e in answered] == [w[0] for w in wanted]
    assert [e["id"] for e in answered] == [w[1] for w in wanted]
    assert answered == nodes["data"]["nodes"]
    assert answered[2] == {
        "__typename": "Instance",
        "id": wanted[2][1],
        "name": "acme",
        "kind": "TEAM",
    }


async def test_a_hundred_representations_read_each_execution_once(subgraph: World) -> None:
    # given: 100 representations over three instances: 20 executions each, 40 of them twice
    distinct = [i for name in INSTANCES for i in finished(subgraph.backends, name, 20)]
    wanted = [distinct[(7 * n) % 60] for n in range(100)]
    assert (len(wanted), len(set(wanted))) == (100, 60)
    before = subgraph.calls()
    # when
    body = await subgraph.query(
        ENTITIES,
        as_client="ops",
        representations=[representation("Execution", i) for i in wanted],
    )
    first = spent(before, subgraph.calls())
    again = await subgraph.query(
        ENTITIES,
        as_client="ops",
        representations=[representation("Execution", i) for i in wanted],
    )
    second = spent(before, subgraph.calls())
    # then: one read per distinct execution, none for a duplicate, none once cached
    assert "errors" not in body, body
    assert [e["id"] for e in body["data"]["_entities"]] == wanted
    assert first == {"acme": 20, "n8n-prod": 20, "n8n-staging": 20}
    assert again["data"] == body["data"]
    assert second == first


class PeakApp:
    """An ASGI app in front of a simulator, noting how many requests it served at once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.now = 0
        self.peak = 0
        self.served = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.now += 1
        self.served += 1
        self.peak = max(self.peak, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


async def test_the_reads_of_one_instance_go_out_together_bounded_by_its_concurrency() -> None:
    # given: an n8n simulator over a real socket taking 5 ms an answer, and the gateway
    # allowed 3 requests at a time to it
    store = generate_store(3, style="n8n", executions=80)
    peak = PeakApp(create_n8n_app(store, api_key="sim-key", latency_ms=5))
    with BackgroundServer(peak) as server:
        instance = InstanceSettings(
            name="n8n-prod",
            kind=BackendKind.N8N,
            base_url=server.base_url,
            credential="sim-key",
            http=HTTPSettings(max_concurrency=3),
        )
        backends = Backends((instance,), {}, {"n8n-prod": store}, {"n8n-prod": "sim-key"})
        async with world(GRANTS, backends, federation=True) as running:
            wanted = finished(backends, "n8n-prod", 12)
            # when
            body = await running.query(
                ENTITIES,
                as_client="ops",
                representations=[representation("Execution", i) for i in wanted],
            )
    # then: the twelve reads went out together, never more than three at a time
    assert "errors" not in body, body
    assert peak.served == 12
    assert peak.peak == 3


async def test_an_instance_out_of_scope_is_null_and_its_backend_receives_nothing(
    subgraph: World,
) -> None:
    # given: executions of each instance, asked for by a client who does not see n8n-staging
    wanted = [i for name in INSTANCES for i in finished(subgraph.backends, name, 2)]
    wanted.append(ids.encode("Instance", "n8n-staging"))
    types = ["Execution"] * 6 + ["Instance"]
    before = subgraph.calls()
    # when
    body = await subgraph.query(
        ENTITIES,
        as_client="dash",
        representations=[representation(t, i) for t, i in zip(types, wanted, strict=True)],
    )
    calls = spent(before, subgraph.calls())
    nodes = await subgraph.query(NODES, as_client="dash", ids=wanted)
    # then: null, no error, nothing sent to n8n-staging; exactly as node(id:) answers
    assert "errors" not in body, body
    answered = body["data"]["_entities"]
    assert [e is None for e in answered] == [False] * 4 + [True] * 3
    assert calls["n8n-staging"] == 0
    assert (calls["acme"], calls["n8n-prod"]) == (2, 2)
    assert answered == nodes["data"]["nodes"]


async def test_an_id_that_names_nothing_is_null_without_an_error(subgraph: World) -> None:
    wanted = [
        execution_id("n8n-prod", "999999"),
        execution_id("nowhere", "1"),
        ids.encode("Instance", "nowhere"),
        ids.encode("Workflow", "n8n-prod:no-such-workflow"),
    ]
    types = ["Execution", "Execution", "Instance", "Workflow"]
    body = await subgraph.query(
        ENTITIES,
        as_client="ops",
        representations=[representation(t, i) for t, i in zip(types, wanted, strict=True)],
    )
    assert body == {"data": {"_entities": [None, None, None, None]}}


async def test_a_malformed_id_is_null_with_invalid_id_and_the_rest_resolve(
    subgraph: World,
) -> None:
    [good] = finished(subgraph.backends, "acme", 1)
    representations = [
        representation("Execution", "not-an-id"),
        representation("Execution", ids.encode("Workflow", "acme:w1")),  # another type's ID
        representation("NodeExecution", ids.encode("NodeExecution", "acme")),  # too short
        {"__typename": "Instance"},  # no id
        representation("Workflow", 42),
        representation("Execution", good),
    ]
    body = await subgraph.query(ENTITIES, as_client="ops", representations=representations)
    answered = body["data"]["_entities"]
    assert answered[:5] == [None] * 5
    assert answered[5]["id"] == good
    assert codes(body) == dict.fromkeys(range(5), "INVALID_ID")


async def test_a_representation_of_no_entity_is_null_with_bad_user_input(
    subgraph: World,
) -> None:
    instance = ids.encode("Instance", "acme")
    representations: list[Any] = [
        representation("Incident", instance),
        representation("PageInfo", instance),
        {"id": instance},
        "Instance:acme",
        representation("Instance", instance),
    ]
    body = await subgraph.query(ENTITIES, as_client="ops", representations=representations)
    answered = body["data"]["_entities"]
    assert answered[:4] == [None] * 4
    assert answered[4]["name"] == "acme"
    assert codes(body) == dict.fromkeys(range(4), "BAD_USER_INPUT")
    assert "'Incident' is not an entity of this subgraph" in body["errors"][0]["message"]


async def test_a_failing_instance_fails_only_its_own_representations() -> None:
    # given: the demo's instances and one more whose address answers nothing
    demo = demo_backends()
    down = InstanceSettings(
        name="down",
        kind=BackendKind.N8N,
        base_url=f"http://127.0.0.1:{free_port()}",
        credential="unused-key",
    )
    backends = dataclasses.replace(demo, instances=(*demo.instances, down))
    async with world(GRANTS, backends, federation=True) as running:
        [good] = finished(backends, "acme", 1)
        wanted = [good, execution_id("down", "1"), execution_id("down", "2")]
        # when
        body = await running.query(
            ENTITIES,
            as_client="ops",
            representations=[representation("Execution", i) for i in wanted],
        )
    # then: a partial answer, the failure coded and named
    answered = body["data"]["_entities"]
    assert answered[0]["id"] == good
    assert answered[1:] == [None, None]
    assert codes(body) == {1: "UPSTREAM_UNAVAILABLE", 2: "UPSTREAM_UNAVAILABLE"}
    assert {e["extensions"]["instance"] for e in body["errors"]} == {"down"}


async def test_entities_are_priced_like_nodes_by_how_many_are_asked() -> None:
    # given: a limit of 12 backend calls; each entity below costs 2 (itself, a workflow name)
    document = """
    query Entities($representations: [_Any!]!) {
      _entities(representations: $representations) { ... on Execution { workflow { name } } }
    }"""
    nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Execution { workflow { name } } } }"
    async with world(GRANTS, federation=True, limits=LimitSettings(max_backend_calls=12)) as gw:
        wanted = finished(gw.backends, "n8n-prod", 7)
        reps = [representation("Execution", i) for i in wanted]
        before = gw.calls()
        # when: six pass, then seven with the same document (its pass is not reused)
        passed = await gw.query(document, as_client="ops", representations=reps[:6])
        refused = await gw.query(document, as_client="ops", representations=reps)
        refused_nodes = await gw.query(nodes, as_client="ops", ids=wanted)
        calls = spent(before, gw.calls())
    # then
    assert "errors" not in passed, passed
    assert calls["n8n-prod"] == 6
    for body in (refused, refused_nodes):
        assert body["data"] is None
        [error] = body["errors"]
        assert error["extensions"] == {"code": "QUERY_TOO_EXPENSIVE", "estimate": 14, "limit": 12}
