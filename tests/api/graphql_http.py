"""The npm package ``graphql-http`` (its GraphQL-over-HTTP server audits), installed on demand.

Installed with npm into ``~/.cache/execgate/graphql-http-<version>/``
(``$EXECGATE_GRAPHQL_HTTP_CACHE`` overrides), outside the repository, with a private npm cache:
two packages, about 4 MB, a few seconds (``tests/npm.py``).
"""

from __future__ import annotations

from pathlib import Path

from tests.npm import NpmPackages, tools

GRAPHQL_HTTP_VERSION = "1.23.1"
GRAPHQL_VERSION = "16.15.0"
"""``graphql-http``'s peer dependency, pinned too so every run audits with the same code."""

CACHE_ENV = "EXECGATE_GRAPHQL_HTTP_CACHE"
INSTALL_SIZE = f"graphql-http {GRAPHQL_HTTP_VERSION} and graphql {GRAPHQL_VERSION}, about 4 MB"
AUDIT_SCRIPT = Path(__file__).with_name("graphql_http_audit.cjs")

PACKAGES = NpmPackages(
    folder=f"graphql-http-{GRAPHQL_HTTP_VERSION}",
    packages=(("graphql-http", GRAPHQL_HTTP_VERSION), ("graphql", GRAPHQL_VERSION)),
    cache_env=CACHE_ENV,
    size=INSTALL_SIZE,
)

__all__ = ["AUDIT_SCRIPT", "INSTALL_SIZE", "cache_root", "ensure_installed", "tools"]


def cache_root() -> Path:
    return PACKAGES.root()


def is_installed(root: Path) -> bool:
    return PACKAGES.is_installed(root)


def ensure_installed(npm: str, root: Path | None = None) -> Path:
    """The install directory, installed with ``npm`` first unless complete already."""
    return PACKAGES.ensure_installed(npm, root)
