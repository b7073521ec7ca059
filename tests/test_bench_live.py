"""The live benchmark's pure pieces: its gateway config, its arithmetic and its verdicts, and
how its subscribers date and tally what they receive."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from bench.live import INSTANCES, Window, gateway_toml, render, route_deltas, targets
from bench.wsload import Tally, changed_at, percentile, record, summary

from execgate.config.reader import load_settings
from execgate.security.clients import new_key

INTERVAL = 2.0
RATE = 0.5


def test_the_gateway_config_loads_with_the_interval_and_the_subscription_limit(
    tmp_path: Path,
) -> None:
    urls = {name: f"http://127.0.0.1:{9100 + i}" for i, (name, _, _) in enumerate(INSTANCES)}
    path = tmp_path / "gateway.toml"
    path.write_text(gateway_toml(urls, new_key(), 0.5, 1010))
    env = {"BENCH_" + name.upper().replace("-", "_"): "secret" for name, _, _ in INSTANCES}
    settings = load_settings(path, env)
    assert [i.name for i in settings.instances] == [name for name, _, _ in INSTANCES]
    assert settings.live.poll_interval_seconds == 0.5
    assert settings.limits.max_subscriptions_per_client == 1010


def _window(
    subscribers: int,
    calls: dict[str, int],
    rss_kb: int,
    p50: float,
    p99: float,
    reads: dict[str, int] | None = None,
) -> Window:
    return Window(
        subscribers,
        seconds=60.0,
        calls=calls,
        reads=reads or {},
        cpu_seconds=1.2,
        rss_start_kb=rss_kb,
        rss_kb=rss_kb,
        loadavg=(0.5, 0.4, 0.3),
        load={"events": 600, "delay_ms": {"p50": p50, "p99": p99, "max": p99}},
    )


def _verdicts(one: Window, many: Window) -> dict[str, bool]:
    return {name.split(" ")[0]: met for name, met, _ in targets([one, many], INTERVAL, RATE)}


def test_targets_are_met_only_within_their_limits() -> None:
    # 30 polls a window: 3 list requests a poll on acme, 4 on n8n, and single reads beside
    one = _window(1, {"acme": 90 + 10, "n8n": 120}, 100_000, 900, 1900, {"acme": 10})
    many = _window(
        1000, {"acme": 93 + 2, "n8n": 120 + 10}, 140_000, 1000, 2500, {"acme": 2, "n8n": 10}
    )
    assert _verdicts(one, many) == {"backend": True, "p50": True, "p99": True, "gateway": True}
    # 60 KB per subscriber, a poll's lists a third more often, late deliveries: all missed
    worse = _window(1000, {"acme": 120, "n8n": 120}, 160_000, 2200, 4100)
    assert _verdicts(one, worse) == {
        "backend": False,
        "p50": False,
        "p99": False,
        "gateway": False,
    }
    # the poll's lists the same, but a third more single reads over all instances: a miss too
    reads = _window(1000, {"acme": 90 + 80, "n8n": 120}, 140_000, 1000, 2500, {"acme": 80})
    assert _verdicts(one, reads)["backend"] is False
    assert _window(1, {"acme": 90, "n8n": 120}, 0, 0, 0).per_interval(INTERVAL) == {
        "acme": 3.0,
        "n8n": 4.0,
    }
    assert one.cpu_ms_per_event == pytest.approx(2.0)


def test_the_report_names_every_window_and_each_verdict() -> None:
    args = argparse.Namespace(subscribers=1000, seconds=60.0, interval=INTERVAL, rate=RATE)
    one = _window(1, {"acme": 90}, 100_000, 900, 1900)
    many = _window(1000, {"acme": 90}, 200_000, 900, 1900)
    text = render([one, many], args, "test machine")
    assert "| 1,000 | 60 |" in text and "test machine" in text
    assert "- **missed**: gateway RSS growth < 50 KB per subscriber: 100.1 KB" in text
    assert "0.50, 0.40, 0.30" in text


def test_route_deltas_sum_the_instances_and_leave_out_quiet_routes() -> None:
    before = {"a": {"routes": {"GET /x": 3, "GET /y": 1}}, "b": {"routes": {"GET /x": 1}}}
    after = {
        "a": {"routes": {"GET /x": 5, "GET /y": 1}},
        "b": {"routes": {"GET /x": 2, "GET /z": 4}},
    }
    assert route_deltas(before, after) == {"GET /x": 3, "GET /z": 4}


def _event(kind: str, status: str, **moments: str) -> dict[str, object]:
    execution = {"createdAt": None, "startedAt": None, "finishedAt": None, "status": status}
    execution.update(moments)
    return {"type": kind, "execution": execution}


def test_each_event_is_dated_by_the_backend_moment_it_reports() -> None:
    created = _event("CREATED", "PENDING", createdAt="2026-12-01T10:00:00+00:00")
    running = _event("STATUS_CHANGED", "RUNNING", startedAt="2026-12-01T10:00:01+00:00")
    finished = _event("FINISHED", "SUCCESS", finishedAt="2026-12-01T10:00:05+00:00")
    waiting = _event("STATUS_CHANGED", "WAITING")
    moments = [changed_at(e) for e in (created, running, finished, waiting)]
    assert moments[1] - moments[0] == 1.0 and moments[2] - moments[0] == 5.0  # type: ignore[operator]
    assert moments[3] is None

    tally = Tally()
    for event in (created, finished, waiting):
        message = {"type": "next", "payload": {"data": {"executionEvents": event}}}
        record(tally, message, moments[0] + 1.5)  # type: ignore[operator]
    record(tally, {"type": "next", "payload": {"data": None, "errors": [{}]}}, 0.0)
    assert tally.events == 3 and tally.errors == 1 and tally.unknown_moment == 1
    assert tally.delays_ms == [1500.0, -3500.0]
    assert summary(tally, 2, 60.0)["events_per_subscriber"] == 1.5


def test_percentiles_are_nearest_rank_and_none_without_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0 and percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) is None
