"""New executions arriving on a simulated instance while it runs, and progressing on their own.

``Activity`` is a spawner for ``SimStore.spawners``: from the moment it starts, ``rate``
executions a second are created (one every ``1 / rate`` seconds, on a fixed schedule), each
queued (``new``: PENDING on a team-style API) for ``queued`` seconds, then ``running`` for
``running`` seconds, then finished: failed with probability ``failures``, else succeeded.
Every number comes from ``random.Random(seed)``, so a schedule is reproducible, and every
moment is set when the execution is created: its ``createdAt``, ``startedAt`` and
``stoppedAt`` say exactly when the instance changed, which is what the live benchmark measures
delays from. The store applies them lazily (``advance``, before each request), so an
execution exists for every client from its scheduled moment on, whoever asks first.

A new execution copies the workflow, node runs and data of a finished execution of the store
(its node runs are placed in time when it finishes, see ``store.finish``), so node data reads
answer like the seeded ones.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from execgate.simulate.data import SimExecution
from execgate.simulate.store import SimStore

FAILED = "the simulated run failed on purpose"


@dataclass
class Activity:
    rate: float
    """Executions created a second."""
    seed: int = 0
    queued: tuple[float, float] = (0.5, 1.5)
    """Seconds an execution waits queued: drawn uniformly in this range."""
    running: tuple[float, float] = (2.0, 5.0)
    """Seconds it runs."""
    failures: float = 0.15
    start: datetime | None = None
    """The first execution's creation time (default: the first ``advance``)."""
    created: int = field(default=0, init=False)
    """Executions created so far."""
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        self._rng = random.Random(self.seed)

    def attach(self, store: SimStore) -> Activity:
        store.spawners.append(self)
        return self

    def due(self, n: int) -> datetime:
        """When execution ``n`` (from 0) of the schedule is created."""
        assert self.start is not None
        return self.start + timedelta(seconds=n / self.rate)

    def __call__(self, store: SimStore, now: datetime) -> None:
        if self.start is None:
            self.start = now
        while self.due(self.created) <= now:
            store.add(self._spawn(store, self.due(self.created)))
            self.created += 1

    def _spawn(self, store: SimStore, created: datetime) -> SimExecution:
        rng = self._rng
        starts = created + timedelta(seconds=rng.uniform(*self.queued))
        finishes = starts + timedelta(seconds=rng.uniform(*self.running))
        fails = rng.random() < self.failures
        templates = [e for e in store.executions.values() if e.status == "success" and e.runs]
        template = rng.choice(templates) if templates else None
        workflow = template.workflow_id if template else next(iter(store.workflows), "1")
        execution = SimExecution(
            id=store.new_id(),
            workflow_id=workflow,
            status="new",
            mode=template.mode if template else "webhook",
            created_at=created,
            started_at=None,
            finished_at=None,
        )
        execution.starts_at = starts
        execution.finishes_at = finishes
        execution.final_status = "error" if fails else "success"
        if fails:
            execution.error_message = FAILED
        if template is not None:
            execution.pending = copy.deepcopy(template.runs)
            execution.input = template.input
        return execution
