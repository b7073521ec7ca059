"""The faults the proxy can inject, the rules that select them, and the bodies they send.

A ``Rule`` says which requests a ``Fault`` applies to (reads, mutations or any method, and
optionally a path regex) and how often (``times``: once, the first N matches, or always with
``None``). Each fault class documents whether the request reaches the backend ("forwards")
and what the client receives instead of, or besides, the backend's answer.
"""

from __future__ import annotations

import random
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import cache

MIB = 1024 * 1024

READ_METHODS = frozenset({"GET", "HEAD"})
MUTATION_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class On(Enum):
    """Which methods a rule selects."""

    READS = "reads"
    """GET and HEAD."""
    MUTATIONS = "mutations"
    """POST, PUT, PATCH and DELETE."""
    ANY = "any"

    def selects(self, method: str) -> bool:
        if self is On.READS:
            return method in READ_METHODS
        if self is On.MUTATIONS:
            return method in MUTATION_METHODS
        return True


# --- timing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Forwards; waits ``before_ms`` before forwarding and ``after_ms`` before answering."""

    before_ms: float = 0.0
    after_ms: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Reads the request and never answers; forwards it first when ``forward`` is true.

    The connection stays open until the client closes it or the proxy stops."""

    forward: bool = False


# --- connections --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refuse:
    """Resets each new connection as soon as it is accepted, before any request is read.

    Matched at accept time, so a rule holding it selects no method or path (``On.ANY`` only).
    ``FaultProxy.stop_listening`` refuses at the TCP level instead (connect fails)."""


@dataclass(frozen=True)
class ResetBeforeForward:
    """Reads the request and resets the connection (RST); the backend never sees it."""


@dataclass(frozen=True)
class ResetAfterForward:
    """Forwards and waits for the whole answer, then resets the client's connection before any
    byte of it: the backend processed the request, the client lost the answer."""


@dataclass(frozen=True)
class ResetMidAnswer:
    """Forwards; sends the status line, headers and ``after_bytes`` bytes of the body (half the
    body when ``None``), waits ``pause_ms`` so the client can read them, then resets."""

    after_bytes: int | None = None
    pause_ms: float = 50.0


@dataclass(frozen=True)
class Truncate:
    """Forwards; announces the full Content-Length, sends ``keep_bytes`` of the body (half when
    ``None``) and closes the connection normally (FIN)."""

    keep_bytes: int | None = None


@dataclass(frozen=True)
class ConnectionClose:
    """Forwards; answers with ``Connection: close`` and closes the connection after it."""


@dataclass(frozen=True)
class IdleClose:
    """Forwards and answers normally (announcing keep-alive), then closes the connection
    unannounced once it has been idle ``idle_ms`` (``0``: right after the answer)."""

    idle_ms: float = 0.0


# --- answers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HtmlPage:
    """Answers ``status`` with an HTML error page like a load balancer's; forwards first when
    ``forward`` is true (the backend worked, a box in between failed)."""

    status: int = 502
    forward: bool = False


@dataclass(frozen=True)
class Garbage:
    """Answers ``status`` with ``size`` random bytes labelled ``application/json``; with
    ``whole_answer`` the bytes replace the entire answer (no status line) and the connection
    closes after them."""

    size: int = 4096
    status: int = 200
    whole_answer: bool = False
    forward: bool = True
    seed: int = 0


@dataclass(frozen=True)
class Huge:
    """Answers 200 with a valid JSON body of ``megabytes`` MiB, announced by Content-Length and
    streamed in chunks (never held in memory whole)."""

    megabytes: float = 64.0
    forward: bool = True


@dataclass(frozen=True)
class Endless:
    """Answers 200 with a chunked JSON-looking body that never ends: a chunk of ``chunk_bytes``
    every ``interval_ms`` (as fast as the client reads with ``0``), until the client leaves."""

    chunk_bytes: int = 16 * 1024
    interval_ms: float = 0.0
    forward: bool = True


@dataclass(frozen=True)
class GzipBomb:
    """Answers 200 with ``Content-Encoding: gzip``: about ``compressed_mb`` MiB on the wire that
    inflate to roughly a thousand times more (``inflated_bytes``), all zeros, a valid gzip
    stream with a correct CRC. Built from one compressed block repeated, so it costs nothing
    to produce."""

    compressed_mb: float = 2.0
    forward: bool = True

    @property
    def blocks(self) -> int:
        return max(1, round(self.compressed_mb * MIB / len(_zero_block()[0])))

    @property
    def inflated_bytes(self) -> int:
        return self.blocks * ZERO_BLOCK

    @property
    def compressed_bytes(self) -> int:
        return len(_GZIP_HEADER) + self.blocks * len(_zero_block()[0]) + len(_DEFLATE_END) + 8


@dataclass(frozen=True)
class EndlessHeaders:
    """Sends a status line and then header lines for ever (``line_bytes`` each, ``lines`` per
    write, one write every ``interval_ms``), never the blank line that ends them."""

    line_bytes: int = 100
    lines: int = 64
    interval_ms: float = 0.0
    forward: bool = False


@dataclass(frozen=True)
class Interim:
    """Forwards; sends these 1xx interim answers (``100 Continue``, ``103 Early Hints``) before
    the real answer."""

    statuses: tuple[int, ...] = (100,)


@dataclass(frozen=True)
class Redirect:
    """Answers ``status`` with ``Location: location`` without forwarding."""

    location: str
    status: int = 302


@dataclass(frozen=True)
class Http2StatusLine:
    """Forwards; answers with the backend's status and body under an ``HTTP/2.0`` status line."""


@dataclass(frozen=True)
class WrongStatus:
    """Forwards; answers the backend's headers and body under status ``status`` (raw text, so
    it may be malformed, like ``"2000"`` or ``"OK"``) and reason ``reason``."""

    status: str = "599"
    reason: str = "Unknown"


Fault = (
    Latency
    | Hang
    | Refuse
    | ResetBeforeForward
    | ResetAfterForward
    | ResetMidAnswer
    | Truncate
    | ConnectionClose
    | IdleClose
    | HtmlPage
    | Garbage
    | Huge
    | Endless
    | GzipBomb
    | EndlessHeaders
    | Interim
    | Redirect
    | Http2StatusLine
    | WrongStatus
)

_NOT_FORWARDED = (Refuse, ResetBeforeForward, Redirect)


def forwards(fault: Fault | None) -> bool:
    """Whether a request meeting ``fault`` is sent to the backend."""
    if fault is None:
        return True
    if isinstance(fault, _NOT_FORWARDED):
        return False
    return bool(getattr(fault, "forward", True))


@dataclass
class Rule:
    """Apply ``fault`` to requests selected by ``on`` whose path (without the query) matches
    the regex ``path``, the first ``times`` times (always when ``None``).

    ``fired`` counts the requests (or, for ``Refuse``, connections) it applied to."""

    fault: Fault
    on: On = On.ANY
    path: str | None = None
    times: int | None = 1
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if isinstance(self.fault, Refuse) and (self.on is not On.ANY or self.path is not None):
            raise ValueError("Refuse applies to connections: it selects no method or path")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1, or None for always")
        self._pattern = re.compile(self.path) if self.path is not None else None

    @property
    def spent(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def selects(self, method: str, path: str) -> bool:
        if self.spent or isinstance(self.fault, Refuse) or not self.on.selects(method):
            return False
        return self._pattern is None or self._pattern.search(path) is not None


# --- bodies -------------------------------------------------------------------------------------


def html_page(status: int, reason: str) -> bytes:
    title = f"{status} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def garbage(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def huge_json(total: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """``{"pad":"xxx…"}`` of exactly ``total`` bytes (at least 11), in pieces of ``chunk``."""
    head, tail = b'{"pad":"', b'"}'
    yield head
    left = total - len(head) - len(tail)
    block = b"x" * chunk
    while left > 0:
        yield block[: min(left, chunk)]
        left -= chunk
    yield tail


ENDLESS_ITEM = b'{"id":"0","status":"success","data":"' + b"x" * 64 + b'"},'


def endless_chunk(size: int) -> bytes:
    """One chunk of the endless body: ``size`` bytes of repeated JSON-looking items."""
    return (ENDLESS_ITEM * (size // len(ENDLESS_ITEM) + 1))[:size]


ZERO_BLOCK = MIB
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
_DEFLATE_END = b"\x03\x00"
"""An empty final deflate block (fixed Huffman), valid after a byte-aligning full flush."""
_CRC_POLY = 0xEDB88320


@cache
def _zero_block() -> tuple[bytes, int]:
    """``ZERO_BLOCK`` zero bytes deflated to a self-contained, byte-aligned run of blocks (a
    full flush from a fresh compressor), and the CRC-32 of those zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(ZERO_BLOCK)
    return compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH), zlib.crc32(zeros)


def _mult_mod_p(a: int, b: int) -> int:
    """Product of two polynomials modulo the CRC-32 polynomial (bit-reflected, as zlib does)."""
    m, product = 1 << 31, 0
    while a:
        if a & m:
            product ^= b
            a ^= m
        m >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
    return product


def _x_pow_8n(n: int) -> int:
    """x^(8n) modulo the CRC-32 polynomial: the operator that appends ``n`` bytes."""
    power, square = 1 << 31, 1 << 30  # x^0, x^1
    exponent = 8 * n
    while exponent:
        if exponent & 1:
            power = _mult_mod_p(square, power)
        square = _mult_mod_p(square, square)
        exponent >>= 1
    return power


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of ``a + b`` from ``crc32(a)``, ``crc32(b)`` and ``len(b)``."""
    return _mult_mod_p(_x_pow_8n(len2), crc1) ^ crc2


def gzip_bomb(blocks: int) -> Iterator[bytes]:
    """A gzip member of ``blocks`` times ``ZERO_BLOCK`` zeros, as a stream of pieces."""
    piece, piece_crc = _zero_block()
    shift = _x_pow_8n(ZERO_BLOCK)
    crc = 0
    yield _GZIP_HEADER
    for _ in range(blocks):
        crc = _mult_mod_p(shift, crc) ^ piece_crc
        yield piece
    yield _DEFLATE_END + struct.pack("<II", crc, (blocks * ZERO_BLOCK) & 0xFFFFFFFF)
