"""``executionStats``: health statistics over the executions a filter selects, as GraphQL.

The figures come from the service (``Gateway.stats``, ``service/stats.py``); this module only
renders them. A bucket carries the figures of its group and the values it groups on (its
``instance``, ``workflow``, ``status``, ``mode``, ``day``, ``hour`` or ``error``); the others
are null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import strawberry

from execgate.api.connections import to_filter
from execgate.api.context import Info, PartialError
from execgate.api.cost import StatsPricer
from execgate.api.types import (
    ExecutionFilter,
    ExecutionMode,
    ExecutionStatus,
    InstanceNode,
    SkippedInstance,
    WorkflowNode,
)
from execgate.domain import stats as domain
from execgate.domain.errors import ExecgateError
from execgate.domain.models import ExecutionStatus as Status
from execgate.service.gateway import Gateway

StatsDimension = strawberry.enum(
    domain.StatsDimension,
    name="StatsDimension",
    description="What statistics buckets are grouped by. DAY and HOUR are UTC periods of the "
    "start time (the creation time of an execution that has not started); ERROR is the "
    "normalised error message (ids, long numbers, addresses replaced; masked).",
)


@strawberry.type(
    description="Durations in milliseconds over the finished executions that report one; "
    "percentiles by the nearest-rank method over every one of them (no sampling). Null when "
    "there is none."
)
class DurationStats:
    count: int = strawberry.field(description="Finished executions with a duration.")
    p50: int | None
    p90: int | None
    p95: int | None
    p99: int | None
    max: int | None
    mean: float | None

    @classmethod
    def of(cls, durations: domain.Durations) -> DurationStats:
        return cls(
            count=durations.count,
            p50=durations.p50,
            p90=durations.p90,
            p95=durations.p95,
            p99=durations.p99,
            max=durations.max,
            mean=durations.mean,
        )


@strawberry.type(description="Executions per status.")
class StatusCounts:
    pending: int
    running: int
    waiting: int
    success: int
    failed: int
    cancelled: int
    crashed: int
    unknown: int

    @classmethod
    def of(cls, counts: dict[Status, int]) -> StatusCounts:
        return cls(**{status.value.lower(): counts.get(status, 0) for status in Status})


@strawberry.type(description="Figures over a set of executions: the window, or one bucket.")
class StatsFigures:
    count: int = strawberry.field(description="Executions.")
    by_status: StatusCounts
    finished: int = strawberry.field(
        description="Executions that finished: succeeded, failed, cancelled or crashed."
    )
    success_rate: float | None = strawberry.field(
        description="Successes divided by finished executions, from 0 to 1; null when none "
        "finished."
    )
    duration_ms: DurationStats
    running: int = strawberry.field(
        description="Executions active now: pending, running or waiting."
    )
    first_started_at: datetime | None
    last_started_at: datetime | None

    @staticmethod
    def fields(figures: domain.Figures) -> dict[str, object]:
        return {
            "count": figures.count,
            "by_status": StatusCounts.of(figures.by_status),
            "finished": figures.finished,
            "success_rate": figures.success_rate,
            "duration_ms": DurationStats.of(figures.durations),
            "running": figures.running,
            "first_started_at": figures.first_started_at,
            "last_started_at": figures.last_started_at,
        }


@strawberry.type(description="The figures of one group, and the values it groups on.")
class StatsBucket(StatsFigures):
    instance: InstanceNode | None
    workflow: WorkflowNode | None
    status: ExecutionStatus | None  # type: ignore[valid-type]
    mode: ExecutionMode | None  # type: ignore[valid-type]
    day: datetime | None = strawberry.field(description="The UTC day's start.")
    hour: datetime | None = strawberry.field(description="The UTC hour's start.")
    error: str | None = strawberry.field(
        description="The normalised error message; null for executions without one."
    )


@strawberry.type(description="Health statistics over the executions of one window.")
class ExecutionStats:
    started_after: datetime = strawberry.field(description="The window's start (inclusive).")
    started_before: datetime | None = strawberry.field(
        description="The window's end (inclusive); null: up to now."
    )
    group_by: list[StatsDimension]  # type: ignore[valid-type]
    overall: StatsFigures
    buckets: list[StatsBucket] = strawberry.field(
        description="One per group, oldest period first when grouped by DAY or HOUR, then the "
        "largest count first; at most maxBuckets."
    )
    bucket_count: int = strawberry.field(description="Groups found (beyond maxBuckets too).")
    scanned: int = strawberry.field(
        description="Executions read from the backends for this answer; a repeated question "
        "reads only what is new or still active."
    )
    complete: bool = strawberry.field(
        description="False when an instance failed: its executions are missing from every "
        "figure, and skippedInstances names it."
    )
    skipped_instances: list[SkippedInstance]


def _bucket(info: Info, bucket: domain.Bucket) -> StatsBucket:
    key = bucket.key
    instance = None
    if key.instance is not None:
        found = info.context.gateway.instance(key.instance)
        instance = None if found is None else InstanceNode.from_domain(found)
    workflow = None if key.workflow is None else WorkflowNode.build(key.workflow, key.workflow_name)
    return StatsBucket(
        **StatsFigures.fields(bucket.figures),  # type: ignore[arg-type]
        instance=instance,
        workflow=workflow,
        status=key.status,
        mode=key.mode,
        day=key.day,
        hour=key.hour,
        error=key.error,
    )


async def resolve_stats(
    info: Info,
    raw: ExecutionFilter,
    group_by: list[domain.StatsDimension] | None,
    max_buckets: int,
) -> ExecutionStats:
    def given(value: object) -> object:
        return None if value is strawberry.UNSET else value

    feed_filter = to_filter(
        instances=given(raw.instances),  # type: ignore[arg-type]
        workflow_id=str(raw.workflow_id) if given(raw.workflow_id) else None,
        statuses=given(raw.status),  # type: ignore[arg-type]
        started_after=given(raw.started_after),  # type: ignore[arg-type]
        started_before=given(raw.started_before),  # type: ignore[arg-type]
    )
    answer = await info.context.gateway.stats(feed_filter, group_by or [], max_buckets=max_buckets)
    for instance, code, message in answer.skipped:
        info.context.partial_errors.append(
            PartialError(
                path=tuple(info.path.as_list()), message=message, code=code, instance=instance
            )
        )
    return ExecutionStats(
        started_after=answer.window.after,
        started_before=answer.window.before,
        group_by=list(answer.group_by),
        overall=StatsFigures(**StatsFigures.fields(answer.overall)),  # type: ignore[arg-type]
        buckets=[_bucket(info, b) for b in answer.buckets],
        bucket_count=answer.bucket_count,
        scanned=answer.scanned,
        complete=answer.complete,
        skipped_instances=[
            SkippedInstance(instance=i, code=c, message=m) for i, c, m in answer.skipped
        ],
    )


def _member(value: object, kind: type[Any]) -> Any:
    """An enum argument as the walk coerced it (a member, or its name)."""
    return value if isinstance(value, kind) else kind[str(getattr(value, "name", value))]


def stats_pricer(gateway: Gateway) -> StatsPricer:
    """Prices ``executionStats`` from its coerced arguments (``api/cost.py``); 0 for arguments
    the resolver refuses anyway."""

    def price(args: Mapping[str, Any], where: frozenset[str]) -> int:
        raw = args.get("filter")
        try:
            if not isinstance(raw, Mapping):
                return 0
            named = raw.get("instances")
            statuses = raw.get("status") or []
            feed_filter = to_filter(
                instances=sorted(where & frozenset(named)) if named else sorted(where),
                workflow_id=str(raw["workflowId"]) if raw.get("workflowId") else None,
                statuses=[_member(s, Status) for s in statuses],
                started_after=raw.get("startedAfter"),
                started_before=raw.get("startedBefore"),
            )
            group_by = [_member(d, domain.StatsDimension) for d in args.get("groupBy") or []]
            return gateway.estimate_stats(feed_filter, group_by)
        except (ExecgateError, KeyError, TypeError, ValueError):
            return 0

    return price
