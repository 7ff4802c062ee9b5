"""The filters templates format values with: ``pct``, ``duration``, ``truncate_list``,
``tojson`` and escaping per format (``md``, ``html``, ``slack``). Pure."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any


def pct(value: Any, digits: int = 1) -> str:
    """A ratio as a percentage: 0.0421 → "4.2%"; nothing → "n/a"."""
    if value is None or value == "":
        return "n/a"
    return f"{float(value) * 100:.{max(0, min(int(digits), 6))}f}%"


def duration(value: Any) -> str:
    """Seconds (or a timedelta) as "2d 03h 04m", "1h 02m 03s", "4m 05s" or "6.2s"."""
    if value is None or value == "":
        return "n/a"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def truncate_list(items: Iterable[Any], n: int = 10) -> list[Any]:
    """The first ``n`` items; pair with ``items|length - n`` for the "N more" line."""
    return list(items)[: max(0, int(n))]


def tojson(value: Any, indent: int | None = None) -> str:
    """Plain JSON (not HTML-escaped): for JSON bodies built by a template."""
    return json.dumps(value, ensure_ascii=False, default=str, indent=indent)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]])")


def md(value: Any) -> str:
    """Escape Markdown emphasis, code and link characters with backslashes."""
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def html(value: Any) -> str:
    """Escape for HTML text and attribute values (email, Telegram)."""
    return html_lib.escape(str(value), quote=True)


def slack(value: Any) -> str:
    """Escape for Slack mrkdwn: only &, < and > are control characters there."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
