"""The backend seam's report: outcome labels, in-flight gauge, request ID and latency."""

from __future__ import annotations

import pytest

from execgate.domain.errors import UpstreamTimeout
from execgate.telemetry import context
from execgate.telemetry.metrics import Metrics
from execgate.telemetry.seam import BackendObserver, outcome_of, outgoing
from tests.telemetry.test_metrics import samples


def test_outcomes_are_a_closed_set() -> None:
    assert outcome_of(None, 200) == "ok"
    assert outcome_of(None, None) == "ok"
    assert outcome_of(None, 404) == "not_found"
    assert outcome_of(None, 409) == "refused"
    assert outcome_of(UpstreamTimeout("acme", "late"), None) == "upstream_timeout"
    assert outcome_of(RuntimeError("boom"), None) == "error"


def test_outgoing_carries_the_request_id_only_while_serving_one() -> None:
    assert outgoing({"A": "1"}) == {"A": "1"}
    token = context.request_id.set("req-42")
    try:
        assert outgoing({"A": "1"}) == {"A": "1", "X-Request-ID": "req-42"}
    finally:
        context.request_id.reset(token)


def test_a_call_is_in_flight_until_it_ends_then_counted() -> None:
    metrics = Metrics(["acme"])
    observer = BackendObserver(metrics)
    in_flight = ("execgate_backend_in_flight_requests", (("instance", "acme"),))
    with observer.call("acme", "list_executions", "GET") as call:
        assert samples(metrics)[in_flight] == 1
        call.status = 200
    with pytest.raises(UpstreamTimeout), observer.call("acme", "get_execution", "GET"):
        raise UpstreamTimeout("acme", "late")
    found = samples(metrics)
    assert found[in_flight] == 0
    count = "execgate_backend_request_duration_seconds_count"
    ok = (("instance", "acme"), ("operation", "list_executions"), ("outcome", "ok"))
    late = (("instance", "acme"), ("operation", "get_execution"), ("outcome", "upstream_timeout"))
    assert found[(count, ok)] == 1
    assert found[(count, late)] == 1
