"""Compression of stored raw bodies: zlib and zstd, with and without a trained dictionary.

Bodies come from the simulator (IMM batches and triggers, ICE batches; the MNS envelope,
EventBridge CloudEvents and ICE callbacks), a JSON body in one of three layouts in turn
(compact, as the simulator writes it; spaced after ``,`` and ``:``; indented, as the
samples under /work/shared/samples are), since senders lay JSON out their own way: a
dictionary is trained on one seed's traffic and every codec is
measured on another seed's, so the dictionary is not judged on what it learnt. Printed:
mean stored size, ratio to the body and time per body for each codec.

``--train PATH`` also writes the dictionary there (the store ships
``src/batchrelay/store/dictionaries/raw-2.zdict``, made by this script with its defaults;
``raw-1.zdict`` was trained on compact bodies only, and stays for the bodies packed with it).

The journal's models (store/journal_codec.py: an event's JSON without the fields its row
has in columns) are measured the same way, parsed from the same bodies, with an 8 KiB
dictionary, and bench/ingest.py's CloudEvent besides; ``--train-models PATH`` writes that
dictionary (the store ships ``store/dictionaries/model-1.zdict``, made with the defaults).

    python bench/compression.py [--samples 4000] [--train PATH] [--train-models PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import zstandard

from batchrelay.simulate import SimulateOptions, encode, generate

DICT_SIZE = 16 * 1024
MODEL_DICT_SIZE = 8 * 1024
START = datetime(2026, 11, 20, 2, tzinfo=UTC)


def bodies(seed: int, samples: int) -> list[bytes]:
    """About ``samples`` bodies of every kind and wire the simulator knows, mixed."""
    out: list[bytes] = []
    plans = [("imm-batch", ("mns", "eventbridge")), ("imm-trigger", ("mns", "eventbridge")),
             ("ice-batch", ("mns", "ice"))]  # fmt: skip
    for kind, wires in plans:
        options = SimulateOptions(kind=kind, batches=4, tasks=samples // 20, seed=seed,
                                  failure_ratio=0.1, start_time=START)  # type: ignore[arg-type]  # fmt: skip
        events = generate(options.spec(START)).events
        for n, event in enumerate(events):
            out.append(laid_out(encode(event, wires[n % len(wires)]), n))  # type: ignore[arg-type]
    return out


def laid_out(body: bytes, n: int) -> bytes:
    """``body`` as it is, spaced, or indented, by ``n``; a body that is not JSON as it is."""
    if n % 3 == 0:
        return body
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    return json.dumps(doc, indent=2 if n % 3 == 2 else None, ensure_ascii=False).encode()


def models(data: list[bytes]) -> list[bytes]:
    """The journal's uncompressed model of each event in ``data``."""
    from batchrelay.errors import InputError
    from batchrelay.events.decode import decode
    from batchrelay.events.parse import parse
    from batchrelay.store.journal_codec import model_json

    out = []
    for body in data:
        for ingress, headers in WIRES:
            try:
                docs = decode(body, ingress, headers)  # type: ignore[arg-type]
                out += [model_json(parse(doc, ingress, received_at=START)) for doc in docs]  # type: ignore[arg-type]
                break
            except InputError:
                continue
    return out


WIRES = (("eventbridge", {"content-type": "application/cloudevents+json"}), ("mns", {}),
         ("ice", {}))  # fmt: skip


def measure(name: str, pack: Callable[[bytes], bytes], data: list[bytes]) -> None:
    started = time.perf_counter()
    packed = [pack(body) for body in data]
    took = (time.perf_counter() - started) / len(data)
    raw, stored = statistics.mean(map(len, data)), statistics.mean(map(len, packed))
    print(f"  {name:<28} {stored:7.1f} B   ratio {raw / stored:5.2f}   {took * 1e6:6.1f} µs/body")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--train", metavar="PATH", help="write the trained dictionary here")
    parser.add_argument("--train-models", metavar="PATH", help="write the model dictionary here")
    args = parser.parse_args()
    train, test = bodies(1, args.samples), bodies(2, args.samples)
    dictionary = zstandard.train_dictionary(DICT_SIZE, train)
    print(f"{len(train)} bodies to train on, {len(test)} to measure "
          f"(mean {statistics.mean(map(len, test)):.0f} B):")  # fmt: skip
    measure("zlib level 6", lambda b: zlib.compress(b, 6), test)
    measure("zlib level 9", lambda b: zlib.compress(b, 9), test)
    for level in (3, 9):
        measure(f"zstd level {level}", zstandard.ZstdCompressor(level=level).compress, test)
    for level in (3, 6):
        with_dict = zstandard.ZstdCompressor(
            level=level, dict_data=dictionary, write_checksum=False
        )
        measure(f"zstd level {level}, {DICT_SIZE // 1024} KiB dictionary", with_dict.compress, test)
    from ingest import cloud_event

    print("bench/ingest.py's CloudEvent:")
    level_3 = zstandard.ZstdCompressor(level=3, dict_data=dictionary, write_checksum=False)
    measure("zstd level 3, the dictionary", level_3.compress,
            [cloud_event("raw") for _ in range(1000)])  # fmt: skip
    if args.train:
        Path(args.train).write_bytes(dictionary.as_bytes())
        print(f"dictionary {dictionary.dict_id()} written to {args.train}")
    measure_models(train, test, args.train_models)


def measure_models(train: list[bytes], test: list[bytes], write: str | None) -> None:
    from ingest import cloud_event

    model_train, model_test = models(train), models(test)
    bench = models([cloud_event("models") for _ in range(1000)])
    dictionary = zstandard.train_dictionary(MODEL_DICT_SIZE, model_train)
    for name, data in ((f"{len(model_test)} models", model_test), ("bench/ingest.py's", bench)):
        print(f"{name} (mean {statistics.mean(map(len, data)):.0f} B):")
        measure("zstd level 3", zstandard.ZstdCompressor(level=3).compress, data)
        for level in (3, 19):
            packer = zstandard.ZstdCompressor(
                level=level, dict_data=dictionary, write_checksum=False, write_dict_id=False
            )
            measure(f"zstd level {level}, 8 KiB dictionary", packer.compress, data)
    if write:
        Path(write).write_bytes(dictionary.as_bytes())
        print(f"model dictionary {dictionary.dict_id()} written to {write}")


if __name__ == "__main__":
    main()
