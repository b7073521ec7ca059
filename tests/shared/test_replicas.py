"""Two ``execgate serve`` processes and one real Redis: what they share, counted.

Both replicas serve the same n8n-style simulator with the same config (``[shared] redis_url``).
Proven with counts: requests a rate-limited client gets through across both, backend detail
reads across both, a persisted query registered on one and run by hash on the other, and then
— Redis stopped — both go on answering, alone, with a log line and ``execgate_redis_up 0``.
The subscriptions' shared poll (its lease, a replica killed mid-stream) is in test_live_replicas.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from execgate.api.persisted import sha256_hex
from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.security.clients import client_block, hash_key, new_key
from execgate.simulate.generate import generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from tests.faults.gateway import RunningGateway, gateway_process
from tests.shared.redis_server import RunningRedis, redis_server

BURST = 5
FIRST_SUCCESS = "{ executions(first: 1, filter: {status: [SUCCESS]}) { edges { node { id } } } }"


@dataclass
class Replicas:
    a: RunningGateway
    b: RunningGateway
    redis: RunningRedis
    ops: str
    limited: str

    def post(self, gateway: RunningGateway, key: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            gateway.url + "/graphql",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )


@pytest.fixture(scope="module")
def replicas() -> Iterator[Replicas]:
    ops, limited = new_key(), new_key()
    api_key = f"sim-{secrets.token_urlsafe(12)}"
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server())
        n8n = stack.enter_context(
            BackgroundServer(
                create_n8n_app(generate_store(21, style="n8n", executions=60), api_key=api_key)
            )
        )
        instance = InstanceSettings("n8n-prod", BackendKind.N8N, n8n.base_url, api_key)
        tables = (
            f'[shared]\nredis_url = "{redis.url}"\nretry_seconds = 60.0\n'
            "[server]\nmetrics = true\n"
            + client_block("ops", hash_key(ops))
            + client_block("limited", hash_key(limited))
            + f"rate_per_second = 0.001\nburst = {BURST}\n"
        )
        a = stack.enter_context(gateway_process([instance], tables=tables))
        b = stack.enter_context(gateway_process([instance], tables=tables))
        yield Replicas(a, b, redis, ops, limited)


def test_a_clients_rate_limit_holds_across_both_replicas(replicas: Replicas) -> None:
    body = {"query": "{ instances { name } }"}
    statuses = [
        replicas.post(replicas.a if n % 2 else replicas.b, replicas.limited, body).status_code
        for n in range(4 * BURST)
    ]
    # one bucket for both: the burst once, not once per replica
    assert statuses.count(200) == BURST
    assert statuses.count(429) == 3 * BURST
    refused = sum(
        g.metric("execgate_rate_limited_requests_total", client="limited")
        for g in (replicas.a, replicas.b)
    )
    assert refused == 3 * BURST


def test_an_execution_read_by_one_replica_is_not_read_again_by_the_other(
    replicas: Replicas,
) -> None:
    listed = replicas.post(
        replicas.a,
        replicas.ops,
        {"query": FIRST_SUCCESS},
    ).json()
    execution_id = listed["data"]["executions"]["edges"][0]["node"]["id"]
    detail = {
        "query": "query One($id: ID!) "
        "{ execution(id: $id) { id status nodeExecutions { nodeName } } }",
        "variables": {"id": execution_id},
    }

    def reads(gateway: RunningGateway) -> float:
        return gateway.metric(
            "execgate_backend_request_duration_seconds_count", operation="get_execution"
        )

    before = reads(replicas.a), reads(replicas.b)
    on_a = replicas.post(replicas.a, replicas.ops, detail).json()
    on_b = replicas.post(replicas.b, replicas.ops, detail).json()
    assert on_a == on_b and on_a["data"]["execution"]["nodeExecutions"]
    # A read it from the backend; B found it in Redis: one backend read across both
    assert reads(replicas.a) - before[0] == 1
    assert reads(replicas.b) - before[1] == 0
    assert replicas.b.metric("execgate_cache_hits_total", layer="shared") >= 1


def test_a_query_registered_on_one_replica_runs_by_hash_on_the_other(replicas: Replicas) -> None:
    query = "query Kinds { instances { name kind } }"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}
    assert (
        replicas.post(replicas.b, replicas.ops, {"extensions": extensions}).json()["errors"][0][
            "extensions"
        ]["code"]
        == "PERSISTED_QUERY_NOT_FOUND"
    )
    registered = replicas.post(replicas.a, replicas.ops, {"query": query, "extensions": extensions})
    assert registered.json()["data"]["instances"][0]["kind"] == "N8N"
    by_hash = replicas.post(replicas.b, replicas.ops, {"extensions": extensions})
    assert by_hash.json() == registered.json()


def test_without_redis_each_replica_serves_alone(replicas: Replicas) -> None:
    # runs last in this module: it stops the shared Redis
    assert replicas.a.metric("execgate_redis_up") == 1
    replicas.redis.stop()
    body = {"query": "{ instances { name } }"}
    for gateway in (replicas.a, replicas.b):
        # the limited client's shared bucket is empty, but each replica's own is not
        answers = [replicas.post(gateway, replicas.limited, body) for _ in range(BURST + 1)]
        assert [r.status_code for r in answers] == [200] * BURST + [429]
        feed = replicas.post(
            gateway, replicas.ops, {"query": "{ executions(first: 3) { edges { node { id } } } }"}
        )
        assert feed.status_code == 200 and len(feed.json()["data"]["executions"]["edges"]) == 3
        assert gateway.metric("execgate_redis_up") == 0
        assert gateway.metric("execgate_redis_failures_total") >= 1
        log = gateway.log_text()
        assert log.count("Redis did not answer") == 1
        assert str(replicas.redis.port) not in log
