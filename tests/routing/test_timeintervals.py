from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from batchrelay.routing import TimeInterval, TimeIntervalConfig

from .conftest import utc


def interval(**fields: Any) -> TimeInterval:
    return TimeInterval.model_validate(fields)


NIGHT_SHANGHAI = interval(
    times=[
        {"start_time": "22:00", "end_time": "24:00"},
        {"start_time": "00:00", "end_time": "08:00"},
    ],
    location="Asia/Shanghai",
)


@pytest.mark.parametrize(
    ("moment", "active"),
    [
        (utc(2026, 1, 5, 13, 59), False),  # 21:59 Shanghai
        (utc(2026, 1, 5, 14, 0), True),  # 22:00, start inclusive
        (utc(2026, 1, 5, 15, 59, 59), True),  # 23:59:59
        (utc(2026, 1, 5, 16, 0), True),  # 00:00 next day: the second range
        (utc(2026, 1, 5, 23, 59), True),  # 07:59
        (utc(2026, 1, 6, 0, 0), False),  # 08:00, end exclusive
        (utc(2026, 1, 6, 4, 0), False),  # noon
    ],
    ids=["before", "start", "last-second", "midnight", "early", "end-exclusive", "noon"],
)
def test_night_across_midnight_in_shanghai(moment: datetime, active: bool) -> None:
    assert NIGHT_SHANGHAI.contains(moment) is active


def test_the_instant_is_read_in_the_location_whatever_zone_it_comes_in() -> None:
    utc_moment = utc(2026, 1, 5, 14, 30)
    tokyo = utc_moment.astimezone(timezone(timedelta(hours=9)))
    assert NIGHT_SHANGHAI.contains(utc_moment) and NIGHT_SHANGHAI.contains(tokyo)
    assert NIGHT_SHANGHAI.contains(utc_moment.replace(tzinfo=None))  # naive means UTC


WORKDAYS_SHANGHAI = interval(weekdays=["monday:friday"], location="Asia/Shanghai")


@pytest.mark.parametrize(
    ("moment", "active"),
    [
        (utc(2026, 1, 9, 15, 59), True),  # Friday 23:59 in Shanghai
        (utc(2026, 1, 9, 16, 0), False),  # still Friday in UTC, Saturday in Shanghai
        (utc(2026, 1, 11, 15, 59), False),  # Sunday 23:59
        (utc(2026, 1, 11, 16, 0), True),  # Sunday in UTC, Monday in Shanghai
    ],
    ids=["friday-late", "saturday-in-shanghai", "sunday-late", "monday-in-shanghai"],
)
def test_weekdays_follow_the_location(moment: datetime, active: bool) -> None:
    assert WORKDAYS_SHANGHAI.contains(moment) is active


# 2026-01-05 is a Monday.
@pytest.mark.parametrize(
    ("weekdays", "active_days"),
    [
        (["monday:friday"], "MTWTF.."),
        (["saturday", "sunday"], ".....SS"),
        (["saturday:sunday"], ".....SS"),
        (["friday:monday"], "M...FSS"),  # wraps around the week's end
        (["sunday:saturday"], "MTWTFSS"),  # Alertmanager's whole week
        (["Wednesday"], "..W...."),
        (["tuesday", "thursday:friday"], ".T.TF.."),
    ],
)
def test_weekday_ranges(weekdays: list[str], active_days: str) -> None:
    spec = interval(weekdays=weekdays)
    days = "".join(
        "MTWTFSS"[day] if spec.contains(utc(2026, 1, 5 + day, 12)) else "." for day in range(7)
    )
    assert days == active_days


@pytest.mark.parametrize(
    ("days_of_month", "moment", "active"),
    [
        (["1:5"], utc(2026, 3, 5), True),
        (["1:5"], utc(2026, 3, 6), False),
        (["-1"], utc(2026, 2, 28), True),  # last day, common year
        (["-1"], utc(2028, 2, 28), False),
        (["-1"], utc(2028, 2, 29), True),  # last day, leap year
        (["-3:-1"], utc(2026, 4, 28), True),
        (["-3:-1"], utc(2026, 4, 27), False),
        (["28:31"], utc(2026, 2, 28), True),  # clamped to the month
        (["30:31"], utc(2026, 2, 28), False),  # starts past the end of February
        (["1:-1"], utc(2026, 7, 31), True),
        ([15], utc(2026, 7, 15), True),
    ],
)
def test_days_of_month(days_of_month: list[Any], moment: datetime, active: bool) -> None:
    assert interval(days_of_month=days_of_month).contains(moment) is active


@pytest.mark.parametrize(
    ("months", "moment", "active"),
    [
        (["may:august"], utc(2026, 8, 31), True),
        (["may:august"], utc(2026, 9, 1), False),
        (["november:february"], utc(2026, 1, 10), True),  # wraps around the new year
        (["november:february"], utc(2026, 3, 1), False),
        (["12"], utc(2026, 12, 1), True),
        ([3], utc(2026, 3, 1), True),
        (["1:3"], utc(2026, 4, 1), False),
    ],
)
def test_months(months: list[Any], moment: datetime, active: bool) -> None:
    assert interval(months=months).contains(moment) is active


def test_years_and_all_fields_together() -> None:
    spec = interval(
        years=["2026:2027"],
        months=["december"],
        days_of_month=["24:26"],
        weekdays=["friday"],
        times=[{"start_time": "18:00", "end_time": "24:00"}],
        location="Europe/Berlin",
    )
    assert spec.contains(utc(2026, 12, 25, 17, 0))  # Friday 18:00 in Berlin (UTC+1)
    assert not spec.contains(utc(2026, 12, 25, 16, 59))
    assert not spec.contains(utc(2028, 12, 25, 17, 0))  # a Monday, and out of the years


def test_daylight_saving_time_keeps_local_hours() -> None:
    office = interval(
        times=[{"start_time": "09:00", "end_time": "17:00"}], location="Europe/Berlin"
    )
    assert office.contains(utc(2026, 1, 15, 8, 0))  # 09:00 CET
    assert not office.contains(utc(2026, 7, 15, 15, 0))  # 17:00 CEST
    assert office.contains(utc(2026, 7, 15, 7, 0))  # 09:00 CEST


def test_an_empty_interval_is_always_active() -> None:
    assert interval().contains(utc(2026, 5, 1, 3, 4))


def test_a_named_set_is_active_when_any_interval_is() -> None:
    named = TimeIntervalConfig.model_validate(
        {"name": "quiet", "time_intervals": [{"weekdays": ["sunday"]}, {"months": ["august"]}]}
    )
    assert named.active(utc(2026, 1, 11, 12))  # a Sunday
    assert named.active(utc(2026, 8, 12, 12))  # a Wednesday in August
    assert not named.active(utc(2026, 1, 12, 12))


def test_unquoted_yaml_times_work() -> None:
    # PyYAML reads 17:00 as the base-60 number 1020 and 08:00 as the string "08:00".
    loaded = yaml.safe_load(
        "times: [{start_time: 9:30, end_time: 17:00}, {start_time: 08:00, end_time: 24:00}]"
    )
    spec = TimeInterval.model_validate(loaded)
    assert [(r.start_time, r.end_time) for r in spec.times] == [(570, 1020), (480, 1440)]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"times": [{"start_time": "22:00", "end_time": "06:00"}]},
            "a range cannot cross midnight",
        ),
        (
            {"times": [{"start_time": "24:00", "end_time": "24:00"}]},
            "start_time must be before end_time",
        ),
        ({"times": [{"start_time": "09:00", "end_time": "25:00"}]}, "expected a time of day HH:MM"),
        ({"times": [{"start_time": "9am", "end_time": "17:00"}]}, "expected a time of day HH:MM"),
        ({"times": [{"start_time": "09:00"}]}, "Field required"),
        ({"times": [{"start_time": 1441, "end_time": 1442}]}, "expected a time of day"),
        ({"weekdays": ["mon"]}, "'mon' is not a weekday (monday to sunday)"),
        ({"weekdays": ["monday:fri"]}, "'fri' is not a weekday"),
        ({"weekdays": [1]}, "expected a weekday name or range"),
        ({"months": ["13"]}, "'13' is not a month"),
        ({"months": [63]}, "quote ranges in YAML"),
        ({"days_of_month": [0]}, "'0' is not a day of the month"),
        ({"days_of_month": ["32"]}, "'32' is not a day of the month"),
        ({"days_of_month": [65]}, "quote ranges in YAML"),
        ({"days_of_month": ["-1:5"]}, "the end day must be negative when the start day is"),
        ({"days_of_month": ["10:5"]}, "the end day is before the start day"),
        ({"days_of_month": ["-1:-3"]}, "the end day is before the start day"),
        ({"years": ["2027:2026"]}, "the end year is before the start year"),
        ({"years": ["soon"]}, "expected a year or a range"),
        ({"location": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"location": "../etc/passwd"}, "unknown time zone"),
        ({"time_zone": "UTC"}, "Extra inputs are not permitted"),
    ],
)
def test_interval_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        TimeInterval.model_validate(fields)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("named", "message"),
    [
        ({"name": "", "time_intervals": [{}]}, "at least 1 character"),
        ({"name": "n", "time_intervals": []}, "at least 1 item"),
        ({"name": "n"}, "Field required"),
    ],
)
def test_named_set_validation(named: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TimeIntervalConfig.model_validate(named)


def test_intervals_dump_to_their_yaml_spelling() -> None:
    named = TimeIntervalConfig.model_validate(
        {
            "name": "x",
            "time_intervals": [
                {
                    "times": [{"start_time": "9:05", "end_time": "24:00"}],
                    "weekdays": ["Friday:monday", "sunday"],
                    "days_of_month": ["-3:-1", 1],
                    "months": ["november:february", "5"],
                    "years": ["2026"],
                    "location": "Asia/Shanghai",
                }
            ],
        }
    )
    [dumped] = named.model_dump()["time_intervals"]
    assert dumped == {
        "times": [{"start_time": "09:05", "end_time": "24:00"}],
        "weekdays": ["friday:monday", "sunday"],
        "days_of_month": ["-3:-1", "1"],
        "months": ["november:february", "may"],
        "years": ["2026"],
        "location": "Asia/Shanghai",
    }
    assert TimeIntervalConfig.model_validate(named.model_dump()) == named
