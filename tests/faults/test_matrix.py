"""Every fault against every operation: counted at the backend, answered with the right code.

The gateway (in process, over real sockets) reads a team-style and an n8n-style simulator,
each behind a fault proxy. For every fault and operation pair, the fault is set on the n8n
instance (the team-style one for its cancel), the operation runs through GraphQL, and:

- the answer is HTTP 200 with no ``INTERNAL_SERVER_ERROR``, no credential, no backend address;
- a read reached the backend at most ``1 + read_retries`` times per read it needed, and the
  other instance's executions were served;
- a mutation reached the backend at most once; when it did, and its effect is visible, the
  outcome is ``OK`` — never ``UPSTREAM_UNAVAILABLE`` or ``UPSTREAM_TIMEOUT`` for a request that
  landed; the audit line carries the same outcome as the answer.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from execgate.api.ids import encode
from execgate.app import create_app
from execgate.config import CacheSettings, HTTPSettings, Settings
from execgate.domain.ports import AuditEntry
from execgate.simulate.store import SimStore
from tests.faults.backends import FaultyBackend, faulty_backend
from tests.faults.catalogue import (
    ConnectionClose,
    Endless,
    EndlessHeaders,
    Fault,
    Garbage,
    GzipBomb,
    Hang,
    HtmlPage,
    Http2StatusLine,
    Huge,
    IdleClose,
    Interim,
    Latency,
    On,
    Redirect,
    ResetAfterForward,
    ResetBeforeForward,
    ResetMidAnswer,
    Truncate,
    WrongStatus,
)
from tests.serving import serving

TIMEOUT = 1.0
HTTP = HTTPSettings(
    timeout_seconds=TIMEOUT,
    mutation_timeout_seconds=TIMEOUT,
    retry_timeout_seconds=TIMEOUT,
    connect_timeout_seconds=0.5,
    read_retries=1,
    max_response_mb=4,
    circuit_failures=10_000,
)

FAULTS: dict[str, Fault] = {
    "latency": Latency(before_ms=30),
    "late-answer": Latency(after_ms=1500),
    "hang": Hang(),
    "hang-after-forwarding": Hang(forward=True),
    "reset-before": ResetBeforeForward(),
    "reset-after": ResetAfterForward(),
    "reset-mid-answer": ResetMidAnswer(after_bytes=20),
    "truncate": Truncate(keep_bytes=10),
    "html": HtmlPage(status=502),
    "html-after-forwarding": HtmlPage(status=502, forward=True),
    "garbage": Garbage(whole_answer=True),
    "huge": Huge(megabytes=6),
    "endless": Endless(chunk_bytes=64 * 1024),
    "gzip-bomb": GzipBomb(compressed_mb=0.5),
    "endless-headers": EndlessHeaders(),
    "interim": Interim(statuses=(100, 103)),
    "connection-close": ConnectionClose(),
    "idle-close": IdleClose(),
    "redirect": Redirect(location="http://elsewhere.invalid/x"),
    "http2-status-line": Http2StatusLine(),
    "wrong-status": WrongStatus(status="599"),
}
HARMLESS = {"latency", "interim", "connection-close", "idle-close"}
"""Faults after which the request must simply succeed."""
LANDS = {"late-answer", "hang-after-forwarding", "reset-after", "reset-mid-answer", "truncate"}
LANDS |= {"html-after-forwarding", "garbage", "huge", "endless", "gzip-bomb", "wrong-status"}
LANDS |= {"http2-status-line"} | HARMLESS
"""Faults that let a mutation reach the backend (it acts; only its answer is spoiled)."""

FEED = (
    "{ executions(first: 5) { edges { node { id instance { name } } } "
    "skippedInstances { instance code } } }"
)
DETAIL = "query One($id: ID!) { execution(id: $id) { id status nodeExecutions { nodeName } } }"
CANCEL = "mutation Cancel($id: ID!) { cancelExecution(id: $id) { errors { code message } } }"
RETRY = (
    "mutation Retry($id: ID!) { retryExecution(id: $id) { retry { nativeId } "
    "errors { code message } } }"
)
DELETE = "mutation Delete($id: ID!) { deleteExecution(id: $id) { deletedId errors { code } } }"
BULK = "mutation Bulk($ids: [ID!]!) { deleteExecutions(ids: $ids) { deletedId errors { code } } }"


class Audit:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


@dataclass
class World:
    client: httpx.AsyncClient
    team: FaultyBackend
    n8n: FaultyBackend
    audit: Audit

    def secrets(self) -> list[str]:
        return [
            self.team.credential,
            self.n8n.credential,
            self.team.proxy.url,
            self.n8n.proxy.url,
        ]

    async def ask(self, query: str, **variables: Any) -> dict[str, Any]:
        answer = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert answer.status_code == 200, answer.text
        text = answer.text
        assert "INTERNAL_SERVER_ERROR" not in text
        for secret in self.secrets():
            assert secret not in text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture(scope="module")
def backends() -> Iterator[tuple[FaultyBackend, FaultyBackend]]:
    with ExitStack() as stack:
        team = stack.enter_context(faulty_backend("team", seed=61, executions=60))
        n8n = stack.enter_context(faulty_backend("n8n", seed=62, executions=60))
        yield team, n8n


@pytest.fixture
async def world(backends: tuple[FaultyBackend, FaultyBackend]) -> AsyncIterator[World]:
    team, n8n = backends
    for backend in backends:
        backend.proxy.clear()
        backend.proxy.reset_counts()
    settings = Settings(
        instances=(team.instance("acme", HTTP), n8n.instance("n8n", HTTP)),
        cache=CacheSettings(enabled=False),
        source="test",
    )
    audit = Audit()
    async with serving(create_app(settings, audit=audit)) as client:
        yield World(client, team, n8n, audit)
    for backend in backends:
        backend.proxy.clear()


def _clone(store: SimStore, status: str) -> str:
    """A new execution of ``status``, copied from one the store holds (a fresh target)."""
    with store.lock:
        model = next(e for e in store.visible() if e.status == status)
        twin = copy.deepcopy(model)
        twin.id = store.new_id()
        twin.retry_of = twin.retry_success_id = None
        if status in ("running", "new", "waiting"):
            twin.finishes_at = store.now().replace(year=store.now().year + 1)
        store.add(twin)
        return twin.id


def _codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


# --- reads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAULTS))
async def test_a_faulty_instance_costs_the_feed_only_its_own_executions(
    world: World, name: str
) -> None:
    world.n8n.proxy.inject(FAULTS[name], on=On.READS, times=None)
    body = await world.ask(FEED)
    page = body["data"]["executions"]
    instances = {edge["node"]["instance"]["name"] for edge in page["edges"]}
    assert "acme" in instances, "the healthy instance is served"
    skipped = [s["instance"] for s in page["skippedInstances"]]
    if name in HARMLESS:
        assert skipped == [] and "errors" not in body
    else:
        assert skipped == ["n8n"]
        [error] = body["errors"]
        assert error["extensions"]["instance"] == "n8n"
        assert error["extensions"]["code"].startswith("UPSTREAM_")
    # two streams (plain and running) without a status filter, each read at most twice
    assert world.n8n.proxy.count("GET") <= 2 * (1 + HTTP.read_retries) + 1


@pytest.mark.parametrize("name", sorted(FAULTS))
async def test_a_detail_read_under_each_fault_fails_only_that_execution(
    world: World, name: str
) -> None:
    target = next(e.id for e in world.n8n.store.visible() if e.status == "success")
    world.n8n.proxy.inject(FAULTS[name], on=On.READS, times=None)
    body = await world.ask(DETAIL, id=encode("Execution", f"n8n:{target}"))
    if name in HARMLESS:
        assert body["data"]["execution"]["id"]
    else:
        assert body["data"]["execution"] is None
        [error] = body["errors"]
        assert error["extensions"]["code"].startswith("UPSTREAM_")
        assert error["path"] == ["execution"]
    assert world.n8n.proxy.count("GET") <= 1 + HTTP.read_retries


# --- mutations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    name: str
    backend: str
    status: str
    document: str
    field: str
    method: str
    path: str

    def done(self, store: SimStore, native_id: str) -> bool:
        """Whether the backend shows the action's effect."""
        found = store.get(native_id)
        if self.name == "delete":
            return found is None
        if self.name == "cancel":
            return found is not None and found.status in ("canceled", "CANCELLED")
        return any(e.retry_of == native_id for e in store.visible())


MUTATIONS = [
    Mutation("cancel", "n8n", "running", CANCEL, "cancelExecution", "POST", "/stop"),
    Mutation("cancel-team", "acme", "running", CANCEL, "cancelExecution", "POST", "/cancel"),
    Mutation("retry", "n8n", "error", RETRY, "retryExecution", "POST", "/retry"),
    Mutation("delete", "n8n", "success", DELETE, "deleteExecution", "DELETE", ""),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
@pytest.mark.parametrize("name", sorted(FAULTS))
async def test_a_mutation_reaches_the_backend_at_most_once_and_reports_what_happened(
    world: World, name: str, mutation: Mutation
) -> None:
    # given: a fresh target, and the fault on the mutation only (its reads are sound)
    backend = world.n8n if mutation.backend == "n8n" else world.team
    store = backend.store
    native_id = _clone(store, mutation.status)
    if mutation.name == "cancel-team":
        mutation = replace(mutation, name="cancel")
    backend.proxy.inject(FAULTS[name], on=On.MUTATIONS, times=None)
    # when
    body = await world.ask(
        mutation.document, id=encode("Execution", f"{mutation.backend}:{native_id}")
    )
    backend.proxy.clear()
    # then: at most one request reached the backend
    sent = backend.proxy.count(mutation.method)
    assert sent <= 1
    codes = _codes(body["data"][mutation.field])
    done = mutation.done(store, native_id)
    if name in LANDS:
        assert sent == 1
    if done:
        # it landed and the backend shows it: the client is told so
        assert codes == [], (name, codes)
    else:
        assert codes and codes[0] not in ("OK",), (name, codes)
    if sent == 1:
        assert not set(codes) & {"UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT"}, (name, codes)
    # and the audit line says the same
    [entry] = [e for e in world.audit.entries if e.execution_id and native_id in _decoded(e)]
    assert entry.outcome == (codes[0] if codes else "OK")


def _decoded(entry: AuditEntry) -> str:
    import base64

    raw = entry.execution_id or ""
    return base64.b64decode(raw + "=" * (-len(raw) % 4)).decode(errors="replace")


@pytest.mark.parametrize("name", ["reset-after", "late-answer", "truncate", "reset-before"])
async def test_a_bulk_delete_sends_each_delete_once(world: World, name: str) -> None:
    store = world.n8n.store
    targets = [_clone(store, "success") for _ in range(10)]
    world.n8n.proxy.inject(FAULTS[name], on=On.MUTATIONS, times=None)
    body = await world.ask(BULK, ids=[encode("Execution", f"n8n:{t}") for t in targets])
    world.n8n.proxy.clear()
    # each delete reached the backend once, or (reset before forwarding) never
    assert world.n8n.proxy.count("DELETE") == (0 if name == "reset-before" else 10)
    for target, payload in zip(targets, body["data"]["deleteExecutions"], strict=True):
        gone = store.get(target) is None
        codes = [e["code"] for e in payload["errors"]]
        assert codes == ([] if gone else ["OUTCOME_UNKNOWN"]), (target, codes)
