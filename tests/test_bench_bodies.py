"""The benchmark's request bodies: distinct on every request, the same question each time."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from bench.bodies import MARKER, BodyMaker, date_value, permutation, template
from bench.workloads import WORKLOADS, baseline_bodies, execution_ref, gateway_bodies


def _gid(instance: str, native: str) -> str:
    return base64.b64encode(f"Execution:{instance}:{native}".encode()).decode()


IDS = [_gid("acme" if i % 2 else "n8n-prod", str(i)) for i in range(50)]


def test_dates_are_far_future_distinct_and_of_one_width() -> None:
    values = [date_value(i) for i in (0, 1, 59, 86_400, 10**9)]

    assert values[0] == "2100-01-01T00:00:00Z"
    assert len(set(values)) == len(values)
    assert {len(v) for v in values} == {20}
    assert all(datetime.fromisoformat(v).year >= 2100 for v in values)


def test_permutations_are_distinct_and_keep_every_item() -> None:
    seen = {tuple(permutation(i, 6)) for i in range(720)}

    assert len(seen) == 720
    assert all(sorted(p) == list(range(6)) for p in seen)
    assert permutation(0, 4) == [0, 1, 2, 3]


@pytest.mark.parametrize("workload", [w for w in WORKLOADS if w != "W6"])
def test_every_feed_body_differs_only_in_its_started_before(workload: str) -> None:
    maker = gateway_bodies(workload, start=1000)
    bodies = [maker.next() for _ in range(500)]
    decoded = [json.loads(b) for b in bodies]

    assert len(set(bodies)) == 500
    assert {d["query"] for d in decoded} == {WORKLOADS[workload].query}
    assert "startedBefore: $before" in WORKLOADS[workload].query
    assert [d["variables"]["before"] for d in decoded[:2]] == [date_value(1000), date_value(1001)]


def test_refetch_bodies_ask_for_the_same_ids_in_a_new_order_each_time() -> None:
    maker = gateway_bodies("W6", IDS)
    orders = [json.loads(maker.next())["variables"]["ids"] for _ in range(300)]

    assert len({tuple(o) for o in orders}) == 300
    assert all(sorted(o) == sorted(IDS) for o in orders)


def test_the_baseline_gets_the_same_value_for_the_same_request() -> None:
    for i in (0, 7, 123):
        gateway = json.loads(gateway_bodies("W1", start=5).body(i))
        baseline = json.loads(baseline_bodies("W1", start=5).body(i))
        assert baseline == {"before": gateway["variables"]["before"]}

        ids = json.loads(gateway_bodies("W6", IDS).body(i))["variables"]["ids"]
        refs = json.loads(baseline_bodies("W6", IDS).body(i))["ids"]
        assert refs == [list(execution_ref(g)) for g in ids]


def test_identical_repeats_the_first_body() -> None:
    maker = gateway_bodies("W4", start=42, identical=True)

    assert {maker.next() for _ in range(10)} == {gateway_bodies("W4", start=42).body(42)}


def test_a_maker_travels_to_another_process_as_its_spec() -> None:
    maker = gateway_bodies("W6", IDS, start=9)
    copy = BodyMaker.from_spec(json.loads(json.dumps(maker.spec())))

    assert [copy.next() for _ in range(3)] == [maker.next() for _ in range(3)]
    assert copy.made == 3


def test_a_template_must_hold_the_marker_once() -> None:
    with pytest.raises(ValueError):
        template({"a": 1})
    with pytest.raises(ValueError):
        BodyMaker(json.dumps({"a": MARKER, "b": MARKER}).encode(), "date")
