"""Each adapter states what its reads cost, from the constants it reads with."""

from __future__ import annotations

from execgate.backends import n8n, team
from execgate.domain.models import CostModel


def test_team_style_costs_follow_its_page_size_and_reads() -> None:
    costs = team.COSTS
    assert isinstance(costs, CostModel)
    assert costs.page_size == team.MAX_PAGE_SIZE
    assert costs.local_filter_factor == team.LOCAL_FILTER_PAGES
    # lists carry names but no node data; a total costs one read
    assert (costs.detail_reads, costs.count_reads, costs.workflow_name_reads) == (1, 1, 0)
    # the sweep of pending executions without a time only follows a resumed stream
    assert costs.undated_on_resume
    assert team.TeamBackend.costs(object.__new__(team.TeamBackend)) is costs  # type: ignore[arg-type]


def test_n8n_costs_follow_its_streams_and_reads_for_queued_executions() -> None:
    costs = n8n.COSTS
    assert costs.page_size == n8n.MAX_PAGE
    assert costs.streams == 2 and costs.stream_per_status
    assert costs.undated_reads == n8n.UNDATED_READS
    # lists carry node data but no workflow names, and n8n reports no totals
    assert (costs.detail_reads, costs.count_reads, costs.workflow_name_reads) == (0, 0, 1)
    assert n8n.N8nBackend.costs(object.__new__(n8n.N8nBackend)) is costs  # type: ignore[arg-type]
