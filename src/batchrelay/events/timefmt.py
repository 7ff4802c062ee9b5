"""The lenient time parser: every time format Alibaba Cloud notifications are known to use.

Accepted, always returned as an aware ``datetime`` in UTC:

- epoch milliseconds as a digit string or an int (``"1724133063161"``, IMM envelopes);
  a number of 11 digits or fewer is taken as epoch *seconds*;
- RFC 3339 / ISO 8601 with 0-9 fractional digits (nanoseconds are truncated to
  microseconds), ``Z`` or an offset with or without a colon, ``T`` or a space;
- Aliyun's named zones: ``2020-11-19T21:04:42.179PRC`` and
  ``2020-08-17T16:04:46.149Asia/Shanghai`` (both UTC+8), also ``UTC`` and ``GMT``;
- naive times, taken as UTC.

Anything else raises ``ValueError`` with a short message (never the whole input).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

__all__ = ["parse_time"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHINA = timezone(timedelta(hours=8), "CST")
# Named zones seen in EventBridge ``time`` / ``aliyunpublishtime`` values.
_NAMED_ZONES: tuple[tuple[str, timezone], ...] = (
    ("Asia/Shanghai", _CHINA),
    ("PRC", _CHINA),
    ("UTC", UTC),
    ("GMT", UTC),
)
# Epoch seconds stay below 12 digits until the year 5138; milliseconds have 13 today.
_SECONDS_BELOW = 10**11
_MAX_EPOCH_DIGITS = 20  # far past datetime's range; stops int() on absurdly long strings
_MAX_SHOWN = 40  # characters of a bad value echoed in the error message


def parse_time(value: str | int | float) -> datetime:
    """Parse one notification time into an aware UTC ``datetime``; ``ValueError`` if not."""
    # bool is an int subclass; a JSON true is never a time.
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int):
        return _from_epoch_int(value)
    if isinstance(value, float):
        return _from_epoch_float(value)
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__} is not a time")
    return _from_text(value.strip())


def _from_text(text: str) -> datetime:
    if text.isascii() and text.isdigit():
        if len(text) > _MAX_EPOCH_DIGITS:
            raise ValueError(f"epoch time out of range {_shown(text)}")
        return _from_epoch_int(int(text))
    try:
        # Fast path: the C parser takes RFC 3339 with Z, offsets (with or without a colon),
        # a space separator and any number of fractional digits (truncated to 6).
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _from_odd_text(text)
    return _to_utc(parsed, text)


def _from_odd_text(text: str) -> datetime:
    """The slow path: named zones (``…PRC``) and lower-case ``t`` / ``z``."""
    for name, zone in _NAMED_ZONES:
        if text.endswith(name):
            local = _fromisoformat(text[: -len(name)].rstrip(), text)
            if local.tzinfo is not None:
                raise ValueError(f"two time zones in time {_shown(text)}")
            return local.replace(tzinfo=zone)
    return _fromisoformat(text.upper(), text)


def _fromisoformat(text: str, original: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"unrecognised time {_shown(original)}") from None


def _to_utc(parsed: datetime, text: str) -> datetime:
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+08:00 falls before year 1 in UTC
        raise ValueError(f"time out of range {_shown(text)}") from None


def _from_epoch_int(number: int) -> datetime:
    try:
        if abs(number) < _SECONDS_BELOW:
            return _EPOCH + timedelta(seconds=number)
        return _EPOCH + timedelta(milliseconds=number)
    except OverflowError:
        raise ValueError("epoch time out of range") from None


def _from_epoch_float(number: float) -> datetime:
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("epoch time is not a finite number")
    milliseconds = number * 1000 if abs(number) < _SECONDS_BELOW else number
    try:
        return _EPOCH + timedelta(milliseconds=milliseconds)
    except OverflowError:
        raise ValueError("epoch time out of range") from None


def _shown(text: str) -> str:
    """The bad value, quoted and cut short: error details never carry whole payloads."""
    return repr(text[:_MAX_SHOWN] + "…" if len(text) > _MAX_SHOWN else text)
