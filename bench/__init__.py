"""The execgate benchmark suite: ``python -m bench.run`` (see bench/RESULTS.md)."""

from __future__ import annotations
