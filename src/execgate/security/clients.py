"""Client keys: generating them, hashing them, and recognising the one a request presents.

The configuration holds only the sha256 of each key. A presented key is hashed and compared
with every client's hash in constant time (``hmac.compare_digest``, no early exit), so neither
the answer nor its timing tells which client, or which part of a key, came close.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from execgate.domain.access import Action, Scope

KEY_PREFIX = "egk_"
"""Marks an execgate client key, so a leaked one is easy to recognise and search for."""


def new_key() -> str:
    """A fresh random client key (256 bits of randomness, URL-safe)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The lowercase hex sha256 of ``key`` (what the config stores as ``key_sha256``)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Client:
    """One configured client: who, its key's hash, what it may do, how fast."""

    name: str
    key_sha256: str = field(repr=False)
    scope: Scope
    rate_per_second: float | None = None
    burst: int | None = None


class ClientDirectory:
    """The configured clients; ``authenticate`` finds the one a presented key belongs to."""

    def __init__(self, clients: Iterable[Client]) -> None:
        self.clients: tuple[Client, ...] = tuple(clients)
        self._digests = [bytes.fromhex(c.key_sha256) for c in self.clients]

    def __bool__(self) -> bool:
        return bool(self.clients)

    def authenticate(self, presented: str | None) -> Client | None:
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found: Client | None = None
        for client, expected in zip(self.clients, self._digests, strict=True):
            if hmac.compare_digest(digest, expected):
                found = client
        return found


class KeyProblem(Enum):
    """Why an ``Authorization`` header presents no key."""

    MISSING = "MISSING_KEY"
    """No header, a blank one, or ``Bearer`` alone."""
    MALFORMED = "MALFORMED_KEY"
    """Something other than ``Bearer <key>``: another scheme, a key without the ``Bearer ``
    prefix, or a key with characters no bearer token holds."""


_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""RFC 6750's ``b64token``: every execgate key is one."""


def presented_key(authorization: str | None) -> str | KeyProblem:
    """The key of an ``Authorization: Bearer <key>`` header (the scheme in any case, spaces
    around the key ignored), or why there is none."""
    if authorization is None or not authorization.strip():
        return KeyProblem.MISSING
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return KeyProblem.MALFORMED
    token = token.strip()
    if not token:
        return KeyProblem.MISSING
    if _BEARER_TOKEN.fullmatch(token) is None:
        return KeyProblem.MALFORMED
    return token


def client_block(
    name: str,
    key_sha256: str,
    *,
    instances: Sequence[str] = ("*",),
    actions: Sequence[str] = (Action.READ.value,),
) -> str:
    """The ``[[clients]]`` table to paste into the config for a new key."""

    def array(values: Sequence[str]) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    return (
        "[[clients]]\n"
        f'name = "{name}"\n'
        f'key_sha256 = "{key_sha256}"\n'
        f"instances = {array(instances)}\n"
        f"actions = {array(actions)}\n"
        "# rate_per_second = 20\n"
        "# burst = 40\n"
    )
