"""execgate behind a real federated gateway from npm, beside another team's subgraph.

execgate serves the federation subgraph over the embedded demo's simulators plus ``n8n-edge``,
an instance whose address answers nothing. The incidents subgraph (``node/incidents.cjs``)
points its incidents at executions of each instance. The gateway forwards each client's
``Authorization`` header to execgate, so each client sees only its own instances:

- ``ops``: acme, n8n-prod, n8n-staging; ``dash``: acme, n8n-prod; ``oncall``: all four.

Gateways: Apollo Gateway (``@apollo/gateway`` with ``@apollo/server``, over the supergraph
``@apollo/composition`` makes) and Hive Gateway (``@graphql-hive/gateway``, over the one
``@theguild/federation-composition`` makes, configured with the README's ``gateway.config.ts``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from execgate.api import ids
from execgate.api.schema import export_schema
from execgate.app import create_app
from execgate.config import ClientSettings, InstanceSettings, ServerSettings, Settings
from execgate.domain.access import Action
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import BackendKind
from execgate.security.clients import hash_key, new_key
from execgate.simulate.data import ACTIVE_STATUSES
from execgate.simulate.embedded import embedded
from execgate.simulate.server import BackgroundServer, free_port
from tests.federation.npm import NODE_DIR, Packages
from tests.federation.processes import running
from tests.federation.supergraph import INCIDENTS_SDL, compose

REPO = Path(__file__).resolve().parents[2]
SCOPES: dict[str, tuple[str, ...]] = {
    "ops": ("acme", "n8n-prod", "n8n-staging"),
    "dash": ("acme", "n8n-prod"),
    "oncall": ("acme", "n8n-prod", "n8n-staging", "n8n-edge"),
}
AS_IN_THE_ISSUE = (
    "{ incidents { title execution { status workflow { name } "
    "nodeExecutions { nodeName status } } } }"
)
INCIDENTS = "{ incidents { id title execution { id status } } }"
EXECUTIONS = "{ executions(first: 20) { edges { node { id status ticket { url } } } } }"


@dataclass
class Execgate:
    url: str
    app: Any
    keys: dict[str, str]
    incidents: list[dict[str, Any]]

    def calls(self) -> dict[str, int]:
        found: dict[str, int] = self.app.state.registry.calls()
        return found

    def query(self, document: str, client: str, **variables: Any) -> dict[str, Any]:
        """Asked of execgate itself, for comparison."""
        return _post(self.url, document, self.keys[client], variables)


def _post(url: str, document: str, key: str | None, variables: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(
        url, json={"query": document, "variables": variables}, headers=headers, timeout=30
    )
    body: dict[str, Any] = response.json()
    return body


def _execution_id(instance: str, native_id: str) -> str:
    return ids.encode("Execution", ExecutionKey(instance, native_id).encode())


@pytest.fixture(scope="module")
def execgate() -> Iterator[Execgate]:
    demo = embedded(7)
    edge = InstanceSettings(
        name="n8n-edge",
        kind=BackendKind.N8N,
        base_url=f"http://127.0.0.1:{free_port()}",
        credential="edge-key",
    )
    keys = {name: new_key() for name in SCOPES}
    clients = tuple(
        ClientSettings(name, hash_key(keys[name]), scope, frozenset({Action.READ}))
        for name, scope in SCOPES.items()
    )
    settings = Settings(
        instances=(*demo.settings.instances, edge),
        clients=clients,
        server=ServerSettings(federation=True),
        source="federation test",
    )

    def finished(instance: str) -> str:
        store = demo.stores[instance]
        done = sorted(e.id for e in store.visible() if e.status not in ACTIVE_STATUSES)
        return _execution_id(instance, done[0])

    incidents = [
        {"id": "inc-1", "title": "Checkout sync failed", "executionId": finished("acme")},
        {"id": "inc-2", "title": "KPI report late", "executionId": finished("n8n-prod")},
        {"id": "inc-3", "title": "Staging lead lost", "executionId": finished("n8n-staging")},
        {"id": "inc-4", "title": "Edge sync stuck", "executionId": _execution_id("n8n-edge", "7")},
        {"id": "inc-5", "title": "Unrelated outage", "executionId": None},
    ]
    app = create_app(settings, transports=demo.transports)
    with BackgroundServer(app) as server:
        yield Execgate(f"{server.base_url}/graphql", app, keys, incidents)


@pytest.fixture(scope="module")
def incidents_url(
    execgate: Execgate, apollo: Packages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("incidents")
    data = folder / "incidents.json"
    data.write_text(json.dumps(execgate.incidents))
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    node = shutil.which("node") or "node"
    argv = [node, str(NODE_DIR / "incidents.cjs"), str(INCIDENTS_SDL), str(data), str(port)]
    with running(argv, cwd=folder, env=apollo.env(), log=folder / "incidents.log", ready=url):
        yield url


@dataclass
class Gateway:
    name: str
    url: str
    execgate: Execgate

    def query(self, document: str, client: str | None, **variables: Any) -> dict[str, Any]:
        key = self.execgate.keys[client] if client else None
        return _post(self.url, document, key, variables)


def _supergraph(packages: Packages, folder: Path, execgate: Execgate, incidents: str) -> Any:
    result = compose(
        packages,
        folder,
        {
            "execgate": (execgate.url, export_schema(federation=True)),
            "incidents": (incidents, INCIDENTS_SDL.read_text()),
        },
    )
    assert result["apollo"]["errors"] == [] and result["guild"]["errors"] == [], result
    return result


def readme_block(language: str, marker: str) -> str:
    """The README's ``language`` code block that holds ``marker``."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for block in re.findall(rf"```{language}\n(.*?)```", readme, flags=re.DOTALL):
        if marker in block:
            return str(block)
    raise AssertionError(f"no {language} block with {marker!r} in the README")


HIVE_CONFIG_MARKER = "propagateHeaders"


@pytest.fixture(scope="module", params=["apollo", "hive"])
def gateway(
    request: pytest.FixtureRequest,
    execgate: Execgate,
    incidents_url: str,
    apollo: Packages,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    """The gateway on 127.0.0.1, over a supergraph composed for this run's addresses."""
    name = request.param
    folder = tmp_path_factory.mktemp(f"gateway-{name}")
    composed = _supergraph(apollo, folder, execgate, incidents_url)
    supergraph = folder / "supergraph.graphql"
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    node = shutil.which("node") or "node"
    if name == "apollo":
        supergraph.write_text(composed["apollo"]["supergraphSdl"])
        argv = [node, str(NODE_DIR / "apollo_gateway.cjs"), str(supergraph), str(port)]
        env = apollo.env()
    else:
        hive: Packages = request.getfixturevalue("hive")
        supergraph.write_text(composed["guild"]["supergraphSdl"])
        # the README's configuration, as written
        (folder / "gateway.config.ts").write_text(readme_block("ts", HIVE_CONFIG_MARKER))
        (folder / "node_modules").symlink_to(hive.modules)
        argv = [node, str(hive.bin("hive-gateway")), "supergraph", str(supergraph)]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        env = hive.env()
    with running(argv, cwd=folder, env=env, log=folder / "gateway.log", ready=url):
        yield Gateway(name, url, execgate)


def _by_id(body: dict[str, Any]) -> dict[str, Any]:
    return {incident["id"]: incident for incident in body["data"]["incidents"]}


def _only_null_entity_errors(gateway: Gateway, body: dict[str, Any], nulls: set[int]) -> None:
    """No error, except (Hive Gateway only) its own about the missing entities' non-null
    fields, at ``incidents.<n>.execution`` for the incidents in ``nulls``; never one of
    execgate's codes."""
    errors = body.get("errors") or []
    if gateway.name == "apollo":
        assert errors == [], body
    for error in errors:
        path = error.get("path") or []
        assert path[:1] == ["incidents"] and path[1] in nulls and path[2] == "execution", body
        assert (error.get("extensions") or {}).get("code") in (None, "INTERNAL_SERVER_ERROR")


def _codes(body: dict[str, Any]) -> set[str]:
    return {(e.get("extensions") or {}).get("code") for e in body.get("errors") or ()}


def _spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


def test_incidents_carry_execgates_execution_data(gateway: Gateway) -> None:
    # when
    body = gateway.query(AS_IN_THE_ISSUE, "ops")
    # then: each incident's execution as execgate itself answers it
    _only_null_entity_errors(gateway, body, {3})
    answered = body["data"]["incidents"]
    assert [i["title"] for i in answered] == [i["title"] for i in gateway.execgate.incidents]
    direct = gateway.execgate.query(
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Execution { status "
        "workflow { name } nodeExecutions { nodeName status } } } }",
        "ops",
        ids=[i["executionId"] for i in gateway.execgate.incidents[:3]],
    )
    executions = [incident["execution"] for incident in answered]
    assert executions[:3] == direct["data"]["nodes"]
    assert all(e["nodeExecutions"] and e["workflow"]["name"] for e in executions[:3])
    # n8n-edge is outside ops' scope; inc-5 points at nothing
    assert executions[3:] == [None, None]


def test_executions_carry_the_other_subgraphs_ticket(gateway: Gateway) -> None:
    # when
    body = gateway.query(EXECUTIONS, "ops")
    # then: execgate's page, each execution with the incidents subgraph's ticket
    assert "errors" not in body, body
    nodes = [edge["node"] for edge in body["data"]["executions"]["edges"]]
    direct = gateway.execgate.query(
        "{ executions(first: 20) { edges { node { id status } } } }", "ops"
    )
    assert [{"id": n["id"], "status": n["status"]} for n in nodes] == [
        edge["node"] for edge in direct["data"]["executions"]["edges"]
    ]
    assert len(nodes) == 20
    for node in nodes:
        assert (
            node["ticket"]["url"]
            == f"https://tickets.example.com/execution/{quote(node['id'], safe='')}"
        )


def test_an_execution_out_of_scope_is_null_and_its_backend_receives_nothing(
    gateway: Gateway,
) -> None:
    # given
    before = gateway.execgate.calls()
    # when: dash does not see n8n-staging (nor n8n-edge)
    body = gateway.query(INCIDENTS, "dash")
    spent = _spent(before, gateway.execgate.calls())
    # then
    _only_null_entity_errors(gateway, body, {2, 3})
    found = _by_id(body)
    assert found["inc-1"]["execution"]["id"] == gateway.execgate.incidents[0]["executionId"]
    assert found["inc-2"]["execution"]["id"] == gateway.execgate.incidents[1]["executionId"]
    assert (found["inc-3"]["execution"], found["inc-4"]["execution"]) == (None, None)
    assert (spent["n8n-staging"], spent["n8n-edge"]) == (0, 0)


def test_a_backend_that_is_down_yields_a_partial_answer_with_execgates_codes(
    gateway: Gateway,
) -> None:
    # when: oncall sees n8n-edge, whose address answers nothing
    incidents = gateway.query(INCIDENTS, "oncall")
    page = gateway.query(
        "{ executions(first: 5) { skippedInstances { instance code } "
        "edges { node { id ticket { url } } } } }",
        "oncall",
    )
    # then: the other incidents and executions answer; execgate's code reaches the client
    found = _by_id(incidents)
    assert found["inc-4"]["execution"] is None
    assert all(found[f"inc-{n}"]["execution"] is not None for n in (1, 2, 3))
    assert "UPSTREAM_UNAVAILABLE" in _codes(incidents)
    upstream = [
        e for e in incidents["errors"] if e["extensions"].get("code") == "UPSTREAM_UNAVAILABLE"
    ]
    assert {e["extensions"]["instance"] for e in upstream} == {"n8n-edge"}
    assert {tuple(e["path"][:2]) for e in upstream} == {("incidents", 3)}
    assert page["data"]["executions"]["skippedInstances"] == [
        {"instance": "n8n-edge", "code": "UPSTREAM_UNAVAILABLE"}
    ]
    assert len(page["data"]["executions"]["edges"]) == 5
    assert all(e["node"]["ticket"]["url"] for e in page["data"]["executions"]["edges"])
    if gateway.name == "apollo":
        # Hive Gateway drops an error whose path leads to a value that is not null (a page
        # served in part); skippedInstances above carries the code through either gateway
        assert "UPSTREAM_UNAVAILABLE" in _codes(page)


def test_without_the_clients_key_execgate_reads_nothing(gateway: Gateway) -> None:
    before = gateway.execgate.calls()
    body = gateway.query(EXECUTIONS, None)
    assert body.get("data") is None or body["data"].get("executions") is None
    assert body["errors"]
    assert _spent(before, gateway.execgate.calls()) == dict.fromkeys(before, 0)


def test_relay_node_reaches_the_other_subgraphs_fields(gateway: Gateway) -> None:
    execution = gateway.execgate.incidents[0]["executionId"]
    body = gateway.query(
        "query($id: ID!) { node(id: $id) { id ... on Execution { status ticket { url } } } }",
        "ops",
        id=execution,
    )
    assert "errors" not in body, body
    assert body["data"]["node"]["id"] == execution
    assert body["data"]["node"]["ticket"]["url"].endswith(quote(execution, safe=""))
