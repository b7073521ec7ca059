"""Statistics and exports at scale: 100,000 executions over three simulated instances.

    python -m bench.insights [--executions 100000] [--repeats 5] [--no-write] [--stats-only]

Starts the three simulators (``bench/simserve.py``: ``execgate simulate`` with a request
counter; one team-style, two n8n) and ``execgate serve`` over them, each its own process, then:

1. ``executionStats`` grouped by workflow over a window holding every execution: cold (nothing
   kept), then repeated, each time with the wall time and the backend requests it cost
   (counted by the simulators);
2. seed 002's client-side recipe over the same data: list everything (the merged feed, pages
   of 100, the same window) and compute success rate, mean and p95 duration and running per
   workflow locally; its time and requests, and the ratios;
3. the aggregation alone, in process, over the same number of executions: numpy (what
   ``service/aggregate.py`` does) against hand-written loops (dicts and sorted lists);
4. ``GET /export?format=csv`` of everything, read to the end, with the gateway's RSS sampled
   every 0.2 s: rows, bytes, rows per second, peak RSS.

Writes the results between ``<!-- insights:begin -->`` and ``<!-- insights:end -->`` in
``bench/RESULTS.md`` (unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench.procs import Procs, free_port, get_json
from bench.procstat import memory

TEAM, PROD, STAGING = "acme", "n8n-prod", "n8n-staging"
RESULTS = Path(__file__).with_name("RESULTS.md")
BEGIN, END = "<!-- insights:begin -->", "<!-- insights:end -->"

STATS = """
query Health($after: DateTime) {
  executionStats(filter: {startedAfter: $after}, groupBy: [WORKFLOW]) {
    scanned complete bucketCount
    overall { count successRate running durationMs { p50 p95 p99 } }
    buckets { workflow { id } count successRate running durationMs { p95 mean } }
  }
}
"""

FEED = """
query Recipe($after: DateTime, $cursor: String) {
  executions(first: 100, after: $cursor, filter: {startedAfter: $after}) {
    pageInfo { hasNextPage endCursor }
    edges { node { status durationMs workflow { id } } }
  }
}
"""


def _calls(urls: dict[str, str]) -> int:
    return sum(_by_instance(urls).values())


def _by_instance(urls: dict[str, str]) -> dict[str, int]:
    return {name: int(get_json(url + "/__stats")["requests"]) for name, url in urls.items()}


def _post(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    answer = client.post("/graphql", json={"query": query, "variables": variables})
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    if body.get("errors"):
        raise RuntimeError(json.dumps(body["errors"])[:500])
    data: dict[str, Any] = body["data"]
    return data


def recipe(client: httpx.Client, after: str) -> tuple[int, dict[str, dict[str, Any]]]:
    """Seed 002's "monitor workflow health", for every workflow at once: list everything,
    then count, average and rank locally."""
    cursor = None
    by_workflow: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
    listed = 0
    while True:
        page = _post(client, FEED, after=after, cursor=cursor)["executions"]
        for edge in page["edges"]:
            node = edge["node"]
            by_workflow[node["workflow"]["id"]].append((node["status"], node["durationMs"]))
            listed += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
    health = {}
    for workflow, runs in by_workflow.items():
        finished = [(s, d) for s, d in runs if s in ("SUCCESS", "FAILED", "CANCELLED", "CRASHED")]
        durations = sorted(d for _, d in finished if d is not None)
        health[workflow] = {
            "count": len(runs),
            "successRate": sum(1 for s, _ in finished if s == "SUCCESS") / len(finished)
            if finished
            else None,
            "mean": sum(durations) / len(durations) if durations else None,
            "p95": durations[math.ceil(0.95 * len(durations)) - 1] if durations else None,
            "running": sum(1 for s, _ in runs if s in ("RUNNING", "PENDING", "WAITING")),
        }
    return listed, health


def aggregation(count: int) -> tuple[float, float]:
    """Milliseconds to group ``count`` executions by workflow with their percentiles: numpy
    (``service/aggregate.py``) and hand-written loops, over the same rows."""
    import random

    from execgate.domain.keys import ExecutionKey
    from execgate.domain.models import Execution, ExecutionMode, ExecutionQuery, ExecutionStatus
    from execgate.domain.stats import StatsDimension, Window
    from execgate.service.aggregate import aggregate
    from execgate.service.segments import Segment

    rng = random.Random(1)
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    statuses = [ExecutionStatus.SUCCESS] * 8 + [ExecutionStatus.FAILED, ExecutionStatus.RUNNING]
    executions = []
    for n in range(count):
        status = rng.choice(statuses)
        start = now - dt.timedelta(seconds=rng.randint(0, 30 * 86_400))
        executions.append(
            Execution(
                key=ExecutionKey("i", str(n)),
                workflow_id=f"w{rng.randint(0, 40)}",
                status=status,
                status_raw=status.value,
                mode=ExecutionMode.WEBHOOK,
                mode_raw="webhook",
                finished=status.is_finished,
                started_at=start,
                duration_ms=rng.randint(1, 60_000) if status.is_finished else None,
            )
        )
    segment = Segment(
        "i", ExecutionQuery(), now - dt.timedelta(days=31), errors_in_lists=True, normalise=str
    )
    for e in executions:
        segment.put(e)
    window = Window(now - dt.timedelta(days=31), None)
    snapshot = segment.snapshot()
    started = time.perf_counter()
    for _ in range(5):
        aggregate([snapshot], window, [StatsDimension.WORKFLOW], max_buckets=1000)
    with_numpy = (time.perf_counter() - started) / 5 * 1000

    def loops() -> dict[str, Any]:
        groups: dict[str, list[Execution]] = defaultdict(list)
        after = window.after
        for e in executions:
            if e.sort_time is not None and e.sort_time >= after:
                groups[e.workflow_id].append(e)
        out = {}
        for workflow, members in groups.items():
            counts: dict[ExecutionStatus, int] = defaultdict(int)
            durations = []
            first = last = None
            for e in members:
                counts[e.status] += 1
                if e.status.is_finished and e.duration_ms is not None:
                    durations.append(e.duration_ms)
                if e.started_at is not None:
                    first = e.started_at if first is None else min(first, e.started_at)
                    last = e.started_at if last is None else max(last, e.started_at)
            durations.sort()
            n = len(durations)
            out[workflow] = (
                counts,
                [durations[math.ceil(p / 100 * n) - 1] for p in (50, 90, 95, 99)] if n else None,
                sum(durations) / n if n else None,
                first,
                last,
            )
        return out

    started = time.perf_counter()
    for _ in range(5):
        loops()
    with_loops = (time.perf_counter() - started) / 5 * 1000
    return with_numpy, with_loops


class Sampler:
    """The gateway's RSS every ``every`` seconds, in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(memory(self.pid).rss_kb)
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run(args: argparse.Namespace) -> list[str]:
    share = args.executions // 3
    sizes = {TEAM: args.executions - 2 * share, PROD: share, STAGING: share}
    lines: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="execgate-insights-") as folder,
        Procs(Path(folder), pin=False) as procs,
    ):
        work = Path(folder)
        urls: dict[str, str] = {}
        credentials = {TEAM: "bench-team-token", PROD: "bench-prod-key", STAGING: "bench-stage-key"}
        started = time.monotonic()
        for number, (name, kind) in enumerate(((TEAM, "team"), (PROD, "n8n"), (STAGING, "n8n"))):
            port = free_port()
            flag = "--token" if kind == "team" else "--api-key"
            proc = procs.spawn(
                name,
                [
                    sys.executable,
                    "-m",
                    "bench.simserve",
                    kind,
                    "--port",
                    str(port),
                    "--seed",
                    str(7 + number),
                    "--executions",
                    str(sizes[name]),
                    flag,
                    credentials[name],
                ],
                port=port,
            )
            urls[name] = proc.url
        for proc in list(procs.running):
            procs.wait_http(proc, "/__stats", timeout=300)
        print(f"simulators up in {time.monotonic() - started:.0f} s", file=sys.stderr)
        from execgate.simulate.generate import DEMO_TEAM_ID

        config = work / "gateway.toml"
        config.write_text(
            f'[[instances]]\nname = "{TEAM}"\nkind = "team"\nbase_url = "{urls[TEAM]}"\n'
            f'team_id = "{DEMO_TEAM_ID}"\ntoken_env = "B_TEAM"\n\n'
            f'[[instances]]\nname = "{PROD}"\nkind = "n8n"\nbase_url = "{urls[PROD]}"\n'
            'api_key_env = "B_PROD"\n\n'
            f'[[instances]]\nname = "{STAGING}"\nkind = "n8n"\nbase_url = "{urls[STAGING]}"\n'
            'api_key_env = "B_STAGE"\n\n'
            "[server]\nrequest_timeout_seconds = 600.0\n"
        )
        port = free_port()
        gateway = procs.spawn(
            "gateway",
            [
                sys.executable,
                "-m",
                "execgate",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            env={
                "B_TEAM": credentials[TEAM],
                "B_PROD": credentials[PROD],
                "B_STAGE": credentials[STAGING],
            },
            port=port,
        )
        procs.wait_http(gateway, "/healthz")
        after = (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).isoformat()
        client = httpx.Client(base_url=gateway.url, timeout=900)

        before = _calls(urls)
        t = time.perf_counter()
        cold = _post(client, STATS, after=after)["executionStats"]
        cold_ms = (time.perf_counter() - t) * 1000
        cold_calls = _calls(urls) - before
        print(
            f"cold: {cold_ms:.0f} ms, {cold_calls} requests, {cold['scanned']} read",
            file=sys.stderr,
        )
        repeats = []
        for _ in range(args.repeats):
            time.sleep(args.pause)
            each = _by_instance(urls)
            t = time.perf_counter()
            again = _post(client, STATS, after=after)["executionStats"]
            ms = (time.perf_counter() - t) * 1000
            each = {k: v - each[k] for k, v in _by_instance(urls).items()}
            repeats.append((ms, sum(each.values()), again["scanned"]))
            print(f"repeat: {ms:.0f} ms, requests {each}, {again['scanned']} read", file=sys.stderr)
        if args.stats_only:
            client.close()
            return [f"stats cold {cold_ms:,.0f} ms; repeated {[round(r[0]) for r in repeats]} ms"]
        before = _calls(urls)
        t = time.perf_counter()
        listed, health = recipe(client, after)
        recipe_ms = (time.perf_counter() - t) * 1000
        recipe_calls = _calls(urls) - before
        print(
            f"recipe: {recipe_ms:.0f} ms, {recipe_calls} requests, {listed} listed", file=sys.stderr
        )
        with_numpy, with_loops = aggregation(args.executions)
        print(f"aggregation: numpy {with_numpy:.1f} ms, loops {with_loops:.1f} ms", file=sys.stderr)

        t = time.perf_counter()
        rows = size = 0
        with (
            Sampler(gateway.pid) as sampler,
            client.stream("GET", "/export", params={"format": "csv", "days": "31"}) as answer,
        ):
            answer.raise_for_status()
            tail = b""
            for chunk in answer.iter_raw():
                size += len(chunk)
                rows += chunk.count(b"\r\n")
                tail = chunk[-200:]
        export_s = time.perf_counter() - t
        rows -= 1  # the header
        peak = memory(gateway.pid).hwm_kb
        rss = sampler.samples

        overall = cold["overall"]
        stats_by_workflow = {b["workflow"]["id"]: b for b in cold["buckets"]}
        same = all(
            stats_by_workflow[w]["count"] >= h["count"] - h["running"]
            for w, h in health.items()
            if w in stats_by_workflow
        )
        repeat_ms = [r[0] for r in repeats]
        repeat_calls = [r[1] for r in repeats]
        lean = sum(1 for c in repeat_calls if c < 100)
        lines += [
            f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: `python -m bench.insights "
            f"--executions {args.executions} --repeats {args.repeats}`",
            "",
            f"- data: {args.executions:,} executions over three simulators as their own processes "
            f"({sizes[TEAM]:,} team-style, {sizes[PROD]:,} and {sizes[STAGING]:,} n8n; "
            "`bench/simserve.py`, the Python simulators: a dated list takes its window from an "
            "index by time, a list of active ones the executions still moving), the last 30 "
            "days; the gateway is `execgate serve`, default settings, its own process; backend "
            "requests counted by the simulators",
            f"- window: every execution (`startedAfter` 31 days ago), {overall['count']:,} "
            f"executions, {cold['bucketCount']} workflows",
            "",
            "| | wall time | backend requests | executions read |",
            "|---|---:|---:|---:|",
            f"| `executionStats` cold (groupBy WORKFLOW) | {cold_ms:,.0f} ms | {cold_calls:,} | "
            f"{cold['scanned']:,} |",
            f"| `executionStats` repeated (median of {len(repeats)}, {args.pause:g} s apart) | "
            f"{statistics.median(repeat_ms):,.0f} ms (max {max(repeat_ms):,.0f}) | "
            f"{statistics.median(repeat_calls):,.0f} (max {max(repeat_calls)}) | "
            f"{statistics.median(r[2] for r in repeats):,.0f} |",
            f"| seed 002 recipe: list everything (feed pages of 100), compute locally | "
            f"{recipe_ms:,.0f} ms | {recipe_calls:,} | {listed:,} |",
            f"| *recipe ÷ stats cold* | {recipe_ms / cold_ms:.1f}x | "
            f"{recipe_calls / max(cold_calls, 1):.1f}x | |",
            f"| *recipe ÷ stats repeated* | {recipe_ms / statistics.median(repeat_ms):,.0f}x | "
            f"{recipe_calls / max(statistics.median(repeat_calls), 1):,.0f}x | |",
            "",
            f"Repeated answers that read only each instance's head and active executions (and "
            f"three counts on the team-style instance): {lean} of {len(repeat_calls)}"
            + (
                f"; the others read an instance in full ({max(repeat_calls)} requests at most). "
                if lean < len(repeat_calls)
                else ". "
            )
            + f"Per-workflow counts agree with the recipe's: {'yes' if same else 'NO'}.",
            "",
            f"Aggregation alone, {args.executions:,} executions grouped by workflow with "
            f"percentiles, in process: numpy {with_numpy:.1f} ms, hand-written loops "
            f"{with_loops:.1f} ms ({with_loops / with_numpy:.1f}x).",
            "",
            f"Export: `GET /export?format=csv&days=31`, {rows:,} rows (one per node run) of "
            f"{overall['count']:,} executions, {size / 1e6:,.1f} MB in {export_s:,.1f} s: "
            f"**{rows / export_s:,.0f} rows/s**; gateway RSS sampled every 0.2 s: start "
            f"{rss[0] / 1024:.0f} MB, peak {max(rss) / 1024:.0f} MB (VmHWM {peak / 1024:.0f} MB "
            f"for the whole run), end {rss[-1] / 1024:.0f} MB. Last bytes: "
            f"`{tail.decode(errors='replace').splitlines()[-1][:60]}…`",
        ]
        client.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.insights", description=__doc__)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between repeats")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--stats-only", action="store_true", help="only the statistics, cold and repeated"
    )
    args = parser.parse_args(argv)
    lines = run(args)
    text = "\n".join(lines)
    print(text)
    if not (args.no_write or args.stats_only):
        current = RESULTS.read_text()
        block = f"{BEGIN}\n{text}\n{END}"
        if BEGIN in current:
            head, _, rest = current.partition(BEGIN)
            _, _, tail = rest.partition(END)
            RESULTS.write_text(head + block + tail)
        else:
            RESULTS.write_text(
                current.rstrip() + "\n\n## Statistics and exports\n\n" + block + "\n"
            )
    return 0


if __name__ == "__main__":
    asyncio.run(asyncio.sleep(0))
    raise SystemExit(main())
