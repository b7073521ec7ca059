"""Subscriptions: live changes to executions, from the gateway's shared pollers.

A thin entry point over the service: ``Gateway.watch`` (the feed's filter, validated and scoped
the same way) and ``Gateway.watch_execution`` register with the ``LiveHub``; this module turns
what their subscriber receives into GraphQL. Everything that can refuse a subscription (a bad
filter, an unknown instance, an ID that names no execution, the client's subscription limit)
is checked before the stream starts, so it answers as an error of the operation itself.

Each event executes the subscriber's own selection through the request's loaders, like any
``Execution`` (node data is read when asked for); the loaders are emptied before each event,
so nothing read for one event is served stale to the next. A notice — an instance that
stopped answering the poll, or changes a slow subscriber missed — is an error on the stream
(``data`` null, ``extensions.code`` and, for an instance, ``extensions.instance``); the stream
goes on.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import TypeVar, cast

import strawberry

from execgate.api import ids
from execgate.api.connections import to_filter
from execgate.api.context import Info
from execgate.api.types import ExecutionFilter, ExecutionNode, ExecutionStatus
from execgate.domain import models
from execgate.domain.errors import ExecgateError, NotFound
from execgate.domain.live import ChangeType, Notice
from execgate.service.live import Subscriber
from execgate.service.mailbox import Closed

T = TypeVar("T")

ExecutionEventType = strawberry.enum(
    ChangeType,
    name="ExecutionEventType",
    description="What happened to an execution: CREATED (first seen, with whatever status it "
    "has then), STATUS_CHANGED (to another active status), FINISHED (to a final status), "
    "DELETED.",
)


class EventsDropped(ExecgateError):
    """A subscriber read slower than changes came and the oldest waiting ones were dropped."""

    code = "EVENTS_DROPPED"


@strawberry.type(description="One change to one execution, as the live poll saw it.")
class ExecutionEvent:
    type: ExecutionEventType  # type: ignore[valid-type]
    execution: ExecutionNode | None = strawberry.field(
        description="The execution as it is now (for DELETED: as it was last seen)."
    )
    previous_status: ExecutionStatus | None = strawberry.field(  # type: ignore[valid-type]
        description="Its status before the change (null for CREATED)."
    )
    at: datetime = strawberry.field(description="When execgate saw the change.")


def notice_error(notice: Notice) -> ExecgateError:
    """What a notice says to the subscriber, as an error on its stream."""
    if notice.error is not None:
        error = notice.error
        retry = f"; polled again in {notice.retry_in:.0f} s" if notice.retry_in else ""
        message = (
            f"instance {notice.instance!r} did not answer the live poll: {error.message}"
            f"{retry}, and what changed meanwhile follows when it answers"
        )
        return type(error)(error.instance, message)
    return EventsDropped(
        f"{notice.dropped} changes were dropped: this subscription reads slower than they "
        "come; the executions they named may have changed since"
    )


def _execution(info: Info, execution: models.Execution) -> ExecutionNode:
    return ExecutionNode.from_domain(execution, node_runs=info.context.node_runs)


async def _events(
    info: Info, subscriber: Subscriber
) -> AsyncGenerator[ExecutionEvent | ExecgateError, None]:
    try:
        while True:
            try:
                item = await subscriber.next()
            except Closed:
                return
            info.context.loaders.release()
            if isinstance(item, Notice):
                yield notice_error(item)
                continue
            yield ExecutionEvent(
                type=item.type,
                execution=_execution(info, item.execution),
                previous_status=item.previous,
                at=item.at,
            )
    finally:
        subscriber.close()


async def _follow(
    info: Info, subscriber: Subscriber, current: models.Execution
) -> AsyncGenerator[ExecutionNode | ExecgateError, None]:
    try:
        yield _execution(info, current)
        last = current.status
        while not last.is_finished:
            try:
                item = await subscriber.next()
            except Closed:
                return
            info.context.loaders.release()
            if isinstance(item, Notice):
                yield notice_error(item)
            elif item.type is ChangeType.DELETED:
                yield NotFound("the execution was deleted")
                return
            elif item.execution.status is not last:
                last = item.execution.status
                yield _execution(info, item.execution)
    finally:
        subscriber.close()


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every change to the executions the filter selects (the feed's filter, "
        "with the same rules), on the instances the client may see, as the gateway's poll of "
        "each instance finds it; changes made through execgate's own mutations at once."
    )
    async def execution_events(
        self, info: Info, filter: ExecutionFilter | None = strawberry.UNSET
    ) -> AsyncGenerator[ExecutionEvent, None]:
        raw = None if filter is strawberry.UNSET else filter
        feed_filter = to_filter(
            instances=_given(raw.instances) if raw else None,
            workflow_id=str(raw.workflow_id) if raw and raw.workflow_id else None,
            statuses=_given(raw.status) if raw else None,
            started_after=_given(raw.started_after) if raw else None,
            started_before=_given(raw.started_before) if raw else None,
        )
        subscriber = info.context.gateway.watch(feed_filter)
        return cast("AsyncGenerator[ExecutionEvent, None]", _events(info, subscriber))

    @strawberry.subscription(
        description="One execution: its state now, then again at every status change; the "
        "stream completes after a final status (at once when it has one already)."
    )
    async def execution_changed(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[ExecutionNode, None]:
        key = ids.execution_key(str(id))
        subscriber = info.context.gateway.watch_execution(key)
        try:
            await subscriber.settled()
            current = await info.context.loaders.execution_detail(key)
            if current is None:
                raise NotFound("the execution does not exist")
        except BaseException:
            subscriber.close()
            raise
        return cast("AsyncGenerator[ExecutionNode, None]", _follow(info, subscriber, current))


def _given(value: T | None) -> T | None:
    """An input field the client left out arrives as UNSET: treat it as null."""
    return None if value is strawberry.UNSET else value
