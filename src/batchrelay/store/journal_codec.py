"""The journal's ``model`` column: an event stored once, compactly, the same in both stores.

The journal keeps an event for as long as ``retention.events`` says, mostly long after
``retention.raw`` pruned its body, so the model must stand on its own: it holds everything
the event is, ``data`` included. What the row already has in columns (``event_id``,
``kind``, ``batch_key``, ``time``) and every field at its default are left out, and the
JSON left is compressed with zstd and a dictionary trained on models of simulated traffic
(``store/dictionaries/model-1.zdict``, made by bench/compression.py ``--train-models``):
measured there, 841 B of such JSON keep 181 B, and bench/ingest.py's IMM task event
102 B, where the full model JSON stored before was 900 B.

A stored model is that zstd frame or, when compressing would not shrink it, the JSON as it
is; so are rows an older version journaled (SQLite's migration took the columns out of
them, PostgreSQL's kept them whole; the columns win either way). JSON starts with ``{``, a
zstd frame with its magic number, so the two never mix up. The frames carry no dictionary
id (4 B each): the dictionary is never changed once shipped, and a new one would mark its
frames with its id.
"""

from __future__ import annotations

import functools
from datetime import datetime
from importlib.resources import files
from typing import Any

import orjson
import zstandard

from batchrelay.errors import StoreError
from batchrelay.events.models import EVENT_ADAPTER, Event

#: The journal's columns, in ``journal_row`` order and then ``raw_id``.
JOURNAL_COLUMNS = "event_id, received_at, kind, batch_key, time, model, raw_id"
#: The event's fields that have columns of their own, so are not repeated in ``model``.
COLUMN_FIELDS = frozenset({"event_id", "kind", "batch_key", "time"})

_DICTIONARY = "model-1"
_LEVEL = 3  # level 19 keeps 5% less (bench/compression.py) for 50x the time
_MAX_MODEL = 64 * 1024 * 1024


@functools.cache
def _dictionary() -> zstandard.ZstdCompressionDict:
    path = files("batchrelay.store").joinpath("dictionaries", f"{_DICTIONARY}.zdict")
    return zstandard.ZstdCompressionDict(path.read_bytes())


@functools.cache
def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(
        level=_LEVEL, dict_data=_dictionary(), write_checksum=False, write_dict_id=False
    )


@functools.cache
def _decompressor() -> zstandard.ZstdDecompressor:
    return zstandard.ZstdDecompressor(dict_data=_dictionary())


def model_json(event: Event) -> bytes:
    """What ``model`` holds of ``event`` before compression: no column, no default.

    Raises ``ValueError`` when the event cannot be written as JSON (a lone surrogate)."""
    return event.model_dump_json(exclude=set(COLUMN_FIELDS), exclude_defaults=True).encode()


def pack_model(event: Event) -> bytes:
    """The ``model`` column of ``event``."""
    plain = model_json(event)
    packed = _compressor().compress(plain)
    return packed if len(packed) < len(plain) else plain


def _fields(model: bytes | str, event_id: str) -> dict[str, Any]:
    stored = model.encode() if isinstance(model, str) else bytes(model)
    if not stored.startswith(b"{"):
        try:
            stored = _decompressor().decompress(stored, max_output_size=_MAX_MODEL)
        except zstandard.ZstdError as exc:
            raise StoreError(f"the journaled model of {event_id!r} cannot be read") from exc
    fields: dict[str, Any] = orjson.loads(stored)
    return fields


def task_id_of(model: bytes | str, event_id: str) -> str | None:
    """The task a journaled event reported, read from its ``model`` alone: retention needs
    no more of the events it prunes (a fifth of the time of ``unpack_model``)."""
    task_id = _fields(model, event_id).get("task_id")
    return task_id if isinstance(task_id, str) else None


def unpack_model(
    model: bytes | str,
    event_id: str,
    kind: str,
    batch_key: str | None,
    time: datetime,
) -> Event:
    """The exact event back from its journal row's columns."""
    fields = _fields(model, event_id)
    fields.update(event_id=event_id, kind=kind, batch_key=batch_key, time=time)
    return EVENT_ADAPTER.validate_python(fields)
