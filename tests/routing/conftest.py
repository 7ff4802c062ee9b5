"""Builders for normalized views and routing configs, shared by the routing tests.

Plain functions, so that parametrize tables can call them at collection time; the test
modules import them with ``from .conftest import …``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings

from batchrelay.events.decode import decode
from batchrelay.events.models import NORMALIZED_KEYS, Ingress
from batchrelay.events.parse import parse
from batchrelay.routing import RouteTree, RoutingConfig

SAMPLES = Path(__file__).parents[1] / "fixtures" / "samples"

# Property tests on a loaded CI machine: no per-example deadline.
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

_DEFAULTS: dict[str, Any] = {
    "event_id": "evt-1",
    "source": "acs.imm",
    "type": "imm:Task:MediaConvert",
    "kind": "task",
    "time": "2026-11-20T03:12:19.800Z",
    "ingress": "eventbridge",
    "status": "succeeded",
    "raw_status": "Succeeded",
    "code": "",
    "message": "",
    "phase": "",
    "tags": {},
    "user_data": "",
    "data": {},
}


def view(**overrides: Any) -> dict[str, Any]:
    """A normalized view with every key present, as ``EventBase.normalized`` gives it."""
    values = {**_DEFAULTS, **overrides}
    return {key: values.get(key) for key in NORMALIZED_KEYS}


def sample_view(name: str, ingress: Ingress) -> dict[str, Any]:
    """The normalized view of a sample payload, through the real decode and parse."""
    [document] = decode((SAMPLES / name).read_bytes(), ingress)
    return parse(document, ingress).normalized()


def routing(text: str) -> RoutingConfig:
    """A ``routing`` section from YAML, the way users write it."""
    return RoutingConfig.model_validate(yaml.safe_load(text))


def tree(text: str) -> RouteTree:
    return RouteTree(routing(text))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
