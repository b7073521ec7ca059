"""The merged feed over fake backends: order, exact page info, cursors, partial results."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execgate.domain.errors import (
    InvalidArgument,
    InvalidCursor,
    UnknownInstance,
    UpstreamUnavailable,
)
from execgate.domain.models import ExecutionStatus
from execgate.service.feed import feed_key
from execgate.service.gateway import FeedFilter, Gateway
from tests.fakes import FakeBackend, make_execution


def _backends(spec: dict[str, list[float]]) -> dict[str, FakeBackend]:
    return {
        name: FakeBackend(
            name, [make_execution(name, str(i + 1), minutes=m) for i, m in enumerate(minutes)]
        )
        for name, minutes in spec.items()
    }


async def _walk(gateway: Gateway, first: int, feed_filter: FeedFilter | None = None) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(10_000):
        page = await gateway.feed(
            feed_filter or FeedFilter(), first=first, after=after, include_nodes=False
        )
        assert len(page.edges) <= first
        seen.extend(e.node.key.encode() for e in page.edges)
        if not page.has_next_page:
            return seen
        after = page.cursor(page.end_state)
    raise AssertionError("walk did not end")


async def test_pages_follow_one_total_order_across_instances() -> None:
    # given three instances with interleaved and tied start times
    backends = _backends({"b": [1, 5, 5, 9], "a": [5, 2, 8], "c": [5]})
    gateway = Gateway(backends)
    expected = [
        e.key.encode()
        for e in sorted((e for b in backends.values() for e in b.items.values()), key=feed_key)
    ]
    # when walking with several page sizes
    for first in (1, 2, 3, 100):
        # then each walk yields the brute-force order, no duplicates
        assert await _walk(gateway, first) == expected
    # ties on time are broken by instance name, then id descending
    assert expected[:5] == ["b:4", "a:3", "a:1", "b:3", "b:2"]


async def test_has_next_page_is_exact_when_items_divide_evenly() -> None:
    gateway = Gateway(_backends({"a": [1, 2], "b": [3, 4]}))
    page = await gateway.feed(FeedFilter(), first=4, after=None, include_nodes=False)
    assert len(page.edges) == 4
    assert page.has_next_page is False
    assert page.has_previous_page is False


async def test_page_reads_at_most_first_plus_one_from_each_instance() -> None:
    backends = _backends({f"i{n}": [float(m) for m in range(200)] for n in range(5)})
    gateway = Gateway(backends)
    page = await gateway.feed(FeedFilter(), first=20, after=None, include_nodes=False)
    assert len(page.edges) == 20
    assert all(b.read_items <= 21 and b.calls == 1 for b in backends.values())


async def test_every_edge_cursor_resumes_right_after_its_edge() -> None:
    # given
    backends = _backends({"b": [1, 5, 5, 9], "a": [5, 2, 8], "c": [5, 7]})
    gateway = Gateway(backends)
    order = await _walk(gateway, 100)
    page = await gateway.feed(FeedFilter(), first=6, after=None, include_nodes=False)

    for index, edge in enumerate(page.edges):
        # when resuming from the edge's own cursor
        rest = await gateway.feed(
            FeedFilter(), first=100, after=page.cursor(edge.state), include_nodes=False
        )
        # then the feed goes on with the very next execution, to the end
        assert [e.node.key.encode() for e in rest.edges] == order[index + 1 :]


async def test_edge_cursors_are_worked_out_only_when_asked_for() -> None:
    backends = _backends({"a": [float(m) for m in range(50)], "b": [float(m) for m in range(50)]})
    asked: list[int] = []
    for backend in backends.values():
        original = backend.position_after

        def counting(previous, consumed, page=None, original=original):  # type: ignore[no-untyped-def]
            asked.append(len(consumed))
            return original(previous, consumed, page)

        backend.position_after = counting  # type: ignore[method-assign]
    gateway = Gateway(backends)

    page = await gateway.feed(FeedFilter(), first=100, after=None, include_nodes=False)

    assert len(page.edges) == 100
    assert len(asked) == 2, "one position per stream, for the end cursor only"
    page.cursor(page.edges[10].state)
    assert len(asked) <= 4


@pytest.mark.parametrize(
    "cursor",
    ["", "garbage", "eyJ2IjoxfQ", "eyJ2IjoxfQ.AAAAAAAAAAA", "x.y.z"],
)
async def test_bad_cursors_are_refused(cursor: str) -> None:
    gateway = Gateway(_backends({"a": [1, 2, 3]}))
    with pytest.raises(InvalidCursor):
        await gateway.feed(FeedFilter(), first=1, after=cursor, include_nodes=False)


async def test_cursor_tampering_and_foreign_filter_are_refused() -> None:
    gateway = Gateway(_backends({"a": [1, 2, 3], "b": [4]}))
    page = await gateway.feed(FeedFilter(), first=1, after=None, include_nodes=False)
    cursor = page.cursor(page.end_state)
    body, _, digest = cursor.partition(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + digest
    with pytest.raises(InvalidCursor):
        await gateway.feed(FeedFilter(), first=1, after=tampered, include_nodes=False)
    with pytest.raises(InvalidCursor):
        await gateway.feed(FeedFilter(instances=("a",)), first=1, after=cursor, include_nodes=False)
    with pytest.raises(InvalidCursor):
        await gateway.feed(FeedFilter(), first=1, after=cursor[:-3], include_nodes=False)


async def test_an_edited_position_with_a_recomputed_unkeyed_digest_is_refused() -> None:
    # given: a cursor whose position a client edits, then signs the way an unkeyed hash would
    import base64
    import hashlib
    import json

    gateway = Gateway(_backends({"a": [1, 2, 3, 4, 5]}), cursor_secret=b"k" * 32)
    page = await gateway.feed(FeedFilter(), first=2, after=None, include_nodes=False)
    body_text, _, _ = page.cursor(page.end_state).partition(".")
    body = json.loads(base64.urlsafe_b64decode(body_text + "=" * (-len(body_text) % 4)))
    body["s"]["a"] = {"t": None, "ids": [], "u": ["9"]}
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    forged_body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    for mac in (
        hashlib.blake2b(payload, digest_size=8, person=b"execgate-cursor").digest(),
        hashlib.sha256(payload).digest()[:16],
    ):
        forged = forged_body + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        # then
        with pytest.raises(InvalidCursor):
            await gateway.feed(FeedFilter(), first=2, after=forged, include_nodes=False)


async def test_replicas_sharing_the_secret_accept_each_others_cursors() -> None:
    one = Gateway(_backends({"a": [1, 2, 3]}), cursor_secret=b"shared-secret" * 3)
    other = Gateway(_backends({"a": [1, 2, 3]}), cursor_secret=b"shared-secret" * 3)
    stranger = Gateway(_backends({"a": [1, 2, 3]}), cursor_secret=b"another-secret" * 3)
    page = await one.feed(FeedFilter(), first=1, after=None, include_nodes=False)
    cursor = page.cursor(page.end_state)
    resumed = await other.feed(FeedFilter(), first=1, after=cursor, include_nodes=False)
    assert [e.node.native_id for e in resumed.edges] == ["2"]
    with pytest.raises(InvalidCursor):
        await stranger.feed(FeedFilter(), first=1, after=cursor, include_nodes=False)


@pytest.mark.parametrize("first", [None, 0, -1, 101])
async def test_first_must_be_in_range(first: int | None) -> None:
    gateway = Gateway(_backends({"a": [1]}), max_first=100)
    with pytest.raises(InvalidArgument, match="first"):
        await gateway.feed(FeedFilter(), first=first, after=None, include_nodes=False)


async def test_unknown_instance_is_refused() -> None:
    gateway = Gateway(_backends({"a": [1]}))
    with pytest.raises(UnknownInstance, match="nope"):
        await gateway.feed(
            FeedFilter(instances=("nope",)), first=1, after=None, include_nodes=False
        )


async def test_failed_instance_is_skipped_then_resumed() -> None:
    # given two instances, one of which fails for the first page
    backends = _backends({"a": [1, 2, 3], "b": [1.5, 2.5]})
    gateway = Gateway(backends)
    backends["b"].failure = UpstreamUnavailable("b", "instance 'b' refused the connection")
    page = await gateway.feed(FeedFilter(), first=2, after=None, include_nodes=False)
    assert [s.instance for s in page.skipped] == ["b"]
    assert [e.node.key.encode() for e in page.edges] == ["a:3", "a:2"]
    # when it is back, the next page resumes it instead of losing its executions
    backends["b"].failure = None
    rest = await gateway.feed(
        FeedFilter(), first=10, after=page.cursor(page.end_state), include_nodes=False
    )
    assert [e.node.key.encode() for e in rest.edges] == ["b:2", "b:1", "a:1"]
    assert rest.has_next_page is False


async def test_status_filter_and_count() -> None:
    backends = {
        "a": FakeBackend(
            "a",
            [
                make_execution("a", "1", minutes=1, status=ExecutionStatus.FAILED),
                make_execution("a", "2", minutes=2),
                make_execution("a", "3", minutes=3, status=ExecutionStatus.FAILED),
            ],
        ),
        "b": FakeBackend("b", [make_execution("b", "1", minutes=4, status=ExecutionStatus.FAILED)]),
    }
    gateway = Gateway(backends)
    only_failed = FeedFilter(statuses=frozenset({ExecutionStatus.FAILED}))
    assert await _walk(gateway, 2, only_failed) == ["b:1", "a:3", "a:1"]
    assert await gateway.count(only_failed) == 3
    backends["b"].reports_total = False
    assert await gateway.count(only_failed) is None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.lists(st.integers(min_value=0, max_value=30), max_size=25),
        min_size=1,
    ),
    first=st.integers(min_value=1, max_value=12),
    inserts=st.lists(st.tuples(st.integers(0, 4), st.integers(31, 60)), max_size=6),
    deletions=st.lists(st.integers(0, 40), max_size=6),
)
async def test_walk_matches_brute_force_while_data_moves(
    spec: dict[str, list[int]],
    first: int,
    inserts: list[tuple[int, int]],
    deletions: list[int],
) -> None:
    backends = _backends({k: [float(m) for m in v] for k, v in spec.items()})
    gateway = Gateway(backends)
    original = {e.key.encode() for b in backends.values() for e in b.items.values()}
    names = sorted(backends)
    seen: list[str] = []
    after = None
    step = 0
    while True:
        page = await gateway.feed(FeedFilter(), first=first, after=after, include_nodes=False)
        seen.extend(e.node.key.encode() for e in page.edges)
        # new executions arrive at the head, and some existing ones are deleted, between pages
        if step < len(inserts):
            idx, minute = inserts[step]
            target = backends[names[idx % len(names)]]
            new_id = str(1000 + step)
            target.items[new_id] = make_execution(target.name, new_id, minutes=minute)
        if step < len(deletions):
            every = sorted(original)
            victim = every[deletions[step] % len(every)] if every else None
            if victim:
                inst, _, native = victim.partition(":")
                backends[inst].items.pop(native, None)
        step += 1
        if not page.has_next_page:
            break
        after = page.cursor(page.end_state)
    survivors = {e.key.encode() for b in backends.values() for e in b.items.values()} & original
    assert len(seen) == len(set(seen)), "no duplicates"
    assert survivors <= set(seen), "no gaps among executions that existed throughout"


async def test_an_execution_with_no_time_counts_as_newest_and_does_not_stall_its_stream() -> None:
    from dataclasses import replace

    queued = replace(make_execution("b", "9", minutes=0), started_at=None, created_at=None)
    backends = _backends({"a": [1, 2, 3]})
    backends["b"] = FakeBackend("b", [queued])
    # the fake orders by time; place the undated item where a stream puts it: at the head
    gateway = Gateway(backends)
    page = await gateway.feed(FeedFilter(), first=2, after=None, include_nodes=False)
    assert [e.node.key.encode() for e in page.edges] == ["b:9", "a:3"]
