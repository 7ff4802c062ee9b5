"""Configure structlog once: JSON lines unless stdout is a terminal (then ``console.py``).

Every module gets its logger with ``structlog.get_logger(__name__)`` and logs stable
snake_case event names (``input.committed``) with details as key/value pairs. Secrets are
never passed to a logger; payloads are logged by id and size, never whole.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any, Literal, TextIO

import orjson
import structlog

from batchrelay import console

LogFormat = Literal["auto", "json", "console"]


class _Current:
    """Writes to whatever ``sys.stdout`` / ``sys.stderr`` is at the time of writing, so a
    replaced stream (tests capture them) is never written to after it was closed."""

    def __init__(self, name: Literal["stdout", "stderr"]) -> None:
        self.name = name

    def _stream(self) -> TextIO:
        stream: TextIO = getattr(sys, self.name)
        return stream

    def write(self, text: str) -> int:
        return self._stream().write(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return self._stream().isatty()


def configure(
    level: str = "info", fmt: LogFormat = "auto", stream: Literal["stdout", "stderr"] = "stdout"
) -> bool:
    """Set up structlog for the process. Safe to call again (tests, reload). Returns
    whether the output is for a person (the console format).

    The daemon logs to stdout; one-shot commands log to stderr, keeping stdout for output.
    """
    out = _Current(stream)
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
    ]
    if use_console:
        processors += [
            console.quiet_per_input(level),
            structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False),
            structlog.processors.format_exc_info,
            console.ConsoleRenderer(colors=out.isatty()),
        ]
    else:
        processors += [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=json_line),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.WriteLoggerFactory(file=out),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()  # others' handlers (a test's capture) stay
    root.handlers = [h for h in root.handlers if not isinstance(h, StdlibBridge)]
    root.addHandler(StdlibBridge())
    root.setLevel(logging.WARNING)

    return use_console


class StdlibBridge(logging.Handler):
    """What libraries log through the standard library (aiohttp, asyncio, asyncpg), as one
    structlog line each: never a traceback, only the exception's type, and for aiohttp
    never the message either, which may quote a request line or a header (a token)."""

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info and record.exc_info[1] is not None:
            fields["error"] = type(record.exc_info[1]).__name__
        if not record.name.startswith("aiohttp"):
            fields["detail"] = record.getMessage()[:300]
        logger = structlog.get_logger(record.name)
        method = {"DEBUG": logger.debug, "INFO": logger.info, "WARNING": logger.warning}
        method.get(record.levelname, logger.error)("library.log", **fields)


def json_line(event_dict: Any, *, default: Callable[[Any], Any]) -> str:
    """One compact JSON log line, pure ASCII (non-ASCII text is \\u-escaped).

    orjson renders the common line several times faster than the standard library (one
    line is written per input); the standard library takes what orjson refuses (integers
    past 64 bits, keys that are not strings) and lines that need escaping.
    """
    try:
        line = orjson.dumps(event_dict, default=default).decode()
    except orjson.JSONEncodeError:
        line = ""
    if line and line.isascii():
        return line
    return json.dumps(event_dict, default=default, separators=(",", ":"))
