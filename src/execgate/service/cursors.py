"""Opaque, versioned feed cursors, authenticated with a keyed MAC.

A cursor is base64url (no padding) of compact JSON::

    {"v": 2, "f": "<filter digest>", "s": {"<instance>": <position> | null, ...},
     "x": ["<exhausted instance>", ...]}

followed by ``.`` and an HMAC-SHA256 of that payload (truncated to 16 bytes) under the
gateway's cursor secret. ``s`` holds each instance's own resume position (adapter-defined JSON:
n8n's last id, the team-style keyset bound), never an offset into the merged list. Without the
secret no one can make or edit a cursor the gateway accepts; the filter digest refuses a cursor
from another query. Anything else is ``InvalidCursor``.

The secret comes from the environment variable ``[server] cursor_secret_env`` names, so that
replicas accept each other's cursors; without one, each process draws a random secret
(``PROCESS_SECRET``) and its cursors end with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from execgate.domain.errors import InvalidCursor

VERSION = 2
MAX_CURSOR = 16_384
"""The longest cursor accepted, in characters."""
_MAC_BYTES = 16
PROCESS_SECRET = secrets.token_bytes(32)
"""The cursor secret when none is configured: cursors last as long as the process."""


@dataclass(frozen=True, slots=True)
class FeedState:
    """Where each instance's stream stands: its resume position, or exhausted."""

    positions: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
    exhausted: frozenset[str] = frozenset()

    def advanced(self, instance: str, position: Mapping[str, Any] | None) -> FeedState:
        positions = dict(self.positions)
        positions[instance] = position
        return FeedState(positions, self.exhausted)

    def finished(self, instance: str) -> FeedState:
        positions = dict(self.positions)
        positions.pop(instance, None)
        return FeedState(positions, self.exhausted | {instance})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Cursors:
    """Makes and reads the cursors of one filter (``filter_digest``) under ``secret``."""

    secret: bytes
    filter_digest: str

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self.secret, payload, hashlib.sha256).digest()
        return _b64(digest[:_MAC_BYTES])

    def encode(self, state: FeedState) -> str:
        body = {
            "v": VERSION,
            "f": self.filter_digest,
            "s": {name: state.positions[name] for name in sorted(state.positions)},
            "x": sorted(state.exhausted),
        }
        payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{self._mac(payload)}"

    def decode(self, cursor: str) -> FeedState:
        """The state a cursor made by ``encode`` (same secret, same filter) stands for, or
        ``InvalidCursor``."""
        invalid = InvalidCursor(
            "the cursor is not valid for this query; start again without 'after'"
        )
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
            raise invalid
        body_text, sep, mac = cursor.partition(".")
        if not sep or not body_text or not mac:
            raise invalid
        try:
            payload = _unb64(body_text)
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(self._mac(payload), mac):
            raise invalid
        try:
            body = json.loads(payload)
        except (ValueError, RecursionError):
            raise invalid from None
        if not isinstance(body, dict) or body.get("v") != VERSION:
            raise InvalidCursor("the cursor was made by another version of execgate; start again")
        if body.get("f") != self.filter_digest:
            raise InvalidCursor("the cursor belongs to a different filter; start again without it")
        positions = body.get("s")
        exhausted = body.get("x")
        if not isinstance(positions, dict) or not isinstance(exhausted, list):
            raise invalid
        if not all(isinstance(p, dict) or p is None for p in positions.values()):
            raise invalid
        if not all(isinstance(name, str) for name in exhausted):
            raise invalid
        return FeedState(positions, frozenset(exhausted))


def filter_digest(parts: Mapping[str, Any]) -> str:
    """A short stable digest of a normalised filter, so a cursor stays with its query."""
    payload = json.dumps(parts, separators=(",", ":"), sort_keys=True, default=str).encode()
    return _b64(hashlib.blake2b(payload, digest_size=8, person=b"execgate-filter").digest())
