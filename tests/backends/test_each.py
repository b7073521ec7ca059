"""read_each: one failed read costs only its own id."""

from __future__ import annotations

import pytest

from execgate.backends.each import read_each
from execgate.domain.errors import PartialRead, UpstreamTimeout, UpstreamUnavailable


async def _read(native_id: str) -> str | None:
    if native_id.startswith("bad"):
        raise UpstreamTimeout("a", f"read of {native_id} timed out")
    if native_id.startswith("gone"):
        return None
    return native_id.upper()


async def test_every_read_answering_gives_the_found_ones_once_each() -> None:
    assert await read_each("a", ["x", "gone", "y", "x"], _read) == {"x": "X", "y": "Y"}


async def test_some_reads_failing_give_what_was_read_and_each_failure() -> None:
    with pytest.raises(PartialRead) as caught:
        await read_each("a", ["x", "bad1", "gone", "bad2"], _read)
    partial = caught.value
    assert partial.found == {"x": "X"}
    assert sorted(partial.failed) == ["bad1", "bad2"]
    assert partial.code == "UPSTREAM_TIMEOUT" and partial.instance == "a"


async def test_a_failure_beside_ids_that_name_nothing_is_partial_too() -> None:
    with pytest.raises(PartialRead) as caught:
        await read_each("a", ["gone", "bad"], _read)
    assert caught.value.found == {} and list(caught.value.failed) == ["bad"]


async def test_every_read_failing_raises_the_first_failure_itself() -> None:
    with pytest.raises(UpstreamTimeout):
        await read_each("a", ["bad1", "bad2"], _read)


async def test_an_error_that_is_not_a_backends_is_not_swallowed() -> None:
    async def broken(native_id: str) -> str:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        await read_each("a", ["x"], broken)
    with pytest.raises(UpstreamUnavailable):
        await read_each("a", ["x"], _raise_unavailable)


async def _raise_unavailable(native_id: str) -> str:
    raise UpstreamUnavailable("a", "down")
