"""npm's ``graphql-ws`` and ``graphql-sse`` clients subscribed to a running execgate whose
simulated instances keep starting and finishing executions (``tests/api/live_clients.py``).

Checked: every execution that was created, ran and finished while a subscriber listened reached
it exactly as CREATED (PENDING), STATUS_CHANGED (RUNNING) and FINISHED, once each, over both
transports, while other subscribers kept connecting and disconnecting; a client scoped to one
instance hears of that instance only; a backend stopped and started again mid-stream is
reported on the stream and its changes follow; refusals are coded. The packages are installed
into a cache on first use: the tests always run, and without node or npm they skip, except
under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.api.live_clients import (
    EVENTS,
    PACKAGES,
    POLL_SECONDS,
    LiveRig,
    clients_command,
    errors,
    events,
    live_rig,
    run_clients,
)
from tests.npm import node_and_npm

FINAL = {"success": "SUCCESS", "error": "FAILED"}


@pytest.fixture(scope="module")
def rig() -> Iterator[LiveRig]:
    with live_rig() as running:
        yield running


@pytest.fixture
def tools(capsys: pytest.CaptureFixture[str]) -> tuple[str, Path]:
    node, npm = node_and_npm("the graphql-ws and graphql-sse client tests")
    return node, PACKAGES.install_announced(npm, capsys)


def _ms(moment: datetime) -> float:
    return moment.timestamp() * 1000


def _lifecycles(record: dict[str, Any]) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    found: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for event in events(record):
        execution = event["execution"]
        key = (execution["instance"]["name"], execution["nativeId"])
        found.setdefault(key, []).append(
            (event["type"], execution["status"], event["previousStatus"])
        )
    return found


def _check_every_lifecycle(rig: LiveRig, record: dict[str, Any], instances: set[str]) -> int:
    """Each execution created and finished well inside the subscription arrived exactly as its
    three changes; returns how many were checked."""
    assert record["error"] is None and not record["completed"], record["error"]
    assert errors(record) == []
    seen = _lifecycles(record)
    margin = 2.5 * POLL_SECONDS * 1000
    checked = 0
    for instance, execution in rig.spawned():
        if execution.finished_at is None or instance not in instances:
            continue
        inside = (
            _ms(execution.created_at) > record["subscribedAt"] + margin
            and _ms(execution.finished_at) < record["endedAt"] - margin
        )
        if not inside:
            continue
        checked += 1
        assert seen.get((instance, execution.id)) == [
            ("CREATED", "PENDING", None),
            ("STATUS_CHANGED", "RUNNING", "PENDING"),
            ("FINISHED", FINAL[execution.status], "RUNNING"),
        ], (instance, execution.id)
    for key, lifecycle in seen.items():
        assert key[0] in instances
        kinds = Counter(kind for kind, _, _ in lifecycle)
        assert max(kinds.values()) == 1, (key, lifecycle)  # nothing twice
    return checked


def test_every_change_arrives_once_over_graphql_ws_and_graphql_sse_while_others_come_and_go(
    rig: LiveRig, tools: tuple[str, Path]
) -> None:
    # given: executions starting on both instances, about three a second in all
    node, install = tools
    # when: two graphql-ws and one graphql-sse subscribers listen for 12 s, one more scoped
    # to the team-style instance, while four others subscribe and leave again and again
    plan = {"durationMs": 12_000, "query": EVENTS, "ws": 2, "sse": 1, "scoped": 1, "churn": 4}
    result = run_clients(node, install, rig, plan)
    # then: each steady subscriber got every lifecycle inside its time, once
    everything = {"acme", "n8n-prod"}
    for record in [*result["ws"], *result["sse"]]:
        assert _check_every_lifecycle(rig, record, everything) >= 15
    # the scoped one only the team-style instance's, all of them
    [scoped] = result["scoped"]
    assert _check_every_lifecycle(rig, scoped, {"acme"}) >= 7
    # and the churning ones subscribed many times, heard events and were never refused
    assert sum(c["subscriptions"] for c in result["churn"]) >= 20
    assert sum(c["messages"] for c in result["churn"]) > 0
    assert [e for c in result["churn"] for e in c["errors"]] == []


def test_refusals_are_coded_and_logged_without_the_key(
    rig: LiveRig, tools: tuple[str, Path]
) -> None:
    node, install = tools
    before = rig.gateway.log_text().count("refused WebSocket")
    result = run_clients(node, install, rig, {"durationMs": 10, "refusals": True})
    refusals = result["refusals"]
    for name in ("ws_missing", "ws_unknown", "ws_malformed"):
        assert refusals[name]["closeCode"] == 4401, refusals
        assert refusals[name]["reason"].startswith("UNAUTHENTICATED: "), refusals
    assert "Bearer <key>" in refusals["ws_missing"]["reason"]
    assert refusals["sse_missing"]["status"] == 401
    log = rig.gateway.log_text()
    assert log.count("refused WebSocket") - before == 3
    assert rig.key not in log


def test_a_subscription_survives_a_backend_restart(tools: tuple[str, Path]) -> None:
    node, install = tools
    with live_rig() as rig:
        plan = {"durationMs": 14_000, "query": EVENTS, "ws": 1, "sse": 1}
        argv, env = clients_command(node, install, rig, plan)
        with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) as clients:
            time.sleep(3.5)
            # when: the team-style instance goes away for three seconds, then comes back
            rig.instances["acme"].stop()
            stopped = time.time() * 1000
            time.sleep(3)
            rig.instances["acme"].restart()
            restarted = time.time() * 1000
            out, _ = clients.communicate(timeout=60)
        assert clients.returncode == 0
        result = json.loads(out)
        # when each execution was created, as the simulator made it (a team-style list item
        # has no createdAt, so one first seen running carries none in its event either)
        created = {e.id: e.created_at for name, e in rig.spawned() if name == "acme"}
        for record in [*result["ws"], *result["sse"]]:
            # then: the stream said so, coded and naming the instance, and went on
            assert record["error"] is None and not record["completed"]
            [down] = errors(record)
            assert down["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
            assert down["extensions"]["instance"] == "acme"
            assert stopped <= down["t"] <= restarted
            assert down["path"] == ["executionEvents"]
            # and the instance's changes came again after the restart, none twice
            after = [
                e
                for e in events(record)
                if e["execution"]["instance"]["name"] == "acme" and e["t"] > restarted
            ]
            assert len(after) >= 3
            for key, lifecycle in _lifecycles(record).items():
                assert max(Counter(k for k, _, _ in lifecycle).values()) == 1, (key, lifecycle)
            # executions created while it was down arrived as created once it was back
            created_meanwhile = [
                e
                for e in after
                if e["type"] == "CREATED"
                and stopped < _ms(created[e["execution"]["nativeId"]]) < restarted
            ]
            assert created_meanwhile
