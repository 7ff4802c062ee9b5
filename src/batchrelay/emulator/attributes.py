"""Queue and topic attributes: defaults, documented ranges, and parsing from request XML.

Ranges are those of the MNS queue attribute docs (protocols.md §3.2). A value outside its
range is answered with 400 InvalidArgument, as MNS does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from batchrelay.emulator.errors import invalid_argument


@dataclass(frozen=True, slots=True)
class QueueAttributes:
    """Settable queue attributes with the MNS defaults."""

    visibility_timeout: int = 30
    maximum_message_size: int = 65536
    message_retention_period: int = 345600
    delay_seconds: int = 0
    polling_wait_seconds: int = 0
    logging_enabled: bool = False


@dataclass(frozen=True, slots=True)
class TopicAttributes:
    """Settable topic attributes; retention is fixed at one day as on MNS."""

    maximum_message_size: int = 65536
    logging_enabled: bool = False
    message_retention_period: int = 86400


# XML element -> (attribute, lowest, highest)
_QUEUE_RANGES: dict[str, tuple[str, int, int]] = {
    "VisibilityTimeout": ("visibility_timeout", 1, 43200),
    "MaximumMessageSize": ("maximum_message_size", 1024, 65536),
    "MessageRetentionPeriod": ("message_retention_period", 60, 604800),
    "DelaySeconds": ("delay_seconds", 0, 604800),
    "PollingWaitSeconds": ("polling_wait_seconds", 0, 30),
}
_TOPIC_RANGES: dict[str, tuple[str, int, int]] = {
    "MaximumMessageSize": ("maximum_message_size", 1024, 65536),
}


def parse_int(name: str, value: str, low: int, high: int) -> int:
    """An integer parameter within [low, high], else 400 InvalidArgument."""
    try:
        number = int(value.strip())
    except ValueError:
        raise invalid_argument(f"The value of {name} should be an integer.") from None
    if not low <= number <= high:
        raise invalid_argument(f"The value of {name} should between {low} and {high}.")
    return number


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise invalid_argument(f"The value of {name} should be True or False.")
    return lowered == "true"


def _changes(fields: Mapping[str, str], ranges: dict[str, tuple[str, int, int]]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for element, (attribute, low, high) in ranges.items():
        if element in fields:
            changes[attribute] = parse_int(element, fields[element], low, high)
    if "LoggingEnabled" in fields:
        changes["logging_enabled"] = parse_bool("LoggingEnabled", fields["LoggingEnabled"])
    return changes


def queue_attributes(
    fields: Mapping[str, str], base: QueueAttributes | None = None
) -> QueueAttributes:
    """``base`` with the attributes present in ``fields`` replaced (CreateQueue, SetQueue)."""
    return replace(base or QueueAttributes(), **_changes(fields, _QUEUE_RANGES))


def topic_attributes(
    fields: Mapping[str, str], base: TopicAttributes | None = None
) -> TopicAttributes:
    """``base`` with the attributes present in ``fields`` replaced (CreateTopic, SetTopic)."""
    return replace(base or TopicAttributes(), **_changes(fields, _TOPIC_RANGES))
