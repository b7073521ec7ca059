"""The benchmark's transport comparison, run small against a simulator over real sockets."""

from __future__ import annotations

import pytest
from bench import transports

from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.server import BackgroundServer
from execgate.simulate.team_api import create_team_app


async def test_every_transport_reads_and_is_timed() -> None:
    # given
    store = generate_store(3, style="team", executions=30)
    with BackgroundServer(create_team_app(store, team_id=DEMO_TEAM_ID, token="t")) as server:
        # when
        result = await transports.compare(
            server.base_url, DEMO_TEAM_ID, "t", reads=40, concurrency=4, rounds=2
        )

    # then
    assert set(result) == {"http11", "aiohttp", "httpx"}
    assert all(value > 0 for value in result.values())


def test_the_command_needs_its_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXECGATE_BENCH_NO_TOKEN", raising=False)
    with pytest.raises(SystemExit):
        transports.main(
            [
                "--url",
                "http://127.0.0.1:1",
                "--team-id",
                "t",
                "--token-env",
                "EXECGATE_BENCH_NO_TOKEN",
            ]
        )
