"""What ``/metrics`` shows besides the daemon's own metrics, and in which format.

The conventions of the Prometheus ecosystem, so the dashboards and alerts people already
have for other exporters work here too:

* the process collector (``process_cpu_seconds_total``, ``process_resident_memory_bytes``,
  ``process_open_fds``, ``process_start_time_seconds``, …) and the platform collector
  (``python_info``);
* ``batchrelay_build_info``, always 1, whose labels say which build runs;
* no ``*_created`` series: one per counter and histogram child, which nobody queries;
* OpenMetrics when the scraper asks for it (``Accept: application/openmetrics-text``, as
  Prometheus does), else the classic text format.
"""

from __future__ import annotations

import platform

import prometheus_client
from prometheus_client import CollectorRegistry, Info, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

from batchrelay import __version__

# A process-wide switch of prometheus-client, set before any metric is made.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


def add_runtime_collectors(registry: CollectorRegistry) -> None:
    """Register the process, platform and build-info collectors on ``registry``."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    build = Info("batchrelay_build", "The running build of batchrelay.", registry=registry)
    build.info({"version": __version__, "python": platform.python_version()})


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """``registry`` in the format ``accept`` asks for: (body, Content-Type)."""
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
