"""One ``_entities`` call of many execution representations, beside ``nodes(ids:)`` for the same.

The gateway serves the federation subgraph (``[server] federation = true``) over the embedded
demo's three instances (one team-style, two n8n-style; in-process simulators, optionally with
a latency per answer). Each request asks for ``--size`` executions (default 100) spread over
the three instances, ``--distinct`` of them distinct (default 60; the rest repeat them, as a
gateway's batch does when several parents point at one execution), with the selection a
federated query makes (``status workflow { name } nodeExecutions { nodeName status }``):

- ``entities``: ``_entities(representations: [...])``, the call a federated gateway makes;
- ``nodes``: ``nodes(ids: [...])`` with the same IDs in the same order.

Every request takes the next window of executions (distinct variables per request). Cold is
``[cache] enabled = false``: every distinct execution is read each time; warm is the default
cache, primed with every window first. Prints one JSON line per cell: wall and CPU ms per
query (median wall, CPU over the whole run; the simulators run in the same process) and
backend reads per query, each the median of ``--trials`` interleaved trials.

    python -m bench.entities [--requests 30] [--size 100] [--distinct 60] [--latency-ms 0]
                             [--trials 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import time
from typing import Any

from asgi_lifespan import LifespanManager

from bench.api_cpu import call
from execgate.api import ids
from execgate.app import create_app
from execgate.config import CacheSettings, ServerSettings
from execgate.domain.keys import ExecutionKey
from execgate.simulate.data import ACTIVE_STATUSES
from execgate.simulate.embedded import embedded, with_demo_client

SELECTION = "... on Execution { status workflow { name } nodeExecutions { nodeName status } }"
ENTITIES = (
    "query Entities($representations: [_Any!]!) { _entities(representations: $representations) "
    f"{{ {SELECTION} }} }}"
)
NODES = f"query Nodes($ids: [ID!]!) {{ nodes(ids: $ids) {{ {SELECTION} }} }}"
WINDOWS = 8
"""Distinct windows of executions the requests take in turn."""


def _finished(stores: Any, instance: str) -> list[str]:
    store = stores[instance]
    return sorted(e.id for e in store.visible() if e.status not in ACTIVE_STATUSES)


def windows(stores: Any, size: int, distinct: int) -> list[list[str]]:
    """``WINDOWS`` lists of ``size`` global IDs, ``distinct`` of them distinct, spread evenly
    over the instances (round robin), duplicates interleaved."""
    names = sorted(stores)
    per = -(-distinct // len(names))
    finished = {name: _finished(stores, name) for name in names}
    out = []
    for window in range(WINDOWS):
        chosen: list[str] = []
        for offset in range(per):
            for name in names:
                native = finished[name][window * per + offset]
                chosen.append(ids.encode("Execution", ExecutionKey(name, native).encode()))
        chosen = chosen[:distinct]
        out.append([chosen[(7 * n) % distinct] for n in range(size)])
    return out


def body(field: str, wanted: list[str]) -> bytes:
    if field == "entities":
        representations = [{"__typename": "Execution", "id": i} for i in wanted]
        return json.dumps(
            {"query": ENTITIES, "variables": {"representations": representations}}
        ).encode()
    return json.dumps({"query": NODES, "variables": {"ids": wanted}}).encode()


async def cell(args: argparse.Namespace, field: str, warm: bool) -> dict[str, Any]:
    demo = embedded(seed=7, latency_ms=args.latency_ms)
    settings, key = with_demo_client(demo.settings)
    settings = dataclasses.replace(
        settings,
        server=ServerSettings(federation=True),
        cache=CacheSettings(enabled=warm),
    )
    app = create_app(settings, transports=demo.transports)
    lists = windows(demo.stores, args.size, args.distinct)
    async with LifespanManager(app) as manager:
        registry = app.state.registry
        for wanted in lists if warm else lists[:1]:
            answer = json.loads(await call(manager.app, body(field, wanted), key))
            assert "errors" not in answer, answer
            found = answer["data"]["_entities" if field == "entities" else "nodes"]
            assert len(found) == args.size and all(found), "an execution was not found"
        reads_before = sum(registry.calls().values())
        walls = []
        cpu = time.process_time()
        for number in range(args.requests):
            started = time.perf_counter()
            await call(manager.app, body(field, lists[number % WINDOWS]), key)
            walls.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
        reads = sum(registry.calls().values()) - reads_before
    return {
        "field": field,
        "cache": "warm" if warm else "cold",
        "size": args.size,
        "distinct": args.distinct,
        "latency_ms": args.latency_ms,
        "wall_ms_p50": round(1000 * statistics.median(walls), 2),
        "cpu_ms_per_query": round(1000 * cpu / args.requests, 2),
        "reads_per_query": round(reads / args.requests, 2),
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every cell ``--trials`` times, the cells interleaved; each figure the trials' median."""
    cells = [(field, warm) for warm in (False, True) for field in ("entities", "nodes")]
    trials: dict[tuple[str, bool], list[dict[str, Any]]] = {c: [] for c in cells}
    for _ in range(args.trials):
        for field, warm in cells:
            trials[(field, warm)].append(await cell(args, field, warm))
    results = []
    for key in cells:
        first = dict(trials[key][0])
        for figure in ("wall_ms_p50", "cpu_ms_per_query", "reads_per_query"):
            first[figure] = statistics.median(t[figure] for t in trials[key])
        first["trials"] = args.trials
        results.append(first)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--distinct", type=int, default=60)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    if not 0 < args.distinct <= args.size:
        parser.error("--distinct must be between 1 and --size")
    for result in asyncio.run(run(args)):
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
