"""Hashable keys: loader keys and the inside of global IDs.

An instance name is letters, digits, ``-`` and ``_`` (config enforces it), so ``:`` separates
the parts of a key unambiguously; the last part may itself contain ``:``.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_NUMBER_DIGITS = 18
"""Digits of the longest id read as a number (beyond, ids compare as text)."""


def as_number(native_id: str) -> int | None:
    """``native_id`` as a number when it is one: ASCII digits only (``²`` is not), at most
    ``MAX_NUMBER_DIGITS`` of them."""
    if native_id.isascii() and native_id.isdigit() and len(native_id) <= MAX_NUMBER_DIGITS:
        return int(native_id)
    return None


def _split(raw: str, what: str) -> tuple[str, str]:
    instance, sep, native = raw.partition(":")
    if not sep or not instance or not native:
        raise ValueError(f"malformed {what} key")
    return instance, native


class WorkflowKey(NamedTuple):
    instance: str
    native_id: str

    def encode(self) -> str:
        return f"{self.instance}:{self.native_id}"

    @classmethod
    def decode(cls, raw: str) -> WorkflowKey:
        return cls(*_split(raw, "workflow"))


class ExecutionKey(NamedTuple):
    instance: str
    native_id: str

    def encode(self) -> str:
        return f"{self.instance}:{self.native_id}"

    @classmethod
    def decode(cls, raw: str) -> ExecutionKey:
        return cls(*_split(raw, "execution"))


class NodeExecutionKey(NamedTuple):
    execution: ExecutionKey
    native_id: str

    def encode(self) -> str:
        return f"{self.execution.instance}:{self.execution.native_id}:{self.native_id}"

    @classmethod
    def decode(cls, raw: str) -> NodeExecutionKey:
        parts = raw.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError("malformed node execution key")
        return cls(ExecutionKey(parts[0], parts[1]), parts[2])
