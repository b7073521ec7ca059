"""``execgate serve --config FILE`` for the benchmark, optionally with the shared cache off.

Without ``--no-cache`` this runs exactly what the ``execgate serve`` command runs (one uvicorn
worker). With ``--no-cache`` the process's ``ExecutionCache`` keeps nothing and its
``Coalescer`` shares nothing between requests, so every query pays every backend call, as the
first visit of a page does: that is the benchmark's "cold" gateway. Per-request DataLoaders
(batching and deduplication inside one query) stay as they are.

    python -m bench.gateserve [--no-cache] --config gateway.toml --port 8000
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any


def disable_cache() -> bool:
    """Make the shared execution cache store nothing and stop concurrent identical reads from
    sharing one backend call; False if this build has no such cache."""
    try:
        from execgate.service import cache
    except ImportError:
        return False

    def keep_nothing(self: Any, execution: Any) -> None:
        return None

    async def call_alone(self: Any, key: Any, call: Callable[[], Awaitable[Any]]) -> Any:
        return await call()

    cache.ExecutionCache.put = keep_nothing  # type: ignore[method-assign]
    cache.Coalescer.run = call_alone  # type: ignore[method-assign]
    return True


def main(argv: list[str]) -> int:
    import execgate.cli as cli

    if "--no-cache" in argv:
        argv = [a for a in argv if a != "--no-cache"]
        found = disable_cache()
        print(f"bench: shared execution cache {'off' if found else 'absent'}", file=sys.stderr)
    return cli.main(["serve", *argv])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
