"""JSON read strictly, as a notification body must be: no NaN or Infinity, finite numbers,
no NUL characters or unpaired surrogates in strings, and a bounded nesting depth. Every
problem is a :class:`~batchrelay.errors.DecodeError` with its closed reason. Pure, no I/O."""

from __future__ import annotations

import json
import math
from typing import Any

from batchrelay.errors import DecodeError, InputReason

#: JSON nested deeper than this is refused: nothing we receive needs it, and later stages
#: (hashing, storage, rendering) recurse over the payload.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


# One decoder for all calls: json.loads(text, **options) would build one per call.
# NaN, Infinity and overflowing floats are refused: stores and receivers cannot hold them.
DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def load_json(text: str) -> Any:
    try:
        value = DECODER.decode(text)
    except json.JSONDecodeError as error:
        detail = f"{error.msg} at line {error.lineno} column {error.colno}"
        raise DecodeError(InputReason.BAD_JSON, detail) from None
    except RecursionError:
        raise DecodeError(InputReason.BAD_JSON, "JSON nested too deeply") from None
    except ValueError as error:  # integer too long to convert, NaN, float overflow
        raise DecodeError(InputReason.BAD_JSON, number_problem(error)) from None
    _check_depth(value, text)
    _check_surrogates(value, text)
    if "\\u0000" in text and _has_nul(value):
        # No service sends one; PostgreSQL text cannot hold it. Refused the same on either
        # store, so the choice of store never decides whether an input is accepted.
        raise DecodeError(InputReason.BAD_ENCODING, "NUL character (\\u0000) in a string")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _check_surrogates(value: Any, text: str) -> None:
    """A ``\ud800``-style escape with no partner decodes to a string nothing can store or
    send (not UTF-8): refuse it here, so it is quarantined instead of failing every commit.
    Only texts holding such an escape pay for the check."""
    if "\\ud" not in text and "\\uD" not in text:
        return
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise DecodeError(
            InputReason.BAD_ENCODING, "unpaired surrogate escape in a string"
        ) from None


def number_problem(error: ValueError) -> str:
    message = str(error)
    return "integer too long" if "digits" in message else message[:60]


def _check_depth(value: Any, text: str) -> None:
    # Counting brackets is a fast C scan; only bodies with many of them get walked.
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        return
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        node, depth = level.pop()
        if depth > MAX_JSON_DEPTH:
            raise DecodeError(InputReason.BAD_JSON, f"JSON nested deeper than {MAX_JSON_DEPTH}")
        children = node.values() if isinstance(node, dict) else node
        level.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def json_object(text: str, field: str) -> dict[str, Any]:
    """A JSON string field that must hold an object (IMM ``content``, ICE ``MessageBody``)."""
    try:
        value = load_json(text)
    except DecodeError as error:
        raise DecodeError(error.reason, f"{field}: {error.detail}") from None
    if not isinstance(value, dict):
        raise DecodeError(InputReason.WRONG_TYPE, f"{field} holds a JSON {json_type(value)}")
    return value


def json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"
