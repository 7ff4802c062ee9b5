"""Raw bodies are stored packed (store/packing.py) and read back byte for byte."""

from __future__ import annotations

import os
import sqlite3

import pytest

from batchrelay.errors import StoreError
from batchrelay.store.packing import PACKING, pack, unpack

from ..conftest import SAMPLES
from .conftest import SQLiteStoreFactory
from .factories import imm_task, inbound

#: A real capture: an IMM task notification as EventBridge delivers it.
SAMPLES_BODY = (SAMPLES / "imm-task-eventbridge.json").read_bytes()


def test_a_body_shrinks_and_comes_back_byte_for_byte() -> None:
    packed, packing = pack(SAMPLES_BODY)
    assert packing == PACKING and len(packed) * 2 < len(SAMPLES_BODY)
    assert unpack(packed, packing) == SAMPLES_BODY


def test_a_body_that_would_not_shrink_is_stored_as_sent() -> None:
    noise = os.urandom(300)
    assert pack(noise) == (noise, "")
    assert unpack(noise, "") == noise and unpack(None, None) == b""


def test_an_unknown_packing_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="lz4"):
        unpack(b"\x00", "lz4:x")


async def test_the_store_keeps_the_packed_bytes_and_reads_the_body(
    sqlite_store_factory: SQLiteStoreFactory,
) -> None:
    store = await sqlite_store_factory()
    event = imm_task("t1", "running", 1, batch_key="B")
    await store.commit(inbound(event, raw=SAMPLES_BODY))
    [(_, back)] = await store.read_journal(0, 10)
    assert back.raw == SAMPLES_BODY
    with sqlite3.connect(store.path) as conn:
        [(size, packing)] = conn.execute("SELECT length(body), packing FROM raw_inputs")
    assert packing == PACKING and size * 2 < len(SAMPLES_BODY)


def test_a_body_packed_with_the_first_dictionary_is_still_read() -> None:
    from importlib.resources import files

    import zstandard

    first = zstandard.ZstdCompressionDict(
        files("batchrelay.store").joinpath("dictionaries", "raw-1.zdict").read_bytes()
    )
    packed = zstandard.ZstdCompressor(dict_data=first, write_dict_id=False).compress(SAMPLES_BODY)
    assert PACKING != "zstd:raw-1"
    assert unpack(packed, "zstd:raw-1") == SAMPLES_BODY
