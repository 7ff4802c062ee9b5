"""What the daemon tells a person at a terminal about itself: the start-up banner (version,
config file, store, sources, receivers, alert rules, the dashboard's URL) and, every
``log.summary_interval`` seconds, a summary line (inputs, notifications sent, dead letters,
alerts firing). Both are log events (``daemon.banner``, ``daemon.summary``) that the
daemon emits only on a terminal; ``console.py`` renders them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Metric
from yarl import URL

from batchrelay import __version__
from batchrelay.config import Settings
from batchrelay.metrics import Metrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Console:
    """The daemon runs in front of a person: where its config came from, and how often to
    sum up."""

    config_path: str | None
    summary_interval: float


# -- the banner -----------------------------------------------------------------------------


def banner_fields(settings: Settings, config_path: str | None) -> dict[str, Any]:
    """What the banner shows, as plain values (no secrets)."""
    server = settings.server
    host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
    queues = [f"MNS queue {q.queue} at {q.endpoint} ({q.pollers} pollers)"
              for q in settings.sources.mns_queues]  # fmt: skip
    pushes = [f"/ingest/{name.replace('_push', '').replace('_', '')}"
              for name in ("mns_push", "eventbridge", "ice")
              if getattr(settings.ingress, name).enabled]  # fmt: skip
    demo = settings.demo
    return {
        "version": __version__,
        "config": config_path or "(built-in defaults)",
        "store": _without_password(settings.store.url),
        "sources": [*queues, f"pushes to {', '.join(pushes)}" if pushes else "no pushes"],
        "demo": f"MNS emulator on port {demo.emulator_port}, a round of simulated batches "
        f"every {demo.every:g}s"
        if demo.enabled
        else None,
        "receivers": [f"{name} ({cfg.type})" for name, cfg in settings.receivers.items()],
        "rules": [rule.name for rule in settings.alerts.rules],
        "dashboard": server.public_url or f"http://{host}:{server.port}/",
    }


def _without_password(url: str) -> str:
    if url.startswith("sqlite:"):
        return url
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


# -- the summary line -------------------------------------------------------------------------


class Summary:
    """Every ``interval`` seconds, what happened since the last line."""

    def __init__(self, metrics: Metrics, interval: float) -> None:
        self.metrics, self.interval = metrics, interval
        self._last = self.totals()
        self._stopping = asyncio.Event()

    def totals(self) -> dict[str, float]:
        m = self.metrics
        return {
            "inputs": _sum(m.inputs, outcome="committed"),
            "duplicates": _sum(m.inputs, outcome="duplicate"),
            "quarantined": _sum(m.inputs, outcome="quarantined"),
            "sent": _sum(m.deliveries, outcome="delivered"),
            "dead": _sum(m.deliveries, outcome="dead"),
            "firing": _sum(m.alerts, state="firing"),
        }

    def line(self) -> dict[str, int]:
        now = self.totals()
        counted = {key: int(now[key] - self._last[key]) for key in now if key != "firing"}
        self._last = now
        return {**counted, "firing": int(now["firing"]), "seconds": int(self.interval)}

    async def run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            if not self._stopping.is_set():
                log.info("daemon.summary", **self.line())

    def stop(self) -> None:
        self._stopping.set()


def _sum(metric: Any, **labels: str) -> float:
    collected: list[Metric] = list(metric.collect())
    return sum(
        sample.value
        for family in collected
        for sample in family.samples
        if not sample.name.endswith("_created")
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )
