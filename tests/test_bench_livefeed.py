"""The soak's live backend: a feed that keeps growing, read as the simulators answer."""

from __future__ import annotations

import httpx
from bench.livefeed import N8N_BASE, Feed, LiveFeed, Templates, create_app, team_number

TEAM = "/api/executions/team/0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b"


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


def _client(clock: Clock) -> httpx.AsyncClient:
    live = LiveFeed(Feed(100.0, 50, clock), Templates(3, 40), "tok", "key")
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(live)), base_url="http://f"
    )


async def test_the_newest_page_moves_by_the_rate_and_every_execution_can_be_read() -> None:
    clock = Clock()
    client = _client(clock)
    team = {"Authorization": "Bearer tok"}

    first = (await client.get(TEAM, params={"page": 0, "size": 20}, headers=team)).json()
    clock.now += 1.0
    later = (await client.get(TEAM, params={"page": 0, "size": 20}, headers=team)).json()

    numbers = [team_number(item["id"]) for item in later["content"]]
    assert numbers == list(range(150, 130, -1))
    assert later["totalElements"] - first["totalElements"] == 100
    assert not {i["id"] for i in first["content"]} & {i["id"] for i in later["content"]}
    detail = (await client.get(f"/api/executions/{later['content'][0]['id']}", headers=team)).json()
    assert detail["nodeExecutions"] and detail["startedAt"] == later["content"][0]["startedAt"]
    assert (await client.get(f"{TEAM}", headers={"Authorization": "Bearer no"})).status_code == 401


async def test_the_n8n_feed_lists_with_data_pages_by_cursor_and_honours_dates() -> None:
    clock = Clock()
    client = _client(clock)
    key = {"X-N8N-API-KEY": "key"}

    page = (
        await client.get(
            "/api/v1/executions", params={"limit": 10, "includeData": "true"}, headers=key
        )
    ).json()
    more = (
        await client.get("/api/v1/executions", params={"cursor": page["nextCursor"]}, headers=key)
    ).json()
    bounded = (
        await client.get(
            "/api/v1/executions",
            params={"limit": 5, "startedBefore": page["data"][3]["startedAt"]},
            headers=key,
        )
    ).json()
    running = await client.get("/api/v1/executions", params={"status": "running"}, headers=key)

    ids = [int(item["id"]) - N8N_BASE for item in page["data"]]
    assert ids == list(range(50, 40, -1))
    assert all(item["data"]["resultData"]["runData"] for item in page["data"])
    assert [int(i["id"]) - N8N_BASE for i in more["data"]] == list(range(40, 30, -1))
    assert int(bounded["data"][0]["id"]) - N8N_BASE == 47
    assert running.json() == {"data": [], "nextCursor": None}
    single = (
        await client.get(
            f"/api/v1/executions/{N8N_BASE + 44}", params={"includeData": "true"}, headers=key
        )
    ).json()
    assert single["createdAt"] and single["data"]["resultData"]["runData"]
    stats = (await client.get("/__stats")).json()
    assert stats["details"] == 1 and stats["newest"] == 50
