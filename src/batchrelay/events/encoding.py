"""A pushed body's ``Content-Encoding`` taken off, within a size bound. Pure, no I/O.

The body is kept as it was sent (that is what the store and the quarantine hold); this
gives the bytes to decode. ``deflate`` is accepted both ways it is sent in practice: as
the zlib format the standard names, and as bare deflate data. Output past ``limit`` bytes
is refused, so a small compressed body cannot make a large one (a "zip bomb").
"""

from __future__ import annotations

import zlib

from batchrelay.errors import DecodeError, InputReason

__all__ = ["decoded_body"]

_GZIP = zlib.MAX_WBITS | 16
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_CHUNK = 64 * 1024


def decoded_body(raw: bytes, encoding: str, limit: int) -> bytes:
    """``raw`` without its content coding; raises ``DecodeError`` when that cannot be done."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    body = raw
    for coding in reversed(codings):  # listed in the order they were applied
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, _GZIP, "gzip", limit)
        elif coding == "deflate":
            try:
                body = _inflate(body, _ZLIB, "deflate", limit)
            except DecodeError as error:
                if error.reason is not InputReason.BAD_ENCODING:
                    raise
                body = _inflate(body, _RAW_DEFLATE, "deflate", limit)
        else:
            raise DecodeError(InputReason.BAD_ENCODING, "unsupported Content-Encoding")
    return body


def _inflate(data: bytes, wbits: int, name: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    try:
        while pending:
            out += inflater.decompress(pending, _CHUNK)
            if len(out) > limit:
                raise DecodeError(
                    InputReason.TOO_LARGE, f"{name} body decompresses past {limit} bytes"
                )
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        out += inflater.flush()
    except zlib.error:
        raise DecodeError(InputReason.BAD_ENCODING, f"corrupt {name} body") from None
    if not inflater.eof:
        raise DecodeError(InputReason.BAD_ENCODING, f"truncated {name} body")
    if inflater.unused_data.strip(b"\0"):
        raise DecodeError(InputReason.BAD_ENCODING, f"data after the end of the {name} body")
    if len(out) > limit:
        raise DecodeError(InputReason.TOO_LARGE, f"{name} body decompresses past {limit} bytes")
    return bytes(out)
