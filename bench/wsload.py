"""Live subscribers for the benchmark: N graphql-transport-ws connections, one subscription each.

Connects ``--subscribers`` WebSockets to a gateway (``--concurrency`` handshakes at a time), each
with the client key in ``connection_init`` and one ``executionEvents`` subscription, then prints
``ready`` on stdout; after ``--warmup`` seconds it prints ``measuring`` and measures for
``--seconds``: for every event each subscriber
receives, the delay from the moment the backend changed — the execution's ``createdAt`` for
CREATED, ``startedAt`` for a change to RUNNING, ``finishedAt`` for FINISHED, which the
simulators set to the exact moment of the change (``execgate.simulate.activity``) — to the
moment it arrived here. Then it prints ``done <json>`` (counts and delay percentiles) and
closes every connection, or with ``--hold`` keeps them open until it is terminated.

    python -m bench.wsload --url ws://127.0.0.1:8000/graphql --subscribers 1000 --seconds 60
    (the key comes from the environment variable EXECGATE_BENCH_KEY)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import websockets
from websockets import Subprotocol

QUERY = (
    "subscription { executionEvents { type previousStatus at "
    "execution { id nativeId status createdAt startedAt finishedAt instance { name } } } }"
)
KEY_ENV = "EXECGATE_BENCH_KEY"


@dataclass
class Tally:
    measuring: bool = False
    events: int = 0
    errors: int = 0
    delays_ms: list[float] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    unknown_moment: int = 0


def changed_at(event: dict[str, Any]) -> float | None:
    """When the backend made the change this event reports (epoch seconds), if it says."""
    execution = event.get("execution") or {}
    if event["type"] == "CREATED":
        moment = execution.get("createdAt")
    elif event["type"] == "FINISHED":
        moment = execution.get("finishedAt")
    elif execution.get("status") == "RUNNING":
        moment = execution.get("startedAt")
    else:
        moment = None
    return None if moment is None else datetime.fromisoformat(moment).timestamp()


def record(tally: Tally, message: dict[str, Any], arrived: float) -> None:
    payload = message.get("payload") or {}
    if payload.get("errors"):
        tally.errors += 1
    event = (payload.get("data") or {}).get("executionEvents")
    if event is None:
        return
    tally.events += 1
    tally.kinds[event["type"]] = tally.kinds.get(event["type"], 0) + 1
    moment = changed_at(event)
    if moment is None:
        tally.unknown_moment += 1
    else:
        tally.delays_ms.append((arrived - moment) * 1000)


async def subscriber(url: str, key: str, tally: Tally, opened: asyncio.Semaphore) -> Any:
    async with opened:
        ws = await websockets.connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            max_queue=None,
            open_timeout=60,
        )
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
        )
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
    return ws


async def listen(ws: Any, tally: Tally) -> None:
    try:
        async for raw in ws:
            arrived = time.time()
            if tally.measuring:
                record(tally, json.loads(raw), arrived)
    except websockets.ConnectionClosed:
        return


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(tally: Tally, subscribers: int, seconds: float) -> dict[str, Any]:
    delays = tally.delays_ms
    return {
        "subscribers": subscribers,
        "seconds": seconds,
        "events": tally.events,
        "errors": tally.errors,
        "kinds": tally.kinds,
        "events_per_subscriber": tally.events / subscribers if subscribers else 0,
        "delay_ms": {
            "p50": percentile(delays, 0.5),
            "p90": percentile(delays, 0.9),
            "p99": percentile(delays, 0.99),
            "max": max(delays) if delays else None,
            "min": min(delays) if delays else None,
        },
        "unknown_moment": tally.unknown_moment,
    }


async def run(
    url: str,
    key: str,
    count: int,
    seconds: float,
    concurrency: int,
    warmup: float,
    hold: bool = False,
) -> None:
    tally = Tally()
    opened = asyncio.Semaphore(concurrency)
    sockets = await asyncio.gather(*(subscriber(url, key, tally, opened) for _ in range(count)))
    listeners = [asyncio.create_task(listen(ws, tally)) for ws in sockets]
    print("ready", flush=True)
    await asyncio.sleep(warmup)
    print("measuring", flush=True)
    tally.measuring = True
    started = time.monotonic()
    await asyncio.sleep(seconds)
    tally.measuring = False
    elapsed = time.monotonic() - started
    print("done " + json.dumps(summary(tally, count, elapsed)), flush=True)
    if hold:
        await asyncio.Event().wait()  # until terminated
    for ws in sockets:
        await ws.close()
    for task in listeners:
        task.cancel()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wsload", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes at a time")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds before measuring")
    parser.add_argument("--hold", action="store_true", help="stay connected after measuring")
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_ENV)
    if not key:
        parser.error(f"set {KEY_ENV} to the client key")
    asyncio.run(
        run(
            args.url,
            key,
            args.subscribers,
            args.seconds,
            args.concurrency,
            args.warmup,
            args.hold,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
