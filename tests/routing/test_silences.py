"""Matchers and silences: Alertmanager matching rules, time windows, batch-scoped expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchrelay.routing.silences import (
    Matcher,
    Silence,
    expire_closed,
    parse_matcher,
    silenced_by,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
BATCH = "imm:proj-a:batch-1"
ALERT = {
    "alertname": "task_failed",
    "batch_key": BATCH,
    "severity": "warning",
    "project": "proj-a",
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def silence(
    *matchers: str,
    start: float = 0,
    end: float = 60,
    batch_key: str | None = None,
    expire_on_close: bool = False,
    id: str = "s1",
) -> Silence:
    return Silence.create(
        id=id,
        matchers=matchers,
        starts_at=at(start),
        ends_at=at(end),
        created_by="ops@example.com",
        comment="known flaky source bucket",
        now=T0,
        batch_key=batch_key,
        expire_on_batch_close=expire_on_close,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="warning"', True),
        ('severity!="warning"', False),
        ('severity=~"warn.*"', True),
        ('severity=~"warn"', False),  # regexes match the whole value
        ('severity!~"crit.*|page"', True),
        ('project=~"proj-(a|b)"', True),
        ('team=""', True),  # an absent label reads as empty
        ('team!=""', False),
        ("severity=warning", True),  # bare values are accepted
        ('alertname=~"task_.+"', True),
    ],
)
def test_matcher_semantics(text: str, expected: bool) -> None:
    assert parse_matcher(text).matches(ALERT) is expected


def test_matcher_parses_escapes_and_renders_back() -> None:
    m = parse_matcher(r'summary="say \"hi\"\\n"')
    assert m == Matcher("summary", "=", 'say "hi"\\n')
    assert parse_matcher(str(m)) == m


@pytest.mark.parametrize(
    "text",
    ["severity", 'severity=="x"', '="x"', '1abc="x"', 'severity=~"(unclosed"', 'a="x" b="y"'],
)
def test_bad_matchers_raise_value_error_naming_them(text: str) -> None:
    with pytest.raises(ValueError, match="bad matcher"):
        parse_matcher(text)


def test_tuple_matchers_are_accepted() -> None:
    s = Silence.create(
        id="s1",
        matchers=[("severity", "=~", "warn.*"), ("project", "=", "proj-a")],
        starts_at=T0,
        ends_at=at(60),
        created_by="ops",
        comment="c",
        now=T0,
    )
    assert s.matches(ALERT)


def test_all_matchers_must_match() -> None:
    assert silence('severity="warning"', 'project="proj-a"').matches(ALERT)
    assert not silence('severity="warning"', 'project="proj-b"').matches(ALERT)


@pytest.mark.parametrize(
    ("now", "expected"),
    [(-1, False), (0, True), (30, True), (59.9, True), (60, False), (90, False)],
)
def test_silence_is_active_from_starts_at_until_ends_at(now: float, expected: bool) -> None:
    s = silence('alertname="task_failed"')
    assert s.active(at(now)) is expected
    assert bool(silenced_by(ALERT, [s], at(now))) is expected


def test_silenced_by_lists_the_matching_active_silences() -> None:
    silences = [
        silence('alertname="task_failed"', id="a"),
        silence('alertname="batch_failed"', id="b"),
        silence('severity="warning"', start=30, id="c"),
    ]
    assert silenced_by(ALERT, silences, at(10)) == ["a"]
    assert silenced_by(ALERT, silences, at(40)) == ["a", "c"]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"end": 0}, "ends_at must be after starts_at"),
        ({"start": -120, "end": -60}, "ends_at is in the past"),
        ({"id": ""}, "id is empty"),
    ],
)
def test_create_validates(kwargs: dict[str, float | str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        silence('severity="warning"', **kwargs)  # type: ignore[arg-type]


def test_create_refuses_a_silence_that_would_mute_everything() -> None:
    with pytest.raises(ValueError, match="must not match the empty string"):
        silence('team=~".*"')


def test_create_requires_author_and_comment() -> None:
    with pytest.raises(ValueError, match="created_by is empty; comment is empty"):
        Silence.create(
            id="s",
            matchers=['severity="warning"'],
            starts_at=T0,
            ends_at=at(1),
            created_by=" ",
            comment="",
            now=T0,
        )


def test_batch_scoped_silence_matches_only_its_batch() -> None:
    s = silence('severity="warning"', batch_key=BATCH)
    assert s.matches(ALERT)
    assert not s.matches({**ALERT, "batch_key": "imm:proj-a:batch-2"})


def test_batch_scoped_silence_may_match_everything_in_the_batch() -> None:
    s = silence('alertname=~".*"', batch_key=BATCH, expire_on_close=True)
    assert s.matches(ALERT)


def test_expire_on_close_needs_a_batch() -> None:
    with pytest.raises(ValueError, match="needs a batch_key"):
        silence('severity="warning"', expire_on_close=True)


def test_expire_closed_ends_only_silences_of_closed_batches() -> None:
    tied = silence('severity="warning"', batch_key=BATCH, expire_on_close=True, id="tied")
    kept = silence('severity="warning"', batch_key=BATCH, id="scoped-but-kept")
    other = silence(
        'severity="warning"', batch_key="imm:proj-a:batch-2", expire_on_close=True, id="other"
    )
    changed = expire_closed([tied, kept, other], {BATCH}, at(10))
    assert [s.id for s in changed] == ["tied"]
    assert changed[0].ends_at == at(10)
    assert silenced_by(ALERT, [tied], at(11))
    assert not silenced_by(ALERT, changed, at(11))
    # Closing again changes nothing: the silence has already ended.
    assert expire_closed(changed, {BATCH}, at(20)) == []


def test_expire_closed_ends_a_silence_that_had_not_started() -> None:
    pending = silence('severity="warning"', start=30, batch_key=BATCH, expire_on_close=True)
    [ended] = expire_closed([pending], [BATCH], at(10))
    assert ended.starts_at == ended.ends_at == at(10)
    assert not ended.active(at(40))


def test_silence_round_trips_through_a_dict() -> None:
    s = silence('severity=~"warn|crit"', 'team=""', batch_key=BATCH, expire_on_close=True)
    assert Silence.from_dict(s.to_dict()) == s


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Silence(
            id="s",
            matchers=(parse_matcher('a="b"'),),
            starts_at=T0.replace(tzinfo=None),
            ends_at=at(1),
            created_by="ops",
            comment="c",
        )
