"""One HTTP request to a platform, with every transport failure classified.

Every HTTP notifier sends through :func:`post`: it bounds the time and the answer size,
never follows redirects, turns ``aiohttp`` exceptions into :class:`SendError` (timeouts →
``timeout``, anything that kept us from a full answer → ``connection``), and scrubs the
receiver's secrets out of any text that reaches an error message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from yarl import URL

from batchrelay.notifiers.base import FailureReason, SendError, send_error

#: Most of an answer we read: platforms answer with a few hundred bytes of JSON.
MAX_ANSWER_BYTES = 64 * 1024
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Reply:
    """What the platform answered."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Redactor:
    """Removes known secret strings (tokens, keys, whole URLs) from text."""

    secrets: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, values: Iterable[str | None]) -> Redactor:
        found: set[str] = set()
        for value in values:
            if value:
                found.add(value)
                found.update(_url_parts(value))
        # Longest first, so a URL is replaced whole before the token inside it.
        kept = sorted((v for v in found if len(v) >= 4), key=len, reverse=True)
        return cls(tuple(kept))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


def _url_parts(value: str) -> Iterator[str]:
    """The pieces of a secret URL that may be echoed on their own: path segments and query
    values (where webhook tokens live), the password, and the path with its query."""
    if not value.startswith(("http://", "https://")):
        return
    try:
        url = URL(value)
    except ValueError:
        return
    yield url.raw_path_qs
    yield url.path_qs
    yield from (segment for segment in url.path.split("/") if _tokenish(segment))
    yield from (item for item in url.query.values() if _tokenish(item))
    if url.password:
        yield url.password


def _tokenish(text: str) -> bool:
    """Long, or short with digits: tokens and keys, not words like ``alerts``."""
    return len(text) >= 16 or (len(text) >= 6 and any(c.isdigit() for c in text))


def receiver_session(limit: int) -> aiohttp.ClientSession:
    """One receiver's own pool of keep-alive connections, at most ``limit`` open (what the
    dispatcher sends to it at once): a busy receiver reuses its connections instead of
    opening one per message, and a slow one cannot hold the connections another needs."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))


async def post(
    session: aiohttp.ClientSession,
    url: str | URL,
    *,
    body: bytes,
    seconds: float,
    redact: Redactor,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """POST ``body`` (already serialized, so signatures cover the exact bytes), bounded by
    ``seconds`` for the whole exchange (aiohttp's own timeout, so the socket is released)."""
    sent = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        async with session.post(
            url,
            data=body,
            headers=sent,
            timeout=aiohttp.ClientTimeout(total=seconds),
            allow_redirects=False,
        ) as response:
            answer = await response.content.read(MAX_ANSWER_BYTES)
            return Reply(response.status, dict(response.headers), answer)
    except Exception as exc:  # classified here so nothing past a notifier sees aiohttp
        raise classify_exception(exc, redact) from None


def classify_exception(exc: BaseException, redact: Redactor) -> SendError:
    """A transport failure as a :class:`SendError`; anything unknown is re-raised."""
    name = type(exc).__name__
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return send_error(FailureReason.TIMEOUT, f"no answer in time ({name})")
    if isinstance(exc, aiohttp.InvalidURL):
        return send_error(FailureReason.CLIENT_ERROR, "invalid URL")  # its text is the URL
    if isinstance(exc, aiohttp.ClientError | OSError | asyncio.IncompleteReadError):
        return send_error(FailureReason.CONNECTION, redact(f"{name}: {exc}"))
    raise exc


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON, the form every platform accepts. orjson makes it several times
    faster than the standard library (a body is made for every send); the standard library
    takes what orjson refuses (integers past 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
