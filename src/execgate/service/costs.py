"""How many backend requests a read costs, per instance kind (for the query cost estimate).

The numbers follow what the gateway and the adapters do. A page of ``first`` reads ``first + 1``
executions from every selected instance.

- team-style: list pages of at most ``TEAM_PAGE_SIZE``; with several statuses the filtering is
  done here and the adapter reads on (counted as ``TEAM_LOCAL_FILTER_FACTOR`` times the pages);
  node data takes one detail request per execution; a total (``totalCount``) takes one request.
- n8n: list pages of at most ``N8N_PAGE_SIZE``, one stream per status (two streams, plain and
  running, without a status filter); lists carry node data themselves; executions that have
  not started are read once each for their creation time (counted as
  ``N8N_UNDATED_ALLOWANCE`` when such executions can match); workflow names take one request
  per workflow; no totals.

These are estimates for a safety limit, not promises: the execution cache answers some reads
without a request, and unusual data (many queued executions) can cost more.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from execgate.domain.models import BackendKind

TEAM_PAGE_SIZE = 100
TEAM_LOCAL_FILTER_FACTOR = 4
N8N_PAGE_SIZE = 250
N8N_UNDATED_ALLOWANCE = 2


def list_calls(kind: BackendKind, first: int, statuses: Collection[str]) -> int:
    """Requests to read one page of ``first`` from one instance; ``statuses``: filter names."""
    wanted = first + 1
    if kind is BackendKind.TEAM:
        pages = math.ceil((wanted + 1) / TEAM_PAGE_SIZE)
        return pages * (TEAM_LOCAL_FILTER_FACTOR if len(statuses) > 1 else 1)
    streams = len(statuses) if statuses else 2
    undated = N8N_UNDATED_ALLOWANCE if not statuses or "PENDING" in statuses else 0
    return streams * math.ceil(wanted / N8N_PAGE_SIZE) + undated


def detail_calls(kind: BackendKind) -> int:
    """Requests per listed execution when its node data is asked for."""
    return 1 if kind is BackendKind.TEAM else 0


def count_calls(kind: BackendKind) -> int:
    """Requests for an exact total (``totalCount``) from one instance."""
    return 1 if kind is BackendKind.TEAM else 0


def workflow_name_calls(kind: BackendKind) -> int:
    """Requests for the name of a listed execution's workflow (team lists carry names)."""
    return 0 if kind is BackendKind.TEAM else 1
