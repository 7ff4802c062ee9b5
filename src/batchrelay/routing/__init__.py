"""Routing: which receivers an event goes to, in which notification group, and when.

Pure and synchronous; no I/O. ``patterns`` matches EventBridge-style event patterns against
the normalized view, ``tree`` walks an Alertmanager-style route tree, ``timeintervals``
says when a route is muted.
"""

from batchrelay.routing.patterns import Pattern, PatternError, check_view_keys, compile_pattern
from batchrelay.routing.timeintervals import TimeInterval, TimeIntervalConfig, TimeRange
from batchrelay.routing.tree import (
    GROUP_BY_ALL,
    RouteConfig,
    RouteMatch,
    RouteNode,
    RouteTree,
    RoutingConfig,
    parse_duration,
)

__all__ = [
    "GROUP_BY_ALL",
    "Pattern",
    "PatternError",
    "RouteConfig",
    "RouteMatch",
    "RouteNode",
    "RouteTree",
    "RoutingConfig",
    "TimeInterval",
    "TimeIntervalConfig",
    "TimeRange",
    "check_view_keys",
    "compile_pattern",
    "parse_duration",
]
