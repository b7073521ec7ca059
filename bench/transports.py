"""The transport comparison: client CPU per backend read through each transport execgate offers.

    python -m bench.transports --url http://127.0.0.1:PORT --team-id ID --token-env VAR

Reads the first page of a team-style instance, then sends the same detail GETs through
``BackendHTTP`` set up as each ``transport`` setting sets it up (``http11``: the read pool;
``aiohttp``: aiohttp's pool, called directly; ``httpx``: httpx's own pool), interleaved over
several rounds at a fixed number in flight, and prints the client CPU per read (the median
round) as a table and as one JSON line. ``bench.run`` runs it against its team-style simulator,
pinned to the gateway's core, and puts the table in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

from execgate.backends.http import BackendHTTP, HTTPSettings, open_http
from execgate.backends.team import TeamBackend

TRANSPORTS = ("http11", "aiohttp", "httpx")


def _backend_http(kind: str, url: str, token: str) -> BackendHTTP:
    """The instance's HTTP side exactly as the gateway builds it for this setting."""
    return open_http("bench", url, TeamBackend.auth_headers(token), HTTPSettings(transport=kind))


async def _round(http: BackendHTTP, paths: list[str], concurrency: int) -> float:
    """Client CPU per read, in microseconds, for one pass over ``paths``."""
    queue = list(paths)

    async def worker() -> None:
        while queue:
            answer = await http.request("GET", queue.pop())
            http.json(answer)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / len(paths) * 1e6


async def compare(
    url: str, team_id: str, token: str, *, reads: int, concurrency: int, rounds: int
) -> dict[str, float]:
    probe = _backend_http("http11", url, token)
    try:
        listed = await probe.request(
            "GET", f"/api/executions/team/{team_id}", params={"page": 0, "size": 100}
        )
        ids = [item["id"] for item in probe.json(listed)["content"]]
    finally:
        await probe.aclose()
    if not ids:
        raise SystemExit("the team-style instance has no executions to read")
    paths = [f"/api/executions/{ids[i % len(ids)]}" for i in range(reads)]
    https = {kind: _backend_http(kind, url, token) for kind in TRANSPORTS}
    samples: dict[str, list[float]] = {kind: [] for kind in TRANSPORTS}
    try:
        for http in https.values():  # warm every pool up first
            await _round(http, paths[: concurrency * 2], concurrency)
        for number in range(rounds):
            order: Callable[[tuple[str, ...]], list[str]] = list if number % 2 == 0 else _reverse
            for kind in order(TRANSPORTS):
                samples[kind].append(await _round(https[kind], paths, concurrency))
    finally:
        for http in https.values():
            await http.aclose()
    return {kind: statistics.median(values) for kind, values in samples.items()}


def _reverse(kinds: tuple[str, ...]) -> list[str]:
    return list(reversed(kinds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--team-id", required=True)
    parser.add_argument("--token-env", required=True, help="environment variable with the token")
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    token = os.environ.get(args.token_env)
    if not token:
        parser.error(f"{args.token_env} is not set")
    result = asyncio.run(
        compare(
            args.url,
            args.team_id,
            token,
            reads=args.reads,
            concurrency=args.concurrency,
            rounds=args.rounds,
        )
    )
    base = result["aiohttp"]
    print("| transport | client CPU per read | ÷ aiohttp |")
    print("|---|---:|---:|")
    for kind in TRANSPORTS:
        print(f"| {kind} | {result[kind]:.0f} µs | {result[kind] / base:.2f}x |")
    print(json.dumps({"transports_us_per_read": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
