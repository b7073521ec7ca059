"""``execgate serve`` with ``[server] metrics_listen``: /metrics on its own address only."""

from __future__ import annotations

import secrets

import httpx
from prometheus_client.parser import text_string_to_metric_families

from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.security.clients import client_block, hash_key, new_key
from execgate.simulate.generate import generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer, free_port
from tests.faults.gateway import gateway_process


def test_metrics_on_a_separate_address() -> None:
    api_key = f"sim-{secrets.token_urlsafe(12)}"
    key = new_key()
    metrics_port = free_port()
    store = generate_store(5, style="n8n", executions=20)
    with BackgroundServer(create_n8n_app(store, api_key=api_key)) as n8n:
        instance = InstanceSettings("n8n-prod", BackendKind.N8N, n8n.base_url, api_key)
        tables = f'[server]\nmetrics = true\nmetrics_listen = "127.0.0.1:{metrics_port}"\n'
        tables += client_block("ops", hash_key(key))
        with gateway_process([instance], tables=tables) as gateway:
            headers = {"Authorization": f"Bearer {key}"}
            answer = httpx.post(
                gateway.url + "/graphql",
                json={"query": "query Few { executions(first: 3) { edges { node { id } } } }"},
                headers=headers,
            )
            assert answer.status_code == 200
            assert httpx.get(gateway.url + "/metrics").status_code == 404
            scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert scraped.status_code == 200
            counts = {
                (s.name, s.labels.get("operation"), s.labels.get("instance")): s.value
                for f in text_string_to_metric_families(scraped.text)
                for s in f.samples
            }
            assert counts[("execgate_graphql_operation_duration_seconds_count", "Few", None)] == 1
            sent = sum(
                v
                for (name, _, inst), v in counts.items()
                if name == "execgate_backend_request_duration_seconds_count" and inst == "n8n-prod"
            )
            assert sent >= 1
            assert api_key not in scraped.text and key not in scraped.text
            assert f"Prometheus metrics at http://127.0.0.1:{metrics_port}/metrics" in (
                gateway.log_text()
            )
