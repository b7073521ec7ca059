"""Benchmark execgate against a direct asyncio client and against Hive Gateway.

    .venv/bin/python -m bench.run            # the full run (about 25 minutes on 2 cores)
    .venv/bin/python -m bench.run --quick    # a smoke run (about 2 minutes)
    .venv/bin/python -m bench.run --trials 3 # each cell the median of 3 interleaved trials

Every request carries its own variables by default, as real clients' do (``bench/bodies.py``):
W1-W5 a distinct far-future ``startedBefore`` (the same executions, a new backend URL every
time), W6 its ids in a distinct order. ``--identical`` repeats one body instead; without it,
W1 and W4 are also measured with one repeated body (``--identical-workloads``), beside.

Every process is separate and binds 127.0.0.1: the backend (nginx serving the simulators'
answers, ``bench/static.py``; or ``--backend sims``: three ``execgate simulate`` processes with
a request counter, ``bench/simserve.py``), the gateway (``execgate serve --config``, one uvicorn
worker; a fresh process for every cell), the direct baseline (``bench/baseline.py``), Hive
Gateway (``bench/peer.py``) and the load generator (``bench/loadgen.py``). With ``taskset`` the
gateway, the baseline and Hive run on core 0, the backend and the load generator on core 1.
Everything is stopped at the end, on errors and on Ctrl-C. Nothing is installed: without
nginx the run says which apt command brings it and stops.

For each workload (``bench/workloads.py``) and each backend latency it measures:

- ``execgate cold``: the gateway configured with ``[cache] enabled = false`` (nothing kept in
  the shared execution cache, nothing shared between concurrent requests), so every query
  pays every backend call;
- ``execgate warm``: the default configuration, primed with two requests;
- ``baseline``: the backend calls the answer needs, made directly with aiohttp, with the same
  per-request value;
- ``hive gateway``: W1 and W4 through Hive Gateway over the team-style OpenAPI document.

Then the live soak (``--soak-live SECONDS``): the default gateway over ``bench/livefeed.py``,
whose feed grows by ``--live-rate`` executions a second on each of its two APIs, asked for
the newest merged page with node data; the gateway's RSS is sampled every second.

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
from typing import TYPE_CHECKING

from bench import peer, static
from bench.bodies import MARKER, BodyMaker, template
from bench.procs import HOST, Proc, Procs, StartError, free_port, get_json, post_json
from bench.profile import summarise_collapsed
from bench.report import (
    BACKEND_LIMIT,
    BASELINE,
    BASELINE_1,
    EXECGATE_COLD,
    EXECGATE_COLD_1,
    EXECGATE_COLD_SAME,
    EXECGATE_WARM,
    EXECGATE_WARM_SAME,
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
    baseline_bodies,
    body,
    fingerprint,
    gateway_bodies,
)

if TYPE_CHECKING:
    from execgate.simulate.generate import Style

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
SERVER_CPU = "0"
SIDE_CPU = "1"
HIVE_WORKLOADS = {"W1": 20, "W4": 100}
SIMULATORS: tuple[tuple[str, Style, int, int], ...] = (
    # name, kind, seed offset, executions (the embedded demo's instances)
    (TEAM, "team", 0, 450),
    (N8N_PROD, "n8n", 1, 450),
    (N8N_STAGING, "n8n", 2, 200),
)
IDS_QUERY = "query { executions(first: 50) { edges { node { id } } } }"
LIVE_QUERY = (
    "query Live($before: DateTime) { executions(first: 50, filter: {startedBefore: $before}) "
    "{ pageInfo { hasNextPage endCursor } edges { node { id nativeId status startedAt "
    "finishedAt durationMs errorMessage instance { name } workflow { id name } nodeExecutions "
    "{ nodeName nodeType status startedAt durationMs errorMessage inputData outputData } } } } }"
)
COLD_CACHE = "[cache]\nenabled = false\n"
"""What makes a gateway cold: its shared execution cache and in-flight sharing switched off."""
SKELETON = """# execgate benchmark results

Run with `.venv/bin/python -m bench.run` (`--quick` for a 2-minute smoke run, `--help` for the
options). The section between the markers below is rewritten by every run that is not
`--no-write`; the analysis after it is written by hand.

{generated}

## Analysis

(Not written yet.)
"""


@dataclass
class Group:
    """The backend of one latency, and what the gateway and baseline need to reach it."""

    latency: float
    backend: str
    """``nginx`` or ``sims``."""
    procs: dict[str, Proc]
    urls: dict[str, str]
    team_id: str
    env: dict[str, str]
    toml: Path
    cold_toml: Path
    baseline_config: Path
    watch: dict[str, int] = field(default_factory=dict)
    """Backend processes to sample: name (``backend-...``) → pid."""
    log: static.RouteLog | None = None
    ids: list[str] | None = None


def gateway_toml(urls: dict[str, str], team_id: str, *, cold: bool, names: dict[str, str]) -> str:
    """The gateway's configuration over the three instances (``[cache] enabled = false`` when
    ``cold``)."""
    text = (
        f'[[instances]]\nname = "{TEAM}"\nkind = "team"\nbase_url = "{urls[TEAM]}"\n'
        f'team_id = "{team_id}"\ntoken_env = "{names[TEAM]}"\n\n'
        f'[[instances]]\nname = "{N8N_PROD}"\nkind = "n8n"\nbase_url = "{urls[N8N_PROD]}"\n'
        f'api_key_env = "{names[N8N_PROD]}"\n\n'
        f'[[instances]]\nname = "{N8N_STAGING}"\nkind = "n8n"\n'
        f'base_url = "{urls[N8N_STAGING]}"\napi_key_env = "{names[N8N_STAGING]}"\n\n'
        "[limits]\nmax_first = 100\n"
    )
    return text + ("\n" + COLD_CACHE if cold else "")


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
        self.baseline_client = ""
        self.backend_notes: list[str] = []
        self.profiles: list[str] = []
        self.data_dir: Path | None = None
        self._n = 0
        self.credentials = {
            TEAM: "sdk_" + secrets.token_urlsafe(18),
            N8N_PROD: secrets.token_urlsafe(18),
            N8N_STAGING: secrets.token_urlsafe(18),
        }
        self.env_names = {
            TEAM: "BENCH_ACME_TOKEN",
            N8N_PROD: "BENCH_N8N_PROD_KEY",
            N8N_STAGING: "BENCH_N8N_STAGING_KEY",
        }

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def note(self, message: str) -> None:
        """A note for the results' header (said loudly now, too)."""
        if message not in self.backend_notes:
            self.backend_notes.append(message)
        self.log(f"NOTE: {message}")

    # --- backends -------------------------------------------------------------------------

    def backend_for(self, latency: float) -> str:
        if self.args.backend == "sims":
            return "sims"
        if latency > 0 and static.echo_module() is None:
            self.note(
                f"{latency:g} ms cells use the Python simulators: nginx's echo module is not "
                f"installed ({static.APT_HINT})"
            )
            return "sims"
        return "nginx"

    def start_group(self, latency: float) -> Group:
        kind = self.backend_for(latency)
        if kind == "nginx":
            procs, urls, watch, log = self.start_nginx(latency)
        else:
            procs, urls, watch, log = self.start_sims(latency), {}, {}, None
            urls = {name: proc.url for name, proc in procs.items()}
            watch = {f"backend-{name}": proc.pid for name, proc in procs.items()}
        from execgate.simulate.generate import DEMO_TEAM_ID

        env = {self.env_names[name]: self.credentials[name] for name in self.credentials}
        toml = self.workdir / f"gateway-{latency:g}ms.toml"
        toml.write_text(gateway_toml(urls, DEMO_TEAM_ID, cold=False, names=self.env_names))
        cold_toml = self.workdir / f"gateway-{latency:g}ms-cold.toml"
        cold_toml.write_text(gateway_toml(urls, DEMO_TEAM_ID, cold=True, names=self.env_names))
        baseline_config = self.workdir / f"baseline-{latency:g}ms.json"
        baseline_config.write_text(
            json.dumps(
                {
                    name: {
                        "kind": kind_of,
                        "base_url": urls[name],
                        **({"team_id": DEMO_TEAM_ID} if kind_of == "team" else {}),
                        "credential_env": self.env_names[name],
                    }
                    for name, kind_of, _, _ in SIMULATORS
                }
            )
        )
        return Group(
            latency, kind, procs, urls, DEMO_TEAM_ID, env, toml, cold_toml, baseline_config,
            watch, log,
        )  # fmt: skip

    def render_data(self) -> Path:
        """The simulators' answers as files, rendered once per run."""
        if self.data_dir is None:
            self.data_dir = self.workdir / "data"
            started = time.monotonic()
            count = 0
            moment = dt.datetime.now(dt.UTC)
            for name, kind, offset, executions in SIMULATORS:
                count += static.render(
                    kind,
                    self.args.seed + offset,
                    executions,
                    self.data_dir / name,
                    credential=self.credentials[name],
                    now=moment,
                )
            static.open_up(self.workdir)
            self.log(
                f"rendered {count} simulator answers in {time.monotonic() - started:.1f} s "
                f"({self.data_dir})"
            )
        return self.data_dir

    def start_nginx(
        self, latency: float
    ) -> tuple[dict[str, Proc], dict[str, str], dict[str, int], static.RouteLog]:
        nginx = static.find_nginx()
        if nginx is None:
            raise StartError(f"nginx is not installed ({static.APT_HINT})")
        data = self.render_data()
        from execgate.simulate.generate import DEMO_TEAM_ID

        sites = []
        for name, kind, _, _ in SIMULATORS:
            team_id = DEMO_TEAM_ID if kind == "team" else None
            site = static.Site(
                name, kind, free_port(), data / name, self.credentials[name], team_id
            )
            sites.append(site)
        base = self.workdir / f"nginx-{latency:g}ms"
        (base / "nginx-temp").mkdir(parents=True)
        access = base / "access.log"
        conf = base / "nginx.conf"
        conf.write_text(
            static.nginx_conf(
                sites, base, latency_ms=latency, module=static.echo_module(), access_log=access
            )
        )
        static.open_up(base)
        argv = [nginx, "-p", str(base), "-c", str(conf), "-e", str(base / "error.log")]
        master = self.procs.spawn(f"nginx-{latency:g}ms", argv, cpu=SIDE_CPU, cwd=base)
        urls = {}
        for site in sites:
            proxy = Proc(site.name, master.popen, master.log, site.port)
            self.procs.wait_http(proxy, "/", timeout=30)
            urls[site.name] = proxy.url
        workers: list[int] = []
        deadline = time.monotonic() + 10
        while not workers and time.monotonic() < deadline:
            workers = static.worker_pids(master.pid)
            time.sleep(0.05)
        if not workers:
            raise StartError("nginx started no worker process")
        watch = {f"backend-nginx-{i}": pid for i, pid in enumerate(workers)}
        log = static.RouteLog(access, {site.port: site.name for site in sites})
        log.read()
        return {"nginx": master}, urls, watch, log

    def start_sims(self, latency: float) -> dict[str, Proc]:
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
        return sims

    def stop_group(self, group: Group) -> None:
        for proc in group.procs.values():
            self.procs.stop(proc)

    def backend_routes(self, group: Group) -> tuple[Counter[str], Counter[str]]:
        """Requests the backend served so far by ``instance method route``, and the answers
        that were not 200 (nginx only)."""
        if group.log is not None:
            time.sleep(0.05)  # nginx logs a request after answering it
            routes, failures = group.log.read()
            return Counter(routes), Counter(failures)
        counts: Counter[str] = Counter()
        for name, proc in group.procs.items():
            stats = get_json(proc.url + "/__stats")
            for route, n in stats["routes"].items():
                counts[f"{name} {route}"] += n
        return counts, Counter()

    # --- one measurement ------------------------------------------------------------------

    def bodies_start(self) -> int:
        """Where a cell's values begin: far from every other cell's, so none repeats."""
        return (self._n + 1) * 1_000_000

    def measure(
        self,
        group: Group,
        workload: str,
        target: str,
        server: Proc,
        url: str,
        bodies: BodyMaker,
        *,
        prime: int = 0,
        duration: float | None = None,
        warmup: float | None = None,
        concurrency: int | None = None,
    ) -> Cell:
        soak = duration is not None
        concurrency = concurrency or self.args.concurrency
        self._n += 1
        for i in range(prime):
            post_json(url, bodies.body(bodies.start - 1 - i))
        spec_path = self.workdir / f"bodies-{self._n:03d}.json"
        spec_path.write_text(json.dumps(bodies.spec()))
        before, failed_before = self.backend_routes(group)
        out = self.workdir / f"loadgen-{self._n:03d}.json"
        sample = self.workdir / f"sample-{self._n:03d}.json"
        duration = self.args.duration if duration is None else duration
        warmup = self.args.warmup if warmup is None else warmup
        argv = [
            self.py, "-m", "bench.loadgen", "--url", url, "--bodies", str(spec_path),
            "--concurrency", str(concurrency), "--duration", str(duration),
            "--warmup", str(warmup), "--watch", f"server={server.pid}",
            "--min-requests", str(0 if soak else self.args.min_requests),
            "--max-duration", str(duration if soak else max(duration, self.args.max_duration)),
            *(a for name, pid in group.watch.items() for a in ("--watch", f"{name}={pid}")),
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
        after, failed_after = self.backend_routes(group)
        delta = after - before
        failures = failed_after - failed_before
        completed = max(1, int(result["total_completed"]))
        answer = None
        if sample.exists():
            answer = fingerprint(json.loads(sample.read_bytes()))
            last = Path(str(sample) + ".last")
            if last.exists() and fingerprint(json.loads(last.read_bytes())) != answer:
                result["answers_vary"] = True
        error = None
        if result["ok"] == 0:
            error = (result.get("first_error") or "no answer")[:200].replace("\n", " ")
        if failures:
            result["backend_failures"] = dict(failures)
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
        flag = " (backend ≥ 70 %)" if cell.backend_cpu_pct >= BACKEND_LIMIT else ""
        self.log(
            f"  {workload} {target:<24} {cell.throughput:7.1f} q/s"
            f"  p50 {cell.latency_ms('p50'):7.1f} ms"
            f"  CPU {cell.cpu_ms_per_query:6.2f} ms/q  calls/q {cell.calls_per_query:5.1f}"
            f"  backend {cell.backend_cpu_pct:3.0f} %{flag}  errors {cell.errors}"
            + (f"  backend answers not 200: {sum(failures.values())}" if failures else "")
        )
        return cell

    def failed(self, group: Group, workload: str, target: str, exc: Exception) -> Cell:
        self.log(f"  {workload} {target}: FAILED {exc}")
        return Cell(group.latency, workload, target, {}, None, error=str(exc).splitlines()[0][:200])

    # --- the targets ------------------------------------------------------------------------

    def ids(self, group: Group, gateway: Proc) -> list[str]:
        if group.ids is None:
            answer = post_json(gateway.url + "/graphql", body(IDS_QUERY))
            group.ids = [e["node"]["id"] for e in answer["data"]["executions"]["edges"]]
        return group.ids

    def run_gateway(
        self,
        group: Group,
        workload: str,
        *,
        cold: bool,
        identical: bool = False,
        duration: float | None = None,
        warmup: float | None = None,
        profile: bool = False,
        concurrency: int | None = None,
    ) -> Cell:
        if identical and not self.args.identical:
            target = EXECGATE_COLD_SAME if cold else EXECGATE_WARM_SAME
        else:
            target = EXECGATE_COLD if cold else EXECGATE_WARM
        if concurrency == 1:
            target = EXECGATE_COLD_1 if cold else target
        port = free_port()
        toml = group.cold_toml if cold else group.toml
        argv = [self.py, "-m", "execgate", "serve", "--config", str(toml)]
        argv += ["--host", HOST, "--port", str(port)]
        name = f"gateway-{workload}-{'cold' if cold else 'warm'}"
        gateway = self.procs.spawn(name, argv, cpu=SERVER_CPU, env=group.env, cwd=REPO, port=port)
        spy: subprocess.Popen[bytes] | None = None
        try:
            self.procs.wait_http(gateway, "/healthz", timeout=60)
            ids = self.ids(group, gateway) if WORKLOADS[workload].vary == "ids" else ()
            bodies = gateway_bodies(
                workload, ids, start=self.bodies_start(), identical=identical or self.args.identical
            )
            label = workload if cold else f"{workload}-warm"
            if profile:
                spy = self.start_profile(gateway, label)
            return self.measure(
                group,
                workload,
                target,
                gateway,
                gateway.url + "/graphql",
                bodies,
                prime=0 if cold else 2,
                duration=duration,
                warmup=warmup,
                concurrency=concurrency,
            )
        except (StartError, OSError, KeyError, ValueError, TypeError) as exc:
            return self.failed(group, workload, target, exc)
        finally:
            if spy is not None:
                self.finish_profile(spy, label)
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
            ids: list[str] = []
            if WORKLOADS[workload].vary == "ids":
                if group.ids is None:
                    raise StartError("no execution ids (the gateway's W6 cell failed)")
                ids = group.ids
            bodies = baseline_bodies(
                workload, ids, start=self.bodies_start(), identical=self.args.identical
            )
            url = f"{proc.url}/{workload}"
            return self.measure(group, workload, target, proc, url, bodies, concurrency=concurrency)
        except (StartError, OSError, KeyError, ValueError) as exc:
            return self.failed(group, workload, target, exc)
        finally:
            self.procs.stop(proc)

    def run_hive(self, group: Group, workload: str) -> Cell:
        assert self.hive is not None
        port = free_port()
        env = {
            "TEAM_SIM_URL": group.urls[TEAM],
            "TEAM_SIM_TOKEN": self.credentials[TEAM],
            "NODE_ENV": "production",
        }
        proc = self.procs.spawn(
            f"hive-{workload}", peer.argv(self.hive, port), cpu=SERVER_CPU, env=env,
            cwd=self.hive.supergraph.parent, port=port,
        )  # fmt: skip
        try:
            self.procs.wait_http(proc, "/healthcheck", timeout=60)
            document = {
                "query": peer.query(group.team_id, HIVE_WORKLOADS[workload]),
                "variables": {"to": MARKER},
            }
            bodies = BodyMaker(
                template(document), "date", start=self.bodies_start(), identical=self.args.identical
            )
            answer = post_json(proc.url + "/graphql", bodies.body(bodies.start - 1))
            if answer.get("errors"):
                raise StartError(f"Hive answered errors: {json.dumps(answer['errors'])[:300]}")
            return self.measure(group, workload, HIVE, proc, proc.url + "/graphql", bodies)
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
            title = f"warm {workload[:-5]}" if workload.endswith("-warm") else f"cold {workload}"
            text = summarise_collapsed(out.read_text(), title=title)
            self.profiles.append(text)
            keep = Path(tempfile.gettempdir()) / f"execgate-bench-profile-{workload}.txt"
            shutil.copy(out, keep)
            self.log(f"  profile: {keep} (collapsed stacks)")
            print(text, flush=True)

    # --- the run --------------------------------------------------------------------------

    def run(self) -> None:
        args = self.args
        if not args.no_hive and args.workloads_hive:
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
            workloads = (
                args.workloads
                if latency == 0
                else [w for w in args.workloads if w in args.latency_workloads]
            )
            if not workloads and not (latency == 0 and args.profile):
                continue
            self.log(f"starting the backend with {latency:g} ms latency per request")
            group = self.start_group(latency)
            self.log(f"  backend: {group.backend} ({', '.join(group.urls.values())})")
            try:
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
                for entry in args.profile if latency == 0 else []:
                    workload, _, mode = entry.partition(":")
                    cold = mode != "WARM"
                    self.log(
                        f"profiling a {'cold' if cold else 'warm'} {workload} gateway with py-spy "
                        "(not in the tables)"
                    )
                    self.run_gateway(group, workload, cold=cold, profile=True)
            finally:
                self.stop_group(group)
        if args.soak_live > 0:
            self.run_live_soak()

    def workload_cells(self, group: Group, workload: str, latency: float) -> list[Cell]:
        """One trial of a workload: every target measured once."""
        args = self.args
        cells = [
            self.run_gateway(group, workload, cold=True),
            self.run_gateway(group, workload, cold=False),
            self.run_baseline(group, workload),
        ]
        if latency == 0 and workload in args.identical_workloads and not args.identical:
            cells.append(self.run_gateway(group, workload, cold=True, identical=True))
            cells.append(self.run_gateway(group, workload, cold=False, identical=True))
        if self.hive is not None and workload in args.workloads_hive and latency == 0:
            cells.append(self.run_hive(group, workload))
        if latency > 0 and workload in args.solo_workloads:
            # Unloaded latency: one connection, so p50 is not queueing.
            cells.append(self.run_gateway(group, workload, cold=True, concurrency=1))
            cells.append(self.run_baseline(group, workload, concurrency=1))
        return cells

    # --- the live soak --------------------------------------------------------------------

    def run_live_soak(self) -> None:
        args = self.args
        seconds = args.soak_live
        self.log(
            f"live soak: {seconds:g} s, the feed growing by {args.live_rate:g} executions a "
            "second on each of two APIs; the gateway's RSS sampled every second"
        )
        token, key = "sdk_" + secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        port = free_port()
        argv = [
            self.py, "-m", "bench.livefeed", "--port", str(port), "--rate", f"{args.live_rate:g}",
            "--seed", str(args.seed), f"--token={token}", f"--api-key={key}",
        ]  # fmt: skip
        feed = self.procs.spawn("livefeed", argv, cpu=SIDE_CPU, cwd=REPO, port=port)
        from execgate.simulate.generate import DEMO_TEAM_ID

        toml = self.workdir / "gateway-live.toml"
        toml.write_text(
            f'[[instances]]\nname = "live-team"\nkind = "team"\nbase_url = "{feed.url}"\n'
            f'team_id = "{DEMO_TEAM_ID}"\ntoken_env = "BENCH_LIVE_TOKEN"\n\n'
            f'[[instances]]\nname = "live-n8n"\nkind = "n8n"\nbase_url = "{feed.url}"\n'
            'api_key_env = "BENCH_LIVE_KEY"\n'
        )
        env = {"BENCH_LIVE_TOKEN": token, "BENCH_LIVE_KEY": key}
        gport = free_port()
        argv = [self.py, "-m", "execgate", "serve", "--config", str(toml)]
        argv += ["--host", HOST, "--port", str(gport)]
        gateway = self.procs.spawn(
            "gateway-live", argv, cpu=SERVER_CPU, env=env, cwd=REPO, port=gport
        )
        group = Group(
            0.0, "livefeed", {"livefeed": feed}, {}, DEMO_TEAM_ID, env, toml, toml, toml,
            {"backend-livefeed": feed.pid},
        )  # fmt: skip
        try:
            self.procs.wait_http(feed, "/__stats", timeout=60)
            self.procs.wait_http(gateway, "/healthz", timeout=60)
            before = get_json(feed.url + "/__stats")
            document = {"query": LIVE_QUERY, "variables": {"before": MARKER}}
            bodies = BodyMaker(template(document), "date", start=self.bodies_start())
            cell = self.measure(
                group, "live", EXECGATE_WARM, gateway, gateway.url + "/graphql", bodies,
                duration=seconds, warmup=0.0,
            )  # fmt: skip
            after = get_json(feed.url + "/__stats")
        except (StartError, OSError, KeyError, ValueError) as exc:
            self.log(f"  live soak FAILED: {exc}")
            self.soak = Soak(seconds, [], 0.0, 0, error=str(exc).splitlines()[0][:200])
            return
        finally:
            self.procs.stop(gateway)
            self.procs.stop(feed)
        series = [kb / 1024 for kb in cell.server().get("rss_kb", [])]
        window = float(cell.result.get("window_s") or seconds)
        self.soak = Soak(
            seconds,
            series,
            cell.throughput,
            cell.errors,
            backend_cpu_pct=cell.backend_cpu_pct,
            rate=args.live_rate,
            new_per_s=(after["newest"] - before["newest"]) / window,
            details_per_s=(after["details"] - before["details"]) / window,
            error=cell.error,
        )
        self.log("  " + self.soak.summary())


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
    for package in ("strawberry-graphql", "starlette", "uvicorn", "aiohttp"):
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


def nginx_version() -> str:
    nginx = static.find_nginx()
    if nginx is None:
        return "nginx (not installed)"
    done = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    found = re.search(r"nginx/(\S+)", done.stderr + done.stdout)
    return f"nginx {found.group(1)}" if found else "nginx"


def header(bench: Bench, args: argparse.Namespace) -> list[str]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    hive = (
        f"Hive Gateway {bench.hive.version} on node {bench.hive.node_version}"
        if bench.hive
        else f"Hive Gateway: not run — {bench.hive_note}"
    )
    pin = (
        "gateway/baseline/Hive pinned to core 0, backend and load generator to core 1 (taskset)"
        if bench.procs.pinned
        else "no CPU pinning"
    )
    if args.backend == "sims":
        backend = (
            "backend: the Python simulators (`execgate simulate` via bench/simserve.py, "
            "--backend sims), three processes sharing core 1"
        )
    else:
        backend = (
            f"backend: {nginx_version()} (one worker process) serving the simulators' answers "
            "rendered beforehand from their seeded data (bench/static.py); 10 ms latency cells "
            "wait with the echo module's `echo_sleep` (a timer, no CPU)"
        )
    bodies = (
        "bodies: **identical** — one body repeated on every request (--identical)"
        if args.identical
        else "bodies: **distinct variables on every request** (a far-future `startedBefore`, "
        "W6 its ids in a new order; the same answer, new backend URLs; bench/bodies.py); "
        "rows marked *identical* repeat one body"
    )
    return [
        f"Run {now}: `{' '.join(['python -m bench.run', *args.argv])}`",
        "",
        "- Machine: " + "; ".join(machine()),
        f"- {pin}",
        f"- {bodies}",
        f"- {backend}",
        *(f"- **{note}**" for note in bench.backend_notes),
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
        "- cold = the gateway configured with `[cache] enabled = false` (nothing kept in its "
        "shared execution cache, nothing shared between concurrent requests); warm = the "
        "default configuration, primed with two requests",
        f"- baseline = direct {bench.baseline_client or 'asyncio'} client (bench/baseline.py) "
        "behind uvicorn, given the same value per request; load generator = bench/loadgen.py "
        "(raw asyncio sockets, HTTP/1.1 keep-alive)",
        f"- {hive}",
        "- CPU ms/q and server CPU % are the measured server process's (utime+stime from "
        "/proc); backend CPU % is the backend's processes' over the same window (⚠ at "
        "70 % or more: the backend may cap the figure); calls/q are counted at the backend; "
        "peak RSS is VmHWM",
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
    parser.add_argument(
        "--identical",
        action="store_true",
        help="repeat one body on every request instead of distinct variables",
    )
    parser.add_argument(
        "--identical-workloads",
        default="W1,W4",
        help="workloads whose cold and warm gateway are also measured with one repeated body",
    )
    parser.add_argument(
        "--backend",
        choices=("nginx", "sims"),
        default="nginx",
        help="nginx serving rendered answers (default) or the Python simulators",
    )
    parser.add_argument("--no-hive", action="store_true", help="skip the Hive Gateway peer")
    parser.add_argument("--hive-workloads", default="W1,W4")
    parser.add_argument(
        "--soak-live",
        type=float,
        default=None,
        metavar="SECONDS",
        help="live-feed memory soak length (default 600, 0 with --quick)",
    )
    parser.add_argument(
        "--live-rate",
        type=float,
        default=300.0,
        help="new executions a second on each API of the live feed",
    )
    parser.add_argument(
        "--profile",
        metavar="W1,W2:warm",
        default="",
        help="py-spy a cold gateway (W2:warm: a warm one) on these workloads",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=1,
        help="measure every cell this many times, interleaved, and keep the median trial",
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
    if args.soak_live is None:
        args.soak_live = 0.0 if quick else 600.0
    args.latencies = [float(v) for v in args.latency_ms.split(",") if v.strip()]
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]

    def keys(text: str) -> set[str]:
        return {w.strip().upper() for w in text.split(",") if w.strip()}

    args.latency_workloads = keys(args.latency_workloads)
    args.workloads_hive = set() if args.no_hive else keys(args.hive_workloads)
    args.workloads_hive &= set(args.workloads)
    args.solo_workloads = keys(args.solo_workloads)
    args.identical_workloads = keys(args.identical_workloads)
    if quick and "--hive-workloads" not in " ".join(argv):
        args.workloads_hive &= {"W1"}
    if quick and "--identical-workloads" not in " ".join(argv):
        args.identical_workloads &= {"W1"}
    args.profile = [w.strip().upper() for w in args.profile.split(",") if w.strip()]
    profiled = [w.partition(":")[0] for w in args.profile]
    unknown = [w for w in [*args.workloads, *profiled] if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s): {unknown}; known: {', '.join(WORKLOADS)}")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.backend == "nginx" and static.find_nginx() is None:
        print(
            "nginx is not installed; the benchmark's backend is nginx serving rendered "
            f"answers.\nInstall it with:  sudo {static.APT_HINT}\n"
            "or run against the (slower) Python simulators with --backend sims.",
            file=sys.stderr,
        )
        return 2
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
