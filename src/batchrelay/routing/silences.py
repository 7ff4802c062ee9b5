"""Label matchers and silences, with Alertmanager semantics.

Pure: no I/O, no clock. Every time-dependent call takes an explicit, timezone-aware ``now``.

Matchers compare one label: ``=`` and ``!=`` by equality, ``=~`` and ``!~`` by a regular
expression that must match the whole value (Alertmanager anchors its regexes). A label the
alert lacks reads as the empty string, so ``team=""`` matches alerts without ``team``.

A silence mutes the alerts all its matchers match while ``starts_at <= now < ends_at``. A
silence may be tied to one batch: it then matches only alerts whose ``batch_key`` label is
that batch, and with ``expire_on_batch_close`` it ends when the batch closes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, TypeAlias, cast

MatchOp: TypeAlias = Literal["=", "!=", "=~", "!~"]
MatcherSpec: TypeAlias = "Matcher | str | tuple[str, str, str]"

OPS: tuple[MatchOp, ...] = ("=", "!=", "=~", "!~")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# name, operator, then a double-quoted value (with \" \\ \n escapes) or a bare one.
_MATCHER = re.compile(
    r"""\s*(?P<name>[^\s=!~"]+)\s*(?P<op>=~|!~|!=|=)\s*"""
    r"""(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"]*))\s*"""
)
_ESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Matcher:
    """One label matcher, e.g. ``Matcher("severity", "=~", "critical|page")``."""

    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _LABEL_NAME.fullmatch(self.name):
            raise ValueError(f"invalid label name in matcher {self}")
        if self.op not in OPS:
            raise ValueError(f"invalid operator in matcher {self.name}{self.op}{self.value!r}")
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value))
            except re.error as exc:
                raise ValueError(f"invalid regex in matcher {self}: {exc}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self._regex is None:
            return (got == self.value) == (self.op == "=")
        return (self._regex.fullmatch(got) is not None) == (self.op == "=~")

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """Parse ``name="value"``, ``name!="value"``, ``name=~"re"`` or ``name!~"re"``.

    Raises ValueError naming the bad matcher.
    """
    m = _MATCHER.fullmatch(text)
    if m is None:
        raise ValueError(f"bad matcher {text!r}: expected name, one of = != =~ !~, value")
    quoted = m.group("quoted")
    value = m.group("bare") if quoted is None else _unescape(quoted)
    try:
        return Matcher(m.group("name"), cast(MatchOp, m.group("op")), value)
    except ValueError as exc:
        raise ValueError(f"bad matcher {text!r}: {exc}") from None


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), quoted)


def to_matchers(specs: Iterable[MatcherSpec]) -> tuple[Matcher, ...]:
    """Normalize matchers given as Matcher, ``'name="v"'`` strings or (name, op, value)."""
    out: list[Matcher] = []
    for spec in specs:
        if isinstance(spec, Matcher):
            out.append(spec)
        elif isinstance(spec, str):
            out.append(parse_matcher(spec))
        else:
            name, op, value = spec
            if op not in OPS:
                raise ValueError(f"bad matcher {spec!r}: operator must be one of {OPS}")
            out.append(Matcher(name, op, value))
    return tuple(out)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True)
class Silence:
    """A silence as stored. Build new ones with :meth:`create`, which validates more."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    batch_key: str | None = None
    expire_on_batch_close: bool = False

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError(f"silence {self.id!r}: at least one matcher is required")
        _require_aware(self.starts_at, "starts_at")
        _require_aware(self.ends_at, "ends_at")
        # Stored silences may have ends_at == starts_at: that is a pending silence expired.
        if self.ends_at < self.starts_at:
            raise ValueError(f"silence {self.id!r}: ends_at is before starts_at")
        if self.expire_on_batch_close and not self.batch_key:
            raise ValueError(f"silence {self.id!r}: expire_on_batch_close needs a batch_key")

    @classmethod
    def create(
        cls,
        *,
        id: str,
        matchers: Iterable[MatcherSpec],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
        batch_key: str | None = None,
        expire_on_batch_close: bool = False,
    ) -> Silence:
        """Validate a silence a user asks for (API/CLI): the Alertmanager rules, and more."""
        silence = cls(
            id=id,
            matchers=to_matchers(matchers),
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            batch_key=batch_key,
            expire_on_batch_close=expire_on_batch_close,
        )
        _validate_new(silence, now)
        return silence

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.batch_key is not None and labels.get("batch_key") != self.batch_key:
            return False
        return matches_all(self.matchers, labels)

    def expire(self, now: datetime) -> Silence:
        """End the silence at ``now``; a silence that has not started yet ends before it does."""
        if self.ends_at <= now:
            return self
        return replace(self, starts_at=min(self.starts_at, now), ends_at=now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [[m.name, m.op, m.value] for m in self.matchers],
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "created_by": self.created_by,
            "comment": self.comment,
            "batch_key": self.batch_key,
            "expire_on_batch_close": self.expire_on_batch_close,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            id=str(data["id"]),
            matchers=to_matchers(tuple(m) for m in data["matchers"]),
            starts_at=datetime.fromisoformat(data["starts_at"]),
            ends_at=datetime.fromisoformat(data["ends_at"]),
            created_by=str(data["created_by"]),
            comment=str(data["comment"]),
            batch_key=data.get("batch_key"),
            expire_on_batch_close=bool(data.get("expire_on_batch_close", False)),
        )


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")


def _validate_new(silence: Silence, now: datetime) -> None:
    problems: list[str] = []
    if not silence.id:
        problems.append("id is empty")
    if not silence.created_by.strip():
        problems.append("created_by is empty")
    if not silence.comment.strip():
        problems.append("comment is empty")
    if silence.ends_at <= silence.starts_at:
        problems.append("ends_at must be after starts_at")
    if silence.ends_at <= now:
        problems.append("ends_at is in the past")
    # As in Alertmanager: a silence whose matchers all match the empty label set would
    # mute every alert.
    if silence.batch_key is None and matches_all(silence.matchers, {}):
        problems.append("at least one matcher must not match the empty string")
    if problems:
        raise ValueError("invalid silence: " + "; ".join(problems))  # its id is ours, not news


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> list[str]:
    """Ids of the silences that are active at ``now`` and match ``labels``."""
    return [s.id for s in silences if s.active(now) and s.matches(labels)]


def expire_closed(
    silences: Iterable[Silence], closed_batch_keys: Iterable[str], now: datetime
) -> list[Silence]:
    """The silences tied to a now-closed batch, each ended at ``now``; only changed ones."""
    closed = set(closed_batch_keys)
    return [
        s.expire(now)
        for s in silences
        if s.expire_on_batch_close and s.batch_key in closed and s.ends_at > now
    ]


def event_labels(view: dict[str, Any]) -> dict[str, str]:
    """Labels of a per-event notification: ``alertname`` is ``<kind>_<status>`` (for
    example ``task_failed``), then batch_key, project, kind, status, code, source."""
    kind, status = view.get("kind") or "unknown", view.get("status") or "unknown"
    labels = {
        "alertname": f"{kind}_{status}",
        "batch_key": view.get("batch_key"),
        "project": view.get("project"),
        "kind": kind,
        "status": status,
        "code": view.get("code"),
        "source": view.get("source"),
    }
    return {name: str(value) for name, value in labels.items() if value}
