"""Per-request DataLoaders: batch and dedupe reads by key, grouped by instance.

Built fresh for every request in ``get_context``, so one request never sees another's cache.
One batch reads each instance once, concurrently; an instance that fails fails only its own
keys (a partial answer: the other instances' objects still resolve).
Executions already read in full by a list (n8n lists with ``includeData``) are primed, so
asking for their nodes costs no further call.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader

from execgate.domain.errors import ExecgateError, PartialRead
from execgate.domain.keys import ExecutionKey, WorkflowKey
from execgate.domain.models import Execution, Workflow
from execgate.service.gateway import Gateway

K = TypeVar("K", ExecutionKey, WorkflowKey)
V = TypeVar("V")


async def _grouped(
    keys: Sequence[K],
    fetch: Callable[[str, list[str]], Any],
) -> list[Any]:
    """One read per instance; a key's value, ``None`` when it names nothing, or the error
    of its own read (so the loader fails only that key): an instance that failed fails its
    keys, a ``PartialRead`` only the keys whose reads failed."""
    by_instance: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        if key.native_id not in by_instance[key.instance]:
            by_instance[key.instance].append(key.native_id)
    names = list(by_instance)
    results = await asyncio.gather(
        *(fetch(name, by_instance[name]) for name in names), return_exceptions=True
    )
    found: dict[str, Mapping[str, Any]] = {}
    failed: dict[str, ExecgateError] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, PartialRead):
            found[name] = {**result.found, **result.failed}
        elif isinstance(result, ExecgateError):
            failed[name] = result
        elif isinstance(result, BaseException):
            raise result
        else:
            found[name] = result
    return [
        failed[key.instance] if key.instance in failed else found[key.instance].get(key.native_id)
        for key in keys
    ]


def _execution_batch(gateway: Gateway) -> Callable[[list[ExecutionKey]], Any]:
    async def fetch(instance: str, ids: list[str]) -> Mapping[str, Execution]:
        return await gateway.get_executions(instance, ids, include_nodes=True)

    async def load(keys: list[ExecutionKey]) -> list[Execution | None]:
        return await _grouped(keys, fetch)

    return load


def _workflow_batch(gateway: Gateway) -> Callable[[list[WorkflowKey]], Any]:
    async def fetch(instance: str, ids: list[str]) -> Mapping[str, Workflow]:
        return await gateway.get_workflows(instance, ids)

    async def load(keys: list[WorkflowKey]) -> list[Workflow | None]:
        return await _grouped(keys, fetch)

    return load


class Loaders:
    """The loaders of one request.

    The batch functions close over the gateway, not over this object, so the loaders and
    what they cache form no reference cycle: a finished request's executions are freed by
    reference counting, not left for the cycle collector (``release`` drops them even when
    something else still holds the context).
    """

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._execution: DataLoader[ExecutionKey, Execution | None] | None = None
        self._workflow: DataLoader[WorkflowKey, Workflow | None] | None = None
        self._listed: dict[ExecutionKey, Execution] = {}
        """Executions a list read in full: answered before the loader is asked (a plain dict
        costs less than priming the loader with a future per execution of every page)."""
        self._named: dict[WorkflowKey, str] = {}

    @property
    def execution(self) -> DataLoader[ExecutionKey, Execution | None]:
        """Executions with their node data, by key (made at first use: a live subscription
        holds its loaders for as long as it lasts, and most never read through them)."""
        if self._execution is None:
            self._execution = DataLoader(_execution_batch(self._gateway))
        return self._execution

    @property
    def workflow(self) -> DataLoader[WorkflowKey, Workflow | None]:
        if self._workflow is None:
            self._workflow = DataLoader(_workflow_batch(self._gateway))
        return self._workflow

    def prime(self, execution: Execution) -> None:
        """Remember an execution read in full (with its nodes) by a list call."""
        if execution.node_executions is not None:
            self._listed[execution.key] = execution
        if execution.workflow_name is not None:
            self._named[execution.workflow_key] = execution.workflow_name

    async def execution_detail(self, key: ExecutionKey) -> Execution | None:
        listed = self._listed.get(key)
        if listed is not None:
            return listed
        result: Execution | None = await self.execution.load(key)
        return result

    async def executions(self, keys: list[ExecutionKey]) -> list[Execution | ExecgateError | None]:
        """``execution_detail`` for many keys, in one batch for those not listed; a key whose
        read failed has its error in its place, so the others are answered all the same."""
        wanted = [key for key in keys if key not in self._listed]
        loaded = await asyncio.gather(
            *(self.execution.load(key) for key in wanted), return_exceptions=True
        )
        found: dict[ExecutionKey, Execution | ExecgateError | None] = {}
        for key, result in zip(wanted, loaded, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, ExecgateError):
                raise result
            found[key] = result
        return [self._listed.get(key) or found.get(key) for key in keys]

    async def workflow_of(self, key: WorkflowKey) -> Workflow | None:
        name = self._named.get(key)
        if name is not None:
            return Workflow(key, name)
        result: Workflow | None = await self.workflow.load(key)
        return result

    def forget(self, key: ExecutionKey) -> None:
        self._listed.pop(key, None)
        if self._execution is not None:
            self._execution.clear(key)

    def release(self) -> None:
        """Drop everything read for this request (called when its answer is built)."""
        self._listed.clear()
        self._named.clear()
        if self._execution is not None:
            self._execution.clear_all()
        if self._workflow is not None:
            self._workflow.clear_all()
