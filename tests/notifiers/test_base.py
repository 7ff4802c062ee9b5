"""The shared contract: the error classes, HTTP status reading, Retry-After, transport
exception mapping, secret scrubbing and text fitting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from batchrelay.errors import DeliveryError, PermanentError, RetryableError
from batchrelay.notifiers import (
    FailureReason,
    PermanentSendError,
    RetryableSendError,
    SendError,
    classify_http,
    retry_after_seconds,
    send_error,
)
from batchrelay.notifiers.http import Redactor, classify_exception
from batchrelay.notifiers.text import fit_bytes, fit_chars, split_chars


def test_failure_reasons_are_closed() -> None:
    assert [r.value for r in FailureReason] == [
        "auth_error",
        "rate_limited",
        "client_error",
        "server_error",
        "timeout",
        "connection",
        "template",
    ]


@pytest.mark.parametrize("reason", list(FailureReason))
def test_send_error_carries_the_retry_decision(reason: FailureReason) -> None:
    error = send_error(reason, "detail", retry_after=3.0)
    retryable = reason in {
        FailureReason.RATE_LIMITED,
        FailureReason.SERVER_ERROR,
        FailureReason.TIMEOUT,
        FailureReason.CONNECTION,
    }
    assert isinstance(error, SendError) and isinstance(error, DeliveryError)
    assert error.retryable is retryable
    assert isinstance(error, RetryableSendError if retryable else PermanentSendError)
    assert isinstance(error, RetryableError if retryable else PermanentError)
    if retryable:
        assert error.retry_after == 3.0 and isinstance(error, RetryableError)
        assert error.delay == 3.0
    assert str(error) == f"{reason.value}: detail"


def test_detail_is_bounded() -> None:
    assert len(send_error(FailureReason.CLIENT_ERROR, "x" * 5000).detail) == 300


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (200, None),
        (202, None),
        (204, None),
        (401, FailureReason.AUTH_ERROR),
        (403, FailureReason.AUTH_ERROR),
        (429, FailureReason.RATE_LIMITED),
        (408, FailureReason.SERVER_ERROR),
        (500, FailureReason.SERVER_ERROR),
        (503, FailureReason.SERVER_ERROR),
        (400, FailureReason.CLIENT_ERROR),
        (404, FailureReason.CLIENT_ERROR),
        (422, FailureReason.CLIENT_ERROR),
        (301, FailureReason.CLIENT_ERROR),
    ],
)
def test_classify_http(status: int, reason: FailureReason | None) -> None:
    error = classify_http(status, {}, b"  some\n  body ")
    assert (error.reason if error else None) is reason
    if error:
        assert str(error).endswith(f"HTTP {status}: some body")


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds({"Retry-After": "120"}) == 120.0
    assert retry_after_seconds({"retry-after": " 1.5 "}) == 1.5
    assert retry_after_seconds({"Retry-After": later}, now=now) == 90.0
    assert retry_after_seconds({"Retry-After": "Mon, 01 Jan 2001 00:00:00 GMT"}, now=now) == 0.0
    assert retry_after_seconds({"Retry-After": "-5"}) == 0.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
    error = classify_http(503, {"Retry-After": "9"}, b"")
    assert error is not None and error.retry_after == 9.0


def test_transport_exceptions() -> None:
    redact = Redactor.of(["https://hooks.example/T1/B2/abcdef123456"])
    cases = [
        (TimeoutError(), FailureReason.TIMEOUT),
        (aiohttp.ServerTimeoutError("read"), FailureReason.TIMEOUT),
        (aiohttp.ClientConnectionError("reset"), FailureReason.CONNECTION),
        (aiohttp.ClientPayloadError("cut"), FailureReason.CONNECTION),
        (ConnectionResetError(104, "reset"), FailureReason.CONNECTION),
        (
            aiohttp.InvalidURL("https://hooks.example/T1/B2/abcdef123456"),
            FailureReason.CLIENT_ERROR,
        ),
    ]
    for exc, reason in cases:
        error = classify_exception(exc, redact)
        assert error.reason is reason
        assert "abcdef123456" not in str(error)
    with pytest.raises(ZeroDivisionError):
        classify_exception(ZeroDivisionError(), redact)


def test_redactor_covers_url_parts() -> None:
    redact = Redactor.of(
        ["https://user:pa55word@hooks.example/services/T0/B0/XyZ123abc?key=0f9e8d7c&v=1", None, ""]
    )
    text = "to /services/T0/B0/XyZ123abc?key=0f9e8d7c with XyZ123abc and 0f9e8d7c and pa55word"
    cleaned = redact(text)
    for secret in ("XyZ123abc", "0f9e8d7c", "pa55word"):
        assert secret not in cleaned
    assert "services" in redact("services alerts v=1")  # words are not secrets


def test_fit_and_split() -> None:
    lines = "\n".join(f"- line {i:03d} " + "x" * 40 for i in range(100))
    assert fit_chars("short", 10) == "short"
    fitted = fit_chars(lines, 1000)
    assert len(fitted) <= 1000 and fitted.endswith("more characters not shown")
    assert fitted.splitlines()[-2].startswith("- line")  # cut at a line boundary
    wide = "源" * 3000
    assert len(fit_bytes(wide, 4096).encode()) <= 4096
    parts = split_chars(lines, 1500, max_parts=3)
    assert len(parts) == 3 and all(len(p) <= 1500 for p in parts)
    assert parts[1].startswith("- line") and "truncated" in parts[2]
    assert split_chars("tiny", 100, 3) == ["tiny"]
    whole = split_chars(lines, 10_000, 3)
    assert whole == [lines]
