"""The team-style simulator's HTTP contract, spoken to directly through httpx."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from execgate.simulate.store import SimStore
from execgate.simulate.team_api import create_team_app
from execgate.simulate.team_export import CSV_COLUMNS, mask, mask_text
from execgate.simulate.wire import iso_ms
from tests.simulate.team_store import (
    API_KEY,
    EMAIL,
    TEAM_ID,
    TOKEN,
    WF_CRM,
    WF_ORDERS,
    Clock,
    expected_order,
    make_store,
    uid,
)

LIST = f"/api/executions/team/{TEAM_ID}"
EXPORT = f"{LIST}/export"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LIST_KEYS = {
    "id",
    "workflowId",
    "workflowName",
    "status",
    "startedAt",
    "finishedAt",
    "durationMs",
    "triggerType",
    "nodeCount",
    "errorMessage",
}
"""The seed's list item: no ``createdAt`` (details have it)."""
DETAIL_KEYS = {
    "id",
    "workflowId",
    "workflowName",
    "workflowVersion",
    "status",
    "trigger",
    "inputData",
    "outputData",
    "errorMessage",
    "createdAt",
    "startedAt",
    "completedAt",
    "durationMs",
    "nodeExecutions",
}
NODE_KEYS = {
    "id",
    "nodeId",
    "nodeName",
    "nodeType",
    "status",
    "startedAt",
    "completedAt",
    "durationMs",
    "inputData",
    "outputData",
    "errorMessage",
    "retryCount",
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> SimStore:
    return make_store(clock, extra=4)


@pytest.fixture
async def client(store: SimStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_team_app(store, team_id=TEAM_ID, token=TOKEN)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://team.test", headers=AUTH
    ) as c:
        yield c


async def _all(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(LIST, params={"size": 100, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["content"]
    return items


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", LIST),
        ("GET", EXPORT),
        ("GET", f"/api/executions/{uid('ok')}"),
        ("GET", f"/api/executions?workflowId={WF_ORDERS}"),
        ("POST", f"/api/executions/{uid('running')}/cancel"),
    ],
)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_every_route_needs_the_bearer_token(
    client: httpx.AsyncClient, store: SimStore, method: str, path: str, headers: dict[str, str]
) -> None:
    # given a request without the right token (the client's default header is replaced)
    client.headers.pop("Authorization")
    # when
    response = await client.request(method, path, headers=headers)
    # then
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert store.executions[uid("running")].status == "running"


@pytest.mark.parametrize("path", ["/api/executions/team/{t}", "/api/executions/team/{t}/export"])
async def test_another_team_is_forbidden(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path.format(t=uid("another team")))
    assert response.status_code == 403
    assert "message" in response.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/executions/{uid('nobody')}"),
        ("GET", "/api/executions/not-a-uuid"),
        ("POST", f"/api/executions/{uid('nobody')}/cancel"),
        ("POST", "/api/executions/12/cancel"),
    ],
)
async def test_unknown_executions_are_404(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"message": "Execution not found"}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (LIST, {"page": "-1"}),
        (LIST, {"page": "x"}),
        (LIST, {"size": "0"}),
        (LIST, {"status": "DONE"}),
        (LIST, {"from": "yesterday"}),
        (LIST, {"to": "2026-13-01T00:00:00Z"}),
        ("/api/executions", {}),
        ("/api/executions", {"workflowId": WF_ORDERS, "size": "-3"}),
        (EXPORT, {"format": "xml"}),
        (EXPORT, {"days": "0"}),
    ],
)
async def test_invalid_parameters_are_400_with_a_message(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 400
    assert isinstance(response.json()["message"], str)


async def test_list_defaults_shape_and_order(client: httpx.AsyncClient, store: SimStore) -> None:
    # when
    response = await client.get(LIST)
    # then
    body = response.json()
    assert set(body) == {"content", "totalElements", "totalPages", "number", "size"}
    total = len(store.visible())
    assert (body["totalElements"], body["number"], body["size"]) == (total, 0, 20)
    assert body["totalPages"] == math.ceil(total / 20)
    assert [item["id"] for item in body["content"]] == expected_order(store)[:20]
    for item in body["content"]:
        assert set(item) == LIST_KEYS
        for name in ("startedAt", "finishedAt"):
            assert item[name] is None or STAMP.match(item[name])
    # a pending execution has no time at all on the list: it sits by its creation time
    pending = next(i for i in body["content"] if i["id"] == uid("pending"))
    assert pending["status"] == "PENDING"
    assert pending["startedAt"] is None and "createdAt" not in pending
    ok = next(i for i in body["content"] if i["id"] == uid("ok"))
    assert ok["durationMs"] == 2350 and ok["triggerType"] == "WEBHOOK"
    assert ok["workflowName"] == "Order Processing" and ok["nodeCount"] == 3


async def test_size_is_capped_and_pages_tile_the_list(
    client: httpx.AsyncClient, store: SimStore
) -> None:
    # given
    capped = (await client.get(LIST, params={"size": 500})).json()
    assert capped["size"] == 100
    # when pages of 4 are read one after the other
    ids: list[str] = []
    for page in range(capped["totalPages"] * 25):
        body = (await client.get(LIST, params={"page": page, "size": 4})).json()
        assert body["number"] == page
        if not body["content"]:
            break
        ids += [item["id"] for item in body["content"]]
    # then they cover the list exactly once, in order
    assert ids == expected_order(store)


@pytest.mark.parametrize(
    ("status", "labels"),
    [
        ("RUNNING", {"running", "waiting"}),
        ("PENDING", {"pending"}),
        ("FAILED", {"failed", "crashed"}),
        ("CANCELLED", {"cancelled"}),
        ("running", {"running", "waiting"}),
    ],
)
async def test_status_filter(client: httpx.AsyncClient, status: str, labels: set[str]) -> None:
    items = await _all(client, status=status)
    assert {i["id"] for i in items} == {uid(label) for label in labels}


async def test_workflow_and_time_filters(client: httpx.AsyncClient, store: SimStore) -> None:
    # given the shared start time of the two tied executions
    tied = {uid("tie-a"), uid("tie-b")}
    moment = next(i["startedAt"] for i in await _all(client) if i["id"] in tied)
    # when both bounds are that instant (inclusive)
    items = await _all(client, **{"from": moment, "to": moment})
    # then exactly the tied pair comes back, ordered by id descending
    assert [i["id"] for i in items] == sorted(tied, reverse=True)
    crm = await _all(client, workflowId=WF_CRM)
    assert {i["id"] for i in crm} == {uid("crm-loop"), uid("tie-a"), uid("waiting")}
    before = await _all(client, to=moment, status="SUCCESS")
    assert all(i["startedAt"] <= moment for i in before) and len(before) > 2
    after = await _all(client, **{"from": moment.replace("Z", "+00:00")})
    assert uid("pending") in {i["id"] for i in after}
    assert all(
        iso_ms(store.executions[i["id"]].started_at or store.executions[i["id"]].created_at)
        >= moment
        for i in after
    )


async def test_list_by_workflow(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/executions", params={"workflowId": WF_CRM, "size": 2})).json()
    assert body["totalElements"] == 3 and body["totalPages"] == 2 and body["size"] == 2
    assert [set(i) for i in body["content"]] == [LIST_KEYS, LIST_KEYS]
    assert {i["workflowId"] for i in body["content"]} == {WF_CRM}


async def test_details_shape_with_nodes(client: httpx.AsyncClient) -> None:
    # when
    body = (await client.get(f"/api/executions/{uid('crm-loop')}")).json()
    # then
    assert set(body) == DETAIL_KEYS
    assert body["workflowVersion"] == 2 and body["trigger"] == "SCHEDULE"
    nodes = body["nodeExecutions"]
    assert all(set(n) == NODE_KEYS for n in nodes)
    names = [n["nodeName"] for n in nodes]
    assert names.count("Fetch Contacts Page") == 3
    assert [n["nodeType"] for n in nodes[:2]] == ["SCHEDULE_TRIGGER", "HTTP_REQUEST"]
    assert [n["retryCount"] for n in nodes if n["nodeName"] == "Fetch Contacts Page"] == [0, 1, 0]
    assert len({n["id"] for n in nodes}) == len(nodes)
    assert len({n["nodeId"] for n in nodes if n["nodeName"] == "Fetch Contacts Page"}) == 1
    first = nodes[0]
    assert first["status"] == "SUCCESS" and first["durationMs"] == 80
    assert STAMP.match(first["completedAt"])


async def test_details_of_running_and_failed(client: httpx.AsyncClient) -> None:
    running = (await client.get(f"/api/executions/{uid('running')}")).json()
    assert running["status"] == "RUNNING" and running["completedAt"] is None
    assert [n["status"] for n in running["nodeExecutions"]] == ["SUCCESS", "RUNNING"]
    assert running["nodeExecutions"][1]["completedAt"] is None
    failed = (await client.get(f"/api/executions/{uid('failed')}")).json()
    assert failed["status"] == "FAILED" and EMAIL in failed["errorMessage"]
    assert failed["nodeExecutions"][-1]["status"] == "FAILED"
    assert failed["nodeExecutions"][-1]["errorMessage"] == failed["errorMessage"]


async def test_cancel_rule(client: httpx.AsyncClient, store: SimStore) -> None:
    # when a running and a pending execution are cancelled
    for label in ("running", "pending"):
        response = await client.post(f"/api/executions/{uid(label)}/cancel")
        # then
        assert response.status_code == 200 and response.content == b""
        detail = (await client.get(f"/api/executions/{uid(label)}")).json()
        assert detail["status"] == "CANCELLED" and detail["completedAt"] is not None
    # the pending one never started: it keeps no start time, its creation time stays
    pending = (await client.get(f"/api/executions/{uid('pending')}")).json()
    assert pending["startedAt"] is None and pending["durationMs"] is None
    assert pending["createdAt"] == iso_ms(store.executions[uid("pending")].created_at)
    # and a finished one (or one cancelled already) cannot be
    for label in ("ok", "running"):
        response = await client.post(f"/api/executions/{uid(label)}/cancel")
        assert response.status_code == 409
        assert response.json() == {
            "message": "Only executions with RUNNING or PENDING status can be cancelled"
        }
    assert store.executions[uid("ok")].status == "success"


async def test_running_executions_finish_as_the_clock_moves(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    path = f"/api/executions/{uid('running')}"
    assert (await client.get(path)).json()["status"] == "RUNNING"
    clock.tick(hours=2)
    assert (await client.get(path)).json()["status"] == "SUCCESS"


async def test_csv_export(client: httpx.AsyncClient, store: SimStore) -> None:
    # when
    response = await client.get(EXPORT)
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment")
    text = response.text
    assert text.splitlines()[0] == (
        "execution_id,workflow_id,workflow_name,status,trigger,started_at,completed_at,"
        "duration_ms,node_id,node_type,node_name,node_status,node_started_at,"
        "node_completed_at,node_duration_ms,node_error"
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    recent = [e for e in store.visible() if e.id != uid("old")]
    assert len(rows) == sum(max(1, len(e.runs)) for e in recent)
    assert uid("old") not in {r["execution_id"] for r in rows}
    loop_rows = [r for r in rows if r["execution_id"] == uid("crm-loop")]
    assert [r["node_name"] for r in loop_rows].count("Fetch Contacts Page") == 3
    assert tuple(rows[0]) == CSV_COLUMNS
    # masking: the e-mail and the key in the failed node's error are gone
    assert EMAIL not in text and API_KEY not in text
    failed = [r for r in rows if r["execution_id"] == uid("failed") and r["node_error"]]
    assert failed and all("[REDACTED]" in r["node_error"] for r in failed)
    wider = (await client.get(EXPORT, params={"days": 60})).text
    assert uid("old") in wider


async def test_json_export_nests_nodes_and_masks(client: httpx.AsyncClient) -> None:
    # when
    response = await client.get(EXPORT, params={"format": "json", "days": 7})
    # then
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    assert EMAIL not in response.text and API_KEY not in response.text
    body = json.loads(response.text)
    by_id = {e["executionId"]: e for e in body}
    loop = by_id[uid("crm-loop")]
    assert set(loop) == {
        "executionId",
        "workflowId",
        "workflowName",
        "status",
        "trigger",
        "startedAt",
        "completedAt",
        "durationMs",
        "nodeExecutions",
    }
    assert len(loop["nodeExecutions"]) == 6
    assert set(loop["nodeExecutions"][0]) == {
        "nodeId",
        "nodeType",
        "nodeName",
        "status",
        "startedAt",
        "completedAt",
        "durationMs",
        "error",
    }
    failed = by_id[uid("failed")]
    assert failed["nodeExecutions"][-1]["error"].startswith("Card declined for [REDACTED]")


async def test_latency_is_applied(store: SimStore) -> None:
    app = create_team_app(store, team_id=TEAM_ID, token=TOKEN, latency_ms=60)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://team.test", headers=AUTH
    ) as slow:
        began = time.monotonic()
        response = await slow.get(LIST, params={"size": 1})
        assert response.status_code == 200
        assert time.monotonic() - began >= 0.05


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("mail jane.doe@example.com now", "jane.doe@example.com"),
        ("Authorization: Bearer abcdefghijkl1234", "abcdefghijkl1234"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("sent with bearer abcdefghijkl1234 ok", "abcdefghijkl1234"),
        ("password=hunter22 next", "hunter22"),
        ('{"apiKey": "xyz123456"}', "xyz123456"),
        (f"key {API_KEY} used", API_KEY),
        (f"token {TOKEN}", TOKEN),
    ],
)
def test_mask_text_redacts_credentials_and_emails(text: str, secret: str) -> None:
    masked = mask_text(text)
    assert secret not in masked and "[REDACTED]" in masked


def test_mask_keeps_plain_text_and_redacts_sensitive_keys() -> None:
    assert mask_text("basic validation failed for order 42") == (
        "basic validation failed for order 42"
    )
    masked = mask(
        {"api_key": "a", "X-Api-Key": "b", "rows": [{"accessToken": "c", "to": EMAIL}], "n": 3}
    )
    assert masked == {
        "api_key": "[REDACTED]",
        "X-Api-Key": "[REDACTED]",
        "rows": [{"accessToken": "[REDACTED]", "to": "[REDACTED]"}],
        "n": 3,
    }


def _undated_rig(store: SimStore, **options: Any) -> httpx.AsyncClient:
    app = create_team_app(store, team_id=TEAM_ID, token=TOKEN, **options)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://team.test", headers=AUTH
    )


@pytest.mark.parametrize("where", ["first", "last"])
async def test_executions_without_a_start_can_be_listed_first_or_last(
    store: SimStore, where: str
) -> None:
    # given a server that orders by start time only, and one more that never started
    cancelled = store.executions[uid("cancelled")]
    cancelled.started_at = None
    async with _undated_rig(store, undated=where) as client:
        # when the whole list is read
        ids = [i["id"] for i in await _all(client)]
        dated = [i for i in expected_order(store) if store.executions[i].started_at]
        undated = sorted({uid("pending"), uid("cancelled")}, reverse=True)
        # then they come before or after every execution that started, by id
        assert ids == (undated + dated if where == "first" else dated + undated)
        # and a time bound (on start times) leaves them out
        bounded = {i["id"] for i in await _all(client, to="2100-01-01T00:00:00Z")}
        assert bounded == set(dated)
        since = {i["id"] for i in await _all(client, **{"from": "2000-01-01T00:00:00Z"})}
        assert since == set(dated)


async def test_list_items_can_carry_their_creation_time(store: SimStore) -> None:
    async with _undated_rig(store, list_created_at=True) as client:
        items = await _all(client)
    assert all(set(i) == LIST_KEYS | {"createdAt"} for i in items)
    pending = next(i for i in items if i["id"] == uid("pending"))
    assert pending["createdAt"] == iso_ms(store.executions[uid("pending")].created_at)
