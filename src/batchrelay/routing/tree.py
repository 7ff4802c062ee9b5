"""The route tree, in the style of Alertmanager.

Every committed event walks the tree from the root, depth first. A route matches when its
``match`` pattern matches the event's normalized view (see ``patterns.py``). A matching
route offers the event to its children in order and stops at the first child that
matches, unless that child has ``continue: true``, in which case the later children are
tried too. A route none of whose children match is itself a match. The root matches every
event, so every event reaches at least one receiver.

Children inherit ``receiver``, ``group_by`` and the three timers from their parent unless
they set them. ``mute_time_intervals`` and ``active_time_intervals`` are not inherited, as
in Alertmanager: each route names its own. A muted route still matches (and still stops
its later siblings); the dispatcher holds its notifications back.

``group_by`` lists normalized-view keys, dotted for nested ones (``tags.team``,
``statistic.submit_failure``, ``data.JobId``); events of one route and receiver with the same
values form one notification group. ``[]`` puts every event of the route in one group;
``["..."]`` gives every event a group of its own. Timers take seconds or durations such as
``30s``, ``5m``, ``4h``, ``1h30m``; the defaults are Alertmanager's (30s, 5m, 4h).
A route's optional ``name`` replaces its position (``root/1/0``) in its group identity, so
that its groups survive edits that move the route.

The ``routing`` section::

    routing:
      route:
        receiver: ops-webhook
        group_by: [batch_key]
        routes:
          - name: imm-batch-failures
            match: {source: [acs.imm], kind: [batch, trigger], status: [failed]}
            receiver: dingtalk-imm
            mute_time_intervals: [night]
      time_intervals:
        - name: night
          time_intervals:
            - times: [{start_time: "00:00", end_time: "08:00"}]
              location: Asia/Shanghai
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from batchrelay.errors import ConfigError
from batchrelay.events.models import NORMALIZED_KEYS, Statistic
from batchrelay.routing.patterns import Pattern, PatternError, check_view_keys, compile_pattern
from batchrelay.routing.timeintervals import TimeIntervalConfig

__all__ = [
    "GROUP_BY_ALL",
    "RouteConfig",
    "RouteMatch",
    "RouteNode",
    "RouteTree",
    "RoutingConfig",
    "parse_duration",
]

GROUP_BY_ALL: Final = "..."
DEFAULT_GROUP_WAIT: Final = 30.0
DEFAULT_GROUP_INTERVAL: Final = 300.0
DEFAULT_REPEAT_INTERVAL: Final = 4 * 3600.0
_SECTION: Final = "routing"  # where the daemon config holds RoutingConfig, for messages
_NESTED_KEYS: Final = frozenset({"tags", "data", "statistic"})
_STATISTIC_KEYS: Final = frozenset(Statistic.model_fields)
# Prometheus duration syntax: units in descending order, each at most once.
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_UNIT_SECONDS: Final = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_duration(value: Any) -> float:
    """Seconds from a number or a duration string such as ``30s``, ``5m``, ``1h30m``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a duration such as 30s, 5m or 4h, got {value!r}")
    try:
        seconds = _duration_text(value.strip()) if isinstance(value, str) else float(value)
        finite = math.isfinite(seconds)
    except OverflowError:  # hundreds of digits: more than a float holds
        finite = False
    if not finite or seconds < 0:
        raise ValueError(f"expected a finite duration of zero or more, got {value!r}")
    return seconds


def _duration_text(text: str) -> float:
    try:
        return float(text)  # plain seconds, e.g. "30" from ${ENV} substitution
    except ValueError:
        pass
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        raise ValueError(f"invalid duration {text!r}: use seconds or units such as 30s, 5m, 4h")
    return sum(int(n) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if n)


Duration = Annotated[float, BeforeValidator(parse_duration)]


# -- configuration ----------------------------------------------------------------------


class RouteConfig(BaseModel):
    """One route of the tree; see the module docstring. ``continue`` is ``continue_`` here."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^/]+$")
    receiver: str | None = Field(None, min_length=1)
    match: dict[str, Any] = Field(default_factory=dict)
    continue_: bool = Field(False, alias="continue")
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    _pattern: Pattern = PrivateAttr()

    @field_validator("group_by")
    @classmethod
    def _group_keys(cls, keys: list[str] | None) -> list[str] | None:
        if keys is None:
            return None
        if GROUP_BY_ALL in keys and len(keys) > 1:
            raise ValueError('"..." groups every event alone, so it cannot be combined with keys')
        for key in keys:
            _check_group_key(key)
            if keys.count(key) > 1:
                raise ValueError(f"{key!r} is listed twice")
        return keys

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _not_zero(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be longer than zero")
        return value

    @model_validator(mode="after")
    def _compile_match(self) -> RouteConfig:
        try:
            check_view_keys(self.match)
            self._pattern = compile_pattern(self.match)
        except PatternError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def pattern(self) -> Pattern:
        """The compiled ``match``."""
        return self._pattern


def _check_group_key(key: str) -> None:
    if key == GROUP_BY_ALL:
        return
    head, dot, rest = key.partition(".")
    if head not in NORMALIZED_KEYS:
        known = ", ".join(NORMALIZED_KEYS)
        raise ValueError(f"{key!r} is not a key of the normalized view ({known})")
    if dot and (head not in _NESTED_KEYS or "" in rest.split(".")):
        raise ValueError(f"{key!r}: only tags.<name>, data.<path> and statistic.<key> nest")
    if head == "statistic" and dot and rest not in _STATISTIC_KEYS:
        known = ", ".join(sorted(_STATISTIC_KEYS))
        raise ValueError(f"{key!r}: not a statistic key ({known})")


class RoutingConfig(BaseModel):
    """The ``routing`` section: the route tree and the time intervals it refers to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    route: RouteConfig
    time_intervals: list[TimeIntervalConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_tree(self) -> RoutingConfig:
        _check_root(self.route)
        defined = _interval_names(self.time_intervals)
        names: dict[str, str] = {}
        for key, path, route in _walk_config(self.route):
            _check_interval_refs(route, key, defined)
            _check_route_name(route, key, path, names)
        return self

    def validate_receivers(self, receivers: Collection[str]) -> None:
        """Raise :class:`ConfigError` naming every route whose receiver is not defined."""
        defined = ", ".join(sorted(receivers)) or "none"
        problems = [
            f"{_SECTION}.{key}.receiver: receiver {route.receiver!r} of route {path} "
            f"is not defined (defined receivers: {defined})"
            for key, path, route in _walk_config(self.route)
            if route.receiver is not None and route.receiver not in receivers
        ]
        if problems:
            raise ConfigError("; ".join(problems))


def _walk_config(
    route: RouteConfig, key: str = "route", path: str = "root"
) -> Iterator[tuple[str, str, RouteConfig]]:
    """Every route, depth first, as (config key, tree path, route)."""
    yield key, path, route
    for index, child in enumerate(route.routes):
        yield from _walk_config(child, f"{key}.routes.{index}", f"{path}/{index}")


def _check_root(root: RouteConfig) -> None:
    # As in Alertmanager: the root is where every event starts and where unmatched events
    # end, so it must name a receiver, match everything, and never be muted.
    if root.receiver is None:
        raise ValueError("route.receiver: the root route needs a receiver for unmatched events")
    if root.match:
        raise ValueError("route.match: the root route matches every event; match in child routes")
    if root.continue_:
        raise ValueError("route.continue: the root route has no siblings to continue to")
    if root.mute_time_intervals or root.active_time_intervals:
        raise ValueError("route: the root route cannot be muted; set time intervals on children")


def _interval_names(intervals: list[TimeIntervalConfig]) -> frozenset[str]:
    names = [interval.name for interval in intervals]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ValueError(f"time_intervals.{index}.name: {name!r} is defined twice")
    return frozenset(names)


def _check_interval_refs(route: RouteConfig, key: str, defined: frozenset[str]) -> None:
    for field_name in ("mute_time_intervals", "active_time_intervals"):
        for name in getattr(route, field_name):
            if name not in defined:
                known = ", ".join(sorted(defined)) or "none"
                raise ValueError(
                    f"{key}.{field_name}: unknown time interval {name!r} (defined: {known})"
                )


def _check_route_name(route: RouteConfig, key: str, path: str, seen: dict[str, str]) -> None:
    # A name stands in for the route's path in group identities, so it must be unique and
    # must not be another route's path.
    name = route.name
    if name is None:
        return
    if name in seen:
        raise ValueError(f"{key}.name: {name!r} is already the name of {seen[name]}")
    if name == "root" and path != "root":
        raise ValueError(f"{key}.name: 'root' is reserved for the root route")
    seen[name] = key


# -- the compiled tree ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Where one event goes: a receiver, a notification group, and its timers (seconds).

    ``group_key`` identifies the notification group: JSON of the route (its name, else its
    path), the receiver and ``group_labels``; equal keys mean one group.
    """

    route: str  # tree path, "root/1/0"
    name: str | None
    receiver: str
    group_key: str
    group_labels: tuple[tuple[str, Any], ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    muted: bool


@dataclass(frozen=True, slots=True)
class _Options:
    """What a route passes down to children that do not set it themselves."""

    receiver: str
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float


_DEFAULTS: Final = _Options(
    "", (), DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL
)


@dataclass(frozen=True, slots=True, eq=False)
class RouteNode:
    """A compiled route with its inherited options resolved."""

    path: str
    name: str | None
    receiver: str
    pattern: Pattern
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    mute_time_intervals: tuple[TimeIntervalConfig, ...]
    active_time_intervals: tuple[TimeIntervalConfig, ...]
    routes: tuple[RouteNode, ...]
    _lookups: tuple[tuple[str, tuple[str, ...]], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys = ("event_id",) if self.group_by == (GROUP_BY_ALL,) else self.group_by
        lookups = tuple((key, tuple(key.split("."))) for key in keys)
        object.__setattr__(self, "_lookups", lookups)  # frozen: set once, here

    @property
    def route_id(self) -> str:
        return self.name or self.path

    def group_labels(self, view: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
        """The ``group_by`` values of ``view``; missing ones are null."""
        return tuple((key, _lookup(view, parts)) for key, parts in self._lookups)

    def muted(self, now: datetime) -> bool:
        if any(interval.active(now) for interval in self.mute_time_intervals):
            return True
        active = self.active_time_intervals
        return bool(active) and not any(interval.active(now) for interval in active)


class RouteTree:
    """The compiled tree; :meth:`match` runs for every committed event.

    ``discard`` names receivers that send nothing (type ``null``): :meth:`split` sets their
    matches apart, so that nothing is written to the outbox for them.
    """

    __slots__ = ("by_path", "config", "discard", "root")

    def __init__(self, config: RoutingConfig, discard: Collection[str] = ()) -> None:
        intervals = {interval.name: interval for interval in config.time_intervals}
        self.config = config
        self.discard = frozenset(discard)
        self.root = _build(config.route, "root", _DEFAULTS, intervals)
        self.by_path = {node.path: node for node in self.walk()}

    def split(self, matches: list[RouteMatch]) -> tuple[list[RouteMatch], list[RouteMatch]]:
        """(matches that send, matches to a discarding receiver)."""
        if not self.discard:
            return matches, []
        kept = [m for m in matches if m.receiver not in self.discard]
        return kept, [m for m in matches if m.receiver in self.discard]

    def node(self, path: str) -> RouteNode | None:
        """The route at ``path`` ("root/1/0"), or None if the tree no longer has it."""
        return self.by_path.get(path)

    def match(self, view: Mapping[str, Any], now: datetime) -> list[RouteMatch]:
        """The routes ``view`` takes, in tree order; never empty (the root catches all)."""
        nodes: list[RouteNode] = []
        _collect(self.root, view, nodes)
        return [_route_match(node, view, now) for node in nodes]

    def walk(self) -> Iterator[RouteNode]:
        """Every route, depth first, root first."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.routes))


def _build(
    config: RouteConfig, path: str, parent: _Options, intervals: Mapping[str, TimeIntervalConfig]
) -> RouteNode:
    own = _Options(
        receiver=config.receiver or parent.receiver,
        group_by=parent.group_by if config.group_by is None else tuple(config.group_by),
        group_wait=_inherit(config.group_wait, parent.group_wait),
        group_interval=_inherit(config.group_interval, parent.group_interval),
        repeat_interval=_inherit(config.repeat_interval, parent.repeat_interval),
    )
    children = tuple(
        _build(child, f"{path}/{index}", own, intervals)
        for index, child in enumerate(config.routes)
    )
    return RouteNode(
        path=path,
        name=config.name,
        receiver=own.receiver,
        pattern=config.pattern,
        continue_=config.continue_,
        group_by=own.group_by,
        group_wait=own.group_wait,
        group_interval=own.group_interval,
        repeat_interval=own.repeat_interval,
        mute_time_intervals=tuple(intervals[name] for name in config.mute_time_intervals),
        active_time_intervals=tuple(intervals[name] for name in config.active_time_intervals),
        routes=children,
    )


def _inherit(value: float | None, parent: float) -> float:
    return parent if value is None else value


def _collect(node: RouteNode, view: Mapping[str, Any], out: list[RouteNode]) -> bool:
    """Alertmanager's ``Route.Match``: True when ``node`` itself matches."""
    if not node.pattern.matches(view):
        return False
    before = len(out)
    for child in node.routes:
        if _collect(child, view, out) and not child.continue_:
            break
    if len(out) == before:
        out.append(node)
    return True


def _route_match(node: RouteNode, view: Mapping[str, Any], now: datetime) -> RouteMatch:
    labels = node.group_labels(view)
    return RouteMatch(
        route=node.path,
        name=node.name,
        receiver=node.receiver,
        group_key=_group_key(node, labels),
        group_labels=labels,
        group_wait=node.group_wait,
        group_interval=node.group_interval,
        repeat_interval=node.repeat_interval,
        muted=node.muted(now),
    )


# sort_keys keeps object values (group_by: [tags]) stable; default=str keeps a view holding
# non-JSON values from raising on the hot path. One encoder: json.dumps builds one per call.
_KEY_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")
)


def _group_key(node: RouteNode, labels: tuple[tuple[str, Any], ...]) -> str:
    return _KEY_ENCODER.encode([node.route_id, node.receiver, labels])


def _lookup(view: Any, parts: tuple[str, ...]) -> Any:
    value = view
    for part in parts:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
