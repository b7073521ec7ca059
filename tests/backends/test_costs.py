"""Each adapter states what its reads cost, from the constants it reads with."""

from __future__ import annotations

from execgate.backends import n8n, team
from execgate.domain.models import CostModel


def test_team_style_costs_follow_its_page_size_and_reads() -> None:
    costs = team.COSTS
    assert isinstance(costs, CostModel)
    assert costs.page_size == team.MAX_PAGE_SIZE
    assert costs.local_filter_factor == team.LOCAL_FILTER_PAGES
    # lists carry names but no node data; a total costs one read, two with a date filter
    assert (costs.detail_reads, costs.count_reads, costs.workflow_name_reads) == (1, 2, 0)
    # executions without a time: a read each (any status: one cancelled before it started has
    # none either), on every page; the first page also lists them where they may hide
    assert costs.undated_reads == team.UNDATED_READS and costs.undated_any_status
    assert not costs.undated_on_resume
    assert costs.undated_lists == 1 + team.TAIL_PAGES
    assert costs.list_slack == 1 + team.UNDATED_ROOM
    assert team.TeamBackend.costs(object.__new__(team.TeamBackend)) is costs  # type: ignore[arg-type]


def test_n8n_costs_follow_its_streams_and_reads_for_queued_executions() -> None:
    costs = n8n.COSTS
    assert costs.page_size == n8n.MAX_PAGE
    assert costs.streams == 2 and costs.stream_per_status
    assert costs.undated_reads == n8n.UNDATED_READS
    # lists carry node data but no workflow names, and n8n reports no totals
    assert (costs.detail_reads, costs.count_reads, costs.workflow_name_reads) == (0, 0, 1)
    assert n8n.N8nBackend.costs(object.__new__(n8n.N8nBackend)) is costs  # type: ignore[arg-type]


def test_reads_for_executions_without_a_time_follow_the_filters() -> None:
    costs = team.COSTS
    first = costs.list_reads(20, [], dated=False, resuming=False)
    resumed = costs.list_reads(20, [], dated=False, resuming=True)
    dated = costs.list_reads(20, [], dated=True, resuming=False)
    cancelled = costs.list_reads(20, ["CANCELLED"], dated=False, resuming=True)
    # one list page; UNDATED_READS reads at most (below the 21 the page reads); the lists that
    # start a stream (which a resumed page does too, for an instance none of whose items the
    # walk has taken yet); none of it under a date filter
    assert team.UNDATED_READS < 21
    assert (first, resumed, dated) == (1 + team.UNDATED_READS + 3, first, 1)
    assert costs.list_reads(1, [], dated=False, resuming=True) == 1 + 2 + 3
    assert cancelled == resumed
    # n8n counts its reads only where a queued execution can match
    assert n8n.COSTS.list_reads(20, ["FAILED"], dated=False, resuming=True) == 1
    assert n8n.COSTS.list_reads(20, ["PENDING"], dated=False, resuming=True) == 1 + 21
