"""The gateway with its MCP tools on a real socket, over simulators on real sockets.

``mcp_gateway`` starts a team-style and an n8n-style simulator, each behind a ``FaultProxy``
that counts what reaches it (``tests/faults/backends.py``), with their clocks frozen so nothing
changes between two reads; then the gateway app (``create_app``) under uvicorn on 127.0.0.1,
with API clients of different scopes and an audit file. ``McpGateway.session(client)`` is the
official ``mcp`` Python client over streamable HTTP with that client's key;
``graphql`` asks ``/graphql`` the same server.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from execgate.app import create_app
from execgate.config import AuditSettings, ClientSettings, MCPSettings, Settings
from execgate.domain.access import ALL_ACTIONS
from execgate.security.clients import hash_key, new_key
from execgate.simulate.server import BackgroundServer
from tests.faults.backends import FaultyBackend, faulty_backend
from tests.security.world import Grant

GRANTS = (
    Grant("operator", actions=ALL_ACTIONS),
    Grant("reader"),
    Grant("team-reader", instances=("team",)),
    Grant("n8n-operator", instances=("n8n",), actions=ALL_ACTIONS),
)


@dataclass
class McpGateway:
    url: str
    keys: dict[str, str]
    backends: dict[str, FaultyBackend]
    audit_path: Path
    settings: Settings
    app: Any
    secrets: list[str] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def session(self, client: str = "operator", **options: Any) -> AsyncIterator[Client]:
        """The official MCP client, connected with ``client``'s key."""
        headers = {"Authorization": f"Bearer {self.keys[client]}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(self.url + "/mcp", http_client=http), **options) as c,
        ):
            yield c

    def graphql(self, query: str, client: str = "operator", **variables: Any) -> dict[str, Any]:
        response = httpx.post(
            self.url + "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.keys[client]}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        text = self.audit_path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def mutations_reached(self) -> dict[str, int]:
        """Requests other than GET that reached each backend."""
        return {
            name: sum(1 for line in b.proxy.forwarded if not line.startswith("GET "))
            for name, b in self.backends.items()
        }


def structured(result: Any) -> dict[str, Any]:
    """A successful tool result's structured content, checked against its JSON text."""
    assert not result.is_error, result.content
    data: dict[str, Any] = result.structured_content
    assert json.loads(result.content[0].text) == data
    return data


def error_text(result: Any) -> str:
    """A tool error's text (``CODE: message``)."""
    assert result.is_error, result.structured_content
    text: str = result.content[0].text
    return text


@contextlib.contextmanager
def mcp_gateway(
    tmp_path: Path,
    *,
    grants: Sequence[Grant] = GRANTS,
    mcp: MCPSettings | None = None,
    executions: int = 120,
    **settings: Any,
) -> Iterator[McpGateway]:
    """The gateway over a team-style instance ``team`` and an n8n instance ``n8n``."""
    with (
        faulty_backend("team", seed=41, executions=executions) as team,
        faulty_backend("n8n", seed=42, executions=executions) as n8n,
    ):
        backends = {"team": team, "n8n": n8n}
        for backend in backends.values():
            frozen = backend.store.now()
            backend.store.clock = lambda at=frozen: at
        keys = {g.name: new_key() for g in grants}
        clients = tuple(
            ClientSettings(
                name=g.name,
                key_sha256=hash_key(keys[g.name]),
                instances=g.instances,
                actions=g.actions,
                rate_per_second=g.rate_per_second,
                burst=g.burst,
            )
            for g in grants
        )
        audit_path = tmp_path / "audit.jsonl"
        built = Settings(
            instances=tuple(b.instance(name) for name, b in backends.items()),
            clients=clients,
            audit=AuditSettings(path=str(audit_path)),
            mcp=mcp or MCPSettings(),
            source="test",
            **settings,
        )
        app = create_app(built)
        secrets = [b.credential for b in backends.values()] + [b.url for b in backends.values()]
        with BackgroundServer(app) as server:
            yield McpGateway(server.base_url, keys, backends, audit_path, built, app, secrets)


def without_secrets(gateway: McpGateway, *texts: str) -> None:
    """No backend credential or address in any of ``texts``."""
    for text in texts:
        for secret in gateway.secrets:
            assert secret not in text


def by_key(items: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(str(i["instance"]), str(i["id"])) for i in items]
