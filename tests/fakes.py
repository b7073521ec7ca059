"""An in-memory backend that satisfies the ``Backend`` port (for service and API tests).

It keeps executions in feed order, pages by a keyset position, counts its calls and can be
switched to fail, so tests can drive the service without HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from execgate.domain.errors import BackendError, Conflict, NotFound, Unsupported
from execgate.domain.keys import ExecutionKey, WorkflowKey
from execgate.domain.models import (
    BackendKind,
    Capability,
    CostModel,
    Execution,
    ExecutionMode,
    ExecutionQuery,
    ExecutionStatus,
    Page,
    Watch,
    Workflow,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_execution(
    instance: str,
    native_id: str,
    *,
    minutes: float,
    status: ExecutionStatus = ExecutionStatus.SUCCESS,
    workflow: str = "wf1",
) -> Execution:
    started = T0 + timedelta(minutes=minutes)
    return Execution(
        key=ExecutionKey(instance, native_id),
        workflow_id=workflow,
        status=status,
        status_raw=status.value,
        mode=ExecutionMode.WEBHOOK,
        mode_raw="webhook",
        finished=status is ExecutionStatus.SUCCESS,
        workflow_name=f"Workflow {workflow}",
        created_at=started,
        started_at=started,
        finished_at=started + timedelta(seconds=2),
        duration_ms=2000,
        node_executions=(),
    )


class FakeBackend:
    def __init__(
        self,
        name: str,
        executions: Sequence[Execution] = (),
        *,
        kind: BackendKind = BackendKind.TEAM,
        reports_total: bool = True,
    ) -> None:
        self.name = name
        self.kind = kind
        self.items: dict[str, Execution] = {e.native_id: e for e in executions}
        self.reports_total = reports_total
        self.calls = 0
        self.read_items = 0
        self.failure: BackendError | None = None

    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.CANCEL})

    def costs(self) -> CostModel:
        """One list request per page, a detail read per execution, one read for a total."""
        return CostModel(page_size=100, detail_reads=1, count_reads=1, watch_reads=1)

    def _matching(self, query: ExecutionQuery) -> list[Execution]:
        found = []
        for e in self.items.values():
            if query.statuses and e.status not in query.statuses:
                continue
            if query.workflow_id and e.workflow_id != query.workflow_id:
                continue
            moment = e.sort_time
            if query.started_after and (moment is None or moment < query.started_after):
                continue
            if query.started_before and (moment is None or moment > query.started_before):
                continue
            found.append(e)
        return sorted(found, key=self._bound)

    def _check(self) -> None:
        self.calls += 1
        if self.failure is not None:
            raise self.failure

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page:
        self._check()
        items = self._matching(query)
        if position is not None:
            t = math.inf if position["t"] is None else float(position["t"])
            bound = (-t, -int(position["id"]))
            items = [e for e in items if self._bound(e) > bound]
        chunk = items[:limit]
        self.read_items += len(chunk)
        more = len(items) > limit
        last = chunk[-1] if chunk else None
        return Page(
            items=tuple(chunk),
            position=self.position_after(None, chunk) if (more and last) else None,
            total=None,
        )

    async def watch(self, recent: int) -> Watch:
        """The newest ``recent`` executions and every active one, in one call."""
        self._check()
        ordered = self._matching(ExecutionQuery())
        return Watch(
            recent=tuple(ordered[:recent]),
            active=tuple(e for e in ordered if e.status.is_active),
            more=len(ordered) > recent,
            calls=1,
        )

    @staticmethod
    def _bound(e: Execution) -> tuple[float, int]:
        """Feed order within one instance (native ids of the fake are numeric)."""
        t = math.inf if e.sort_time is None else e.sort_time.timestamp()
        return (-t, -int(e.native_id))

    def position_after(
        self,
        previous: Mapping[str, Any] | None,
        consumed: Sequence[Execution],
        page: Page | None = None,
    ) -> Mapping[str, Any]:
        last = consumed[-1]
        t = None if last.sort_time is None else last.sort_time.timestamp()
        return {"t": t, "id": last.native_id}

    async def count_executions(self, query: ExecutionQuery) -> int | None:
        self._check()
        return len(self._matching(query)) if self.reports_total else None

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        self._check()
        return {i: self.items[i] for i in native_ids if i in self.items}

    async def get_workflows(self, native_ids: Sequence[str]) -> Mapping[str, Workflow]:
        self._check()
        names = {e.workflow_id: e.workflow_name for e in self.items.values()}
        return {i: Workflow(WorkflowKey(self.name, i), names[i]) for i in native_ids if i in names}

    async def cancel(self, native_id: str) -> Execution | None:
        self._check()
        execution = self.items.get(native_id)
        if execution is None:
            raise NotFound("no such execution")
        if not execution.status.is_active:
            raise Conflict("not running", reason="not_cancellable")
        self.items[native_id] = replace(execution, status=ExecutionStatus.CANCELLED)
        return None

    async def retry(self, native_id: str) -> Execution:
        raise Unsupported("no retry")

    async def delete(self, native_id: str) -> None:
        raise Unsupported("no delete")

    async def aclose(self) -> None:
        return None


class ListsWithoutNodes(FakeBackend):
    """Lists like the team-style API: items without node runs, input or output.

    ``detail_failure``, when set, is raised by every full read (and only by those).
    """

    detail_failure: BackendError | None = None
    detail_reads = 0

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page:
        page = await super().list_executions(query, limit=limit, position=position)
        return replace(page, items=self._bare(page.items))

    async def watch(self, recent: int) -> Watch:
        watch = await super().watch(recent)
        return replace(watch, recent=self._bare(watch.recent), active=self._bare(watch.active))

    @staticmethod
    def _bare(items: Sequence[Execution]) -> tuple[Execution, ...]:
        return tuple(
            replace(e, node_executions=None, input_data=None, output_data=None) for e in items
        )

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        self.detail_reads += 1
        if self.detail_failure is not None:
            self.calls += 1
            raise self.detail_failure
        return await super().get_executions(native_ids, include_nodes=include_nodes)
