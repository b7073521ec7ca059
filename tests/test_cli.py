"""The command line: keys new, serving with and without clients, the demo's key, audit tail."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from execgate import cli
from execgate.config import load_settings
from execgate.security.audit import AuditEntry, AuditLog
from tests.serving import serving

TEAM = """\
[[instances]]
name = "acme"
kind = "team"
base_url = "http://127.0.0.1:9101"
team_id = "0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b"
token_env = "ACME_SDK_TOKEN"
"""


class Served:
    """Stands in for uvicorn: remembers the app instead of serving it, and the address asked
    for (the socket itself is bound on 127.0.0.1, whatever the address)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, int]] = []
        self.asked: tuple[str, int] | None = None

    def listen(self, host: str, port: int) -> socket.socket:
        self.asked = (host, port)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        return sock

    def __call__(
        self, app: Any, listener: socket.socket, header_timeout: float, log_format: str = "text"
    ) -> None:
        self.log_format = log_format
        listener.close()
        assert self.asked is not None
        self.calls.append((app, *self.asked))


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Served:
    fake = Served()
    monkeypatch.setattr(cli, "_serve_app", fake)
    monkeypatch.setattr("execgate.server.listen", fake.listen)
    monkeypatch.setenv("ACME_SDK_TOKEN", "sdk_team-secret-for-cli-tests")
    return fake


def _key_and_block(out: str) -> tuple[str, str]:
    lines = out.splitlines()
    [key] = [line for line in lines if line.startswith("egk_")]
    block = out[out.index("[[clients]]") :]
    return key, block


async def _post(app: Any, key: str | None, peer: str = "127.0.0.1") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=app, client=(peer, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        return await client.post(
            "/graphql", json={"query": "{ instances { name } }"}, headers=headers
        )


# -- keys new ----------------------------------------------------------------------------------


def test_keys_new_prints_the_key_once_and_a_block_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # when
    assert cli.main(["keys", "new", "dashboard", "--instances", "acme", "--actions", "cancel"]) == 0
    out = capsys.readouterr().out
    # then: the key appears once, and the block holds its sha256, not the key
    key, block = _key_and_block(out)
    assert out.count(key) == 1
    table = tomllib.loads(block)["clients"][0]
    assert table["name"] == "dashboard"
    assert table["key_sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert table["instances"] == ["acme"]
    assert table["actions"] == ["read", "cancel"]
    # and the block, pasted into a config, loads
    config = tmp_path / "c.toml"
    config.write_text(TEAM + "\n" + block, encoding="utf-8")
    [client] = load_settings(config, {"ACME_SDK_TOKEN": "t"}).clients
    assert client.name == "dashboard"


def test_each_key_is_new(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["keys", "new", "a"])
    first, _ = _key_and_block(capsys.readouterr().out)
    cli.main(["keys", "new", "a"])
    second, block = _key_and_block(capsys.readouterr().out)
    assert first != second
    assert tomllib.loads(block)["clients"][0]["instances"] == ["*"]


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["keys", "new", "bad name"], "may hold only letters"),
        (["keys", "new", "ok", "--actions", "read,write"], "unknown action(s) write"),
    ],
)
def test_keys_new_refuses_bad_input(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert complaint in captured.err
    assert "egk_" not in captured.out


# -- serve -------------------------------------------------------------------------------------


async def test_serve_without_clients_refuses_a_public_address(
    tmp_path: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(TEAM, encoding="utf-8")
    # when
    code = cli.main(["serve", "--config", str(config), "--host", "0.0.0.0"])
    # then
    assert code == 2
    assert served.calls == []
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without API clients" in err
    assert "execgate keys new NAME" in err


async def test_serve_without_clients_on_loopback_says_it_is_anonymous(
    tmp_path: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(TEAM, encoding="utf-8")
    assert cli.main(["serve", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "anonymous full access, answered on loopback only" in err
    assert "'execgate keys new NAME'" in err
    [(app, host, _)] = served.calls
    assert host == "127.0.0.1"
    async with LifespanManager(app):
        assert (await _post(app, None, peer="192.0.2.7")).status_code == 401


async def test_serve_with_clients_may_bind_anywhere(
    tmp_path: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a config with a client made by 'keys new'
    cli.main(["keys", "new", "dash"])
    key, block = _key_and_block(capsys.readouterr().out)
    audit = tmp_path / "audit.jsonl"
    config = tmp_path / "c.toml"
    config.write_text(TEAM + "\n" + block + f"\n[audit]\npath = '{audit}'\n", encoding="utf-8")
    # when
    assert cli.main(["serve", "--config", str(config), "--host", "0.0.0.0"]) == 0
    # then
    err = capsys.readouterr().err
    assert "1 API client(s): dash" in err
    assert f"audit trail of mutations: {audit}" in err
    assert key not in err
    [(app, _, _)] = served.calls
    async with LifespanManager(app):
        assert (await _post(app, None)).status_code == 401
    assert audit.exists()


def test_serve_with_a_broken_config_exits_2(
    tmp_path: Path, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        TEAM + '[[clients]]\nname = "x"\nkey = "egk_pasted-key-value"\n', encoding="utf-8"
    )
    assert cli.main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "client 'x': key 'key'" in err
    assert "egk_pasted-key-value" not in err
    assert served.calls == []


# -- demo --------------------------------------------------------------------------------------


async def test_demo_prints_its_key_and_graphiql_sends_it(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    # when
    assert cli.main(["demo"]) == 0
    err = capsys.readouterr().err
    [(app, _, _)] = served.calls
    # then the key and a ready-to-paste header are printed
    [header] = [
        line.split("header:", 1)[1].strip() for line in err.splitlines() if "header:" in line
    ]
    assert header.startswith("Authorization: Bearer egk_")
    key = header.removeprefix("Authorization: Bearer ")
    assert "GraphiQL already sends it" in err
    async with serving(app, "http://localhost") as client:
        # and GraphiQL's page carries it
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        preset = json.dumps({"Authorization": f"Bearer {key}"}, separators=(",", ":"))
        assert f"const defaultHeaders = {preset};" in page.text
        # but not to a page asked for under another name (DNS rebinding)
        for host in ("evil.example", "evil.example:8000"):
            rebound = await client.get("/graphql", headers={"Accept": "text/html", "Host": host})
            assert rebound.status_code == 200 and key not in rebound.text
        # and the key gives full access, while no key gets nothing
        ok = await _post(app, key)
        assert [i["name"] for i in ok.json()["data"]["instances"]] == [
            "acme",
            "n8n-prod",
            "n8n-staging",
        ]
        assert (await _post(app, None)).status_code == 401


async def test_demo_on_a_public_address_keeps_the_key_out_of_the_page(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--host", "0.0.0.0"]) == 0
    err = capsys.readouterr().err
    assert "paste that header into GraphiQL" in err
    [(app, _, _)] = served.calls
    async with serving(app) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert "egk_" not in page.text


# -- audit tail --------------------------------------------------------------------------------


def _audit_file(path: Path, count: int) -> None:
    log = AuditLog(path)
    for number in range(count):
        log.record(AuditEntry(f"client{number}", "cancel", f"id-{number}", "acme", "OK", 1.5))
    log.close()


def test_audit_tail_prints_the_last_lines_readably(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit.jsonl"
    _audit_file(audit, 30)
    assert cli.main(["audit", "tail", "--file", str(audit), "-n", "3"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split()[1] for row in rows] == ["client27", "client28", "client29"]
    assert rows[0].split()[2:] == ["cancel", "OK", "acme", "1.5ms", "id-27"]


def test_audit_tail_reads_the_path_from_the_config_without_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_SDK_TOKEN", raising=False)
    audit = tmp_path / "audit.jsonl"
    _audit_file(audit, 25)
    config = tmp_path / "c.toml"
    config.write_text(TEAM + f"\n[audit]\npath = '{audit}'\n", encoding="utf-8")
    assert cli.main(["audit", "tail", "--config", str(config)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 20


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["audit", "tail"], "name the audit file"),
        (["audit", "tail", "--file", "/nonexistent/audit.jsonl"], "no audit file at"),
        (["audit", "tail", "--config", "CONFIG"], "sends audit lines to stderr"),
    ],
)
def test_audit_tail_without_a_file(
    tmp_path: Path, argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(TEAM, encoding="utf-8")
    argv = [str(config) if a == "CONFIG" else a for a in argv]
    assert cli.main(argv) == 2
    assert complaint in capsys.readouterr().err


# -- mcp (stdio; served end to end in tests/mcp/test_stdio.py) ---------------------------------


def test_mcp_refuses_to_start_when_switched_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_SDK_TOKEN", "sdk_token-for-this-test")
    config = tmp_path / "c.toml"
    config.write_text(TEAM + "[mcp]\nenabled = false\n", encoding="utf-8")
    assert cli.main(["mcp", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert "[mcp] enabled = false" in captured.err
    assert captured.out == ""


def test_mcp_with_a_broken_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(TEAM + '[mcp]\ndefault_instance = "elsewhere"\n', encoding="utf-8")
    assert cli.main(["mcp", "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert "[mcp]: key 'default_instance'" in captured.err
    assert captured.out == ""


async def test_the_demos_instances_keep_starting_executions_unless_asked_not_to(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli._parser().parse_args(["demo"]).activity == cli.DEMO_ACTIVITY > 0
    feed = "{ executions(first: 1) { edges { node { createdAt status } } } }"
    for argv, grows in ((["demo", "--activity", "4"], True), (["demo", "--activity", "0"], False)):
        assert cli.main(argv) == 0
        key = capsys.readouterr().err.split("Authorization: Bearer ", 1)[1].split()[0]
        app = served.calls[-1][0]
        async with serving(app, "http://localhost") as client:
            headers = {"Authorization": f"Bearer {key}"}
            first = await client.post("/graphql", json={"query": feed}, headers=headers)
            await asyncio.sleep(0.6)  # more than one execution's interval (0.25 s)
            later = await client.post("/graphql", json={"query": feed}, headers=headers)
        newest = [r.json()["data"]["executions"]["edges"][0]["node"] for r in (first, later)]
        assert (newest[0] != newest[1]) is grows, newest
