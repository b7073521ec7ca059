"""The benchmark's runner: how it configures a cold gateway, and what it does without nginx."""

from __future__ import annotations

import tomllib

import pytest
from bench import run, static

URLS = {"acme": "http://127.0.0.1:1", "n8n-prod": "http://127.0.0.1:2", "n8n-staging": "http://x:3"}
NAMES = {"acme": "A", "n8n-prod": "B", "n8n-staging": "C"}


def test_a_cold_gateway_is_the_same_configuration_with_its_cache_switched_off() -> None:
    cold = tomllib.loads(run.gateway_toml(URLS, "t", cold=True, names=NAMES))
    warm = tomllib.loads(run.gateway_toml(URLS, "t", cold=False, names=NAMES))

    assert cold["cache"] == {"enabled": False}
    assert "cache" not in warm
    assert {k: v for k, v in cold.items() if k != "cache"} == warm
    assert [i["name"] for i in warm["instances"]] == ["acme", "n8n-prod", "n8n-staging"]


def test_without_nginx_the_run_says_what_to_install_and_stops(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(static, "find_nginx", lambda: None)

    assert run.main(["--quick", "--no-write"]) == 2
    assert static.APT_HINT in capsys.readouterr().err
