"""The n8n-style simulator at the HTTP level: limits, cursors, filters, stop/retry/delete and the
rendered shapes, compared with what a real n8n 2.41.1 answered (``tests/data/n8n/``)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from execgate.simulate.data import SimEdge, SimNode, SimWorkflow
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.n8n_render import NODE_TYPES, PROJECT_ID
from execgate.simulate.store import SimStore
from tests.backends.n8n_contract import b64, sample_errors, sample_json, sample_txt
from tests.simulate.n8n_store import (
    IDS,
    LAYOUT,
    MULTI_RUN_ID,
    NOW,
    T0,
    WF_FAIL,
    WF_OK,
    WF_SLOW,
    WORKFLOW_NAMES,
    Clock,
    build_store,
)

KEY = "test-api-key"
EXECUTIONS = "/api/v1/executions"


def client_for(store: SimStore, **options: Any) -> httpx.AsyncClient:
    app = create_n8n_app(store, api_key=KEY, **options)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://n8n.test",
        headers={"X-N8N-API-KEY": KEY},
    )


@pytest.fixture
def store() -> SimStore:
    return build_store()


@pytest.fixture
async def client(store: SimStore) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(store) as c:
        yield c


@pytest.fixture(scope="module")
def big_store() -> SimStore:
    return build_store(extra=280)


async def ids_of(client: httpx.AsyncClient, **params: Any) -> tuple[list[str], str | None]:
    response = await client.get(EXECUTIONS, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "nextCursor"}
    return [item["id"] for item in body["data"]], body["nextCursor"]


def decode(cursor: str) -> Any:
    return json.loads(base64.b64decode(cursor))


# ---------------------------------------------------------------------- limits and cursors


async def test_limit_edges(big_store: SimStore) -> None:
    listed = sorted(
        (e.id for e in big_store.visible() if e.status != "running"), key=int, reverse=True
    )
    assert len(listed) > 250
    async with client_for(big_store) as client:
        # the default is 100
        ids, cursor = await ids_of(client)
        assert ids == listed[:100]
        assert cursor is not None and decode(cursor) == {"lastId": listed[99], "limit": 100}
        # 0 is every row, unbounded
        assert await ids_of(client, limit=0) == (listed, None)
        assert (await ids_of(client, limit=1))[0] == listed[:1]
        assert (await ids_of(client, limit=250))[0] == listed[:250]
        # above 250 is clamped silently
        ids, cursor = await ids_of(client, limit=251)
        assert ids == listed[:250]
        assert cursor is not None and decode(cursor)["limit"] == 250
        # 2.5 reads as 2
        ids, cursor = await ids_of(client, limit="2.5")
        assert ids == listed[:2]
        assert cursor is not None and decode(cursor) == {"lastId": listed[1], "limit": 2}
        for request, value in [
            ("GET /executions?limit=-1", "-1"),
            ("GET /executions?limit=abc", "abc"),
        ]:
            response = await client.get(EXECUTIONS, params={"limit": value})
            assert (response.status_code, response.json()) == sample_errors()[request]


async def test_cursors_resume_below_their_last_id(client: httpx.AsyncClient) -> None:
    # given the first page of 5, like the sample's
    ids, cursor = await ids_of(client, limit=5)
    sample = sample_json("executions-list-page1.json")
    assert decode(sample["nextCursor"]) == {"lastId": sample["data"][-1]["id"], "limit": 5}
    assert cursor is not None and decode(cursor) == {"lastId": ids[-1], "limit": 5}
    # when following cursors, then every row comes once, in id order, and the walk ends
    seen = list(ids)
    while cursor is not None:
        ids, cursor = await ids_of(client, cursor=cursor)
        seen.extend(ids)
    expected = [str(i) for i in sorted(LAYOUT, reverse=True) if LAYOUT[i][1] != "running"]
    assert seen == expected


async def test_cursor_limit_overrides_and_is_clamped(client: httpx.AsyncClient) -> None:
    ids, cursor = await ids_of(client, limit=7, cursor=b64({"lastId": "20", "limit": 3}))
    assert ids == ["19", "18", "17"]
    assert cursor is not None and decode(cursor) == {"lastId": "17", "limit": 3}
    ids, _ = await ids_of(client, cursor=b64({"lastId": "20", "limit": 0}))
    assert ids == ["19"]
    ids, _ = await ids_of(client, cursor=b64({"lastId": "20", "limit": 1000}))
    assert ids == [str(i) for i in range(19, 0, -1)]
    # an empty object is the first page
    ids, _ = await ids_of(client, limit=2, cursor=b64({}))
    assert ids == ["25", "23"]
    for bad in ("garbage", b64([1, 2]), b64({"lastId": "abc"}), "%%%"):
        response = await client.get(EXECUTIONS, params={"cursor": bad})
        assert (response.status_code, response.json()) == (
            400,
            {"message": "An invalid cursor was provided"},
        )


async def test_next_cursor_is_null_exactly_when_nothing_older_remains(
    client: httpx.AsyncClient,
) -> None:
    # ids 3..1 are the three oldest: a page of exactly 3 below 4 has nothing after it
    assert await ids_of(client, limit=3, cursor=b64({"lastId": "4", "limit": 3})) == (
        ["3", "2", "1"],
        None,
    )
    ids, cursor = await ids_of(client, cursor=b64({"lastId": "5", "limit": 3}))
    assert ids == ["4", "3", "2"]
    assert cursor is not None


# ---------------------------------------------------------------------- filters


async def test_running_is_hidden_unless_asked_for(client: httpx.AsyncClient) -> None:
    everything, _ = await ids_of(client, limit=0)
    assert IDS["running"] not in everything and "24" not in everything
    assert await ids_of(client, status="running") == (["24", "21"], None)


async def test_status_filters(client: httpx.AsyncClient) -> None:
    for status in ("success", "error", "waiting", "canceled", "crashed", "new", "running"):
        ids, _ = await ids_of(client, status=status, limit=0)
        expected = [str(i) for i in sorted(LAYOUT, reverse=True) if LAYOUT[i][1] == status]
        assert ids == expected, status
    assert await ids_of(client, status="unknown") == ([], None)
    sample = sample_json("executions-list-status-new.json")["data"][0]
    response = await client.get(EXECUTIONS, params={"status": "new"})
    item = response.json()["data"][0]
    assert set(item) == set(sample)
    assert (item["startedAt"], item["stoppedAt"]) == (None, None)


async def test_workflow_project_and_date_filters(client: httpx.AsyncClient) -> None:
    ids, _ = await ids_of(client, workflowId=WF_FAIL, limit=0)
    assert ids == [str(i) for i in sorted(LAYOUT, reverse=True) if LAYOUT[i][0] == WF_FAIL]
    assert await ids_of(client, projectId="doesnotexist") == ([], None)
    assert len((await ids_of(client, projectId=PROJECT_ID, limit=0))[0]) == 23
    # started between minute 5 and minute 8 (each execution starts 5 ms after its minute)
    after = (T0 + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    before = (T0 + timedelta(minutes=8, seconds=1)).isoformat()
    ids, _ = await ids_of(client, startedAfter=after, startedBefore=before)
    assert ids == ["8", "7", "6", "5"]
    response = await client.get(EXECUTIONS, params={"startedBefore": "2026-13-45"})
    assert response.json() == {"message": "request/query/startedBefore Invalid datetime"}


# ---------------------------------------------------------------------- shapes


async def test_single_read_matches_the_sample_shape(client: httpx.AsyncClient) -> None:
    bare = (await client.get(f"{EXECUTIONS}/{IDS['success']}")).json()
    sample = sample_json("execution-get-success.json")
    assert list(bare) == list(sample)
    assert bare["id"] == IDS["success"] and bare["storedAt"] == "db"
    assert bare["createdAt"].endswith("Z") and len(bare["createdAt"]) == 24
    rich = await client.get(f"{EXECUTIONS}/{IDS['success']}", params={"includeData": "true"})
    body = rich.json()
    sample = sample_json("execution-get-success-includeData.json")
    assert list(body) == list(sample)
    assert list(body["data"]) == list(sample["data"])
    assert list(body["data"]["executionData"]) == list(sample["data"]["executionData"])
    assert list(body["workflowData"]) == list(sample["workflowData"])
    node = body["workflowData"]["nodes"][0]
    assert set(node) == set(sample["workflowData"]["nodes"][0])
    runs = body["data"]["resultData"]["runData"]
    assert list(runs) == ["Webhook", "Set", "Code"]
    assert [r[0]["executionIndex"] for r in runs.values()] == [0, 1, 2]
    assert runs["Set"][0]["source"] == [
        {"previousNode": "Webhook", "previousNodeOutput": 0, "previousNodeRun": 0}
    ]
    assert runs["Code"][0]["data"]["main"][0][0] == {
        "json": {"greeting": "hello", "i": 1, "doubled": 42},
        "pairedItem": {"item": 0},
    }
    assert body["data"]["resultData"]["lastNodeExecuted"] == "Code"


async def test_error_canceled_and_crashed_objects(client: httpx.AsyncClient) -> None:
    async def result(native_id: str) -> dict[str, Any]:
        response = await client.get(f"{EXECUTIONS}/{native_id}", params={"includeData": "true"})
        data: dict[str, Any] = response.json()["data"]["resultData"]
        return data

    failed = await result(IDS["error"])
    assert failed["error"] == failed["runData"]["Code"][0]["error"]
    assert failed["error"]["message"] == "invoice 3 could not be exported"
    assert "data" not in failed["runData"]["Code"][0]

    canceled = await result(IDS["canceled"])
    sample = sample_json("execution-get-canceled-includeData.json")["data"]["resultData"]
    assert set(canceled["error"]) == set(sample["error"])
    for field in ("name", "message", "level", "reason"):
        assert canceled["error"][field] == sample["error"][field]
    assert list(canceled["runData"]) == ["Webhook"]

    crashed = await result(IDS["crashed"])
    sample = sample_json("execution-get-crashed-includeData.json")["data"]["resultData"]
    assert set(crashed["error"]) == set(sample["error"])
    assert (crashed["error"]["name"], crashed["error"]["message"]) == (
        sample["error"]["name"],
        sample["error"]["message"],
    )
    run, sample_run = crashed["runData"]["Code"][0], sample["runData"]["Code"][0]
    assert set(run) == set(sample_run)
    assert (run["executionIndex"], run["source"], run["executionStatus"]) == (0, [None], "crashed")
    assert run["startTime"] < 10**11  # seconds, as n8n stores it


async def test_running_waiting_and_new_data(client: httpx.AsyncClient) -> None:
    async def read(native_id: str) -> dict[str, Any]:
        response = await client.get(f"{EXECUTIONS}/{native_id}", params={"includeData": "true"})
        body: dict[str, Any] = response.json()
        return body

    running = await read(IDS["running"])
    assert running["stoppedAt"] is None
    assert list(running["data"]["resultData"]["runData"]) == ["Webhook"]
    assert running["data"]["resultData"]["lastNodeExecuted"] == "Webhook"

    waiting = await read(IDS["waiting"])
    sample = sample_json("execution-get-waiting-includeData.json")
    assert list(waiting["data"]) == list(sample["data"])
    assert waiting["waitTill"] == waiting["data"]["waitTill"] == "2026-11-23T21:10:00.000Z"
    assert waiting["stoppedAt"] is not None
    wait_run = waiting["data"]["resultData"]["runData"]["Wait"][0]
    assert wait_run["executionStatus"] == "waiting"
    assert wait_run["data"]["main"][0][0]["json"]["query"] == {"i": "10"}

    new = await read(IDS["new"])
    assert (new["startedAt"], new["stoppedAt"]) == (None, None)
    assert new["data"]["resultData"] == {"runData": {}}
    stack = new["data"]["executionData"]["nodeExecutionStack"]
    assert stack[0]["node"]["name"] == "Webhook"


async def test_loop_runs_name_their_source_run_and_output(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{EXECUTIONS}/{MULTI_RUN_ID}", params={"includeData": "true"})
    runs = response.json()["data"]["resultData"]["runData"]
    assert [len(runs[n]) for n in ("Start", "Fetch", "More?", "Done")] == [1, 3, 3, 1]
    assert [r["source"][0]["previousNodeRun"] for r in runs["Fetch"][1:]] == [0, 1]
    assert runs["Done"][0]["source"] == [
        {"previousNode": "More?", "previousNodeOutput": 1, "previousNodeRun": 2}
    ]
    # the last check sent its items to output 1, the others to output 0
    assert [len(o) for o in runs["More?"][2]["data"]["main"]] == [0, 1]
    assert [len(o) for o in runs["More?"][0]["data"]["main"]] == [1, 0]
    assert sorted(r["executionIndex"] for rs in runs.values() for r in rs) == list(range(8))


async def test_redaction(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"{EXECUTIONS}/{IDS['success']}",
        params={"includeData": "true", "redactExecutionData": "true"},
    )
    data = response.json()["data"]
    assert data["redactionInfo"] == {
        "isRedacted": True,
        "reason": "user_requested",
        "canReveal": True,
    }
    item = data["resultData"]["runData"]["Webhook"][0]["data"]["main"][0][0]
    sample = sample_json("execution-get-success-redacted.json")
    assert item == sample["data"]["resultData"]["runData"]["Webhook"][0]["data"]["main"][0][0]


async def test_list_with_data_matches_the_sample(client: httpx.AsyncClient) -> None:
    sample = sample_json("executions-list-limit2-includeData-error.json")
    response = await client.get(
        EXECUTIONS, params={"limit": 2, "includeData": "true", "status": "error"}
    )
    body = response.json()
    assert [list(item) for item in body["data"]] == [list(item) for item in sample["data"]]
    assert decode(body["nextCursor"]) == {"lastId": body["data"][-1]["id"], "limit": 2}
    assert all(item["jsonSizeBytes"] > 0 for item in body["data"])


async def test_workflow_read(client: httpx.AsyncClient, store: SimStore) -> None:
    response = await client.get(f"/api/v1/workflows/{WF_OK}")
    body = response.json()
    sample = sample_json("wf-create-ok.json")
    assert response.status_code == 200
    assert {k for k in sample if k not in ("activeVersion", "parentFolder")} <= set(body)
    assert (body["id"], body["name"]) == (WF_OK, WORKFLOW_NAMES[WF_OK])
    assert [n["type"] for n in body["nodes"]] == [
        "n8n-nodes-base.webhook",
        "n8n-nodes-base.set",
        "n8n-nodes-base.code",
    ]
    assert body["connections"] == sample["connections"]
    missing = await client.get("/api/v1/workflows/NoSuchWorkflow01")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})


async def test_every_node_kind_maps_to_its_n8n_type() -> None:
    kinds = list(NODE_TYPES)
    workflow = SimWorkflow(
        "AllKinds00000001",
        "all-kinds",
        [SimNode(f"N{i}", kind) for i, kind in enumerate(kinds)],
        [SimEdge(f"N{i}", f"N{i + 1}") for i in range(len(kinds) - 1)],
    )
    store = SimStore([workflow], [], clock=Clock())
    async with client_for(store) as client:
        body = (await client.get("/api/v1/workflows/AllKinds00000001")).json()
    types = [node["type"] for node in body["nodes"]]
    assert types == [
        "n8n-nodes-base.webhook",
        "n8n-nodes-base.set",
        "n8n-nodes-base.if",
        "n8n-nodes-base.code",
        "n8n-nodes-base.wait",
        "n8n-nodes-base.httpRequest",
        "n8n-nodes-base.merge",
        "n8n-nodes-base.scheduleTrigger",
        "n8n-nodes-base.manualTrigger",
        "n8n-nodes-base.slack",
        "n8n-nodes-base.emailSend",
        "n8n-nodes-base.postgres",
        "n8n-nodes-base.switch",
        "n8n-nodes-base.itemLists",
    ]


# ---------------------------------------------------------------------- mutations


async def test_stop_of_each_active_status(client: httpx.AsyncClient, store: SimStore) -> None:
    # running and waiting: stopped now, canceled with n8n's error
    for native_id in (IDS["running"], IDS["waiting"]):
        response = await client.post(f"{EXECUTIONS}/{native_id}/stop")
        body = response.json()
        assert list(body) == list(sample_txt("execution-stop-waiting.txt")[1])
        assert body["stoppedAt"] == "2026-11-23T21:00:00.000Z"
        assert (body["status"], body["finished"]) == ("canceled", False)
        assert store.executions[native_id].status == "canceled"
    # new: reported as started at the epoch, and still never started
    response = await client.post(f"{EXECUTIONS}/{IDS['new']}/stop")
    assert response.json()["startedAt"] == "1970-01-01T00:00:00.000Z"
    read = (await client.get(f"{EXECUTIONS}/{IDS['new']}")).json()
    assert (read["status"], read["startedAt"]) == ("canceled", None)
    # a second stop is a conflict naming the new status
    again = await client.post(f"{EXECUTIONS}/{IDS['new']}/stop")
    assert again.status_code == 409
    assert again.json()["message"].endswith(f"{IDS['new']} is currently canceled")
    invalid = await client.post(f"{EXECUTIONS}/abc/stop")
    assert invalid.json() == sample_errors()["GET /executions/abc"][1]


async def test_bulk_stop(client: httpx.AsyncClient, store: SimStore) -> None:
    no_body = await client.post(f"{EXECUTIONS}/stop")
    assert (no_body.status_code, no_body.json()) == sample_errors()[
        "POST /executions/stop (bulk) no body"
    ]
    bad = await client.post(f"{EXECUTIONS}/stop", json={"status": ["error"]})
    assert (bad.status_code, bad.json()) == sample_errors()[
        "POST /executions/stop (bulk) bad status"
    ]
    unknown = await client.post(
        f"{EXECUTIONS}/stop", json={"status": ["running"], "workflowId": "NoSuchWorkflow01"}
    )
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"message": "Workflow not found or not accessible"},
    )
    # queued means new; running and waiting as named
    stopped = await client.post(
        f"{EXECUTIONS}/stop", json={"status": ["queued", "running"], "workflowId": WF_SLOW}
    )
    status, body = sample_txt("executions-stop-many.txt")
    assert stopped.status_code == status
    assert set(stopped.json()) == set(body)
    assert stopped.json() == {"stopped": 3}
    assert {store.executions[i].status for i in ("21", "23", "24")} == {"canceled"}
    assert store.executions[IDS["waiting"]].status == "waiting"


async def test_retry_rules(store: SimStore) -> None:
    async with client_for(store, failing_workflows={WF_FAIL}) as client:
        bad = await client.post(f"{EXECUTIONS}/{IDS['error']}/retry", json={"loadWorkflow": "yes"})
        assert (bad.status_code, bad.json()) == (
            400,
            {"message": "request/body/loadWorkflow Expected boolean, received string"},
        )
        # an error in an always-failing workflow fails again: no success link
        failed = await client.post(
            f"{EXECUTIONS}/{IDS['error']}/retry", json={"loadWorkflow": True}
        )
        body = failed.json()
        assert (failed.status_code, body["status"], body["retryOf"]) == (200, "error", "3")
        assert body["data"]["resultData"]["error"]["message"] == "invoice 3 could not be exported"
        runs = body["data"]["resultData"]["runData"]
        # copied runs keep their indexes; the re-executed node starts from 0, as in n8n
        assert [r[0]["executionIndex"] for r in runs.values()] == [0, 1, 0]
        sample = sample_json("execution-retry-failed-nobody.json")["data"]["resultData"]["runData"]
        assert [r[0]["executionIndex"] for r in sample.values()] == [0, 1, 0]
        assert store.executions["3"].retry_success_id is None
        # a waiting execution's retry runs the wait at once and succeeds; the original waits on
        waited = (await client.post(f"{EXECUTIONS}/{IDS['waiting']}/retry")).json()
        assert waited["status"] == "success" and waited["finished"] is True
        assert list(waited["data"]["resultData"]["runData"]) == ["Webhook", "Wait", "Code"]
        assert store.executions[IDS["waiting"]].retry_success_id == waited["id"]
        assert store.executions[IDS["waiting"]].status == "waiting"
        # the new executions are listed, newest first, with mode retry
        ids, _ = await ids_of(client, limit=2)
        assert ids == [waited["id"], body["id"]]


async def test_delete(client: httpx.AsyncClient, store: SimStore) -> None:
    response = await client.delete(f"{EXECUTIONS}/{IDS['waiting']}")
    body = response.json()
    status, sample = sample_txt("execution-delete-waiting.txt")
    assert response.status_code == status
    assert list(body) == list(sample)
    assert body["id"] == int(IDS["waiting"])
    assert body["waitTill"] == "2026-11-23T21:10:00.000Z"
    gone = await client.get(f"{EXECUTIONS}/{IDS['waiting']}")
    assert (gone.status_code, gone.json()) == sample_errors()["GET /executions/99999"]
    running = await client.delete(f"{EXECUTIONS}/{IDS['running']}")
    assert (running.status_code, running.json()) == sample_txt("execution-delete-running.txt")


# ---------------------------------------------------------------------- transport


async def test_auth_and_routing(client: httpx.AsyncClient) -> None:
    request = client.build_request("GET", EXECUTIONS)
    del request.headers["X-N8N-API-KEY"]
    response = await client.send(request)
    assert (response.status_code, response.json()) == sample_errors()["GET /executions no key"]
    wrong_method = await client.put(f"{EXECUTIONS}/1")
    assert wrong_method.status_code == 405
    assert (await client.get(f"{EXECUTIONS}/1/tags")).json() == sample_errors()[
        "GET /executions/1/tags"
    ][1]


async def test_latency_and_clock(store: SimStore) -> None:
    # given 40 ms of simulated latency
    async with client_for(store, latency_ms=40) as client:
        started = time.monotonic()
        await client.get(f"{EXECUTIONS}/1")
        assert time.monotonic() - started >= 0.04
    # and a running execution planned to end tomorrow: the request after that time sees it done
    assert isinstance(store.clock, Clock)
    store.clock.now = NOW + timedelta(days=2)
    async with client_for(store) as client:
        done = (await client.get(f"{EXECUTIONS}/{IDS['running']}")).json()
    assert done["status"] == "success"
    assert done["stoppedAt"] == "2026-11-24T21:00:00.000Z"
