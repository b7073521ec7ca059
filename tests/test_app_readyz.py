"""``/readyz``: each instance's reachability from its circuit, and ready while any answers."""

from __future__ import annotations

import asyncio
import dataclasses

from execgate.app import create_app
from execgate.config import HTTPSettings, InstanceSettings, Settings
from execgate.domain.models import BackendKind
from execgate.simulate.embedded import embedded
from execgate.simulate.server import free_port
from tests.serving import serving


async def test_ready_with_every_demo_instance_reachable() -> None:
    demo = embedded(seed=7)
    async with serving(create_app(demo.settings, transports=demo.transports)) as client:
        first = await client.get("/readyz")
        assert first.status_code == 200
        assert {i["reachable"] for i in first.json()["instances"].values()} == {"unknown"}
        await asyncio.sleep(0.2)  # the one probe each quiet instance gets
        later = (await client.get("/readyz")).json()
        assert later["status"] == "ready"
        assert {name: i["reachable"] for name, i in later["instances"].items()} == {
            "acme": "yes",
            "n8n-prod": "yes",
            "n8n-staging": "yes",
        }
        assert first.headers["cache-control"] == "no-store"


async def test_unready_when_no_instance_answers() -> None:
    port = free_port()  # nothing listens there
    http = HTTPSettings(circuit_failures=1, read_retries=0, timeout_seconds=2.0)
    down = InstanceSettings(
        "down", BackendKind.N8N, f"http://127.0.0.1:{port}", "unused-credential", http=http
    )
    settings = dataclasses.replace(Settings(instances=(down,)))
    async with serving(create_app(settings)) as client:
        await client.get("/readyz")
        for _ in range(50):
            await asyncio.sleep(0.05)
            answer = await client.get("/readyz")
            if answer.status_code == 503:
                break
        assert answer.status_code == 503
        body = answer.json()
        assert body["status"] == "unready"
        assert body["instances"]["down"]["reachable"] == "no"
        assert body["instances"]["down"]["circuit"] == "OPEN"
        assert str(port) not in answer.text  # no address in the answer
        assert (await client.get("/healthz")).status_code == 200
