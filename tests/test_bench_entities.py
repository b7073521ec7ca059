"""The entity benchmark asks what it says, and counts one read per distinct execution."""

from __future__ import annotations

import argparse
import base64

from bench import entities

from execgate.simulate.generate import demo_stores


def test_each_window_spreads_its_distinct_executions_over_the_instances() -> None:
    stores = {name: store for name, (_, store) in demo_stores(7).items()}
    windows = entities.windows(stores, size=100, distinct=60)
    assert len(windows) == entities.WINDOWS
    for wanted in windows:
        assert (len(wanted), len(set(wanted))) == (100, 60)
        instances = [base64.b64decode(i).decode().split(":")[1] for i in set(wanted)]
        assert sorted(set(instances)) == ["acme", "n8n-prod", "n8n-staging"]
        assert {instances.count(name) for name in set(instances)} == {20}
    assert not set(windows[0]) & set(windows[1])


async def test_a_cold_entities_request_reads_each_distinct_execution_once() -> None:
    args = argparse.Namespace(requests=2, size=20, distinct=12, latency_ms=0.0)
    result = await entities.cell(args, "entities", warm=False)
    assert result["reads_per_query"] == 12
    warm = await entities.cell(args, "nodes", warm=True)
    assert warm["reads_per_query"] == 0
