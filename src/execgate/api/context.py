"""The per-request context: the gateway, fresh loaders, and errors to report beside data.

The gateway in the context is already scoped to the request's client (``Gateway.scoped``), and
the loaders are built over it, so nothing a resolver reads can reach outside that scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.types import Info as StrawberryInfo

from execgate.api.loaders import Loaders
from execgate.security.audit import AuditEntry, AuditSink
from execgate.service.gateway import Gateway

if TYPE_CHECKING:
    from execgate.api.limits import QueryLimits


@dataclass(frozen=True, slots=True)
class PartialError:
    """An error reported beside data (one instance failed; the others answered)."""

    path: tuple[str | int, ...]
    message: str
    code: str
    instance: str


@dataclass
class Context:
    gateway: Gateway
    loaders: Loaders
    request: Any = None
    partial_errors: list[PartialError] = field(default_factory=list)
    limits: QueryLimits | None = None
    """The operation limits; ``None`` applies the defaults."""
    audit: AuditSink | None = None

    @property
    def client(self) -> str:
        return self.gateway.scope.client

    def audit_action(
        self,
        action: str,
        execution_id: str | None,
        instance: str | None,
        outcome: str,
        latency_ms: float,
    ) -> None:
        """Record one mutation attempt in the audit trail (when there is one)."""
        if self.audit is None:
            return
        self.audit.record(
            AuditEntry(
                client=self.client,
                action=action,
                execution_id=execution_id,
                instance=instance,
                outcome=outcome,
                latency_ms=latency_ms,
            )
        )


Info = StrawberryInfo[Context, None]


def build_context(
    gateway: Gateway,
    request: Any = None,
    *,
    limits: QueryLimits | None = None,
    audit: AuditSink | None = None,
) -> Context:
    return Context(
        gateway=gateway,
        loaders=Loaders(gateway),
        request=request,
        limits=limits,
        audit=audit,
    )
