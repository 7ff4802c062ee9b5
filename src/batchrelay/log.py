"""Configure structlog once: JSON lines unless stdout is a terminal (then ``console.py``).

Every module gets its logger with ``structlog.get_logger(__name__)`` and logs stable
snake_case event names (``input.committed``) with details as key/value pairs. Secrets are
never passed to a logger; payloads are logged by id and size, never whole.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
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


_CHOSEN: dict[str, Any] = {"fmt": "auto", "stream": "stdout"}  # for set_level


def configure(
    level: str = "info", fmt: LogFormat = "auto", stream: Literal["stdout", "stderr"] = "stdout"
) -> bool:
    """Set up structlog for the process. Safe to call again (tests, reload). Returns
    whether the output is for a person (the console format).

    The daemon logs to stdout; one-shot commands log to stderr, keeping stdout for output.
    What libraries log through the standard library (aiohttp, asyncio, asyncpg, the MNS
    SDK) goes through structlog's formatter to the same stream, as the same lines, at the
    same level.
    """
    _CHOSEN.update(fmt=fmt, stream=stream)
    out = _Current(stream)
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    stamp = (structlog.processors.TimeStamper(fmt="%H:%M:%S", utc=False) if use_console
             else structlog.processors.TimeStamper(fmt="iso", utc=True))  # fmt: skip
    render: structlog.typing.Processor = (
        console.ConsoleRenderer(colors=out.isatty()) if use_console
        else structlog.processors.JSONRenderer(serializer=json_line)
    )  # fmt: skip
    quiet = [console.quiet_per_input(level)] if use_console else []
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    *quiet, stamp, structlog.processors.format_exc_info, render],
        wrapper_class=structlog.make_filtering_bound_logger(_number(level)),
        logger_factory=structlog.WriteLoggerFactory(file=out),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )  # fmt: skip
    handler = StdlibBridge(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[library_fields, structlog.processors.add_log_level, stamp],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, render],
    ))  # fmt: skip
    root = logging.getLogger()  # others' handlers (a test's capture) stay
    root.handlers = [h for h in root.handlers if not isinstance(h, StdlibBridge)]
    root.addHandler(handler)
    root.setLevel(_number(level))
    logging.captureWarnings(True)  # warnings.warn, as a py.warnings line
    return use_console


def set_level(level: str) -> None:
    """One level for every logger from now on, the output format unchanged (a reload)."""
    configure(level, _CHOSEN["fmt"], _CHOSEN["stream"])


def _number(level: str) -> int:
    return logging.getLevelNamesMapping()[level.upper()]


class StdlibBridge(logging.StreamHandler):  # type: ignore[type-arg]
    """The root logger's handler: standard-library records, formatted by structlog."""

    def __init__(self, out: _Current) -> None:
        super().__init__(out)

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # a closed stream at exit is no reason to print a traceback


def library_fields(
    _: Any, __: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A library's record as one ``library.log`` line: never a traceback, only the
    exception's type, and for aiohttp never the message either, which may quote a request
    line or a header (a token)."""
    record: logging.LogRecord = event_dict["_record"]
    message = event_dict.pop("event")
    exc_info = event_dict.pop("exc_info", None)
    event_dict.pop("stack_info", None)
    event_dict["event"], event_dict["logger"] = "library.log", record.name
    if isinstance(exc_info, tuple) and exc_info[1] is not None:
        event_dict["error"] = type(exc_info[1]).__name__
    if not record.name.startswith("aiohttp"):
        event_dict["detail"] = str(message)[:300]
    return event_dict


def capture_process_errors() -> None:
    """Errors Python would print as tracebacks on stderr (a thread's uncaught exception,
    an exception no one could raise) become log lines like every other (the daemon)."""
    errors = logging.getLogger("batchrelay.process")

    def thread_died(args: threading.ExceptHookArgs) -> None:
        thread = args.thread.name if args.thread is not None else "?"
        errors.error("thread %s ended by an uncaught exception", thread,
                     exc_info=args.exc_value)  # fmt: skip

    def unraisable(args: Any) -> None:
        errors.error("unraisable exception in %s", type(args.object).__name__,
                     exc_info=args.exc_value)  # fmt: skip

    threading.excepthook = thread_died
    sys.unraisablehook = unraisable


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
