"""The benchmark's nginx backend: the files rendered and the routes that find them agree."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from bench import static

TEAM_ID = "0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b"


def _sites(root: Path) -> list[static.Site]:
    return [
        static.Site("acme", "team", 18101, root / "acme", "sdk_tok", TEAM_ID),
        static.Site("n8n-prod", "n8n", 18102, root / "n8n-prod", "key"),
    ]


def _routes(conf: str) -> list[tuple[str, str]]:
    """(location, try_files pattern) pairs of a configuration, named locations resolved (each
    within its server)."""
    out = []
    for server in conf.split("  server {")[1:]:
        named = dict(re.findall(r"location @(\w+) \{ try_files (\S+) =404; \}", server))
        for match, body in re.findall(r"location (= \S+|/\S+) \{ (.*?) \}\n", server):
            found = re.search(r"try_files (\S+) =404;", body)
            jump = re.search(r"echo_exec @(\w+);", body)
            assert found is not None or jump is not None
            out.append((match, found.group(1) if found else named[jump.group(1)]))  # type: ignore[union-attr]
    return out


def _nginx_file(conf: str, target: str) -> str | None:
    """The file nginx would try for ``target``, evaluated from the configuration's text."""
    parts = urlsplit(target)
    args = dict(parse_qsl(parts.query))
    chosen = None
    for match, pattern in _routes(conf):
        if match.startswith("= ") and parts.path == match[2:]:
            chosen = pattern
            break
        if not match.startswith("= ") and parts.path.startswith(match):
            chosen = chosen or pattern
    if chosen is None:
        return None
    dated = "1" if args.get("startedBefore") else "0"

    def value(found: re.Match[str]) -> str:
        name = found.group(1) or found.group(2)
        if name == "uri":
            return parts.path
        if name == "n8n_dated":
            return dated
        return args.get(name.removeprefix("arg_"), "")

    return re.sub(r"\$\{(\w+)\}|\$(uri)", value, chosen)


@pytest.mark.parametrize("latency", [0.0, 10.0])
def test_every_rendered_answer_is_what_nginx_finds_for_its_request(
    tmp_path: Path, latency: float
) -> None:
    conf = static.nginx_conf(
        _sites(tmp_path),
        tmp_path,
        latency_ms=latency,
        module=Path("/x/ngx_http_echo_module.so"),
        access_log=tmp_path / "access.log",
    )
    files = {
        **static.team_files(TEAM_ID, ["6f1c2d3e-0000-4000-8000-000000000001"]),
        **static.n8n_files(["17"]),
    }

    for name, target in files.items():
        assert _nginx_file(conf, target) == name, target
    assert ("echo_sleep 0.01;" in conf) is (latency > 0)
    assert ("load_module" in conf) is (latency > 0)


def test_date_arguments_only_choose_the_dated_n8n_rendering(tmp_path: Path) -> None:
    conf = static.nginx_conf(_sites(tmp_path), tmp_path, access_log=tmp_path / "a.log")
    team = f"/api/executions/team/{TEAM_ID}?page=0&size=21"

    assert _nginx_file(conf, team) == _nginx_file(conf, team + "&to=2100-01-01T00:00:05.000Z")
    listed = "/api/v1/executions?limit=20&includeData=true"
    assert _nginx_file(conf, listed + "&startedBefore=2100-01-01T00:00:00Z") == _nginx_file(
        conf, listed + "&startedBefore=2100-01-02T00:00:07.000Z"
    )
    assert _nginx_file(conf, listed + "&startedBefore=x") != _nginx_file(conf, listed)
    assert _nginx_file(conf, listed + "&cursor=abc") not in static.n8n_files([])


def test_credentials_are_checked_and_paths_stay_in_the_work_directory(tmp_path: Path) -> None:
    conf = static.nginx_conf(_sites(tmp_path), tmp_path, access_log=tmp_path / "a.log")

    assert 'if ($http_authorization != "Bearer sdk_tok") { return 401' in conf
    assert 'if ($http_x_n8n_api_key != "key") { return 401' in conf
    assert f"pid {tmp_path / 'nginx.pid'};" in conf
    assert "user " not in conf
    with pytest.raises(ValueError):
        static.nginx_conf(
            [static.Site("a", "n8n", 1, tmp_path, 'k"; evil')], tmp_path, access_log=tmp_path
        )
    with pytest.raises(ValueError):
        static.nginx_conf(_sites(tmp_path), tmp_path, latency_ms=10, access_log=tmp_path)


def test_the_route_log_counts_by_instance_and_route(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        f"18101 GET /api/executions/team/{TEAM_ID}?page=0&size=21&to=x 200\n"
        "18101 GET /api/executions/6f1c2d3e-0000-4000-8000-000000000001 200\n"
        "18102 GET /api/v1/executions/17?includeData=true 404\n"
        "18102 GET /api/v1/exec"  # a line still being written
    )
    counter = static.RouteLog(log, {18101: "acme", 18102: "n8n-prod"})

    routes, failures = counter.read()

    assert routes == {
        "acme GET /api/executions/team/{id}": 1,
        "acme GET /api/executions/{id}": 1,
        "n8n-prod GET /api/v1/executions/{id}": 1,
    }
    assert failures == {"n8n-prod GET /api/v1/executions/{id} 404": 1}
    with open(log, "a") as handle:
        handle.write("utions 200\n")
    assert counter.read()[0]["n8n-prod GET /api/v1/executions"] == 1


def test_rendering_writes_the_simulators_own_answers(tmp_path: Path) -> None:
    count = static.render("n8n", 3, 12, tmp_path / "n8n", credential="k")

    listed = tmp_path / "n8n/api/v1/executions-l20-st-dtrue-b1-c.json"
    assert count == len(list((tmp_path / "n8n").rglob("*.json")))
    items = json.loads(listed.read_bytes())["data"]
    assert items and all(item["startedAt"] for item in items)
    assert all("runData" in item["data"]["resultData"] for item in items)
    undated = json.loads((tmp_path / "n8n/api/v1/executions-l20-st-d-b0-c.json").read_bytes())
    assert {i["id"] for i in items} <= {i["id"] for i in undated["data"]}


@pytest.mark.skipif(static.find_nginx() is None, reason="nginx is not installed")
def test_nginx_serves_the_rendered_answers() -> None:
    from execgate.simulate.server import free_port

    # Under /tmp itself, as the benchmark's work directory: run as root, nginx's workers are
    # an unprivileged user, who must reach the files.
    tmp_path = Path(tempfile.mkdtemp(prefix="execgate-bench-test-"))
    try:
        _serve_and_read(tmp_path, free_port())
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _serve_and_read(tmp_path: Path, port: int) -> None:
    root = tmp_path / "data"
    static.render("team", 3, 12, root / "acme", credential="sdk_tok")
    site = static.Site("acme", "team", port, root / "acme", "sdk_tok", TEAM_ID)
    (tmp_path / "nginx-temp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(static.nginx_conf([site], tmp_path, access_log=tmp_path / "access.log"))
    static.open_up(tmp_path)
    nginx = static.find_nginx()
    assert nginx is not None
    argv = [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{site.port}/api/executions/team/{TEAM_ID}?page=0&size=20&to=x"
    try:
        answer = None
        for _ in range(100):
            try:
                request = urllib.request.Request(url, headers={"Authorization": "Bearer sdk_tok"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    answer = json.loads(response.read())
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        assert answer is not None and len(answer["content"]) == 12
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=2)
        assert refused.value.code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
