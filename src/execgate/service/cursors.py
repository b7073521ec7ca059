"""Opaque, versioned feed cursors.

A cursor is base64url (no padding) of compact JSON::

    {"v": 1, "f": "<filter digest>", "s": {"<instance>": <position> | null, ...},
     "x": ["<exhausted instance>", ...]}

followed by ``.`` and a short digest of that payload. ``s`` holds each instance's own resume
position (adapter-defined JSON: n8n's last id, the team-style keyset bound), never an offset into
the merged list. The digest catches truncation and hand edits; the filter digest refuses a cursor
from another query. Anything else is ``InvalidCursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from execgate.domain.errors import InvalidCursor

VERSION = 1
_DIGEST_BYTES = 8


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


def _digest(payload: bytes) -> str:
    raw = hashlib.blake2b(payload, digest_size=_DIGEST_BYTES, person=b"execgate-cursor").digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(state: FeedState, filter_digest: str) -> str:
    body = {
        "v": VERSION,
        "f": filter_digest,
        "s": {name: state.positions[name] for name in sorted(state.positions)},
        "x": sorted(state.exhausted),
    }
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_digest(payload)}"


def decode_cursor(cursor: str, filter_digest: str) -> FeedState:
    """Parse a cursor made by ``encode_cursor`` for the same filter, or raise ``InvalidCursor``."""
    invalid = InvalidCursor("the cursor is not valid for this query; start again without 'after'")
    if not isinstance(cursor, str) or len(cursor) > 16_384:
        raise invalid
    body_text, sep, digest = cursor.partition(".")
    if not sep or not body_text or not digest:
        raise invalid
    try:
        payload = _unb64(body_text)
    except (binascii.Error, ValueError):
        raise invalid from None
    if _digest(payload) != digest:
        raise invalid
    try:
        body = json.loads(payload)
    except ValueError:
        raise invalid from None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise InvalidCursor("the cursor was made by another version of execgate; start again")
    if body.get("f") != filter_digest:
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
    return _digest(payload)
