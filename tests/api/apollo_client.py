"""The npm package ``@apollo/client`` (its ``PersistedQueryLink``), installed on demand.

Into ``~/.cache/execgate/apollo-client-<version>/`` (``$EXECGATE_APOLLO_CLIENT_CACHE``
overrides) by ``tests/npm_cache.py``: about 10 MB, a few seconds, once.
"""

from __future__ import annotations

from pathlib import Path

from tests.npm_cache import cache_dir

APOLLO_CLIENT_VERSION = "4.3.8"
PACKAGES = {
    "@apollo/client": APOLLO_CLIENT_VERSION,
    # its peer dependencies, pinned too
    "graphql": "16.15.0",
    "rxjs": "7.8.2",
}
SCRIPT = Path(__file__).with_name("apollo_apq.mjs")


def cache_root() -> Path:
    return cache_dir(f"apollo-client-{APOLLO_CLIENT_VERSION}", "EXECGATE_APOLLO_CLIENT_CACHE")
