"""``batchrelay routes test``: which routes and receivers an event (or an alert notice or a
digest: ``preview/notices.py``) takes, and the messages they would get, rendered by the real
notifiers without sending anything.

HTTP receivers are given a session that records each request and answers like a platform
that accepted it; the request bodies are what the preview prints. Nothing leaves the host.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from yarl import URL

from batchrelay.config import Settings
from batchrelay.events.models import EventBase
from batchrelay.notifiers.base import Notification, SendError
from batchrelay.notifiers.registry import build_notifier
from batchrelay.routing.tree import RouteMatch, RouteTree

# Every platform's way of saying "accepted": DingTalk/WeCom errcode, Lark code, Telegram ok.
_ACCEPTED = b'{"errcode":0,"errmsg":"ok","code":0,"msg":"success","ok":true,"result":{}}'


@dataclass
class _Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content(self) -> _Reply:
        return self

    async def read(self, limit: int = -1) -> bytes:
        return _ACCEPTED

    async def __aenter__(self) -> _Reply:
        return self

    async def __aexit__(
        self, *exc: type[BaseException] | BaseException | TracebackType | None
    ) -> None:
        return None


@dataclass
class RecordingSession:
    """Stands in for ``aiohttp.ClientSession`` in previews: records, never connects."""

    requests: list[tuple[str, bytes]] = field(default_factory=list)

    def post(self, url: str | URL, *, data: bytes = b"", **_: Any) -> _Reply:
        self.requests.append((URL(str(url)).host or "", bytes(data)))
        return _Reply()

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Preview:
    match: RouteMatch
    kind: str
    messages: list[tuple[str, Any]]  # (host, body as JSON or text)
    error: str = ""


async def preview(settings: Settings, event: EventBase, now: datetime) -> list[Preview]:
    """Every route ``event`` takes, with the messages each receiver would be sent."""
    if settings.routing is None:
        return []
    view = event.normalized()
    return await preview_view(settings, view, RouteTree(settings.routing).match(view, now), now)


async def preview_view(
    settings: Settings,
    view: dict[str, Any],
    matches: list[RouteMatch],
    now: datetime,
    batch: dict[str, Any] | None = None,
) -> list[Preview]:
    """The messages each of ``matches`` would send for ``view`` (and its batch's JSON)."""
    return [await _render(settings, match, view, now, batch) for match in matches]


async def _render(
    settings: Settings,
    match: RouteMatch,
    view: dict[str, Any],
    now: datetime,
    batch: dict[str, Any] | None,
) -> Preview:
    config = settings.receivers[match.receiver]
    session = RecordingSession()
    notifier = build_notifier(match.receiver, config, session)  # type: ignore[arg-type]
    notification = Notification(
        id=uuid.uuid4().hex, receiver=match.receiver, route=match.route,
        group_key=match.group_key, events=[view], batch=batch, created_at=now.astimezone(UTC),
        public_url=settings.server.public_url,
    )  # fmt: skip
    error = ""
    try:
        if config.type == "null":
            pass  # sends nothing: the CLI says so
        elif config.type in ("email", "mns_topic"):
            error = f"{config.type} receivers are not previewed (they do not speak HTTP)"
        else:
            await notifier.send(notification)
    except SendError as exc:
        error = str(exc)
    finally:
        await notifier.close()
    return Preview(match, config.type, list(_bodies(session)), error)


def _bodies(session: RecordingSession) -> Iterator[tuple[str, Any]]:
    for host, body in session.requests:
        try:
            yield host, json.loads(body)
        except ValueError:
            yield host, body.decode("utf-8", "replace")
