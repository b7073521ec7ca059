"""What one client may see and do: its instances and its actions.

A ``Scope`` is applied by ``Gateway.scoped``: the scoped gateway holds only the backends of the
allowed instances, so every read through it (feed, counts, refetch by id) behaves as if the
other instances did not exist, and it refuses the actions the client was not granted before
any backend is asked anything.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Action(enum.Enum):
    """What a client may be allowed to do (the config's ``actions`` values)."""

    READ = "read"
    CANCEL = "cancel"
    RETRY = "retry"
    DELETE = "delete"
    EXPORT = "export"
    """Bulk export of executions with their node runs (``/export``, ``execgate export``)."""


ALL_ACTIONS = frozenset(Action)


@dataclass(frozen=True, slots=True)
class Scope:
    """The instances (``None``: every instance) and actions granted to ``client``."""

    instances: frozenset[str] | None
    actions: frozenset[Action]
    client: str = "anonymous"

    @classmethod
    def full(cls, client: str = "anonymous") -> Scope:
        return cls(None, ALL_ACTIONS, client)

    @classmethod
    def nothing(cls, client: str = "anonymous") -> Scope:
        return cls(frozenset(), frozenset(), client)

    @classmethod
    def of(cls, client: str, instances: Iterable[str] | None, actions: Iterable[Action]) -> Scope:
        return cls(None if instances is None else frozenset(instances), frozenset(actions), client)

    def sees(self, instance: str) -> bool:
        return self.instances is None or instance in self.instances

    def allows(self, action: Action) -> bool:
        return action in self.actions

    def narrowed(self, other: Scope) -> Scope:
        """What both scopes allow, named after ``other``'s client."""
        if self.instances is None:
            instances = other.instances
        elif other.instances is None:
            instances = self.instances
        else:
            instances = self.instances & other.instances
        return Scope(instances, self.actions & other.actions, other.client)
