"""Request bodies that differ on every request and ask for the same answer.

A body is a prebuilt JSON template holding one marker (``MARKER``, a JSON string) where the
varying value goes; ``BodyMaker.body(i)`` splices the i-th value into it, so making a body costs
a few microseconds and no JSON encoding of the whole document. Two kinds of value:

- ``date``: a distinct far-future timestamp (``2100-01-01T00:00:00Z`` plus ``i`` seconds, always
  the same width). Used as ``startedBefore``/``to``, it excludes nothing the backends hold, so
  every such body asks for the same executions, while every backend URL built from it is new:
  nothing keyed on the request (coalescing of identical reads, caches of list reads, memos
  keyed on variable values) can serve one request from another.
- ``permute``: the i-th permutation (in the factorial number system) of a list of JSON items,
  such as the ids of a ``nodes(ids:)`` refetch: the same set, a distinct order per request.

``identical`` repeats body ``start`` for every request instead.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MARKER = "__BENCH_VARY__"
"""The placeholder string in a template; replaced, quotes included, by the value."""
MARKER_BYTES = json.dumps(MARKER).encode()
FAR_FUTURE = 4102444800
"""2100-01-01T00:00:00Z as a Unix time: later than anything a backend holds."""
KINDS = ("date", "permute", "none")


def date_value(i: int) -> str:
    """The i-th far-future timestamp, ``YYYY-MM-DDTHH:MM:SSZ`` (20 characters for any i that
    keeps the year within 1970-9999)."""
    t = time.gmtime(FAR_FUTURE + i)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"
    )


def permutation(i: int, n: int) -> list[int]:
    """The permutation of ``range(n)`` numbered ``i mod n!`` (0 is the identity); distinct
    numbers below ``n!`` give distinct permutations."""
    rest = list(range(n))
    index = i % math.factorial(n)
    out: list[int] = []
    for size in range(n, 0, -1):
        index, pick = divmod(index, size)
        out.append(rest.pop(pick))
    return out


@dataclass
class BodyMaker:
    """Bodies from one template; ``body(i)`` is the i-th, ``identical`` makes them all equal."""

    template: bytes
    kind: str = "none"
    items: Sequence[Any] = ()
    """The JSON items a ``permute`` value orders."""
    start: int = 0
    """The number of the first body ``next()`` gives."""
    identical: bool = False
    _prefix: bytes = field(init=False, default=b"")
    _suffix: bytes = field(init=False, default=b"")
    _encoded: list[bytes] = field(init=False, default_factory=list)
    _count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind != "none":
            if self.template.count(MARKER_BYTES) != 1:
                raise ValueError(f"the template must hold {MARKER!r} exactly once")
            self._prefix, _, self._suffix = self.template.partition(MARKER_BYTES)
        self._encoded = [json.dumps(item, separators=(",", ":")).encode() for item in self.items]
        self._count = self.start

    def value(self, i: int) -> bytes:
        """The JSON text spliced into body ``i``."""
        if self.kind == "date":
            return b'"' + date_value(i).encode() + b'"'
        order = permutation(i, len(self._encoded))
        return b"[" + b",".join([self._encoded[j] for j in order]) + b"]"

    def body(self, i: int) -> bytes:
        if self.kind == "none":
            return self.template
        if self.identical:
            i = self.start
        return self._prefix + self.value(i) + self._suffix

    def next(self) -> bytes:
        """The next body in turn (every call a new one, unless ``identical``)."""
        i = self._count
        self._count += 1
        return self.body(i)

    @property
    def made(self) -> int:
        """How many bodies ``next()`` gave."""
        return self._count - self.start

    def spec(self) -> dict[str, Any]:
        """What ``from_spec`` needs to make the same bodies in another process."""
        return {
            "template": self.template.decode(),
            "kind": self.kind,
            "items": list(self.items),
            "start": self.start,
            "identical": self.identical,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> BodyMaker:
        return cls(
            spec["template"].encode(),
            spec.get("kind", "none"),
            spec.get("items", ()),
            int(spec.get("start", 0)),
            bool(spec.get("identical", False)),
        )


def template(document: dict[str, Any]) -> bytes:
    """A JSON template from ``document``, in which the string ``MARKER`` stands for the value."""
    encoded = json.dumps(document, separators=(",", ":")).encode()
    if encoded.count(MARKER_BYTES) != 1:
        raise ValueError(f"the document must hold {MARKER!r} exactly once")
    return encoded
