"""Reading py-spy's collapsed stacks (``--format raw``): where a gateway spends its time."""

from __future__ import annotations

import re
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_AREAS = (
    ("strawberry", "strawberry"),
    ("graphql", "graphql-core"),
    ("execgate/api", "execgate api"),
    ("execgate/service", "execgate service"),
    ("execgate/backends", "execgate backends"),
    ("execgate/domain", "execgate domain"),
    ("aiodataloader", "aiodataloader"),
    ("httpx", "httpx"),
    ("httpcore", "httpcore"),
    ("h11", "h11"),
    ("anyio", "anyio"),
    ("uvicorn", "uvicorn"),
    ("starlette", "starlette"),
    ("json", "json"),
    ("asyncio", "asyncio"),
    ("ssl", "ssl"),
)


def _parse(frame: str) -> tuple[str, str]:
    found = _FRAME.match(frame.strip())
    if found is None:
        return frame.strip(), ""
    return found.group("func"), found.group("file")


def area(path: str) -> str:
    for needle, name in _AREAS:
        if needle in path:
            return name
    return "other"


def summarise_collapsed(text: str, *, title: str, top: int = 22) -> str:
    """Self time by area, and the functions with the most self and inclusive time."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_parse(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f[0].startswith("thread ")]
        if not frames:
            continue
        total += count
        func, path = frames[-1]
        short = path.split("site-packages/")[-1].split("lib/python3")[-1]
        own[f"{func} ({short})"] += count
        areas[area(path)] += count
        seen = set()
        for func, path in frames:
            short = path.split("site-packages/")[-1].split("lib/python3")[-1]
            key = f"{func} ({short})"
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
    if not total:
        return f"{title}: no samples"
    lines = [f"{title}: {total} samples", "", "self time by area:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in areas.most_common()]
    lines += ["", "top self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "top inclusive time (below the event loop and the server's entry points):"]
    ceiling = 0.9 * max(inclusive.values())
    shown = [(name, n) for name, n in inclusive.most_common() if n < ceiling][:top]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in shown]
    return "\n".join(lines)
