"""Opaque pagination tokens: urlsafe base64 of a small JSON keyset.

Tokens are not signed: a well-formed but altered token only moves the page start, which
reveals nothing a caller could not list anyway. Anything malformed raises
:class:`~batchrelay.store.base.InvalidTokenError` so the API can answer 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from batchrelay.store.base import InvalidTokenError

MAX_TOKEN_LENGTH = 2048  # far above any token we issue; bounds the work a bad one costs


def encode_token(keyset: Mapping[str, Any]) -> str:
    raw = json.dumps(keyset, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str, schema: Mapping[str, type]) -> dict[str, Any]:
    """The keyset in ``token``; it must hold exactly the keys of ``schema``, typed as given."""
    keyset = _load(token)
    if not isinstance(keyset, dict) or keyset.keys() != schema.keys():
        raise InvalidTokenError("next_token is not one this store issued")
    for key, kind in schema.items():
        # bool is an int subclass; a keyset never holds booleans, so refuse them explicitly
        if not isinstance(keyset[key], kind) or isinstance(keyset[key], bool):
            raise InvalidTokenError("next_token is not one this store issued")
    return keyset


def _load(token: str) -> Any:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidTokenError("next_token is too long")
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        return json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidTokenError("next_token is malformed") from exc
