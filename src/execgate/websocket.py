"""graphql-transport-ws on ``/graphql``: strawberry's own handler, with execgate's rules.

Strawberry speaks the protocol (``BaseGraphQLTransportWSHandler``); ``TransportWS`` adds, through
its public methods and each time before handing on to them:

- the client key, when ``connection_init`` comes (``security.middleware.connection_client``): a
  refusal closes the socket with 4401 or 4403 and a reason starting with the code
  (``UNAUTHENTICATED: …``); an admitted client's scope becomes the connection's gateway;
- the client's rate limit, one token per operation (``subscribe``): an empty bucket answers
  that operation with an ``error`` message (``RATE_LIMITED``, ``retryAfter``), and so does an
  operation over the connection's limit (``TOO_MANY_SUBSCRIPTIONS``; strawberry's own refusal
  of it carries no code);
- every message sent: errors stripped of backend credentials and addresses, as HTTP answers are,
  and sent as a text frame, as the protocol wants (``TextFrames``: the view encodes JSON to
  bytes for HTTP, which strawberry's adapter would send as a binary frame).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from execgate.api.context import Context
from execgate.api.loaders import Loaders
from execgate.security.clients import ClientDirectory
from execgate.security.middleware import CLIENT_SCOPE_KEY, Refused, connection_client
from execgate.security.ratelimit import RateLimiter, retry_after_seconds
from execgate.security.redact import Redactor
from execgate.service.gateway import Gateway


class WebSocketGate:
    """What ``TransportWS`` asks of the gateway's side: who a connection is, how fast it may
    go, what it may be told."""

    def __init__(
        self,
        gateway: Callable[[], Gateway],
        directory: ClientDirectory,
        limiter: RateLimiter,
        redactor: Redactor,
    ) -> None:
        self.gateway = gateway
        self.directory = directory
        self.limiter = limiter
        self.redactor = redactor

    def admit(self, context: Context, payload: Mapping[str, Any]) -> Refused | None:
        """Give the connection its client's scope, or say why not."""
        websocket = context.request
        found = connection_client(self.directory, payload, websocket.scope)
        if isinstance(found, Refused):
            return found
        websocket.scope[CLIENT_SCOPE_KEY] = found
        context.gateway = self.gateway().scoped(found.scope)
        context.loaders = Loaders(context.gateway)
        return None

    def throttle(self, context: Context) -> float:
        """Seconds the connection's client must wait before its next operation (0: none)."""
        return self.limiter.check(context.gateway.scope.client)

    def clean(self, message: Message) -> Message:
        payload = cast("Mapping[str, Any]", message).get("payload")
        if message["type"] == "next" and isinstance(payload, dict) and payload.get("errors"):
            payload = {**payload, "errors": self.redactor.clean_value(payload["errors"])}
            return cast("Message", {**message, "payload": payload})
        if message["type"] == "error" and isinstance(payload, list):
            return cast("Message", {**message, "payload": self.redactor.clean_value(payload)})
        return message


class TextFrames(ASGIWebSocketAdapter):
    """Strawberry's WebSocket adapter, sending every message as a text frame."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class TransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler under ``WebSocketGate`` (module docstring)."""

    @property
    def gate(self) -> WebSocketGate:
        gate = getattr(self.view, "gate", None)
        assert isinstance(gate, WebSocketGate), "the view serving WebSockets has no gate"
        return gate

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload", {})
        if not self.connection_init_received and isinstance(payload, dict):
            refused = self.gate.admit(self.context, payload)
            if refused is not None:
                self.connection_init_received = True
                await self.websocket.close(code=refused.code, reason=refused.reason)
                return
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            limit = self.max_subscriptions_per_connection
            if limit is not None and len(self.operations) >= limit:
                # strawberry's own refusal would carry no code
                await self._refuse(
                    message,
                    f"this connection already runs {limit} operations, its most",
                    {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": limit},
                )
                return
            wait = self.gate.throttle(self.context)
            if wait > 0:
                seconds = retry_after_seconds(wait)
                client = self.context.gateway.scope.client
                await self._refuse(
                    message,
                    f"too many requests from client {client!r}; retry in {seconds}s",
                    {"code": "RATE_LIMITED", "retryAfter": seconds},
                )
                return
        await super().handle_subscribe(message)

    async def _refuse(
        self, message: SubscribeMessage, text: str, extensions: Mapping[str, Any]
    ) -> None:
        error = {"message": text, "extensions": dict(extensions)}
        await self.send_message(
            cast("Message", {"id": message["id"], "type": "error", "payload": [error]})
        )

    async def send_message(self, message: Message) -> None:
        await super().send_message(self.gate.clean(message))
