"""The Subscription type over fake backends, through the schema itself: events with each
subscriber's own selection (fast executor on and off), refusals before the stream starts, one
execution followed to its end, and notices as coded errors on the stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from strawberry.types.execution import PreExecutionError

from execgate.api.context import build_context
from execgate.api.schema import ExecgateSchema, build_schema
from execgate.api.subscriptions import notice_error
from execgate.config import LimitSettings, ServerSettings
from execgate.domain.access import Action, Scope
from execgate.domain.errors import UpstreamTimeout, UpstreamUnavailable
from execgate.domain.ids import execution_id
from execgate.domain.keys import ExecutionKey
from execgate.domain.live import Notice
from execgate.domain.models import ExecutionStatus
from execgate.service.gateway import Gateway
from execgate.service.live import LiveHub
from tests.fakes import FakeBackend, ListsWithoutNodes, make_execution

S = ExecutionStatus
FAST = 0.02

EVENTS = """
subscription Events($filter: ExecutionFilter) {
  executionEvents(filter: $filter) {
    type previousStatus at
    execution { id nativeId status instance { name } workflow { id name } }
  }
}
"""


@dataclass
class Live:
    schema: ExecgateSchema
    gateway: Gateway
    hub: LiveHub
    backends: dict[str, FakeBackend]

    async def stream(self, query: str, *, scope: Scope | None = None, **variables: Any) -> Any:
        gateway = self.gateway if scope is None else self.gateway.scoped(scope)
        context = build_context(gateway, node_runs=self.schema.node_runs)
        return await self.schema.subscribe(query, variable_values=variables, context_value=context)

    async def refused(self, query: str, **variables: Any) -> dict[str, Any]:
        stream = await self.stream(query, **variables)
        results = [result async for result in stream]
        assert len(results) == 1 and isinstance(results[0], PreExecutionError), results
        [error] = results[0].errors
        assert self.hub.running() == frozenset()  # nothing started polling
        extensions: dict[str, Any] = error.extensions
        return {"message": error.message, **extensions}

    def add(self, instance: str, native_id: int, status: S) -> None:
        fake = self.backends[instance]
        fake.items[str(native_id)] = make_execution(
            instance, str(native_id), minutes=native_id, status=status
        )


@asynccontextmanager
async def live(
    *, fast: bool = True, limits: LimitSettings | None = None, lists_without_nodes: bool = False
) -> AsyncIterator[Live]:
    kind = ListsWithoutNodes if lists_without_nodes else FakeBackend
    backends = {
        name: kind(name, [make_execution(name, str(i), minutes=i) for i in (1, 2)])
        for name in ("acme", "beta")
    }
    limits = limits or LimitSettings()
    hub = LiveHub(backends, interval=FAST, max_per_client=limits.max_subscriptions_per_client)
    schema = build_schema(limits, ServerSettings(fast_executor=fast))
    assert schema.fast is fast
    try:
        yield Live(schema, Gateway(backends, live=hub), hub, backends)
    finally:
        await hub.aclose()


async def next_result(stream: Any) -> Any:
    return await asyncio.wait_for(stream.__anext__(), 2)


async def started(hub: LiveHub) -> None:
    """Until a subscription's resolver has run (its instances are polled)."""
    for _ in range(200):
        if hub.running():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("no subscription started")


async def settled(hub: LiveHub) -> None:
    await started(hub)
    await asyncio.wait_for(hub.settled(hub.running()), 2)


@pytest.mark.parametrize("fast", [True, False])
async def test_events_carry_the_subscribers_selection_through_either_executor(fast: bool) -> None:
    async with live(fast=fast) as world:
        stream = await world.stream(EVENTS)
        first = asyncio.ensure_future(next_result(stream))
        await settled(world.hub)
        world.add("beta", 5, S.RUNNING)
        result = await first
        assert result.errors is None
        event = result.data["executionEvents"]
        assert event["type"] == "CREATED" and event["previousStatus"] is None
        assert event["execution"]["nativeId"] == "5"
        assert event["execution"]["instance"] == {"name": "beta"}
        assert event["execution"]["workflow"]["name"] == "Workflow wf1"
        world.add("beta", 5, S.FAILED)
        finished = (await next_result(stream)).data["executionEvents"]
        assert (finished["type"], finished["previousStatus"]) == ("FINISHED", "RUNNING")
        assert finished["execution"]["status"] == "FAILED"
        await stream.aclose()
        assert world.hub.running() == frozenset()  # the last subscriber left


@pytest.mark.parametrize("fast", [True, False])
async def test_each_event_collects_its_selection_afresh_and_keeps_nothing_of_the_last(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    memos: list[dict[Any, Any]] = []
    async with live(fast=fast) as world:
        executor = world.schema.execution_context_class
        build = executor.build_per_event_executor  # type: ignore[attr-defined]

        def per_event(self: Any, payload: Any) -> Any:
            event = build(self, payload)
            memos.append(event._relevant_sub_fields)
            return event

        monkeypatch.setattr(executor, "build_per_event_executor", per_event)
        stream = await world.stream(EVENTS)
        pending = asyncio.ensure_future(next_result(stream))
        await settled(world.hub)
        for native_id in range(10, 16):
            world.add("acme", native_id, S.RUNNING)
            assert (await pending).errors is None
            pending = asyncio.ensure_future(next_result(stream))
        pending.cancel()
        await stream.aclose()
    assert len(memos) == 6
    assert len({id(memo) for memo in memos}) == 6  # graphql-core's copies would share one
    # the first event collects the selection; the next ones no more than it (the fast
    # executor's shared row plans spare them some of it), never the sum of all before
    assert memos[0] and all(len(memo) <= len(memos[0]) for memo in memos)


async def test_node_data_of_an_event_is_read_through_the_loaders() -> None:
    async with live(lists_without_nodes=True) as world:
        query = "subscription { executionEvents { execution { nativeId nodeExecutions { id } } } }"
        stream = await world.stream(query)
        pending = asyncio.ensure_future(next_result(stream))
        await settled(world.hub)
        fake = world.backends["acme"]
        before = fake.detail_reads  # type: ignore[attr-defined]
        world.add("acme", 6, S.SUCCESS)
        result = await pending
        assert result.data == {
            "executionEvents": {"execution": {"nativeId": "6", "nodeExecutions": []}}
        }
        assert fake.detail_reads == before + 1  # type: ignore[attr-defined]
        await stream.aclose()


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"filter": {"instances": ["nope"]}}, "UNKNOWN_INSTANCE"),
        ({"filter": {"startedAfter": "2026-01-01T00:00:00"}}, "BAD_USER_INPUT"),
        (
            {
                "filter": {
                    "startedAfter": "2026-02-01T00:00:00Z",
                    "startedBefore": "2026-01-01T00:00:00Z",
                }
            },
            "BAD_USER_INPUT",
        ),
        ({"filter": {"workflowId": "not-an-id"}}, "INVALID_ID"),
        ({"filter": {"status": ["BOGUS"]}}, "BAD_USER_INPUT"),
    ],
)
async def test_a_bad_filter_is_refused_before_anything_is_polled(
    variables: dict[str, Any], code: str
) -> None:
    async with live() as world:
        assert (await world.refused(EVENTS, **variables))["code"] == code


async def test_the_cost_limit_applies_to_each_events_selection() -> None:
    async with live(limits=LimitSettings(max_backend_calls=3)) as world:
        expensive = """subscription { executionEvents { execution {
            nodeExecutions { id } retryOf { id } retrySuccess { id } retries { id } } } }"""
        refusal = await world.refused(expensive)
        assert refusal["code"] == "QUERY_TOO_EXPENSIVE"
        assert refusal["limit"] == 3 and refusal["estimate"] > 3
        cheap = await world.stream("subscription { executionEvents { execution { id } } }")
        await cheap.aclose()


async def test_depth_limits_apply_to_subscriptions_too() -> None:
    async with live(limits=LimitSettings(max_depth=2)) as world:
        deep = "subscription { executionEvents { execution { instance { name } } } }"
        refusal = await world.refused(deep)
        assert (refusal["code"], refusal["rule"]) == ("QUERY_TOO_COMPLEX", "max_depth")


async def test_a_client_over_its_subscription_limit_is_refused_with_a_code() -> None:
    async with live(limits=LimitSettings(max_subscriptions_per_client=1)) as world:
        first = await world.stream(EVENTS)
        pending = asyncio.ensure_future(next_result(first))
        await started(world.hub)  # its resolver ran: it holds the one subscription
        second = await world.stream(EVENTS)
        [refused] = [r async for r in second]
        assert isinstance(refused, PreExecutionError)
        assert refused.errors[0].extensions["code"] == "TOO_MANY_SUBSCRIPTIONS"
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        await first.aclose()


async def test_a_scope_narrows_what_is_heard_and_what_may_be_named() -> None:
    async with live() as world:
        only_acme = Scope.of("acme-team", ["acme"], [Action.READ])
        stream = await world.stream(EVENTS, scope=only_acme)
        pending = asyncio.ensure_future(next_result(stream))
        await settled(world.hub)
        assert world.hub.running() == frozenset({"acme"})
        world.add("beta", 8, S.SUCCESS)
        world.add("acme", 9, S.SUCCESS)
        event = (await pending).data["executionEvents"]
        assert event["execution"]["instance"] == {"name": "acme"}
        await stream.aclose()
        beta = await world.stream(EVENTS, scope=only_acme, filter={"instances": ["beta"]})
        [refused] = [r async for r in beta]
        assert refused.errors[0].extensions["code"] == "UNKNOWN_INSTANCE"


async def test_an_instance_that_stops_answering_is_an_error_on_the_stream_which_goes_on() -> None:
    async with live() as world:
        stream = await world.stream(EVENTS)
        pending = asyncio.ensure_future(next_result(stream))
        await settled(world.hub)
        world.backends["beta"].failure = UpstreamTimeout("beta", "no answer within 10 s")
        result = await pending
        assert result.data is None
        [error] = result.errors
        assert error.extensions == {"code": "UPSTREAM_TIMEOUT", "instance": "beta"}
        assert error.path == ["executionEvents"]
        assert "'beta' did not answer the live poll: no answer within 10 s" in error.message
        world.backends["beta"].failure = None
        world.add("beta", 10, S.RUNNING)
        event = (await next_result(stream)).data["executionEvents"]
        assert (event["type"], event["execution"]["nativeId"]) == ("CREATED", "10")
        await stream.aclose()


def test_a_slow_subscribers_dropped_changes_are_a_coded_notice() -> None:
    error = notice_error(Notice(None, None, dropped=12))
    assert error.code == "EVENTS_DROPPED" and "12 changes were dropped" in error.message
    down = notice_error(Notice("a", UpstreamUnavailable("a", "refused"), retry_in=4.0))
    assert down.code == "UPSTREAM_UNAVAILABLE" and "polled again in 4 s" in down.message


# -- executionChanged --------------------------------------------------------------------------

CHANGED = """
subscription One($id: ID!) { executionChanged(id: $id) { nativeId status } }
"""


def gid(instance: str, native_id: str) -> str:
    return execution_id(ExecutionKey(instance, native_id))


async def test_an_execution_already_finished_is_answered_once_and_completes() -> None:
    async with live() as world:
        stream = await world.stream(CHANGED, id=gid("acme", "1"))
        results = [r async for r in stream]
        assert [r.data for r in results] == [
            {"executionChanged": {"nativeId": "1", "status": "SUCCESS"}}
        ]
        assert world.hub.running() == frozenset()


async def test_a_running_execution_is_followed_to_its_end() -> None:
    async with live() as world:
        world.add("acme", 4, S.PENDING)
        stream = await world.stream(CHANGED, id=gid("acme", "4"))
        assert (await next_result(stream)).data["executionChanged"]["status"] == "PENDING"
        world.add("acme", 4, S.RUNNING)
        assert (await next_result(stream)).data["executionChanged"]["status"] == "RUNNING"
        world.add("acme", 4, S.CANCELLED)
        assert (await next_result(stream)).data["executionChanged"]["status"] == "CANCELLED"
        with pytest.raises(StopAsyncIteration):
            await next_result(stream)
        assert world.hub.running() == frozenset()


async def test_a_followed_execution_that_is_deleted_ends_with_not_found() -> None:
    async with live() as world:
        world.add("acme", 4, S.RUNNING)
        stream = await world.stream(CHANGED, id=gid("acme", "4"))
        await next_result(stream)
        del world.backends["acme"].items["4"]
        gone = await next_result(stream)
        assert gone.data is None and gone.errors[0].extensions["code"] == "NOT_FOUND"
        with pytest.raises(StopAsyncIteration):
            await next_result(stream)


@pytest.mark.parametrize(
    ("raw_id", "code"),
    [
        (gid("acme", "404"), "NOT_FOUND"),
        (gid("elsewhere", "1"), "NOT_FOUND"),
        ("garbage", "INVALID_ID"),
    ],
)
async def test_following_what_is_not_an_execution_is_refused(raw_id: str, code: str) -> None:
    async with live() as world:
        stream = await world.stream(CHANGED, id=raw_id)
        [refused] = [r async for r in stream]
        assert isinstance(refused, PreExecutionError)
        assert refused.errors[0].extensions["code"] == code
        assert world.hub.running() == frozenset()


async def test_a_change_made_through_a_mutation_reaches_a_follower_at_once() -> None:
    async with live() as world:
        world.hub.interval = 60.0  # no poll but the first during this test
        world.add("acme", 4, S.RUNNING)
        stream = await world.stream(CHANGED, id=gid("acme", "4"))
        await next_result(stream)
        context = build_context(world.gateway, node_runs=world.schema.node_runs)
        cancel = "mutation Cancel($id: ID!) { cancelExecution(id: $id) { errors { code } } }"
        answer = await world.schema.execute(
            cancel, variable_values={"id": gid("acme", "4")}, context_value=context
        )
        assert answer.errors is None
        assert answer.data == {"cancelExecution": {"errors": []}}
        after = await asyncio.wait_for(stream.__anext__(), 0.5)
        assert after.data == {"executionChanged": {"nativeId": "4", "status": "CANCELLED"}}
