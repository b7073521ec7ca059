"""The operations keys of issue 21: metrics, CORS, persisted queries, logs and ``[shared]``."""

from __future__ import annotations

from pathlib import Path

import pytest

from execgate.config import ServerSettings, SharedSettings
from tests.config.test_reader import N8N, N8N_SECRET, load, only, problems


def test_defaults_change_nothing(tmp_path: Path) -> None:
    settings = load(tmp_path, N8N)
    assert settings.server.metrics is False
    assert settings.server.metrics_listen is None
    assert settings.server.cors_origins == ()
    assert settings.server.persisted_only is False
    assert settings.server.log_format == "text"
    assert settings.shared == SharedSettings()
    assert settings.shared.redis_url is None


def test_every_operations_key_reads(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    settings = load(
        tmp_path,
        N8N
        + f"""
[server]
metrics = true
metrics_listen = "127.0.0.1:9464"
cors_origins = ["https://ops.example.com", "http://localhost:3000"]
persisted_only = true
persisted_queries_file = "{manifest}"
log_format = "json"

[shared]
redis_url = "redis://redis.internal:6379/2"
redis_password_env = "REDIS_PASSWORD"
key_prefix = "gw1:"
""",
        {"N8N_PROD_API_KEY": N8N_SECRET, "REDIS_PASSWORD": "s3cret-redis"},
    )
    assert settings.server == ServerSettings(
        metrics=True,
        metrics_listen="127.0.0.1:9464",
        cors_origins=("https://ops.example.com", "http://localhost:3000"),
        persisted_only=True,
        persisted_queries_file=str(manifest),
        log_format="json",
    )
    assert settings.shared.redis_url == "redis://redis.internal:6379/2"
    assert settings.shared.redis_password == "s3cret-redis"
    assert settings.shared.key_prefix == "gw1:"
    assert "s3cret-redis" not in repr(settings)
    assert "redis.internal" not in repr(settings)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('[server]\ncors_origins = "https://a.example"', "must be an array of origins"),
        ('[server]\ncors_origins = ["https://a.example/app"]', "is not an origin"),
        ('[server]\ncors_origins = ["ftp://a.example"]', "is not an origin"),
        ('[server]\ncors_origins = ["*", "https://a.example"]', "is not an origin"),
        ('[server]\nmetrics_listen = "9464"', "must be a host:port address"),
        ('[server]\nmetrics_listen = "127.0.0.1:99999"', "must be a host:port address"),
        ('[server]\nlog_format = "xml"', 'must be "text" or "json"'),
        ('[shared]\nredis_url = "http://redis:6379"', "must be a redis://"),
        ('[shared]\nredis_url = "redis://"', "has no host"),
        ('[shared]\nredis_password_env = "REDIS_PASSWORD"', "REDIS_PASSWORD is not set"),
        ('[shared]\nredis_password_env = "hunter2 with spaces"', "NAME of an environment"),
        ("[shared]\nredis = 1", "unknown key 'redis'"),
        ("[server]\npersisted_only = true", "needs persisted_queries_file"),
    ],
)
def test_wrong_values_are_named(tmp_path: Path, table: str, expected: str) -> None:
    assert expected in only(problems(tmp_path, N8N + table, {"N8N_PROD_API_KEY": N8N_SECRET}))


def test_a_password_in_the_redis_url_is_refused_and_never_echoed(tmp_path: Path) -> None:
    found = only(
        problems(
            tmp_path,
            N8N + '[shared]\nredis_url = "redis://:hunter2pass@redis.internal:6379"',
            {"N8N_PROD_API_KEY": N8N_SECRET},
        )
    )
    assert "redis_password_env" in found
    assert "hunter2pass" not in found
    assert "redis.internal" not in found


def test_any_origin_alone(tmp_path: Path) -> None:
    settings = load(
        tmp_path, N8N + '[server]\ncors_origins = ["*"]', {"N8N_PROD_API_KEY": N8N_SECRET}
    )
    assert settings.server.cors_origins == ("*",)
