"""What a reload applies and what it leaves for a restart (``reload.py``), on settings."""

from __future__ import annotations

from typing import Any

from batchrelay.config import Settings, from_mapping
from batchrelay.metrics import Metrics
from batchrelay.reload import Reloader, applicable, needs_restart

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


def test_subscriptions_wait_for_a_restart() -> None:
    """Their routes and the commit hook that owes them events are set up at start."""
    old, new = settings(), settings(subscriptions={"enabled": False, "allow_http": True})
    assert needs_restart(old, new) == ["subscriptions"]
    assert applicable(old, new).subscriptions == old.subscriptions


class Daemon:
    """The reload's view of a daemon, recording what it was given."""

    def __init__(self, fails: Exception | None = None) -> None:
        self.settings, self.running, self.fails = settings(), True, fails
        self.applied: list[Settings] = []

    async def apply(self, new: Settings) -> None:
        if self.fails is not None:
            raise self.fails
        self.applied.append(new)
        self.settings = new


async def test_a_reload_that_fails_to_apply_says_so_and_counts_as_failed() -> None:
    registry = Metrics()
    daemon = Daemon(fails=RuntimeError("https://user:pw@hooks.example.com"))
    outcome = await Reloader(daemon, lambda: settings(delivery={"tick": 3}), registry)()
    assert outcome.errors == ["could not apply the config: RuntimeError"]
    assert registry.reload_successful._value.get() == 0


async def test_a_reload_applies_what_loads_and_names_the_rest() -> None:
    registry, daemon = Metrics(), Daemon()
    new = settings(delivery={"tick": 3}, server={"port": 9000})
    outcome = await Reloader(daemon, lambda: new, registry, clock=lambda: 1234.0)()
    assert (outcome.ok, list(outcome.needs_restart)) == (True, ["server"])
    assert daemon.applied[0].delivery.tick == 3 and daemon.applied[0].server.port == 8080
    assert registry.reload_success_time._value.get() == 1234.0


async def test_a_config_that_does_not_load_changes_nothing() -> None:
    registry, daemon = Metrics(), Daemon()

    def broken() -> Settings:
        return from_mapping({"server": {"prot": 1}}, source="c.yaml")

    outcome = await Reloader(daemon, broken, registry)()
    assert outcome.errors == ["configuration error: c.yaml: server.prot: unknown key"]
    assert daemon.applied == [] and registry.reload_successful._value.get() == 0


async def test_no_reload_while_starting_or_stopping() -> None:
    registry, daemon = Metrics(), Daemon()
    daemon.running = False
    outcome = await Reloader(daemon, settings, registry)()
    assert (outcome.busy, daemon.applied) == (True, [])
    assert registry.reload_successful._value.get() == 1  # not the config's fault
