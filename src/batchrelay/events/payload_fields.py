"""Reading one field of a service payload: as text, as an identifier, or a ``ParseError``
(``wrong_type``) naming the field and what it held. Pure, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from batchrelay.errors import InputReason, ParseError

MAX_COUNT = 2**63 - 1  # what a store's BIGINT holds


def text(obj: Mapping[str, Any], key: str, where: str = "") -> str:
    """A string field; absent or null reads as ""; any other JSON type is an error."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise wrong_type(where + key, "a string", value)
    return value


def ident(obj: Mapping[str, Any], key: str) -> str | None:
    """An identifier: a non-empty string, or an integer (ICE ``UserId``)."""
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(obj, key) or None


def loose_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_text(value: Any) -> str:
    """Tag values and the like as strings: JSON spelling for everything not a string."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def wrong_type(field: str, expected: str, value: Any) -> ParseError:
    return ParseError(InputReason.WRONG_TYPE, f"{field} must be {expected}, not {json_type(value)}")


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return (
            "a number" if isinstance(value, float) or abs(value) <= MAX_COUNT else "a huge number"
        )
    names = {dict: "an object", list: "an array", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)
