"""Benchmark execgate against a direct asyncio client and against Hive Gateway.

    .venv/bin/python -m bench.run            # the full run (about 8 minutes on 2 cores)
    .venv/bin/python -m bench.run --quick    # a smoke run (about 2 minutes)
    .venv/bin/python -m bench.run --trials 3 # each cell the median of 3 interleaved trials

Every process is separate and binds 127.0.0.1: three simulators (``execgate simulate`` with a
request counter, see ``bench/simserve.py``), the gateway (``execgate serve --config``, one
uvicorn worker; a fresh process for every cell), the direct baseline (``bench/baseline.py``),
Hive Gateway (``bench/peer.py``) and the load generator (``bench/loadgen.py``). With
``taskset`` the gateway, the baseline and Hive run on core 0, the simulators and the load
generator on core 1. Everything is stopped at the end, on errors and on Ctrl-C.

For each workload (``bench/workloads.py``) and each backend latency it measures:

- ``execgate cold``: the shared execution cache off, so every query pays every backend call;
- ``execgate warm``: the same page polled again (cache on, primed);
- ``baseline``: the backend calls the answer needs, made directly with aiohttp (httpx when
  aiohttp is missing);
- ``hive gateway``: W1 and W4 through Hive Gateway over the simulator's OpenAPI document.

It prints one table per workload and the targets, and writes the generated part of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bench import peer
from bench.procs import HOST, Proc, Procs, StartError, free_port, get_json, post_json
from bench.profile import summarise_collapsed
from bench.report import (
    BASELINE,
    BASELINE_1,
    EXECGATE_COLD,
    EXECGATE_COLD_1,
    EXECGATE_WARM,
    HIVE,
    Cell,
    Soak,
    goals,
    median_trial,
    render,
    workload_table,
    write_results,
)
from bench.workloads import (
    N8N_PROD,
    N8N_STAGING,
    TEAM,
    WORKLOADS,
    body,
    execution_ref,
    fingerprint,
    refetch_query,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
SERVER_CPU = "0"
SIDE_CPU = "1"
HIVE_WORKLOADS = {"W1": 20, "W4": 100}
SIMULATORS = (
    # name, kind, seed offset, executions (the embedded demo's instances)
    (TEAM, "team", 0, 450),
    (N8N_PROD, "n8n", 1, 450),
    (N8N_STAGING, "n8n", 2, 200),
)
IDS_QUERY = "query { executions(first: 50) { edges { node { id } } } }"
SKELETON = """# execgate benchmark results

Run with `.venv/bin/python -m bench.run` (about 8 minutes on 2 cores; `--quick` for a 2-minute
smoke run, `--help` for the options). The section between the markers below is rewritten by
every run that is not `--no-write`; the analysis after it is written by hand.

{generated}

## Analysis

(Not written yet.)
"""


@dataclass
class Group:
    """The simulators of one backend latency, and what the gateway and baseline need."""

    latency: float
    sims: dict[str, Proc]
    team_id: str
    env: dict[str, str]
    toml: Path
    baseline_config: Path
    ids: list[str] | None = None
    notes: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Procs, workdir: Path) -> None:
        self.args = args
        self.procs = procs
        self.workdir = workdir
        self.py = sys.executable
        self.cells: list[Cell] = []
        self.soak: Soak | None = None
        self.started = time.monotonic()
        self.hive: peer.Hive | None = None
        self.hive_note: str | None = None
        self.cache_note = ""
        self.baseline_client = ""
        self.profiles: list[str] = []
        self.transports: dict[str, float] = {}
        self.transports_note = "not run (--no-transports)"
        self._n = 0
        self.credentials = {
            TEAM: "sdk_" + secrets.token_urlsafe(18),
            N8N_PROD: secrets.token_urlsafe(18),
            N8N_STAGING: secrets.token_urlsafe(18),
        }

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    # --- processes ------------------------------------------------------------------------

    def start_group(self, latency: float) -> Group:
        sims: dict[str, Proc] = {}
        for name, kind, offset, executions in SIMULATORS:
            port = free_port()
            flag = "--token" if kind == "team" else "--api-key"
            argv = [
                self.py, "-m", "bench.simserve", kind, "--port", str(port),
                "--seed", str(self.args.seed + offset), "--executions", str(executions),
                # "--flag=value": a random credential may start with "-"
                "--latency-ms", f"{latency:g}", f"{flag}={self.credentials[name]}",
            ]  # fmt: skip
            sims[name] = self.procs.spawn(f"sim-{name}", argv, cpu=SIDE_CPU, cwd=REPO, port=port)
        for proc in sims.values():
            self.procs.wait_http(proc, "/__stats", timeout=60)
        found = re.search(r"team_id = (\S+)", sims[TEAM].log.read_text())
        if found is None:
            raise StartError("the team-style simulator did not print its team_id")
        team_id = found.group(1)
        env = {
            "BENCH_ACME_TOKEN": self.credentials[TEAM],
            "BENCH_N8N_PROD_KEY": self.credentials[N8N_PROD],
            "BENCH_N8N_STAGING_KEY": self.credentials[N8N_STAGING],
        }
        toml = self.workdir / f"gateway-{latency:g}ms.toml"
        toml.write_text(
            f'[[instances]]\nname = "{TEAM}"\nkind = "team"\nbase_url = "{sims[TEAM].url}"\n'
            f'team_id = "{team_id}"\ntoken_env = "BENCH_ACME_TOKEN"\n\n'
            f'[[instances]]\nname = "{N8N_PROD}"\nkind = "n8n"\nbase_url = "{sims[N8N_PROD].url}"\n'
            f'api_key_env = "BENCH_N8N_PROD_KEY"\n\n'
            f'[[instances]]\nname = "{N8N_STAGING}"\nkind = "n8n"\n'
            f'base_url = "{sims[N8N_STAGING].url}"\napi_key_env = "BENCH_N8N_STAGING_KEY"\n\n'
            "[server]\nmax_first = 100\n"
        )
        baseline_config = self.workdir / f"baseline-{latency:g}ms.json"
        baseline_config.write_text(
            json.dumps(
                {
                    TEAM: {
                        "kind": "team",
                        "base_url": sims[TEAM].url,
                        "team_id": team_id,
                        "credential_env": "BENCH_ACME_TOKEN",
                    },
                    N8N_PROD: {
                        "kind": "n8n",
                        "base_url": sims[N8N_PROD].url,
                        "credential_env": "BENCH_N8N_PROD_KEY",
                    },
                    N8N_STAGING: {
                        "kind": "n8n",
                        "base_url": sims[N8N_STAGING].url,
                        "credential_env": "BENCH_N8N_STAGING_KEY",
                    },
                }
            )
        )
        return Group(latency, sims, team_id, env, toml, baseline_config)

    def stop_group(self, group: Group) -> None:
        for proc in group.sims.values():
            self.procs.stop(proc)

    def sim_routes(self, group: Group) -> Counter[str]:
        counts: Counter[str] = Counter()
        for name, proc in group.sims.items():
            stats = get_json(proc.url + "/__stats")
            for route, n in stats["routes"].items():
                counts[f"{name} {route}"] += n
        return counts

    # --- one measurement ------------------------------------------------------------------

    def measure(
        self,
        group: Group,
        workload: str,
        target: str,
        server: Proc,
        url: str,
        payload: bytes,
        *,
        prime: int = 0,
        duration: float | None = None,
        warmup: float | None = None,
        concurrency: int | None = None,
    ) -> Cell:
        soak = duration is not None
        concurrency = concurrency or self.args.concurrency
        self._n += 1
        body_path = self.workdir / f"body-{self._n:03d}.json"
        body_path.write_bytes(payload)
        for _ in range(prime):
            post_json(url, payload)
        before = self.sim_routes(group)
        out = self.workdir / f"loadgen-{self._n:03d}.json"
        sample = self.workdir / f"sample-{self._n:03d}.json"
        duration = self.args.duration if duration is None else duration
        warmup = self.args.warmup if warmup is None else warmup
        argv = [
            self.py, "-m", "bench.loadgen", "--url", url, "--body-file", str(body_path),
            "--concurrency", str(concurrency), "--duration", str(duration),
            "--warmup", str(warmup), "--watch", f"server={server.pid}",
            "--min-requests", str(0 if soak else self.args.min_requests),
            "--max-duration", str(duration if soak else max(duration, self.args.max_duration)),
            *(a for name, p in group.sims.items() for a in ("--watch", f"sim-{name}={p.pid}")),
            "--out", str(out), "--sample-out", str(sample),
        ]  # fmt: skip
        generator = self.procs.spawn("loadgen", argv, cpu=SIDE_CPU, cwd=REPO)
        try:
            code = generator.popen.wait(
                timeout=warmup + max(duration, self.args.max_duration) + 120
            )
        finally:
            self.procs.stop(generator)
        if code != 0:
            return Cell(group.latency, workload, target, {}, None, error=generator.log_tail(3))
        result = json.loads(out.read_text())
        delta = self.sim_routes(group) - before
        completed = max(1, int(result["total_completed"]))
        answer = None
        if sample.exists():
            answer = fingerprint(json.loads(sample.read_bytes()))
        error = None
        if result["ok"] == 0:
            error = (result.get("first_error") or "no answer")[:200].replace("\n", " ")
        cell = Cell(
            group.latency,
            workload,
            target,
            result,
            sum(delta.values()) / completed,
            {route: n / completed for route, n in sorted(delta.items())},
            answer,
            error,
        )
        self.log(
            f"  {workload} {target:<14} {cell.throughput:7.1f} q/s"
            f"  p50 {cell.latency_ms('p50'):7.1f} ms"
            f"  CPU {cell.cpu_ms_per_query:6.2f} ms/q  calls/q {cell.calls_per_query:5.1f}"
            f"  errors {cell.errors}"
        )
        return cell

    def failed(self, group: Group, workload: str, target: str, exc: Exception) -> Cell:
        self.log(f"  {workload} {target}: FAILED {exc}")
        return Cell(group.latency, workload, target, {}, None, error=str(exc).splitlines()[0][:200])

    # --- the targets ------------------------------------------------------------------------

    def gateway_payload(self, group: Group, workload: str, gateway: Proc) -> bytes:
        if workload != "W6":
            return body(WORKLOADS[workload].query)
        if group.ids is None:
            answer = post_json(gateway.url + "/graphql", body(IDS_QUERY))
            group.ids = [e["node"]["id"] for e in answer["data"]["executions"]["edges"]]
        return body(refetch_query(group.ids))

    def run_gateway(
        self,
        group: Group,
        workload: str,
        *,
        cold: bool,
        duration: float | None = None,
        warmup: float | None = None,
        profile: bool = False,
        concurrency: int | None = None,
    ) -> Cell:
        target = EXECGATE_COLD if cold else EXECGATE_WARM
        if concurrency == 1:
            target = EXECGATE_COLD_1 if cold else target
        port = free_port()
        argv = [self.py, "-m", "bench.gateserve"]
        if cold:
            argv.append("--no-cache")
        argv += ["--config", str(group.toml), "--host", HOST, "--port", str(port)]
        name = f"gateway-{workload}-{'cold' if cold else 'warm'}"
        gateway = self.procs.spawn(name, argv, cpu=SERVER_CPU, env=group.env, cwd=REPO, port=port)
        spy: subprocess.Popen[bytes] | None = None
        try:
            self.procs.wait_http(gateway, "/healthz", timeout=60)
            if cold and not self.cache_note:
                found = re.search(r"bench: shared execution cache (\w+)", gateway.log.read_text())
                self.cache_note = found.group(1) if found else "unknown"
            payload = self.gateway_payload(group, workload, gateway)
            if profile:
                spy = self.start_profile(gateway, workload)
            return self.measure(
                group,
                workload,
                target,
                gateway,
                gateway.url + "/graphql",
                payload,
                prime=0 if cold else 2,
                duration=duration,
                warmup=warmup,
                concurrency=concurrency,
            )
        except (StartError, OSError, KeyError, ValueError, TypeError) as exc:
            return self.failed(group, workload, target, exc)
        finally:
            if spy is not None:
                self.finish_profile(spy, workload)
            self.procs.stop(gateway)

    def run_baseline(self, group: Group, workload: str, concurrency: int | None = None) -> Cell:
        target = BASELINE_1 if concurrency == 1 else BASELINE
        port = free_port()
        argv = [self.py, "-m", "bench.baseline", "--config", str(group.baseline_config)]
        argv += ["--host", HOST, "--port", str(port)]
        proc = self.procs.spawn(
            f"baseline-{workload}", argv, cpu=SERVER_CPU, env=group.env, cwd=REPO, port=port
        )
        try:
            self.procs.wait_http(proc, "/healthz", timeout=60)
            found = re.search(r"bench-baseline: client (.+)", proc.log.read_text())
            if found and not self.baseline_client:
                self.baseline_client = found.group(1).strip()
            payload = b"{}"
            if workload == "W6":
                if group.ids is None:
                    raise StartError("no execution ids (the gateway's W6 cell failed)")
                payload = json.dumps({"ids": [list(execution_ref(i)) for i in group.ids]}).encode()
            url = f"{proc.url}/{workload}"
            return self.measure(
                group, workload, target, proc, url, payload, concurrency=concurrency
            )
        except (StartError, OSError, KeyError, ValueError) as exc:
            return self.failed(group, workload, target, exc)
        finally:
            self.procs.stop(proc)

    def run_hive(self, group: Group, workload: str) -> Cell:
        assert self.hive is not None
        port = free_port()
        env = {
            "TEAM_SIM_URL": group.sims[TEAM].url,
            "TEAM_SIM_TOKEN": self.credentials[TEAM],
            "NODE_ENV": "production",
        }
        proc = self.procs.spawn(
            f"hive-{workload}", peer.argv(self.hive, port), cpu=SERVER_CPU, env=env,
            cwd=self.hive.supergraph.parent, port=port,
        )  # fmt: skip
        try:
            self.procs.wait_http(proc, "/healthcheck", timeout=60)
            payload = body(peer.query(group.team_id, HIVE_WORKLOADS[workload]))
            answer = post_json(proc.url + "/graphql", payload)
            if answer.get("errors"):
                raise StartError(f"Hive answered errors: {json.dumps(answer['errors'])[:300]}")
            return self.measure(group, workload, HIVE, proc, proc.url + "/graphql", payload)
        except (StartError, OSError, KeyError, ValueError) as exc:
            return self.failed(group, workload, HIVE, exc)
        finally:
            self.procs.stop(proc)

    # --- profiling ------------------------------------------------------------------------

    def start_profile(self, gateway: Proc, workload: str) -> subprocess.Popen[bytes] | None:
        spy = shutil.which("py-spy") or str(Path(self.py).parent / "py-spy")
        if not Path(spy).exists():
            self.log("  py-spy is not installed (pip install py-spy); no profile")
            return None
        out = self.workdir / f"profile-{workload}.txt"
        seconds = int(self.args.warmup + self.args.duration)
        argv = [
            spy, "record", "--pid", str(gateway.pid), "--duration", str(seconds),
            "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking",
        ]  # fmt: skip
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish_profile(self, spy: subprocess.Popen[bytes], workload: str) -> None:
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.terminate()
            spy.wait(timeout=10)
        out = self.workdir / f"profile-{workload}.txt"
        if out.exists():
            text = summarise_collapsed(out.read_text(), title=f"cold {workload}")
            self.profiles.append(text)
            keep = Path(tempfile.gettempdir()) / f"execgate-bench-profile-{workload}.txt"
            shutil.copy(out, keep)
            self.log(f"  profile: {keep} (collapsed stacks)")
            print(text, flush=True)

    # --- the run --------------------------------------------------------------------------

    def run(self) -> None:
        args = self.args
        if not args.no_hive:
            self.log("preparing the Hive Gateway peer ...")
            prepared = peer.prepare(self.workdir, self.log)
            if isinstance(prepared, str):
                self.hive_note = prepared
                self.log(f"no Hive Gateway peer: {prepared}")
            else:
                self.hive = prepared
                self.log(f"Hive Gateway {prepared.version} on node {prepared.node_version}")
        else:
            self.hive_note = "skipped (--no-hive)"
        for latency in args.latencies:
            self.log(f"starting the simulators with {latency:g} ms latency per request")
            group = self.start_group(latency)
            try:
                workloads = (
                    args.workloads
                    if latency == 0
                    else [w for w in args.workloads if w in args.latency_workloads]
                )
                for workload in workloads:
                    self.log(f"{workload}: {WORKLOADS[workload].title} ({latency:g} ms)")
                    # Trials interleave the targets (cold, warm, baseline, Hive, ...), so a
                    # slow spell of the machine falls on all of them, not on one.
                    trials: dict[str, list[Cell]] = {}
                    for trial in range(args.trials):
                        if args.trials > 1:
                            self.log(f"  trial {trial + 1} of {args.trials}")
                        for cell in self.workload_cells(group, workload, latency):
                            trials.setdefault(cell.target, []).append(cell)
                    self.cells.extend(median_trial(cells) for cells in trials.values())
                    print("\n" + workload_table(self.cells, latency, workload) + "\n", flush=True)
                if latency == 0 and args.soak_seconds > 0:
                    self.run_soak(group)
                if latency == 0 and not args.no_transports:
                    self.run_transports(group)
                for workload in args.profile if latency == 0 else []:
                    self.log(f"profiling a cold {workload} gateway with py-spy (not in the tables)")
                    self.run_gateway(group, workload, cold=True, profile=True)
            finally:
                self.stop_group(group)

    def workload_cells(self, group: Group, workload: str, latency: float) -> list[Cell]:
        """One trial of a workload: every target measured once."""
        args = self.args
        cells = [
            self.run_gateway(group, workload, cold=True),
            self.run_gateway(group, workload, cold=False),
            self.run_baseline(group, workload),
        ]
        if self.hive is not None and workload in args.hive_workloads and latency == 0:
            cells.append(self.run_hive(group, workload))
        if latency > 0 and workload in args.solo_workloads:
            # Unloaded latency: one connection, so p50 is not queueing.
            cells.append(self.run_gateway(group, workload, cold=True, concurrency=1))
            cells.append(self.run_baseline(group, workload, concurrency=1))
        return cells

    def run_soak(self, group: Group) -> None:
        seconds = self.args.soak_seconds
        self.log(f"soak: W3 on a warm gateway for {seconds:g} s, RSS sampled every second")
        cell = self.run_gateway(group, "W3", cold=False, duration=seconds, warmup=5.0)
        series = cell.server().get("rss_kb", [])
        self.soak = Soak(seconds, [kb / 1024 for kb in series], cell.throughput, cell.errors)

    def run_transports(self, group: Group) -> None:
        """bench/transports.py against the team-style simulator, on the gateway's core."""
        self.log("transports: client CPU per backend read through each transport")
        argv = [
            self.py, "-m", "bench.transports", "--url", group.sims[TEAM].url,
            "--team-id", group.team_id, "--token-env", "BENCH_ACME_TOKEN",
        ]  # fmt: skip
        if self.procs.taskset is not None:
            argv = [self.procs.taskset, "-c", SERVER_CPU, *argv]
        try:
            done = subprocess.run(
                argv,
                env={**os.environ, **group.env},
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            self.transports = {k: float(v) for k, v in measured["transports_us_per_read"].items()}
        except (subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError) as exc:
            self.transports_note = f"not measured ({type(exc).__name__})"
            self.log(f"  transports {self.transports_note}")
            return
        self.log("  " + transports_line(self.transports))


def transports_line(measured: dict[str, float]) -> str:
    base = measured.get("aiohttp")
    parts = []
    for kind, micros in measured.items():
        ratio = f" ({micros / base:.2f}x aiohttp)" if base and kind != "aiohttp" else ""
        parts.append(f"{kind} {micros:.0f} µs{ratio}")
    return ", ".join(parts)


def machine() -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for package in ("strawberry-graphql", "starlette", "uvicorn", "httpx"):
        try:
            from importlib.metadata import version

            versions.append(f"{package} {version(package)}")
        except Exception:
            continue
    return [
        f"{os.cpu_count()} x {model}",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        + ", ".join(versions),
        f"{platform.system()} {platform.release()}",
    ]


def header(bench: Bench, args: argparse.Namespace) -> list[str]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    hive = (
        f"Hive Gateway {bench.hive.version} on node {bench.hive.node_version}"
        if bench.hive
        else f"Hive Gateway: not run — {bench.hive_note}"
    )
    pin = (
        "gateway/baseline/Hive pinned to core 0, simulators and load generator to core 1 (taskset)"
        if bench.procs.pinned
        else "no CPU pinning"
    )
    return [
        f"Run {now}: `{' '.join(['python -m bench.run', *args.argv])}`",
        "",
        "- Machine: " + "; ".join(machine()),
        f"- {pin}",
        f"- {args.concurrency} concurrent connections, {args.warmup:g} s warm-up then "
        f"{args.duration:g} s measured per cell (extended until {args.min_requests} answers, "
        f"at most {args.max_duration:g} s); a fresh server process per cell",
        *(
            [
                f"- each cell is the median of {args.trials} interleaved trials by q/s (every "
                "figure in a row comes from that one trial)"
            ]
            if args.trials > 1
            else []
        ),
        f"- cold = shared execution cache {bench.cache_note or 'off'} in the gateway process "
        "(every query pays every backend call); warm = the same page polled again",
        f"- baseline = direct {bench.baseline_client or 'asyncio'} client (bench/baseline.py) "
        "behind uvicorn; load generator = bench/loadgen.py (raw asyncio sockets, HTTP/1.1 "
        "keep-alive)",
        f"- {hive}",
        "- CPU ms/q and server CPU % are the measured server process's (utime+stime from "
        "/proc); calls/q are counted at the simulators; peak RSS is VmHWM",
        "- transports (bench/transports.py: client CPU per detail read of the team-style "
        "simulator through each `transport` setting, 16 in flight, median of 5 interleaved "
        "rounds; execgate uses http11): "
        + (transports_line(bench.transports) if bench.transports else bench.transports_note),
    ]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a ~2 minute smoke run")
    parser.add_argument("--latency-ms", default=None, help="backend latencies, e.g. 0,10")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=None, help="unmeasured seconds per cell")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--min-requests",
        type=int,
        default=None,
        help="extend a cell until this many answers (default 2 x concurrency; 8 with --quick)",
    )
    parser.add_argument(
        "--max-duration", type=float, default=None, help="a cell's longest window (30 s; 8 s quick)"
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument(
        "--latency-workloads",
        default="W1,W2,W3,W4",
        help="workloads also run at the non-zero latencies",
    )
    parser.add_argument(
        "--solo-workloads",
        default="W1",
        help="workloads also run with one connection at the non-zero latencies (p50 unloaded)",
    )
    parser.add_argument("--no-hive", action="store_true", help="skip the Hive Gateway peer")
    parser.add_argument("--hive-workloads", default="W1,W4")
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=None,
        help="W3 RSS soak length (default 60, 0 with --quick)",
    )
    parser.add_argument("--soak", action="store_true", help="run the 60 s soak even with --quick")
    parser.add_argument(
        "--profile", metavar="W1,W2", default="", help="py-spy a cold gateway on these workloads"
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=1,
        help="measure every cell this many times, interleaved, and keep the median trial",
    )
    parser.add_argument(
        "--no-transports", action="store_true", help="skip the transport comparison"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    parser.add_argument("--json", help="also write every cell's raw numbers here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    args.argv = argv
    quick = args.quick
    if args.duration is None:
        args.duration = 2.0 if quick else 5.0
    if args.warmup is None:
        args.warmup = 0.5 if quick else 1.0
    if args.min_requests is None:
        args.min_requests = 8 if quick else 2 * args.concurrency
    if args.max_duration is None:
        args.max_duration = 8.0 if quick else 30.0
    if args.latency_ms is None:
        args.latency_ms = "0" if quick else "0,10"
    if args.soak_seconds is None:
        args.soak_seconds = 60.0 if (args.soak or not quick) else 0.0
    args.latencies = [float(v) for v in args.latency_ms.split(",") if v.strip()]
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    args.latency_workloads = {w.strip().upper() for w in args.latency_workloads.split(",")}
    args.hive_workloads = {w.strip().upper() for w in args.hive_workloads.split(",")}
    args.solo_workloads = {w.strip().upper() for w in args.solo_workloads.split(",") if w.strip()}
    if quick and "--hive-workloads" not in " ".join(argv):
        args.hive_workloads = {"W1"}
    args.profile = [w.strip().upper() for w in args.profile.split(",") if w.strip()]
    unknown = [w for w in [*args.workloads, *args.profile] if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s): {unknown}; known: {', '.join(WORKLOADS)}")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="execgate-bench-"))
    keep = args.keep
    try:
        with Procs(workdir, pin=not args.no_pin) as procs:
            bench = Bench(args, procs, workdir)
            bench.run()
    except KeyboardInterrupt:
        print("\ninterrupted: every process was stopped", file=sys.stderr)
        return 130
    except Exception:
        keep = True
        print(f"\nthe run failed; logs are in {workdir}", file=sys.stderr)
        raise
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    goal_list = goals(bench.cells, bench.soak, bench.hive_note)
    text = render(bench.cells, bench.soak, goal_list, header(bench, args))
    print("\n" + "\n".join(g.line() for g in goal_list))
    if args.json:
        Path(args.json).write_text(
            json.dumps([c.__dict__ for c in bench.cells], default=str, indent=1)
        )
    if not args.no_write:
        for profile in bench.profiles:
            title, _, rest = profile.partition("\n")
            text += f"\n\n**Profile** (py-spy, {title})\n\n```{rest}\n```"
        write_results(RESULTS, text, SKELETON)
        print(f"\nwrote {RESULTS.relative_to(REPO)}")
    if keep:
        print(f"logs: {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
