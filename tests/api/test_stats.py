"""``executionStats`` over GraphQL: the shape, the default window, the cost estimate."""

from __future__ import annotations

from typing import Any

from execgate.app import create_app
from execgate.simulate.embedded import embedded
from tests.serving import serving

DASHBOARD = """
query Dashboard($after: DateTime) {
  executionStats(filter: {startedAfter: $after}, groupBy: [WORKFLOW]) {
    startedAfter complete scanned bucketCount
    skippedInstances { instance code }
    overall { count finished running successRate byStatus { success failed }
              durationMs { p50 p95 max mean count } firstStartedAt lastStartedAt }
    buckets { workflow { id name instance { name } } count successRate durationMs { p95 } }
  }
}
"""

TWO_WINDOWS = """
{
  day: executionStats(filter: {startedAfter: "2000-01-01T00:00:00Z"}) { overall { count } }
  week: executionStats(filter: {startedAfter: "2000-01-02T00:00:00Z", instances: ["acme"]}) {
    overall { count }
  }
}
"""


async def _post(client: Any, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_dashboard_answer_has_every_figure_and_workflow_names() -> None:
    demo = embedded(7)
    app = create_app(demo.settings, transports=demo.transports)
    async with serving(app) as client:
        body = await _post(client, DASHBOARD, after="2000-01-01T00:00:00Z")
        assert "errors" not in body, body
        stats = body["data"]["executionStats"]
        total = sum(len(store.visible()) for store in demo.stores.values())
        queued = sum(1 for s in demo.stores.values() for e in s.visible() if e.started_at is None)
        overall = stats["overall"]
        # n8n lists queued executions without a time, so a dated window leaves them out
        assert total - queued <= overall["count"] <= total
        assert stats["complete"] is True and stats["skippedInstances"] == []
        assert overall["finished"] + overall["running"] <= overall["count"]
        assert 0 < overall["successRate"] < 1
        d = overall["durationMs"]
        assert d["p50"] <= d["p95"] <= d["max"]
        assert stats["bucketCount"] == len(stats["buckets"]) > 5
        assert sum(b["count"] for b in stats["buckets"]) == overall["count"]
        assert all(b["workflow"]["name"] for b in stats["buckets"])
        counts = [b["count"] for b in stats["buckets"]]
        assert counts == sorted(counts, reverse=True)


async def test_without_started_after_the_window_is_the_last_day() -> None:
    demo = embedded(7)
    app = create_app(demo.settings, transports=demo.transports)
    async with serving(app) as client:
        body = await _post(
            client,
            "{ executionStats(filter: {}) { startedAfter startedBefore overall { count } } }",
        )
        stats = body["data"]["executionStats"]
        assert stats["startedBefore"] is None
        wide = await _post(client, DASHBOARD, after="2000-01-01T00:00:00Z")
        assert stats["overall"]["count"] < wide["data"]["executionStats"]["overall"]["count"]


async def test_bad_arguments_answer_coded_errors() -> None:
    demo = embedded(7)
    app = create_app(demo.settings, transports=demo.transports)
    async with serving(app) as client:
        cases = {
            '{ executionStats(filter: {instances: ["nope"]}) { scanned } }': "UNKNOWN_INSTANCE",
            "{ executionStats(filter: {}, maxBuckets: 0) { scanned } }": "BAD_USER_INPUT",
            '{ executionStats(filter: {startedAfter: "2026-01-02T00:00:00Z", '
            'startedBefore: "2026-01-01T00:00:00Z"}) { scanned } }': "BAD_USER_INPUT",
            '{ executionStats(filter: {startedAfter: "2026-01-02T00:00:00"}) { scanned } }': (
                "BAD_USER_INPUT"
            ),
            "{ executionStats(filter: {}, groupBy: [SIDEWAYS]) { scanned } }": (
                "GRAPHQL_VALIDATION_FAILED"
            ),
        }
        for query, code in cases.items():
            body = await _post(client, query)
            assert body["errors"][0]["extensions"]["code"] == code, (query, body)


async def test_the_estimate_prices_cold_windows_and_lets_kept_ones_through() -> None:
    demo = embedded(7)
    app = create_app(demo.settings, transports=demo.transports)
    async with serving(app) as client:
        refused = await _post(client, TWO_WINDOWS)
        error = refused["errors"][0]
        assert refused["data"] is None
        assert error["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
        assert error["extensions"]["rule"] == "stats"
        assert error["extensions"]["estimate"] > error["extensions"]["limit"]
        before = sum(app.state.registry.calls().values())
        assert before == 0  # refused before any backend call
        # each window alone passes; once kept, both together do
        day, week = TWO_WINDOWS.strip().strip("{}").split("week:")
        await _post(client, "{" + day.replace("day:", "") + "}")
        await _post(client, "{" + week + "}")
        both = await _post(client, TWO_WINDOWS)
        assert "errors" not in both, both
        assert both["data"]["day"]["overall"]["count"] > both["data"]["week"]["overall"]["count"]
