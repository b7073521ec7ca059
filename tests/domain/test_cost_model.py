"""``CostModel.list_reads``: the requests one page costs, from the numbers an adapter states."""

from __future__ import annotations

import pytest

from execgate.domain.models import CostModel

TEAM_LIKE = CostModel(
    page_size=100, list_slack=1, local_filter_factor=4, undated_reads=1, undated_on_resume=True
)
N8N_LIKE = CostModel(page_size=250, streams=2, stream_per_status=True, undated_reads=25)


@pytest.mark.parametrize(
    ("first", "statuses", "expected"),
    [
        (1, (), 1),  # first + 1 + slack = 3 executions: one page
        (98, (), 1),
        (99, (), 2),  # 101 executions: two pages of 100
        (100, ("FAILED",), 2),
        (100, ("FAILED", "CRASHED"), 8),  # filtered here: the allowance for reading on
    ],
)
def test_pages_of_one_stream(first: int, statuses: tuple[str, ...], expected: int) -> None:
    assert TEAM_LIKE.list_reads(first, statuses, dated=True, resuming=False) == expected


@pytest.mark.parametrize(
    ("first", "statuses", "expected"),
    [
        (10, (), 2 + 11),  # two streams, and at most one read per execution not started
        (100, (), 2 + 25),  # ... up to the adapter's allowance
        (249, (), 2 + 25),
        (250, (), 2 * 2 + 25),  # 251 executions: two pages per stream
        (100, ("FAILED", "SUCCESS"), 2),  # one stream per status, nothing queued can match
        (100, ("PENDING",), 1 + 25),
    ],
)
def test_streams_and_executions_not_started(
    first: int, statuses: tuple[str, ...], expected: int
) -> None:
    assert N8N_LIKE.list_reads(first, statuses, dated=False, resuming=False) == expected


def test_a_date_filter_excludes_executions_not_started() -> None:
    assert N8N_LIKE.list_reads(100, (), dated=True, resuming=False) == 2


def test_reads_made_only_when_resuming() -> None:
    assert TEAM_LIKE.list_reads(20, (), dated=False, resuming=False) == 1
    assert TEAM_LIKE.list_reads(20, (), dated=False, resuming=True) == 2
    assert TEAM_LIKE.list_reads(20, ("PENDING",), dated=False, resuming=True) == 2
    assert TEAM_LIKE.list_reads(20, ("FAILED",), dated=False, resuming=True) == 1
