"""The request being served, as context variables: its ID, client and GraphQL operation.

Set by the HTTP layer when a request arrives (``RequestIDMiddleware``, the guard, the GraphQL
view) and read wherever a log line, an audit line or a backend request is written on its
behalf: asyncio copies context variables into every task the request starts.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"

request_id: ContextVar[str | None] = ContextVar("execgate.request_id", default=None)
client_name: ContextVar[str | None] = ContextVar("execgate.client", default=None)
operation_name: ContextVar[str | None] = ContextVar("execgate.operation", default=None)

_ACCEPTED = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
"""A caller's request ID is kept when it is 1 to 128 of these (a UUID, a hex trace id, a ULID…);
anything else — spaces, quotes, control characters, a longer value — is replaced."""


def new_request_id() -> str:
    """A fresh request ID: 32 hexadecimal digits."""
    return secrets.token_hex(16)


def accepted_request_id(presented: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a safe token, else a fresh one."""
    if presented is not None and _ACCEPTED.fullmatch(presented):
        return presented
    return new_request_id()
