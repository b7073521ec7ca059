"""The simulators' wire helpers answer what the plain standard-library forms answer."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from execgate.simulate.wire import JSONBody, iso_ms, name_uuid, to_utc_ms

MOMENTS = [
    datetime(2026, 11, 24, 9, 5, 7, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 6, 1, 1, 30, 0, 500, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2025, 3, 30, 0, 15, 0, 42000, tzinfo=timezone(timedelta(hours=-7))),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_timestamps_are_utc_to_the_millisecond(moment: datetime) -> None:
    utc = moment.astimezone(UTC)
    cut = utc.replace(microsecond=utc.microsecond // 1000 * 1000)

    assert to_utc_ms(moment) == cut and to_utc_ms(moment).tzinfo is UTC
    assert iso_ms(moment) == utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{cut.microsecond // 1000:03d}Z"


def test_no_moment_is_no_timestamp() -> None:
    assert iso_ms(None) is None


def test_name_uuids_are_uuid5() -> None:
    namespace = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")

    assert name_uuid(namespace, "wf/node") == str(uuid.uuid5(namespace, "wf/node"))
    assert name_uuid(namespace, "wf/other") != name_uuid(namespace, "wf/node")


def test_json_bodies_are_compact_utf8_json() -> None:
    content = {"name": "Zoë ✓", "n": [1, 2.5, None, True], "nested": {"a": "b"}}

    response = JSONBody(content, status_code=201)

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.body == json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
