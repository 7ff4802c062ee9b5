"""The standard library's records and the process's stray errors, as structlog lines."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from batchrelay import log


@pytest.fixture
def hooks() -> Iterator[None]:
    """Put back the process's hooks and logging the test changes."""
    saved = threading.excepthook, sys.unraisablehook, logging.getLogger().level
    try:
        yield
    finally:
        threading.excepthook, sys.unraisablehook = saved[:2]
        logging.getLogger().setLevel(saved[2])


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_library_logs_one_json_line_at_the_one_level(capsys: Any, hooks: None) -> None:
    log.configure("info", "json")
    logging.getLogger("asyncpg.pool").debug("not at info")
    logging.getLogger("asyncpg.pool").info("connection %s lost", "7")
    try:
        raise ConnectionResetError("peer said Authorization: Bearer abc")
    except ConnectionResetError:
        logging.getLogger("aiohttp.server").exception("Error handling request GET /?t=abc")
    [pool, server] = json_lines(capsys.readouterr().out)
    assert (pool["event"], pool["logger"], pool["level"], pool["detail"]) == (
        "library.log", "asyncpg.pool", "info", "connection 7 lost")  # fmt: skip
    assert (server["logger"], server["level"], server["error"]) == (
        "aiohttp.server", "error", "ConnectionResetError")  # fmt: skip
    assert "abc" not in json.dumps(server)  # aiohttp's text may quote a request


def test_a_reload_changes_the_level_of_libraries_too(capsys: Any, hooks: None) -> None:
    log.configure("warning", "json")
    logging.getLogger("asyncio").info("quiet")
    log.set_level("info")
    logging.getLogger("asyncio").info("heard")
    assert [line["detail"] for line in json_lines(capsys.readouterr().out)] == ["heard"]


def test_a_thread_dying_is_a_log_line_not_a_traceback(capsys: Any, hooks: None) -> None:
    log.configure("info", "json")
    log.capture_process_errors()

    def fails() -> None:
        raise RuntimeError("boom")

    thread = threading.Thread(target=fails, name="sdk-7")
    thread.start()
    thread.join()
    captured = capsys.readouterr()
    [line] = json_lines(captured.out)
    assert (line["logger"], line["error"], line["level"]) == (
        "batchrelay.process", "RuntimeError", "error")  # fmt: skip
    assert "sdk-7" in line["detail"]
    assert "Traceback" not in captured.out + captured.err
