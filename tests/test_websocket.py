"""What execgate adds to strawberry's graphql-transport-ws handler: the key checked at
``connection_init`` (and the scope it gives), and errors cleaned of secrets before they leave."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest

from execgate.api.context import build_context
from execgate.domain.access import Action, Scope
from execgate.security.clients import Client, ClientDirectory, hash_key, new_key
from execgate.security.middleware import ANONYMOUS, CLIENT_SCOPE_KEY, Refused
from execgate.security.ratelimit import RateLimiter
from execgate.security.redact import REDACTED, Redactor
from execgate.service.gateway import Gateway
from execgate.websocket import WebSocketGate
from tests.fakes import FakeBackend

SECRET = "backend-credential-1234567890"


def _gate(clients: list[Client]) -> tuple[WebSocketGate, Gateway]:
    gateway = Gateway({name: FakeBackend(name) for name in ("acme", "beta")})
    directory = ClientDirectory(clients)
    gate = WebSocketGate(lambda: gateway, directory, RateLimiter(clients), Redactor([SECRET]))
    return gate, gateway


def _connection(gateway: Gateway, scope: dict[str, Any] | None = None) -> Any:
    websocket = SimpleNamespace(
        scope={"path": "/graphql", "client": ("10.0.0.7", 1), **(scope or {})}
    )
    context = build_context(gateway.scoped(Scope.nothing()), websocket)
    return context, websocket


async def test_a_key_in_the_payload_gives_the_connection_its_clients_scope() -> None:
    key = new_key()
    client = Client("acme-team", hash_key(key), Scope.of("acme-team", ["acme"], [Action.READ]))
    gate, gateway = _gate([client])
    context, websocket = _connection(gateway)
    assert context.gateway.instances() == []  # before connection_init: nothing
    assert gate.admit(context, {"authorization": f"Bearer {key}"}) is None
    assert [i.name for i in context.gateway.instances()] == ["acme"]
    assert context.gateway.scope.client == "acme-team"
    assert websocket.scope[CLIENT_SCOPE_KEY] is client
    assert context.loaders is not None


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({}, "no client key"),
        ({"Authorization": 42}, "no client key"),
        ({"Authorization": "Token abc"}, "an Authorization parameter that is not 'Bearer <key>'"),
        ({"Authorization": "Bearer egk_unknown"}, "a client key that no client has"),
    ],
)
async def test_a_missing_or_wrong_key_is_refused_with_4401_and_one_log_line(
    payload: dict[str, Any], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate, gateway = _gate([Client("dash", hash_key(new_key()), Scope.full("dash"))])
    context, _ = _connection(gateway)
    with caplog.at_level(logging.WARNING, logger="execgate.security"):
        refused = gate.admit(context, payload)
    assert isinstance(refused, Refused)
    assert refused.code == 4401 and refused.reason.startswith("UNAUTHENTICATED: ")
    assert len(refused.reason.encode()) <= 123  # what a close frame can carry
    [line] = caplog.messages
    assert line == f"refused WebSocket /graphql from 10.0.0.7 with close 4401: {why}"
    assert context.gateway.instances() == []


async def test_the_anonymous_client_admitted_by_the_handshake_needs_no_key() -> None:
    gate, gateway = _gate([])
    context, _ = _connection(gateway, {CLIENT_SCOPE_KEY: ANONYMOUS})
    assert gate.admit(context, {}) is None
    assert len(context.gateway.instances()) == 2


def test_errors_leave_without_backend_secrets() -> None:
    gate, _ = _gate([])
    error = {"message": f"instance 'acme' answered {SECRET}", "extensions": {"code": "X"}}
    sent = gate.clean(
        cast(Any, {"id": "1", "type": "next", "payload": {"data": None, "errors": [error]}})
    )
    assert SECRET not in str(sent) and REDACTED in str(sent)
    refused = gate.clean(cast(Any, {"id": "2", "type": "error", "payload": [error]}))
    assert SECRET not in str(refused)
    plain = {"id": "3", "type": "next", "payload": {"data": {"x": SECRET}}}
    assert gate.clean(cast(Any, plain)) is plain  # data is the client's own business
