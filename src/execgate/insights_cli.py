"""``execgate export`` and ``execgate stats``: the export and the statistics from a shell.

Both open the gateway over the instances of a config file (or the embedded demo) as the
operator's own client ``cli`` with full access, read through the same service as ``/export``
and ``executionStats``, and write the audit trail the config names. ``export`` writes the file
with the same writers as ``/export`` and shows a progress bar on stderr (rows, executions per
instance, rate); ``stats`` prints a table.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from execgate.app import settings_redactor
from execgate.backends.transport import Transport
from execgate.config import Settings
from execgate.domain.access import Scope
from execgate.domain.errors import ExecgateError
from execgate.domain.stats import StatsAnswer, StatsDimension
from execgate.export.formats import Writer
from execgate.export.params import parse
from execgate.runtime import open_gateway
from execgate.security.audit import AuditLog
from execgate.service.export import ExportFailed
from execgate.service.gateway import FeedFilter, Gateway
from execgate.service.masking import Masker

CLIENT = "cli"


def _say(message: str) -> None:
    print(f"execgate: {message}", file=sys.stderr, flush=True)


async def run_export(
    settings: Settings,
    transports: dict[str, Transport] | None,
    *,
    query: dict[str, list[str]],
    output: str,
    progress: bool = True,
) -> int:
    """Exit status: 0 complete, 1 broken off by an instance (the marker ends the file), 2 for
    bad arguments."""
    audit = AuditLog(settings.audit.path)
    redactor = settings_redactor(settings)
    try:
        async with open_gateway(settings, transports, audit=audit, redact=redactor.clean) as opened:
            gateway = opened.gateway.scoped(Scope.full(CLIENT))
            started = time.perf_counter()
            try:
                params = parse(query, now=gateway.now(), default_days=settings.export.default_days)
                stream = gateway.export(params.filter)
            except ExecgateError as exc:
                _say(f"{exc.code}: {exc.message}")
                return 2
            writer = Writer(
                params.format, gateway.masker or Masker((), ()), include_data=params.include_data
            )
            with _open(output) as out:
                status, size = await _write(gateway, stream, writer, out, progress)
            gateway.record_export(
                params.described(),
                rows=writer.rows,
                size=size,
                outcome="OK" if status == 0 else "INCOMPLETE",
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            elapsed = time.perf_counter() - started
            rate = writer.rows / elapsed if elapsed > 0 else 0.0
            _say(
                f"{writer.rows} rows, {writer.executions} executions, {size} bytes in "
                f"{elapsed:.1f}s ({rate:,.0f} rows/s) to {output}"
            )
            return status
    finally:
        audit.close()


@contextlib.contextmanager
def _open(output: str) -> Iterator[IO[str]]:
    if output == "-":
        yield sys.stdout
        return
    with Path(output).open("w", encoding="utf-8", newline="") as handle:
        yield handle


async def _write(
    gateway: Gateway, stream: object, writer: Writer, out: IO[str], show: bool
) -> tuple[int, int]:
    size = 0
    per_instance: Counter[str] = Counter()
    console = Console(file=sys.stderr)
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.fields[rows]:>9,} rows"),
        TextColumn("{task.fields[rate]:>8,.0f} rows/s"),
        TextColumn("{task.fields[instances]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
        transient=False,
    )
    started = time.perf_counter()
    with bar:
        task = bar.add_task("export", total=None, rows=0, rate=0.0, instances="")
        text = writer.header()
        out.write(text)
        size += len(text.encode())
        try:
            async for execution in stream:  # type: ignore[attr-defined]
                text = writer.execution(execution)
                out.write(text)
                size += len(text.encode())
                per_instance[execution.instance] += 1
                if writer.executions % 50 == 0:
                    elapsed = max(time.perf_counter() - started, 1e-6)
                    bar.update(
                        task,
                        rows=writer.rows,
                        rate=writer.rows / elapsed,
                        instances=" ".join(f"{n}:{c}" for n, c in sorted(per_instance.items())),
                    )
        except ExportFailed as failed:
            message = gateway.redact(failed.error.message) if gateway.redact else failed.code
            text = writer.failure(failed.instance, failed.code, message)
            out.write(text)
            size += len(text.encode())
            _say(f"the export is incomplete: instance {failed.instance!r} failed ({failed.code})")
            return 1, size
        text = writer.footer()
        out.write(text)
        size += len(text.encode())
        elapsed = max(time.perf_counter() - started, 1e-6)
        bar.update(
            task,
            rows=writer.rows,
            rate=writer.rows / elapsed,
            instances=" ".join(f"{n}:{c}" for n, c in sorted(per_instance.items())),
        )
    return 0, size


async def run_stats(
    settings: Settings,
    transports: dict[str, Transport] | None,
    *,
    feed_filter: FeedFilter,
    group_by: Sequence[StatsDimension],
    out: IO[str] | None = None,
) -> int:
    audit = AuditLog(settings.audit.path)
    redactor = settings_redactor(settings)
    try:
        async with open_gateway(settings, transports, audit=audit, redact=redactor.clean) as opened:
            gateway = opened.gateway.scoped(Scope.full(CLIENT))
            try:
                answer = await gateway.stats(feed_filter, group_by, max_buckets=1000)
            except ExecgateError as exc:
                _say(f"{exc.code}: {exc.message}")
                return 2
            answer = await _with_names(gateway, answer)
        Console(file=out or sys.stdout, width=200).print(table(answer))
        for instance, code, message in answer.skipped:
            _say(f"instance {instance!r} left out ({code}): {message}")
        return 0 if answer.complete else 1
    finally:
        audit.close()


async def _with_names(gateway: Gateway, answer: StatsAnswer) -> StatsAnswer:
    """Workflow names the lists did not carry (n8n), one read per workflow."""
    from dataclasses import replace

    wanted: dict[str, set[str]] = {}
    for bucket in answer.buckets:
        key = bucket.key.workflow
        if key is not None and bucket.key.workflow_name is None:
            wanted.setdefault(key.instance, set()).add(key.native_id)
    names: dict[tuple[str, str], str | None] = {}
    for instance, native_ids in wanted.items():
        with contextlib.suppress(ExecgateError):
            found = await gateway.get_workflows(instance, sorted(native_ids))
            names.update({(instance, i): w.name for i, w in found.items()})
    buckets = tuple(
        replace(
            b, key=replace(b.key, workflow_name=names.get((b.key.workflow[0], b.key.workflow[1])))
        )
        if b.key.workflow is not None and b.key.workflow_name is None
        else b
        for b in answer.buckets
    )
    return replace(answer, buckets=buckets)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _ms(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def table(answer: StatsAnswer) -> Table:
    """The statistics as a table: one row per bucket, then the total."""
    window = answer.window
    until = window.before.isoformat() if window.before else "now"
    shown = Table(
        title=f"executions from {window.after.isoformat()} to {until}"
        + ("" if answer.complete else " (incomplete)"),
        caption=f"{answer.bucket_count} group(s); {answer.scanned} execution(s) read",
    )
    dimensions = list(answer.group_by)
    for dimension in dimensions:
        shown.add_column(dimension.value.lower())
    for name in ("count", "success", "failed", "running", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        shown.add_column(name, justify="right")

    def figures_row(f: object) -> list[str]:
        from execgate.domain.models import ExecutionStatus
        from execgate.domain.stats import Figures

        assert isinstance(f, Figures)
        failed = f.by_status[ExecutionStatus.FAILED] + f.by_status[ExecutionStatus.CRASHED]
        d = f.durations
        return [
            f"{f.count:,}",
            _percent(f.success_rate),
            f"{failed:,}",
            f"{f.running:,}",
            _ms(d.p50),
            _ms(d.p95),
            _ms(d.p99),
            _ms(d.max),
        ]

    for bucket in answer.buckets:
        key = bucket.key
        cells = []
        for dimension in dimensions:
            value = {
                StatsDimension.INSTANCE: key.instance,
                StatsDimension.WORKFLOW: (
                    f"{key.workflow_name or key.workflow.native_id} ({key.workflow.instance})"
                    if key.workflow
                    else None
                ),
                StatsDimension.STATUS: key.status.value if key.status else None,
                StatsDimension.MODE: key.mode.value if key.mode else None,
                StatsDimension.DAY: key.day.date().isoformat() if key.day else None,
                StatsDimension.HOUR: key.hour.strftime("%Y-%m-%d %H:00") if key.hour else None,
                StatsDimension.ERROR: key.error,
            }[dimension]
            cells.append("-" if value is None else str(value))
        shown.add_row(*cells, *figures_row(bucket.figures))
    if dimensions:
        shown.add_section()
    shown.add_row(
        *(["all"] + [""] * (len(dimensions) - 1) if dimensions else []),
        *figures_row(answer.overall),
    )
    return shown
