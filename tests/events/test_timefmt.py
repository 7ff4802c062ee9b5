from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchrelay.events.timefmt import parse_time

from .conftest import PROPERTY


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # epoch milliseconds (IMM envelope ``time``), as a string and as a number
        ("1724133063161", utc(2024, 8, 20, 5, 51, 3, 161000)),
        (1724133063161, utc(2024, 8, 20, 5, 51, 3, 161000)),
        # epoch seconds: 11 digits or fewer
        ("1724133063", utc(2024, 8, 20, 5, 51, 3)),
        (1724133063, utc(2024, 8, 20, 5, 51, 3)),
        (1724133063.5, utc(2024, 8, 20, 5, 51, 3, 500000)),
        (1724133063161.0, utc(2024, 8, 20, 5, 51, 3, 161000)),
        (0, utc(1970, 1, 1)),
        # RFC 3339 with 0-9 fractional digits
        ("2020-11-10T03:50:28Z", utc(2020, 11, 10, 3, 50, 28)),
        ("2024-08-20T07:03:07.3Z", utc(2024, 8, 20, 7, 3, 7, 300000)),
        ("2024-08-20T07:03:07.36Z", utc(2024, 8, 20, 7, 3, 7, 360000)),
        ("2023-01-04T05:08:28.582Z", utc(2023, 1, 4, 5, 8, 28, 582000)),
        ("2023-01-04T05:08:28.582123Z", utc(2023, 1, 4, 5, 8, 28, 582123)),
        ("2023-01-04T05:08:28.5821234Z", utc(2023, 1, 4, 5, 8, 28, 582123)),
        # nanoseconds and an offset: truncated, converted to UTC
        ("2023-01-04T13:17:00.270148129+08:00", utc(2023, 1, 4, 5, 17, 0, 270148)),
        ("2020-11-19T21:04:41+08:00", utc(2020, 11, 19, 13, 4, 41)),
        ("2020-11-19T21:04:41+0800", utc(2020, 11, 19, 13, 4, 41)),
        ("2020-11-19T08:04:41-05:30", utc(2020, 11, 19, 13, 34, 41)),
        ("2020-11-19 21:04:41+08:00", utc(2020, 11, 19, 13, 4, 41)),
        ("2020-11-19t13:04:41z", utc(2020, 11, 19, 13, 4, 41)),
        # Aliyun's named zones
        ("2020-11-19T21:04:42.179PRC", utc(2020, 11, 19, 13, 4, 42, 179000)),
        ("2020-08-17T16:04:46.149Asia/Shanghai", utc(2020, 8, 17, 8, 4, 46, 149000)),
        ("2020-08-17T16:04:46UTC", utc(2020, 8, 17, 16, 4, 46)),
        ("2020-08-17T16:04:46 GMT", utc(2020, 8, 17, 16, 4, 46)),
        # naive: taken as UTC
        ("2020-11-10T03:50:28", utc(2020, 11, 10, 3, 50, 28)),
        ("2020-11-10 03:50:28.5", utc(2020, 11, 10, 3, 50, 28, 500000)),
        ("  2020-11-10T03:50:28Z\n", utc(2020, 11, 10, 3, 50, 28)),
    ],
)
def test_accepted_formats(value: str | int | float, expected: datetime) -> None:
    parsed = parse_time(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024-08-20T25:00:00Z",
        "2024-08-20T07:03:07+08:00PRC",  # two zones
        "2024-08-20T07:03:07Europe/Paris",  # only the zones Aliyun is known to send
        "1724133063161ms",
        "-1724133063",
        "9" * 50,
        "0001-01-01T00:00:00+08:00",  # before year 1 once in UTC
        10**30,
        -(10**30),
        float("nan"),
        float("inf"),
        1e300,
        True,
    ],
)
def test_rejected_values(value: str | int | float) -> None:
    with pytest.raises(ValueError, match=r"time|epoch|boolean"):
        parse_time(value)


def test_error_message_is_short() -> None:
    with pytest.raises(ValueError) as caught:
        parse_time("not a time " * 1000)
    assert len(str(caught.value)) < 100


def test_non_string_non_number_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="dict"):
        parse_time({"time": 1})  # type: ignore[arg-type]


@PROPERTY
@given(st.text(max_size=60))
def test_any_text_gives_utc_or_value_error(text: str) -> None:
    try:
        parsed = parse_time(text)
    except ValueError:
        return
    assert parsed.utcoffset() == timedelta(0)


@PROPERTY
@given(st.datetimes(timezones=st.just(UTC)))
def test_isoformat_round_trips(moment: datetime) -> None:
    assert parse_time(moment.isoformat()) == moment
