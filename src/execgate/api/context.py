"""The per-request context: the gateway, fresh loaders, and errors to report beside data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from execgate.api.loaders import Loaders
from execgate.service.gateway import Gateway


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


Info = StrawberryInfo[Context, None]


def build_context(gateway: Gateway, request: Any = None) -> Context:
    return Context(gateway=gateway, loaders=Loaders(gateway), request=request)
