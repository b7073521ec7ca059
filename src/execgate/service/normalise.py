"""Error messages normalised for grouping: the same failure reads the same each time.

Parts that vary between occurrences of one failure are replaced: UUIDs and long hexadecimal
ids by ``<id>``, e-mail addresses by ``<email>``, URLs by ``<url>``, numbers of four digits or
more (and the number after ``line``, ``position``, ``column`` or ``offset``) by ``<n>``.
Shorter numbers stay, so ``status code 502`` and ``status code 429`` remain two failures.
Whitespace is collapsed and the message cut at ``MAX_LENGTH`` characters.
"""

from __future__ import annotations

import re

MAX_LENGTH = 300

_RULES = (
    (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "<id>",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "<email>"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE), "<url>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b"), "<id>"),
    (re.compile(r"\b(line|position|column|col|offset|index)\s+\d+", re.IGNORECASE), r"\1 <n>"),
    (re.compile(r"\d{4,}(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalise_error(message: str) -> str:
    text = message
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = text.strip()
    if len(text) > MAX_LENGTH:
        text = text[:MAX_LENGTH] + "…"
    return text
