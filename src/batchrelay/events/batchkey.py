"""Which batch an event belongs to: ordered, configurable ``batch_key`` extractors.

The first extractor that yields a non-blank string wins. Extractor names:

``own_id``
    A batch or trigger event's own ``Id``; an ICE batch event's ``JobId``.
``event_source_id``
    ``EventSourceId`` of the payload (IMM tasks started by a batch or trigger carry it).
``tag:<name>``
    The tag ``<name>`` (any name, case-sensitive).
``user_data:<name>``
    Key ``<name>`` of ``UserData`` parsed as a JSON object (any name, case-sensitive).
``master_job_id``
    ``MasterJobId`` of the payload (ICE sub-jobs of a batch media producing job).

The default order is ``own_id, event_source_id, tag:batch_id, tag:BatchId,
user_data:batch_id, user_data:BatchId, master_job_id``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from batchrelay.events.models import Kind

__all__ = ["DEFAULT_EXTRACTORS", "BatchKeyConfig", "extract_batch_key"]

DEFAULT_EXTRACTORS: tuple[str, ...] = (
    "own_id",
    "event_source_id",
    "tag:batch_id",
    "tag:BatchId",
    "user_data:batch_id",
    "user_data:BatchId",
    "master_job_id",
)
_TAG = "tag:"
_USER_DATA = "user_data:"
# The payload key holding an event's own batch id, by kind.
_OWN_ID_KEYS: dict[str, str] = {"batch": "Id", "trigger": "Id", "ice_batch": "JobId"}


class BatchKeyConfig(BaseModel):
    """The ``batch_key`` extractors, tried in order; see the module docstring for names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    extractors: list[str] = Field(default_factory=lambda: list(DEFAULT_EXTRACTORS))

    @field_validator("extractors")
    @classmethod
    def _known_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _is_valid_name(name):
                raise ValueError(
                    f"unknown batch key extractor {name!r}; expected one of own_id, "
                    "event_source_id, master_job_id, tag:<name>, user_data:<name>"
                )
        return names


class _Inputs:
    """What extractors look at; ``UserData`` is parsed at most once, and only if asked."""

    __slots__ = ("_user_data_obj", "kind", "payload", "tags", "user_data")

    def __init__(
        self, kind: Kind, payload: Mapping[str, Any], tags: Mapping[str, str], user_data: str
    ) -> None:
        self.kind = kind
        self.payload = payload
        self.tags = tags
        self.user_data = user_data
        self._user_data_obj: Mapping[str, Any] | None = None

    def user_data_obj(self) -> Mapping[str, Any]:
        if self._user_data_obj is None:
            self._user_data_obj = _json_object_or_empty(self.user_data)
        return self._user_data_obj


Extractor = Callable[[_Inputs], str | None]


def extract_batch_key(
    config: BatchKeyConfig,
    *,
    kind: Kind,
    payload: Mapping[str, Any],
    tags: Mapping[str, str],
    user_data: str,
) -> str | None:
    """The first non-blank key the configured extractors find, or ``None``."""
    inputs = _Inputs(kind, payload, tags, user_data)
    for extractor in _compiled(tuple(config.extractors)):
        key = extractor(inputs)
        if key is not None:
            return key
    return None


@lru_cache(maxsize=32)
def _compiled(names: tuple[str, ...]) -> tuple[Extractor, ...]:
    # Configs are few and long-lived: build the callables once per distinct order.
    return tuple(_extractor(name) for name in names)


def _extractor(name: str) -> Extractor:
    if name.startswith(_TAG):
        return _tag_extractor(name.removeprefix(_TAG))
    if name.startswith(_USER_DATA):
        return _user_data_extractor(name.removeprefix(_USER_DATA))
    return _FIXED[name]


def _own_id(inputs: _Inputs) -> str | None:
    key = _OWN_ID_KEYS.get(inputs.kind)
    return _key_value(inputs.payload.get(key)) if key else None


def _event_source_id(inputs: _Inputs) -> str | None:
    return _key_value(inputs.payload.get("EventSourceId"))


def _master_job_id(inputs: _Inputs) -> str | None:
    return _key_value(inputs.payload.get("MasterJobId"))


def _tag_extractor(tag: str) -> Extractor:
    def extract(inputs: _Inputs) -> str | None:
        return _key_value(inputs.tags.get(tag))

    return extract


def _user_data_extractor(field: str) -> Extractor:
    def extract(inputs: _Inputs) -> str | None:
        return _key_value(inputs.user_data_obj().get(field))

    return extract


_FIXED: dict[str, Extractor] = {
    "own_id": _own_id,
    "event_source_id": _event_source_id,
    "master_job_id": _master_job_id,
}


def _is_valid_name(name: str) -> bool:
    if name in _FIXED:
        return True
    for prefix in (_TAG, _USER_DATA):
        if name.startswith(prefix) and name.removeprefix(prefix):
            return True
    return False


def _key_value(value: object) -> str | None:
    """A usable key: a non-blank string, or an integer id; anything else is no key."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _json_object_or_empty(text: str) -> Mapping[str, Any]:
    # UserData is free text; only a JSON object can hold keys. Skip the parse otherwise.
    if not text.lstrip().startswith("{"):
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
