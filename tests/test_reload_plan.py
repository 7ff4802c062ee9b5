"""What a reload applies and what it leaves for a restart (``reload.py``), on settings."""

from __future__ import annotations

from typing import Any

from batchrelay.config import Settings, from_mapping
from batchrelay.reload import applicable, needs_restart

HOOK = {"type": "webhook", "url": "https://hooks.example.com/a"}
RULE = {"name": "failed", "condition": 'status == "failed"'}


def settings(**sections: Any) -> Settings:
    return from_mapping({"receivers": {"ops": HOOK}, **sections})


def test_live_changes_need_no_restart() -> None:
    old = settings()
    new = settings(receivers={"ops": HOOK, "pager": HOOK}, delivery={"tick": 2},
                   log={"level": "debug"}, api={"token": "t"},
                   ingress={"eventbridge": {"token": "x"}})  # fmt: skip
    assert needs_restart(old, new) == []
    assert applicable(old, new) == new


def test_start_only_changes_are_named_and_kept_as_they_run() -> None:
    old = settings(alerts={"rules": [RULE]})
    new = settings(server={"port": 9999, "drain_timeout": 3}, store={"url": "sqlite:///b.db"},
                   log={"format": "console", "level": "debug"},
                   ingress={"ice": {"enabled": False, "window": 30}},
                   alerts={"rules": [], "digest": {"enabled": False}})  # fmt: skip
    assert needs_restart(old, new) == [
        "server", "store", "log.format", "ingress.ice.enabled",
        "alerts (evaluation turned on or off)",
    ]  # fmt: skip
    applied = applicable(old, new)
    assert (applied.server, applied.store, applied.log.format) == (
        old.server, old.store, old.log.format)  # fmt: skip
    assert applied.ingress.ice.enabled is True  # its route was registered at start
    assert applied.ingress.ice.window == 30  # its verification applies
    assert applied.log.level == "debug"
    assert applied.alerts == new.alerts
