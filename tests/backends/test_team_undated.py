"""The team adapter against a server whose list items carry no createdAt and whose pending
executions have no start time (the seed document's list shape), in both NULL placements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from execgate.backends.team import TeamBackend
from execgate.domain.models import ExecutionQuery, ExecutionStatus
from tests.transports import Scripted, backend_http

TEAM = "0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _render(moment: datetime | None) -> str | None:
    return (
        None
        if moment is None
        else moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _rows(dated: int, pending: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(dated):
        started = T0 + timedelta(minutes=i)
        rows.append(
            {"id": f"00000000-0000-4000-8000-{i:012d}", "startedAt": started, "status": "SUCCESS"}
        )
    for j in range(pending):
        rows.append(
            {"id": f"00000000-0000-4000-9000-{j:012d}", "startedAt": None, "status": "PENDING"}
        )
    return rows


def _server(rows: list[dict[str, Any]], nulls_first: bool) -> Scripted:
    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        page, size = int(q.get("page", 0)), int(q.get("size", 20))
        found = [r for r in rows if not q.get("status") or r["status"] == q["status"]]
        if "to" in q:
            to = datetime.fromisoformat(q["to"].replace("Z", "+00:00"))
            found = [r for r in found if r["startedAt"] is not None and r["startedAt"] <= to]
        dated = sorted(
            (r for r in found if r["startedAt"]),
            key=lambda r: (r["startedAt"], r["id"]),
            reverse=True,
        )
        undated = [r for r in found if r["startedAt"] is None]
        ordered = undated + dated if nulls_first else dated + undated
        chunk = ordered[page * size : (page + 1) * size]
        content = [
            {
                "id": r["id"],
                "workflowId": "wf",
                "workflowName": "Orders",
                "status": r["status"],
                "startedAt": _render(r["startedAt"]),
                "finishedAt": None,
                "durationMs": None,
                "triggerType": "WEBHOOK",
                "nodeCount": 0,
                "errorMessage": None,
            }
            for r in chunk
        ]
        pages = max(1, -(-len(ordered) // size))
        return httpx.Response(
            200,
            json={
                "content": content,
                "totalElements": len(ordered),
                "totalPages": pages,
                "number": page,
                "size": size,
            },
        )

    return Scripted(handler)


@pytest.mark.parametrize("nulls_first", [True, False])
@pytest.mark.parametrize("limit", [1, 3, 10])
async def test_pending_without_any_time_are_returned_exactly_once(
    nulls_first: bool, limit: int
) -> None:
    # given a server with 12 dated and 4 undated pending executions
    rows = _rows(12, 4)
    backend = TeamBackend(
        "acme", backend_http("acme", "http://team", {}, _server(rows, nulls_first)), TEAM
    )
    # when every page is read
    seen: list[str] = []
    position = None
    for _ in range(100):
        page = await backend.list_executions(ExecutionQuery(), limit=limit, position=position)
        seen.extend(e.native_id for e in page.items)
        if page.position is None:
            break
        position = page.position
    # then every execution appears once, undated ones included
    assert sorted(seen) == sorted(r["id"] for r in rows)
    assert len(seen) == len(set(seen))
    pending = [i for i in seen if "-9000-" in i]
    assert len(pending) == 4


async def test_pending_filter_reaches_undated_executions() -> None:
    rows = _rows(5, 3)
    transport = _server(rows, nulls_first=False)
    backend = TeamBackend("acme", backend_http("acme", "http://team", {}, transport), TEAM)
    page = await backend.list_executions(
        ExecutionQuery(statuses=frozenset({ExecutionStatus.PENDING})), limit=10
    )
    assert len(page.items) == 3 and all(e.started_at is None for e in page.items)
    assert page.position is None
