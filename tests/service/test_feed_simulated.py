"""The merged feed through the real adapters, against simulators over HTTP, while data moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execgate.backends.http import BackendHTTP
from execgate.backends.n8n import N8nBackend
from execgate.backends.team import TeamBackend
from execgate.config import HTTPSettings
from execgate.domain.ports import Backend
from execgate.service.gateway import FeedFilter, Gateway
from execgate.simulate.data import SimExecution
from execgate.simulate.generate import DEMO_TEAM_ID, generate_store
from execgate.simulate.inprocess import InProcessTransport
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from execgate.simulate.store import SimStore
from execgate.simulate.team_api import create_team_app
from tests.transports import backend_http

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Sim:
    name: str
    kind: str
    store: SimStore
    backend: Backend
    http: BackendHTTP


def _frozen_clock() -> datetime:
    return NOW


def _sim(name: str, kind: str, seed: int, executions: int) -> Sim:
    store = generate_store(seed, style=kind, executions=executions, now=NOW, clock=_frozen_clock)  # type: ignore[arg-type]
    # nothing progresses on its own during a walk; the test moves the data itself
    for e in store.visible():
        e.finishes_at = None
    if kind == "team":
        app = create_team_app(store, team_id=DEMO_TEAM_ID, token="t")
        headers = TeamBackend.auth_headers("t")
    else:
        app = create_n8n_app(store, api_key="k")
        headers = N8nBackend.auth_headers("k")
    http = backend_http(name, f"http://{name}", headers, InProcessTransport(app))
    backend: Backend = (
        TeamBackend(name, http, DEMO_TEAM_ID) if kind == "team" else N8nBackend(name, http)
    )
    return Sim(name, kind, store, backend, http)


def _listed(sim: Sim) -> set[str]:
    """What the instance lists: everything visible (the n8n adapter also reads running ones)."""
    return {f"{sim.name}:{e.id}" for e in sim.store.visible()}


def _new_execution(sim: Sim, template: SimExecution, minutes_ahead: int) -> SimExecution:
    moment = NOW + timedelta(minutes=minutes_ahead)
    return SimExecution(
        id=sim.store.new_id(),
        workflow_id=template.workflow_id,
        status="success",
        mode="webhook",
        created_at=moment,
        started_at=moment,
        finished_at=moment + timedelta(seconds=1),
        runs=[],
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kinds=st.lists(st.sampled_from(["team", "n8n"]), min_size=1, max_size=4),
    sizes=st.lists(st.integers(min_value=0, max_value=40), min_size=4, max_size=4),
    first=st.integers(min_value=1, max_value=30),
    inserts=st.lists(st.integers(0, 3), max_size=5),
    deletions=st.lists(st.integers(0, 10_000), max_size=5),
    seed=st.integers(0, 50),
)
async def test_walk_through_real_adapters_has_no_duplicates_or_gaps(
    kinds: list[str],
    sizes: list[int],
    first: int,
    inserts: list[int],
    deletions: list[int],
    seed: int,
) -> None:
    sims = [_sim(f"i{n}", kind, seed + n, max(sizes[n], 8)) for n, kind in enumerate(kinds)]
    gateway = Gateway({s.name: s.backend for s in sims})
    original = set().union(*(_listed(s) for s in sims))
    seen: list[str] = []
    after = None
    step = 0
    try:
        while True:
            page = await gateway.feed(FeedFilter(), first=first, after=after, include_nodes=False)
            assert not page.skipped
            seen.extend(e.node.key.encode() for e in page.edges)
            # between pages: executions arrive at the head, others are deleted
            if step < len(inserts):
                sim = sims[inserts[step] % len(sims)]
                template = next(iter(sim.store.visible()))
                sim.store.add(_new_execution(sim, template, 5 + step))
            if step < len(deletions) and original:
                victim = sorted(original)[deletions[step] % len(original)]
                name, _, native = victim.partition(":")
                next(s for s in sims if s.name == name).store.remove(native)
            step += 1
            if not page.has_next_page:
                break
            after = page.cursor(page.end_state)
            assert step < 2_000
    finally:
        for s in sims:
            await s.http.transport.aclose()
    survivors = set().union(*(_listed(s) for s in sims)) & original
    assert len(seen) == len(set(seen)), "no duplicates"
    assert survivors <= set(seen), "no gaps among executions that existed throughout"


async def test_a_page_of_twenty_over_five_instances_reads_only_what_it_needs() -> None:
    sims = [_sim(f"i{n}", "team" if n % 2 else "n8n", 40 + n, 300) for n in range(5)]
    gateway = Gateway({s.name: s.backend for s in sims})
    page = await gateway.feed(FeedFilter(), first=20, after=None, include_nodes=False)
    assert len(page.edges) == 20 and page.has_next_page
    for sim in sims:
        # one list request per stream (n8n reads its running executions separately; a
        # team-style stream that starts lists its pending executions too), and one read for
        # each execution without a start time that it meets, for its creation time
        queued = sum(1 for e in sim.store.visible() if e.status == "new")
        undated = sum(1 for e in sim.store.visible() if e.started_at is None)
        budget = 2 + undated if sim.kind == "team" else 2 + queued
        assert sim.http.calls <= budget, (sim.name, sim.http.calls)
    for s in sims:
        await s.http.transport.aclose()


async def test_an_instance_down_mid_walk_is_skipped_then_resumed() -> None:
    # given two n8n-style simulators over real sockets
    store_a = generate_store(1, style="n8n", executions=30, now=NOW, clock=_frozen_clock)
    store_b = generate_store(2, style="n8n", executions=30, now=NOW, clock=_frozen_clock)
    for store in (store_a, store_b):
        for e in store.visible():
            e.finishes_at = None
    server_a = BackgroundServer(create_n8n_app(store_a, api_key="k")).start()
    server_b = BackgroundServer(create_n8n_app(store_b, api_key="k")).start()
    https = {
        name: backend_http(
            name,
            server.base_url,
            N8nBackend.auth_headers("k"),
            None,
            HTTPSettings(timeout_seconds=2, connect_timeout_seconds=1),
        )
        for name, server in (("a", server_a), ("b", server_b))
    }
    gateway = Gateway({name: N8nBackend(name, http) for name, http in https.items()})
    try:
        first = await gateway.feed(FeedFilter(), first=10, after=None, include_nodes=False)
        assert not first.skipped
        # when b goes down
        port_b = server_b.port
        server_b.stop()
        second = await gateway.feed(
            FeedFilter(), first=10, after=first.cursor(first.end_state), include_nodes=False
        )
        assert [s.instance for s in second.skipped] == ["b"]
        assert second.skipped[0].error.code == "UPSTREAM_UNAVAILABLE"
        assert {e.node.instance for e in second.edges} == {"a"}
        assert f"{port_b}" not in second.skipped[0].error.message
        # then, once it is back on the same port, the walk resumes it and loses nothing
        server_b = BackgroundServer(create_n8n_app(store_b, api_key="k"), port=port_b).start()
        seen = [e.node.key.encode() for e in first.edges + second.edges]
        after = second.cursor(second.end_state)
        while True:
            page = await gateway.feed(FeedFilter(), first=10, after=after, include_nodes=False)
            assert not page.skipped
            seen.extend(e.node.key.encode() for e in page.edges)
            if not page.has_next_page:
                break
            after = page.cursor(page.end_state)
        expected = {f"a:{e.id}" for e in store_a.visible()} | {
            f"b:{e.id}" for e in store_b.visible()
        }
        assert len(seen) == len(set(seen))
        assert set(seen) == expected
    finally:
        server_a.stop()
        server_b.stop()
        for http in https.values():
            await http.transport.aclose()


async def test_every_page_size_yields_the_brute_force_order() -> None:
    # given two team-style and one n8n-style instance with data that does not move
    sims = [_sim("a", "team", 5, 120), _sim("b", "n8n", 6, 90), _sim("c", "team", 7, 60)]
    gateway = Gateway({s.name: s.backend for s in sims}, max_first=1000)

    def brute_force() -> list[str]:
        rows = []
        for sim in sims:
            for e in sim.store.visible():
                moment = e.started_at or e.created_at
                t = float("inf") if moment is None else moment.timestamp()
                native = int(e.id) if e.id.isdigit() else 0
                rows.append(((-t, sim.name, -native, _Desc(e.id)), f"{sim.name}:{e.id}"))
        return [key for _, key in sorted(rows)]

    expected = brute_force()
    try:
        for first in (1, 7, 50, 1000):
            seen: list[str] = []
            after = None
            while True:
                page = await gateway.feed(
                    FeedFilter(), first=first, after=after, include_nodes=False
                )
                seen.extend(e.node.key.encode() for e in page.edges)
                if not page.has_next_page:
                    break
                after = page.cursor(page.end_state)
            assert seen == expected, f"first={first}"
    finally:
        for s in sims:
            await s.http.transport.aclose()


class _Desc:
    """Orders strings descending inside an ascending sort key."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.value == self.value
