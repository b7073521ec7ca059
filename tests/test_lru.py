"""The bounded least-recently-used mapping."""

from __future__ import annotations

from execgate.lru import LRU


def test_the_least_recently_used_entry_goes_first() -> None:
    # given
    recent: LRU[str, int] = LRU(2)
    recent.put("a", 1)
    recent.put("b", 2)

    # when: "a" is read, so "b" is now the oldest
    assert recent.get("a") == 1
    recent.put("c", 3)

    # then
    assert len(recent) == 2
    assert "b" not in recent and recent.get("b") is None
    assert recent.get("a") == 1 and recent.get("c") == 3


def test_putting_again_renews_and_pop_forgets() -> None:
    recent: LRU[str, int] = LRU(2)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("a", 10)  # renewed: "b" is the oldest now
    recent.put("c", 3)
    recent.pop("c")
    recent.pop("missing")

    assert "b" not in recent
    assert recent.get("a") == 10 and len(recent) == 1
