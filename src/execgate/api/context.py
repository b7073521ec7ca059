"""The per-request context: the gateway, fresh loaders, and errors to report beside data.

The gateway in the context is already scoped to the request's client (``Gateway.scoped``), and
the loaders are built over it, so nothing a resolver reads can reach outside that scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.types import Info as StrawberryInfo

from execgate.api.loaders import Loaders
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

    @property
    def client(self) -> str:
        return self.gateway.scope.client


Info = StrawberryInfo[Context, None]


def build_context(
    gateway: Gateway,
    request: Any = None,
    *,
    limits: QueryLimits | None = None,
) -> Context:
    return Context(gateway=gateway, loaders=Loaders(gateway), request=request, limits=limits)
