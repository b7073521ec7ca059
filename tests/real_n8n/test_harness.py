"""The real-n8n harness: install cache, statuses, loopback binding, several runs, clean stop."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.real_n8n import harness
from tests.real_n8n.harness import Install, RealN8n

REPO = Path(__file__).resolve().parents[2]
real_n8n_mark = pytest.mark.real_n8n


def _get(n8n: RealN8n, path: str, **params: str) -> httpx.Response:
    headers = {"X-N8N-API-KEY": n8n.api_key}
    return httpx.get(f"{n8n.base_url}/api/v1{path}", params=params, headers=headers, timeout=30)


def _listening_sockets(pgid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state held by a process of ``pgid``."""
    inodes: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            fds = list((proc / "fd").iterdir())
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found: list[tuple[str, int]] = []
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            raw_addr, raw_port = cols[1].split(":")
            packed = bytes.fromhex(raw_addr)
            if width == 4:
                address = socket.inet_ntop(socket.AF_INET, packed[::-1])
            else:
                words = b"".join(packed[i : i + 4][::-1] for i in range(0, 16, 4))
                address = socket.inet_ntop(socket.AF_INET6, words)
            found.append((address, int(raw_port, 16)))
    return found


# --------------------------------------------------------------------------- install cache


def test_install_without_marker_is_not_reused(tmp_path: Path) -> None:
    # given: every file of an install but no marker (an interrupted install)
    inst = Install(tmp_path)
    for path in (inst.node_bin, inst.n8n_bin):
        path.parent.mkdir(parents=True)
        path.write_text("")
    # then
    assert not inst.is_installed()
    # when: the marker of a finished install of this version is written
    inst.marker.write_text(json.dumps({"n8n": harness.N8N_VERSION}))
    # then
    assert inst.is_installed()


def test_install_marker_of_another_version_is_not_reused(tmp_path: Path) -> None:
    inst = Install(tmp_path)
    for path in (inst.node_bin, inst.n8n_bin):
        path.parent.mkdir(parents=True)
        path.write_text("")
    inst.marker.write_text(json.dumps({"n8n": "1.0.0"}))
    assert not inst.is_installed()


def test_cache_root_is_keyed_by_version_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(harness.CACHE_ENV, raising=False)
    assert harness.cache_root().name == f"n8n-{harness.N8N_VERSION}"
    assert REPO not in harness.cache_root().parents
    monkeypatch.setenv(harness.CACHE_ENV, "/elsewhere/n8n")
    assert harness.cache_root() == Path("/elsewhere/n8n")


# --------------------------------------------------------------------------- the seeded server


@real_n8n_mark
def test_every_status_has_an_execution_in_that_status(real_n8n: RealN8n) -> None:
    assert set(real_n8n.ids) == set(harness.STATUSES)
    for status, execution_id in real_n8n.ids.items():
        # when
        single = _get(real_n8n, f"/executions/{execution_id}")
        listed = _get(real_n8n, "/executions", status=status, limit="250")
        # then
        assert single.status_code == 200
        assert single.json()["status"] == status
        assert execution_id in [row["id"] for row in listed.json()["data"]]


@real_n8n_mark
def test_seeded_executions_carry_the_details_of_their_status(real_n8n: RealN8n) -> None:
    crashed = real_n8n.get_execution(real_n8n.ids["crashed"], include_data=True)
    assert crashed["data"]["resultData"]["error"]["name"] == "WorkflowCrashedError"
    new = real_n8n.get_execution(real_n8n.ids["new"])
    assert new["startedAt"] is None
    waiting = real_n8n.get_execution(real_n8n.ids["waiting"])
    assert waiting["waitTill"] is not None
    assert real_n8n.holder_id is not None
    assert real_n8n.get_execution(real_n8n.holder_id)["status"] == "running"


@real_n8n_mark
def test_server_listens_on_loopback_only(real_n8n: RealN8n) -> None:
    # when
    sockets = _listening_sockets(real_n8n.pid)
    # then: the HTTP port and the task-runner broker port, and nothing beyond loopback
    ports = {port for _, port in sockets}
    assert {real_n8n.server.cfg.port, real_n8n.server.cfg.broker_port} <= ports
    assert {address for address, _ in sockets} == {"127.0.0.1"}


@real_n8n_mark
def test_an_execution_has_a_node_with_several_runs(real_n8n: RealN8n) -> None:
    assert real_n8n.multi_run_id == real_n8n.ids["success"]
    body = _get(real_n8n, f"/executions/{real_n8n.multi_run_id}", includeData="true").json()
    runs = {
        name: len(node_runs) for name, node_runs in body["data"]["resultData"]["runData"].items()
    }
    assert runs["Code"] >= 2
    assert runs["Webhook"] == 1


@real_n8n_mark
def test_fresh_executions_can_be_retried_stopped_and_deleted(real_n8n: RealN8n) -> None:
    headers = {"X-N8N-API-KEY": real_n8n.api_key}
    api = f"{real_n8n.base_url}/api/v1/executions"
    # given
    failed = real_n8n.new_execution("error")
    running = real_n8n.new_execution("running")
    waiting = real_n8n.new_execution("waiting")
    assert len({failed, running, waiting} | set(real_n8n.ids.values())) == len(real_n8n.ids) + 3
    # when
    retried = httpx.post(f"{api}/{failed}/retry", headers=headers, timeout=60)
    stopped = httpx.post(f"{api}/{running}/stop", headers=headers, timeout=30)
    deleted = httpx.delete(f"{api}/{waiting}", headers=headers, timeout=30)
    # then
    assert retried.status_code == 200
    assert retried.json()["retryOf"] == failed
    assert stopped.json()["status"] == "canceled"
    assert deleted.status_code == 200
    assert httpx.get(f"{api}/{waiting}", headers=headers, timeout=30).status_code == 404


@real_n8n_mark
def test_fresh_new_execution_stays_queued(real_n8n: RealN8n) -> None:
    queued = real_n8n.new_execution("new")
    assert real_n8n.get_execution(queued)["status"] == "new"
    with pytest.raises(ValueError, match="crashed"):
        real_n8n.new_execution("crashed")


@real_n8n_mark
def test_cli_start_and_stop_leave_nothing_running(n8n_install: Install, tmp_path: Path) -> None:
    # given: a server started by the command line, in another process
    state_file = tmp_path / "state.json"
    script = [sys.executable, str(REPO / "scripts" / "n8n_harness.py")]
    started = subprocess.run(
        [*script, "start", "--no-limit", "--state", str(state_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    state = json.loads(state_file.read_text())
    pid, data_dir = int(state["pid"]), Path(state["config"]["data_dir"])
    assert state["api_key"] not in started.stdout + started.stderr
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"
    assert harness.group_alive(pid)
    ready = httpx.get(f"http://127.0.0.1:{state['config']['port']}/healthz/readiness", timeout=10)
    assert ready.status_code == 200
    # when
    subprocess.run([*script, "stop", "--state", str(state_file)], timeout=120, check=True)
    # then
    assert not harness.group_alive(pid)
    assert not data_dir.exists()
    assert not state_file.exists()


@pytest.mark.parametrize(
    ("environ", "runs"),
    [({}, False), ({"CI": "true"}, True), ({"EXECGATE_REAL_N8N": "1"}, True), ({"CI": "1"}, False)],
)
def test_the_suite_runs_only_in_ci_or_when_asked_for(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], runs: bool
) -> None:
    from tests.real_n8n import conftest

    for name in ("CI", "EXECGATE_REAL_N8N"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert conftest._asked_for() is runs
