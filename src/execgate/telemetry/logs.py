"""Log lines a platform can ingest: ``[server] log_format = "json"``.

One JSON object per line (python-json-logger's ``JsonFormatter``): ``time`` (ISO 8601, UTC),
``level``, ``logger``, ``message``, and — where they are known — the ``request_id``, ``client``
and ``operation`` of the request being served (``telemetry.context``) and what the line's
writer added (``instance``, ``status``, ``duration_ms``…). ``configure`` sets it up for
execgate's loggers and uvicorn's alike; ``uvicorn_config`` is the same for uvicorn's own
start-up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from execgate.telemetry import context


class RequestFields(logging.Filter):
    """Adds the request's ID, client and operation to each record (``None`` outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.request_id.get()
        record.client = context.client_name.get()
        record.operation = context.operation_name.get()
        return True


class LineFormatter(JsonFormatter):
    """One JSON object per record, with the fields of the module's docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = (
            datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        super().add_fields(log_data, record, message_dict)
        for key in ("request_id", "client", "operation"):
            if log_data.get(key) is None:
                log_data.pop(key, None)
        # uvicorn's own fields, which repeat the message
        log_data.pop("color_message", None)


def logging_config(log_format: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for execgate's and uvicorn's loggers."""
    formatter: dict[str, Any] = (
        {"()": LineFormatter}
        if log_format == "json"
        else {"format": "%(levelname)s:%(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestFields}},
        "formatters": {"line": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["request"],
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }
