"""Identifiers the emulator hands out: message ids, receipt handles, request ids.

A random per-process prefix plus a counter keeps them unique and cheap (no ``uuid4`` per
message). Receipt handles use only ``[0-9A-F-]`` because the Python SDK puts them into the
query string without escaping.
"""

from __future__ import annotations

import itertools
import secrets


class Ids:
    """Hands out unique identifiers in the shapes MNS uses."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8).upper()
        self._counter = itertools.count(1)

    def message_id(self) -> str:
        """32 upper-case hex digits, like ``0909FF0D9C3A630C372B8A14BD2011B6``."""
        return f"{self._prefix}{next(self._counter):016X}"

    def receipt_handle(self) -> str:
        """A fresh handle for one receive; a message gets a new one every time."""
        return f"1-{self._prefix}-{next(self._counter):X}"

    def request_id(self) -> str:
        """24 upper-case hex digits, sent back as ``x-mns-request-id``."""
        return f"{self._prefix[:8]}{next(self._counter):016X}"
