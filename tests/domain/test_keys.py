"""Keys and ids: what counts as a numeric id."""

from __future__ import annotations

import pytest

from execgate.domain.keys import ExecutionKey, as_number


@pytest.mark.parametrize(
    ("text", "number"),
    [("42", 42), ("0", 0), ("²", None), ("³4", None), ("٣", None), ("1" * 18, int("1" * 18))],
)
def test_only_short_ascii_digits_are_numbers(text: str, number: int | None) -> None:
    assert as_number(text) == number


def test_a_very_long_digit_string_is_text_not_an_error() -> None:
    assert as_number("9" * 5000) is None


def test_execution_keys_round_trip_with_colons_in_the_native_id() -> None:
    key = ExecutionKey("acme", "a:b:c")
    assert ExecutionKey.decode(key.encode()) == key
