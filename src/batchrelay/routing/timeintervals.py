"""Named time intervals, as in Alertmanager: when a route is muted, or active.

``routing.time_intervals`` names sets of intervals; routes refer to them by name in
``mute_time_intervals`` and ``active_time_intervals``::

    time_intervals:
      - name: night
        time_intervals:
          - times:
              - {start_time: "00:00", end_time: "08:00"}
              - {start_time: "22:00", end_time: "24:00"}
            location: Asia/Shanghai

A named set is active when any of its intervals contains the moment. An interval contains
it when every field it sets agrees, read in its ``location`` (an IANA zone, default UTC):
``times`` (``HH:MM``, start inclusive, end exclusive, ``24:00`` allowed as an end),
``weekdays`` (``monday``, ``monday:friday``), ``days_of_month`` (``1``, ``1:5``, ``-1`` for
the last day, ``-7:-1``), ``months`` (``may``, ``5``, ``may:august``), ``years``
(``2026:2027``). A time range cannot cross midnight, as in Alertmanager: write 22:00–06:00
as two ranges. Weekday and month ranges may wrap (``friday:monday``, ``november:february``),
which Alertmanager refuses; every range Alertmanager accepts means the same here.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    model_validator,
)

__all__ = ["TimeInterval", "TimeIntervalConfig", "TimeRange"]

WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS: Final = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_CLOCK = re.compile(r"(?:([01]?\d|2[0-3]):([0-5]\d)|(24):(00))")
_YAML_HINT = " (quote ranges in YAML: unquoted 1:5 reads as the base-60 number 65)"


# -- parsing one field ------------------------------------------------------------------


def _clock_minute(value: Any) -> int:
    """``"HH:MM"`` as minutes since midnight, 0–1440."""
    # PyYAML reads an unquoted 17:00 as the base-60 integer 1020, which is exactly the
    # minute of the day; accept it so that unquoted times work.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1440:
        return value
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a time of day HH:MM between 00:00 and 24:00, got {value!r}")
    hours, minutes = (match.group(1), match.group(2)) if match.group(1) else ("24", "00")
    return int(hours) * 60 + int(minutes)


def _split(value: Any) -> tuple[str, str]:
    text = str(value).strip().lower()
    first, colon, last = text.partition(":")
    return first, (last if colon else first)


def _named(text: str, names: tuple[str, ...], what: str, *, numbers: bool) -> int:
    """A name's 1-based position, or a number when ``numbers`` is allowed."""
    if text in names:
        return names.index(text) + 1
    if numbers and re.fullmatch(r"\d+", text) and 1 <= int(text) <= len(names):
        return int(text)
    raise ValueError(f"{text!r} is not a {what} ({names[0]} to {names[-1]})")


def _weekday_range(value: Any) -> tuple[int, int]:
    """``"monday:friday"`` as Python weekday numbers (Monday 0); may wrap around Sunday."""
    if not isinstance(value, str):
        raise ValueError(f"expected a weekday name or range such as monday:friday, got {value!r}")
    first, last = _split(value)
    begin = _named(first, WEEKDAYS, "weekday", numbers=False)
    end = _named(last, WEEKDAYS, "weekday", numbers=False)
    return begin - 1, end - 1


def _month_range(value: Any) -> tuple[int, int]:
    """``"may:august"`` or ``"5:8"`` as month numbers; may wrap around the new year."""
    if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= 12:
        raise ValueError(f"{value} is not a month{_YAML_HINT}")
    first, last = _split(value)
    return (
        _named(first, MONTHS, "month", numbers=True),
        _named(last, MONTHS, "month", numbers=True),
    )


def _day_of_month_range(value: Any) -> tuple[int, int]:
    """``"1:5"``, ``"-3:-1"``: negative days count from the end of the month (-1 is the last)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -31 <= value <= 31:
        raise ValueError(f"{value} is not a day of the month{_YAML_HINT}")
    first, last = _split(value)
    begin, end = _day(first), _day(last)
    # As in Alertmanager: with negative days, a range must not be valid in long months
    # and inverted in short ones, so check it against the shortest month (28 days).
    if begin < 0 < end:
        raise ValueError(f"{value!r}: the end day must be negative when the start day is")
    if (begin if begin > 0 else 29 + begin) > (end if end > 0 else 29 + end):
        raise ValueError(f"{value!r}: the end day is before the start day")
    return begin, end


def _day(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text) or not (1 <= abs(int(text)) <= 31):
        raise ValueError(f"{text!r} is not a day of the month (1 to 31, or -31 to -1)")
    return int(text)


def _year_range(value: Any) -> tuple[int, int]:
    first, last = _split(value)
    if not (first.isdigit() and last.isdigit()):
        raise ValueError(f"expected a year or a range such as 2026:2027, got {value!r}")
    if int(first) > int(last):
        raise ValueError(f"{value!r}: the end year is before the start year")
    return int(first), int(last)


def _in_cycle(value: int, span: tuple[int, int]) -> bool:
    """Inclusive range test that wraps: (4, 0) holds Friday to Monday."""
    begin, end = span
    return begin <= value <= end if begin <= end else value >= begin or value <= end


def _show_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _show_span(span: tuple[int, int], names: tuple[str, ...] = ()) -> str:
    """A range as written in YAML, so that ``model_dump`` output validates again."""
    first, last = (names[day] if names else str(day) for day in span)
    return first if first == last else f"{first}:{last}"


# Each field parses its YAML spelling and dumps back to it.
ClockMinute = Annotated[int, BeforeValidator(_clock_minute), PlainSerializer(_show_clock)]
WeekdayRange = Annotated[
    tuple[int, int],
    BeforeValidator(_weekday_range),
    PlainSerializer(lambda span: _show_span(span, WEEKDAYS)),
]
MonthRange = Annotated[
    tuple[int, int],
    BeforeValidator(_month_range),
    PlainSerializer(lambda span: _show_span((span[0] - 1, span[1] - 1), MONTHS)),
]
DayOfMonthRange = Annotated[
    tuple[int, int], BeforeValidator(_day_of_month_range), PlainSerializer(_show_span)
]
YearRange = Annotated[tuple[int, int], BeforeValidator(_year_range), PlainSerializer(_show_span)]


# -- models -----------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TimeRange(_Model):
    """A span of one day, ``start_time`` inclusive, ``end_time`` exclusive, in minutes."""

    start_time: ClockMinute
    end_time: ClockMinute

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.start_time >= self.end_time:
            raise ValueError(
                "start_time must be before end_time; a range cannot cross midnight, "
                "so write 22:00-06:00 as 22:00-24:00 and 00:00-06:00"
            )
        return self

    def contains(self, minute: int) -> bool:
        return self.start_time <= minute < self.end_time


class TimeInterval(_Model):
    """One interval: every field given must agree; an empty interval is always active."""

    times: list[TimeRange] = Field(default_factory=list)
    weekdays: list[WeekdayRange] = Field(default_factory=list)
    days_of_month: list[DayOfMonthRange] = Field(default_factory=list)
    months: list[MonthRange] = Field(default_factory=list)
    years: list[YearRange] = Field(default_factory=list)
    location: str = "UTC"
    _zone: ZoneInfo = PrivateAttr()
    _checks: tuple[_FieldCheck, ...] = PrivateAttr()

    @model_validator(mode="after")
    def _compile(self) -> TimeInterval:
        try:
            self._zone = ZoneInfo(self.location)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"location: unknown time zone {self.location!r}; use an IANA name "
                "such as Asia/Shanghai or UTC"
            ) from None
        # One check per field that is set; an unset field does not restrict the interval.
        fields: list[tuple[Sequence[Any], Callable[[Any, datetime], bool]]] = [
            (self.times, _at_times),
            (self.weekdays, _on_weekdays),
            (self.days_of_month, _on_days_of_month),
            (self.months, _in_months),
            (self.years, _in_years),
        ]
        self._checks = tuple(_FieldCheck(test, tuple(items)) for items, test in fields if items)
        return self

    def contains(self, now: datetime) -> bool:
        """Whether ``now`` falls in the interval; a naive ``now`` is taken as UTC."""
        local = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(self._zone)
        return all(check(local) for check in self._checks)


class TimeIntervalConfig(_Model):
    """A named set of intervals, active when any of them contains the moment."""

    name: str = Field(min_length=1)
    time_intervals: list[TimeInterval] = Field(min_length=1)

    def active(self, now: datetime) -> bool:
        return any(interval.contains(now) for interval in self.time_intervals)


@dataclass(frozen=True, slots=True)
class _FieldCheck:
    """One set field of an interval; a dataclass so that equal intervals compare equal."""

    test: Callable[[Any, datetime], bool]
    items: tuple[Any, ...]

    def __call__(self, local: datetime) -> bool:
        return self.test(self.items, local)


def _at_times(ranges: tuple[TimeRange, ...], local: datetime) -> bool:
    minute = local.hour * 60 + local.minute
    return any(span.contains(minute) for span in ranges)


def _on_weekdays(spans: tuple[tuple[int, int], ...], local: datetime) -> bool:
    return any(_in_cycle(local.weekday(), span) for span in spans)


def _on_days_of_month(spans: tuple[tuple[int, int], ...], local: datetime) -> bool:
    return any(_in_month(local, span) for span in spans)


def _in_months(spans: tuple[tuple[int, int], ...], local: datetime) -> bool:
    return any(_in_cycle(local.month, span) for span in spans)


def _in_years(spans: tuple[tuple[int, int], ...], local: datetime) -> bool:
    return any(first <= local.year <= last for first, last in spans)


def _in_month(local: datetime, span: tuple[int, int]) -> bool:
    days = calendar.monthrange(local.year, local.month)[1]
    # Negative days count back from the month's end; a range that starts past the end
    # of a short month (30:31 in February) holds no day of it.
    begin, end = (day if day > 0 else days + day + 1 for day in span)
    return begin <= local.day <= end
