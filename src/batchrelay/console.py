"""How the daemon's lines look on a terminal (``log.format: console``, or ``auto`` on a TTY).

The start-up banner and the summary line (``briefing.py``) are blocks of their own;
alerts firing and dead letters are highlighted; what a ``log`` receiver is sent reads as
a message; per-input lines (``input.committed`` and the like) show only at
``log.level: debug``. Everything else is structlog's console rendering. Off a terminal the
JSON lines are what they always were.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import structlog

#: One line per input or delivery: on a terminal, shown only at debug.
PER_INPUT = frozenset({"input.committed", "input.duplicate", "delivery.delivered"})

_RESET, _BOLD, _DIM = "\033[0m", "\033[1m", "\033[2m"
_RED, _GREEN, _CYAN = "\033[31m", "\033[32m", "\033[36m"


def _render_banner(fields: Mapping[str, Any], paint: Callable[[str, str], str]) -> str:
    rows = [
        ("config", fields["config"]),
        ("store", fields["store"]),
        ("sources", "\n             ".join(fields["sources"])),
        ("demo", fields["demo"]),
        ("receivers", ", ".join(fields["receivers"]) or "none: nothing is sent"),
        ("alerts", f"{len(fields['rules'])} rules: {', '.join(fields['rules'])}"
         if fields["rules"] else "no rules"),
        ("dashboard", paint(_BOLD + _CYAN, fields["dashboard"])),
    ]  # fmt: skip
    lines = [paint(_BOLD, f"batchrelay {fields['version']}")]
    lines += [f"  {name:<10} {value}" for name, value in rows if value]
    return "\n".join(lines)


# -- rendering ----------------------------------------------------------------------------------


def quiet_per_input(level: str) -> structlog.typing.Processor:
    """Drops per-input lines unless the level is debug."""

    def drop(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if level != "debug" and event.get("event") in PER_INPUT:
            raise structlog.DropEvent
        return event

    return drop


class ConsoleRenderer:
    """structlog's console renderer, with the daemon's own lines made readable."""

    def __init__(self, colors: bool) -> None:
        self.colors = colors
        self.plain = structlog.dev.ConsoleRenderer(colors=colors, pad_event_to=24)
        self.special: dict[str, Callable[[MutableMapping[str, Any]], str]] = {
            "daemon.banner": lambda e: _render_banner(e, self.paint),
            "daemon.summary": self._summary,
            "notification": self._notification,
            "alerts.firing": lambda e: self._alert(e, "ALERT", _RED, "firing"),
            "alerts.repeat": lambda e: self._alert(e, "ALERT", _RED, "still firing"),
            "alerts.resolved": lambda e: self._alert(e, "RESOLVED", _GREEN, "resolved"),
            "alerts.digest": self._digest,
            "delivery.dead": self._dead,
        }

    def paint(self, style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if self.colors else text

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
        special = self.special.get(str(event.get("event")))
        if special is None:
            return str(self.plain(logger, name, event))
        return f"{self.paint(_DIM, str(event.get('timestamp', '')))} {special(event)}"

    def _summary(self, e: Mapping[str, Any]) -> str:
        inputs = f"{e['inputs']} inputs"
        extra = [f"{e[k]} {k}" for k in ("duplicates", "quarantined") if e[k]]
        if extra:
            inputs += f" ({', '.join(extra)})"
        firing = f"{e['firing']} alert{'s' if e['firing'] != 1 else ''} firing"
        dead = f"{e['dead']} dead letter{'s' if e['dead'] != 1 else ''}"
        text = (f"last {e['seconds']}s: {inputs} · {e['sent']} notifications sent · "
                f"{self.paint(_RED + _BOLD, dead) if e['dead'] else dead} · "
                f"{self.paint(_RED + _BOLD, firing) if e['firing'] else firing}")  # fmt: skip
        return self.paint(_DIM, "summary ") + text

    def _notification(self, e: Mapping[str, Any]) -> str:
        head = self.paint(_BOLD + _CYAN, f"▶ {e.get('receiver')}: {e.get('title')}")
        body = "\n".join(f"    {line}" for line in str(e.get("text", "")).splitlines())
        return f"{head}\n{body}" if body else head

    def _alert(self, e: Mapping[str, Any], word: str, colour: str, what: str) -> str:
        text = f"{word} {e.get('rule')} {what} for batch {e.get('batch_key')}"
        value = f"  {e['value']}" if e.get("value") else ""
        return self.paint(_BOLD + colour, text) + self.paint(_DIM, value)

    def _digest(self, e: Mapping[str, Any]) -> str:
        return self.paint(_BOLD, f"DONE batch {e.get('batch_key')} {e.get('state')}")

    def _dead(self, e: Mapping[str, Any]) -> str:
        text = f"DEAD LETTER to {e.get('receiver')} (delivery {e.get('delivery_id')})"
        return (
            self.paint(_BOLD + _RED, text) + f": {e.get('reason')} after {e.get('attempt')} tries"
        )
