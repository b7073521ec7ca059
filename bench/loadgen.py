"""A closed-loop HTTP load generator over raw asyncio sockets (its own process).

``--concurrency`` connections each send a POST as soon as the previous answer is read (HTTP/1.1
keep-alive). ``--bodies`` names a JSON file describing the bodies (``bench/bodies.py``: a
template and the kind of value spliced into it); every request takes the next body, so by
default each one carries its own value, and ``--identical`` sends the first body every time.
It runs for ``--warmup`` seconds that are not measured and then
``--duration`` seconds that are (longer if fewer than ``--min-requests`` answers completed by
then, up to ``--max-duration``). An answer counts when it completes inside the measured window;
an answer that is not HTTP 200, or whose body holds a GraphQL ``"errors"`` key, is an error.

While the window is open it samples, once a second and at both edges, the CPU time and RSS of
every ``--watch NAME=PID`` process (from /proc) and its own CPU time, so the caller gets the
server's CPU per query over exactly the window the throughput is computed on, and can show that
the generator itself was not the bottleneck.

The result is one JSON document on stdout (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.bodies import BodyMaker
from bench.procstat import alive, cpu_seconds, memory

ERROR_MARK = b'"errors"'


@dataclass
class Target:
    host: str
    port: int
    head: bytes
    """The request line and headers, up to ``Content-Length: ``."""
    bodies: BodyMaker

    def request(self) -> bytes:
        body = self.bodies.next()
        return b"%s%d\r\n\r\n%s" % (self.head, len(body), body)


@dataclass
class Tally:
    done: list[tuple[float, float, bool]] = field(default_factory=list)
    """(completion time, latency seconds, ok) of every answer."""
    first_body: bytes | None = None
    last_body: bytes | None = None
    first_error: bytes | None = None
    connect_errors: int = 0


def build_target(url: str, bodies: BodyMaker, headers: dict[str, str]) -> Target:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Accept: application/json",
        *(f"{k}: {v}" for k, v in headers.items()),
        "Content-Length: ",
    ]
    return Target(host, port, "\r\n".join(lines).encode(), bodies)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep_alive) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif key == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
    if chunked:
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts), keep_alive
    if length is None:
        return status, await reader.read(), False
    return status, await reader.readexactly(length), keep_alive


async def worker(target: Target, window: Window, tally: Tally) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while not window.closed:
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection(target.host, target.port)
                except OSError:
                    tally.connect_errors += 1
                    await asyncio.sleep(0.05)
                    continue
            assert reader is not None
            started = time.perf_counter()
            try:
                writer.write(target.request())
                status, body, keep_alive = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                tally.connect_errors += 1
                writer.close()
                reader = writer = None
                continue
            finished = time.perf_counter()
            ok = status == 200 and ERROR_MARK not in body
            tally.done.append((finished, finished - started, ok))
            if ok:
                if tally.first_body is None:
                    tally.first_body = body
                tally.last_body = body
            if not ok and tally.first_error is None:
                tally.first_error = f"HTTP {status} ".encode() + body[:2000]
            if not keep_alive:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


@dataclass
class Window:
    """The measured window: from ``start`` for at least ``duration`` seconds and until
    ``min_ok`` good answers completed inside it, but never past ``start + max_duration``."""

    start: float
    duration: float
    min_ok: int
    max_duration: float
    closed: bool = False

    def done(self, now: float, tally: Tally) -> bool:
        if now >= self.start + self.max_duration:
            return True
        if now < self.start + self.duration:
            return False
        inside = sum(1 for at, _, ok in tally.done if ok and at >= self.start)
        return inside >= self.min_ok


@dataclass
class Sample:
    at: float
    own_cpu: float
    cpu: dict[str, float]
    rss_kb: dict[str, int]
    hwm_kb: dict[str, int]


def take_sample(watch: dict[str, int]) -> Sample:
    cpu: dict[str, float] = {}
    rss: dict[str, int] = {}
    hwm: dict[str, int] = {}
    for name, pid in watch.items():
        if not alive(pid):
            continue
        cpu[name] = cpu_seconds(pid)
        mem = memory(pid)
        rss[name], hwm[name] = mem.rss_kb, mem.hwm_kb
    return Sample(time.perf_counter(), time.process_time(), cpu, rss, hwm)


async def sampler(watch: dict[str, int], window: Window, tally: Tally, out: list[Sample]) -> None:
    """Samples at the window's start, every second, and when it closes (then closes it)."""
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    out.append(take_sample(watch))
    while True:
        now = time.perf_counter()
        if window.done(now, tally):
            out.append(take_sample(watch))
            window.closed = True
            return
        next_at = min(out[-1].at + 1.0, window.start + window.duration)
        if next_at <= now:
            next_at = now + 0.1
        await asyncio.sleep(next_at - now)
        if time.perf_counter() >= out[-1].at + 1.0:
            out.append(take_sample(watch))


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, int(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def summarise(tally: Tally, samples: list[Sample], concurrency: int) -> dict[str, Any]:
    first, last = samples[0], samples[-1]
    window = last.at - first.at
    inside = [(lat, ok) for at, lat, ok in tally.done if first.at <= at < last.at]
    latencies = sorted(lat * 1000 for lat, ok in inside if ok)
    errors = sum(1 for _, ok in inside if not ok)
    ok_count = len(latencies)
    watched: dict[str, Any] = {}
    for name in first.cpu:
        if name not in last.cpu:
            watched[name] = {"died": True}
            continue
        cpu = last.cpu[name] - first.cpu[name]
        watched[name] = {
            "cpu_s": cpu,
            "cpu_pct": 100 * cpu / window if window else 0.0,
            "cpu_ms_per_query": 1000 * cpu / ok_count if ok_count else None,
            "rss_kb": [s.rss_kb.get(name, 0) for s in samples],
            "hwm_kb": last.hwm_kb[name],
        }
    return {
        "concurrency": concurrency,
        "window_s": window,
        "ok": ok_count,
        "errors": errors,
        "connect_errors": tally.connect_errors,
        "total_completed": len(tally.done),
        "total_errors": sum(1 for _, _, ok in tally.done if not ok),
        "throughput": ok_count / window if window else 0.0,
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "mean": sum(latencies) / ok_count if ok_count else float("nan"),
            "max": latencies[-1] if latencies else float("nan"),
        },
        "loadgen_cpu_pct": 100 * (last.own_cpu - first.own_cpu) / window if window else 0.0,
        "watched": watched,
        "first_error": tally.first_error.decode("utf-8", "replace") if tally.first_error else None,
    }


async def run(args: argparse.Namespace, bodies: BodyMaker) -> tuple[dict[str, Any], Tally]:
    headers = dict(h.split(":", 1) for h in args.header)
    target = build_target(args.url, bodies, {k.strip(): v.strip() for k, v in headers.items()})
    watch = {name: int(pid) for name, _, pid in (w.partition("=") for w in args.watch)}
    now = time.perf_counter()
    start = now + args.warmup
    window = Window(start, args.duration, args.min_requests, max(args.duration, args.max_duration))
    tally = Tally()
    samples: list[Sample] = []
    sampling = asyncio.create_task(sampler(watch, window, tally, samples))
    await asyncio.gather(*(worker(target, window, tally) for _ in range(args.concurrency)))
    await sampling
    result = summarise(tally, samples, args.concurrency)
    result["identical"] = bodies.identical
    result["bodies_sent"] = bodies.made
    return result, tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="a JSON file: BodyMaker.spec()")
    parser.add_argument("--identical", action="store_true", help="send the first body always")
    parser.add_argument("--header", action="append", default=[], help="NAME: VALUE")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument(
        "--min-requests", type=int, default=0, help="extend the window until this many answers"
    )
    parser.add_argument("--max-duration", type=float, default=60.0, help="the window's limit")
    parser.add_argument("--watch", action="append", default=[], help="NAME=PID to sample")
    parser.add_argument(
        "--sample-out", help="write the first good answer's body here (and the last to .last)"
    )
    parser.add_argument("--out", help="write the result JSON here instead of stdout")
    args = parser.parse_args(argv)
    bodies = BodyMaker.from_spec(json.loads(Path(args.bodies).read_text()))
    if args.identical:
        bodies.identical = True
    result, tally = asyncio.run(run(args, bodies))
    if args.sample_out and tally.first_body is not None:
        Path(args.sample_out).write_bytes(tally.first_body)
    if args.sample_out and tally.last_body is not None:
        Path(args.sample_out + ".last").write_bytes(tally.last_body)
    text = json.dumps(result)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
