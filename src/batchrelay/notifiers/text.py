"""Fitting rendered text into platform size limits: truncate with a marker, or split.

Cuts fall on line boundaries when one is near, so a list item or an HTML line is never
cut in half unless a single line is longer than the whole limit.
"""

from __future__ import annotations

MARKER = "\n… truncated: {n} more characters not shown"


def fit_chars(text: str, limit: int, marker: str = MARKER) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and a visible marker."""
    if len(text) <= limit:
        return text
    room = max(0, limit - len(marker.format(n=len(text))))
    head = _at_line(text[:room]).rstrip("\n")
    return head + marker.format(n=len(text) - len(head))


def fit_bytes(text: str, limit: int, marker: str = MARKER) -> str:
    """Like :func:`fit_chars` for limits counted in UTF-8 bytes (WeCom, DingTalk, Lark)."""
    if len(text.encode()) <= limit:
        return text
    room = max(0, limit - len(marker.format(n=len(text)).encode()))
    head = _at_line(text.encode()[:room].decode("utf-8", "ignore")).rstrip("\n")
    return head + marker.format(n=len(text) - len(head))


def split_chars(text: str, limit: int, max_parts: int, marker: str = MARKER) -> list[str]:
    """At most ``max_parts`` pieces of at most ``limit`` characters; the last may be
    truncated with a marker when even that many pieces cannot hold the text."""
    parts: list[str] = []
    rest = text
    while rest and len(parts) < max_parts - 1 and len(rest) > limit:
        head = _at_line(rest[:limit])
        parts.append(head.rstrip("\n"))
        rest = rest[len(head) :].lstrip("\n")
    parts.append(fit_chars(rest, limit, marker))
    return [part for part in parts if part.strip()] or [text[:limit]]


def _at_line(head: str) -> str:
    """Back off to the last line break when it keeps at least half of ``head``."""
    cut = head.rfind("\n")
    return head[: cut + 1] if cut >= len(head) // 2 else head
