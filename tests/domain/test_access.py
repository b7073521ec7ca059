"""The gateway scoped to one client: its instances, its actions, nothing else."""

from __future__ import annotations

import pytest

from execgate.domain.access import ALL_ACTIONS, Action, Scope
from execgate.domain.errors import Forbidden, NotFound, UnknownInstance, UpstreamUnavailable
from execgate.domain.keys import ExecutionKey, WorkflowKey
from execgate.domain.models import Execution, ExecutionStatus
from execgate.service.actions import ActionErrorCode, ActionTarget, Reader
from execgate.service.gateway import FeedFilter, Gateway
from tests.fakes import FakeBackend, make_execution


def _target(instance: str, native_id: str) -> ActionTarget:
    key = ExecutionKey(instance, native_id)
    return ActionTarget(f"gid-{instance}-{native_id}", key)


def _backends() -> dict[str, FakeBackend]:
    return {
        "a": FakeBackend(
            "a",
            [
                make_execution("a", "1", minutes=1),
                make_execution("a", "2", minutes=4, status=ExecutionStatus.RUNNING),
            ],
        ),
        "b": FakeBackend("b", [make_execution("b", "3", minutes=2)]),
        "c": FakeBackend("c", [make_execution("c", "4", minutes=3)]),
    }


def _scoped(
    instances: set[str] | None, actions: set[Action]
) -> tuple[Gateway, dict[str, FakeBackend]]:
    backends = _backends()
    scope = Scope.of("client", instances, actions)
    return Gateway(backends).scoped(scope), backends


def _reader(gateway: Gateway) -> Reader:
    async def read(key: ExecutionKey) -> Execution | None:
        found = await gateway.get_executions(key.instance, [key.native_id], include_nodes=True)
        return found.get(key.native_id)

    return read


def test_scope_narrowing_keeps_only_what_both_allow() -> None:
    wide = Scope.of("x", None, ALL_ACTIONS)
    some = Scope.of("y", {"a", "b"}, {Action.READ, Action.CANCEL})
    fewer = Scope.of("z", {"b", "c"}, {Action.READ, Action.DELETE})
    assert wide.narrowed(some) == Scope(frozenset({"a", "b"}), some.actions, "y")
    assert some.narrowed(fewer) == Scope(frozenset({"b"}), frozenset({Action.READ}), "z")
    assert some.narrowed(wide).instances == frozenset({"a", "b"})
    # and a scoped gateway scoped again never widens
    gateway = Gateway(_backends()).scoped(some).scoped(wide)
    assert sorted(gateway.backends) == ["a", "b"]
    assert not gateway.allows(Action.DELETE)


async def test_feed_and_lists_cover_only_the_scope() -> None:
    gateway, backends = _scoped({"a", "c"}, {Action.READ})
    page = await gateway.feed(FeedFilter(), first=10, after=None, include_nodes=False)
    assert [e.node.instance for e in page.edges] == ["a", "c", "a"]
    assert [i.name for i in gateway.instances()] == ["a", "c"]
    assert gateway.instance("b") is None
    assert backends["b"].calls == 0
    assert await gateway.count(FeedFilter()) == 3


async def test_hidden_instances_answer_as_if_not_configured() -> None:
    gateway, backends = _scoped({"a"}, {Action.READ})
    with pytest.raises(UnknownInstance) as hidden:
        await gateway.feed(FeedFilter(instances=("b",)), first=5, after=None, include_nodes=False)
    with pytest.raises(UnknownInstance) as ghost:
        await gateway.feed(FeedFilter(instances=("zz",)), first=5, after=None, include_nodes=False)
    assert hidden.value.message.replace(": 'b';", ": 'zz';") == ghost.value.message
    with pytest.raises(NotFound):
        await gateway.feed(
            FeedFilter(workflow=WorkflowKey("b", "wf1")), first=5, after=None, include_nodes=False
        )
    assert await gateway.get_executions("b", ["3"], include_nodes=True) == {}
    assert await gateway.get_workflows("b", ["wf1"]) == {}
    with pytest.raises(NotFound):
        gateway.backend("b")
    assert backends["b"].calls == 0


async def test_reads_need_the_read_action() -> None:
    gateway, backends = _scoped(None, {Action.CANCEL})
    with pytest.raises(Forbidden) as refused:
        await gateway.feed(FeedFilter(), first=5, after=None, include_nodes=False)
    assert refused.value.code == "FORBIDDEN"
    with pytest.raises(Forbidden):
        await gateway.get_executions("a", ["1"], include_nodes=False)
    with pytest.raises(Forbidden):
        await gateway.count(FeedFilter())
    assert all(b.calls == 0 for b in backends.values())


@pytest.mark.parametrize("action", [Action.CANCEL, Action.RETRY, Action.DELETE])
async def test_an_action_outside_the_scope_reaches_no_backend(action: Action) -> None:
    gateway, backends = _scoped(None, {Action.READ})
    outcome = await gateway.perform(action, _target("a", "2"), _reader(gateway))
    assert outcome.error is not None
    assert outcome.error.code is ActionErrorCode.FORBIDDEN
    assert outcome.error.message == f"client 'client' may not {action.value} executions"
    assert all(b.calls == 0 for b in backends.values())


async def test_an_action_on_a_hidden_instance_is_not_found() -> None:
    gateway, backends = _scoped({"a"}, {Action.READ, Action.CANCEL})
    outcome = await gateway.perform(Action.CANCEL, _target("b", "3"), _reader(gateway))
    assert outcome.error is not None and outcome.error.code is ActionErrorCode.NOT_FOUND
    assert backends["b"].calls == 0
    # while the visible one is cancelled
    done = await gateway.perform(Action.CANCEL, _target("a", "2"), _reader(gateway))
    assert done.ok
    assert backends["a"].items["2"].status is ExecutionStatus.CANCELLED


async def test_read_is_not_an_action_on_an_execution() -> None:
    gateway, _ = _scoped(None, set(ALL_ACTIONS))
    with pytest.raises(ValueError):
        await gateway.perform(Action.READ, _target("a", "1"), _reader(gateway))


async def test_backend_written_messages_are_cleaned() -> None:
    backends = _backends()
    backends["b"].failure = UpstreamUnavailable("b", "instance 'b' said: key s3cr3t-value refused")
    gateway = Gateway(backends, redact=lambda text: text.replace("s3cr3t-value", "[redacted]"))
    page = await gateway.scoped(Scope.full("x")).feed(
        FeedFilter(), first=5, after=None, include_nodes=False
    )
    [skipped] = page.skipped
    assert skipped.instance == "b"
    assert skipped.error.message == "instance 'b' said: key [redacted] refused"
    assert isinstance(skipped.error, UpstreamUnavailable)
