"""Masking PII and credential values in exported data, by configurable rules.

Two kinds of rule (``[export]`` in the config):

- ``mask_keys``: an object key whose value is always replaced, whatever it holds. Keys are
  compared by their letters and digits only, case-folded, and match by suffix, so the rule
  ``apiKey`` also masks ``api_key``, ``X-Api-Key`` and ``stripeApiKey``; inside text,
  ``password=…`` and ``"token": "…"`` lose their values too.
- ``mask_patterns``: regular expressions; every match in every string is replaced (by default:
  e-mail addresses, bearer tokens and card numbers).

The defaults are ``config.settings.ExportSettings``'.

``Masker.text`` masks one string (remembering the answers for repeated strings, such as node
names, in a bounded memo); ``Masker.value`` masks JSON-shaped data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

MASK = "[REDACTED]"

MEMO = 8192
"""Distinct strings whose masked form is remembered."""


def _folded(key: str) -> str:
    return "".join(c for c in key.casefold() if c.isalnum())


class Masker:
    def __init__(self, keys: Iterable[str], patterns: Iterable[str]) -> None:
        self.keys = tuple(sorted({_folded(k) for k in keys if _folded(k)}))
        compiled = [re.compile(p) for p in patterns]
        self._patterns = compiled
        self._assignment = (
            re.compile(
                r"(?i)([A-Za-z0-9_-]*(?:"
                + "|".join(re.escape(k) for k in self.keys)
                + r"))([\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])[^\s\"',;&}]+"
            )
            if self.keys
            else None
        )
        self.text = lru_cache(maxsize=MEMO)(self._text)

    def secret_key(self, key: str) -> bool:
        """Whether values under ``key`` are always masked."""
        folded = _folded(key)
        return bool(folded) and folded.endswith(self.keys)

    def _text(self, text: str) -> str:
        if self._assignment is not None:
            text = self._assignment.sub(self._keep_key, text)
        for pattern in self._patterns:
            text = pattern.sub(MASK, text)
        return text

    def _keep_key(self, match: re.Match[str]) -> str:
        if not self.secret_key(match.group(1)):
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{MASK}"

    def value(self, value: Any) -> Any:
        """A copy of JSON-shaped ``value`` with secret keys' values and matches masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {
                key: MASK if item is not None and self.secret_key(str(key)) else self.value(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value
