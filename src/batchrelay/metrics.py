"""Prometheus metrics, one registry per daemon (so tests can run several side by side)."""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase

from batchrelay.exposition import add_runtime_collectors

__all__ = ["CONTENT_TYPE_LATEST", "Children", "Metrics"]

M = TypeVar("M", bound=MetricWrapperBase)


class Children(Generic[M]):
    """The children of one labelled metric, by label values in declaration order.

    ``metric.labels(...)`` validates and locks on every call; on a per-event path a dict
    lookup is enough. Only for metrics whose children are never removed.
    """

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class Metrics:
    """Every metric the daemon exports. Label values come from closed sets."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        add_runtime_collectors(r)  # process, platform, batchrelay_build_info
        self.inputs = Counter(
            "batchrelay_inputs_total",
            "Inputs by ingress and outcome (committed, duplicate, quarantined, rejected, "
            "unavailable).",
            ["ingress", "outcome"],
            registry=r,
        )
        self.duplicates = Counter(
            "batchrelay_duplicates_total",
            "Events whose id was already journaled (redeliveries).",
            ["ingress"],
            registry=r,
        )
        self.quarantined = Counter(
            "batchrelay_quarantined_total",
            "Inputs kept in quarantine, by reason.",
            ["ingress", "reason"],
            registry=r,
        )
        self.rejected = Counter(
            "batchrelay_rejected_total",
            "Inputs refused before decoding (signature, size), by reason.",
            ["ingress", "reason"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "batchrelay_commit_seconds",
            "Time for one group commit transaction.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.group_size = Histogram(
            "batchrelay_group_commit_size",
            "Events committed together in one transaction.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.batches = Gauge(
            "batchrelay_batches", "Batches in the ledger by state.", ["state"], registry=r
        )
        # the per-event counters, by (ingress, outcome) and (ingress,)
        self.inputs_by = Children(self.inputs)
        self.duplicates_by = Children(self.duplicates)

        self._sources(r)
        self._delivery(r)
        self._timers(r)
        self._cloud_apis(r)
        self._config(r)
        self._retention(r)

    def _sources(self, r: CollectorRegistry) -> None:
        """The MNS queue pollers: receive latency, batch sizes, deletes, failures."""
        self.mns_receive_seconds = Histogram(
            "batchrelay_mns_receive_seconds",
            "Time for one MNS BatchReceiveMessage that returned messages.",
            ["queue"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.mns_batch_size = Histogram(
            "batchrelay_mns_batch_size",
            "Messages returned by one MNS receive.",
            ["queue"],
            buckets=(1, 2, 4, 8, 12, 16),
            registry=r,
        )
        self.mns_deletes = Counter(
            "batchrelay_mns_deletes_total",
            "MNS messages deleted after commit, or whose delete failed (they come back).",
            ["queue", "outcome"],
            registry=r,
        )
        self.mns_failures = Counter(
            "batchrelay_mns_failures_total",
            "MNS consumer failures by reason (network, throttled, server_error, auth_error, "
            "client_error, store).",
            ["queue", "reason"],
            registry=r,
        )

    def _delivery(self, r: CollectorRegistry) -> None:
        """Delivery: outcomes, send latency, coalescing, drops, outbox depth, breakers."""
        self.deliveries = Counter(
            "batchrelay_deliveries_total",
            "Delivery attempts by receiver, outcome (delivered, retry, dead) and reason.",
            ["receiver", "outcome", "reason"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "batchrelay_delivery_seconds",
            "Time for one delivery attempt.",
            ["receiver"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.coalesced = Counter(
            "batchrelay_coalesced_total",
            "Deliveries merged into digests because the receiver's send budget ran short.",
            ["receiver"],
            registry=r,
        )
        self.dropped = Counter(
            "batchrelay_dropped_total",
            "Notifications routed to a null receiver: dropped before the outbox.",
            ["receiver"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "batchrelay_outbox_depth",
            "Events waiting for their group (events) and deliveries waiting to send.",
            ["kind"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "batchrelay_breaker_state",
            "Circuit breaker per receiver: 1 for its current state (closed, half_open, open),"
            " 0 for the others.",
            ["receiver", "state"],
            registry=r,
        )

    def _timers(self, r: CollectorRegistry) -> None:
        """The lease, alerts and their notices."""
        self.coordinator = Gauge(
            "batchrelay_coordinator",
            "1 while this replica holds the timers' lease: it sends notifications and"
            " evaluates alerts (always 1 on SQLite).",
            registry=r,
        )
        self.alerts = Gauge(
            "batchrelay_alerts",
            "Alerts (one per rule and batch) by rule and state: pending, firing, resolved.",
            ["rule", "state"],
            registry=r,
        )
        self.alert_notices = Counter(
            "batchrelay_alert_notices_total",
            "Alert notices written to the outbox by kind (firing, repeat, resolved, digest),"
            " and those held back by a silence or inhibition (muted).",
            ["rule", "kind"],
            registry=r,
        )

    def _cloud_apis(self, r: CollectorRegistry) -> None:
        """Reconciliation with IMM and ICE, and batch actions."""
        self.reconcile_listed = Counter(
            "batchrelay_reconcile_listed_total",
            "Batches, triggers and ICE batch jobs listed by the reconciler, by service.",
            ["service"],
            registry=r,
        )
        self.reconcile_drift = Counter(
            "batchrelay_reconcile_drift_total",
            "Differences from the ledger the reconciler corrected, by service and kind"
            " (missing, state, statistic, update, task).",
            ["service", "kind"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "batchrelay_reconcile_api_errors_total",
            "Failed IMM/ICE API calls of the reconciler by reason (throttled, auth_error,"
            " not_found, client_error, server_error, connection).",
            ["service", "reason"],
            registry=r,
        )
        self.reconcile_passes = Counter(
            "batchrelay_reconcile_passes_total",
            "Reconciliation passes by outcome (ok, throttled, api_error, store_error, error).",
            ["service", "outcome"],
            registry=r,
        )
        self.batch_actions = Counter(
            "batchrelay_batch_actions_total",
            "Batch actions (suspend, resume, update) by outcome (done, refused, failed).",
            ["action", "outcome"],
            registry=r,
        )

    def _config(self, r: CollectorRegistry) -> None:
        """Config reloads, named as Alertmanager and Prometheus name theirs."""
        self.reload_successful = Gauge(
            "batchrelay_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful (1) or not (0).",
            registry=r,
        )
        self.reload_success_time = Gauge(
            "batchrelay_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration load (the start counts).",
            registry=r,
        )
        self.reload_successful.set(1)  # a daemon starts on a config that loaded
        self.reload_success_time.set_to_current_time()

    def _retention(self, r: CollectorRegistry) -> None:
        """Retention (store/retention.py): what it pruned, and what the store holds."""
        self.pruned = Counter(
            "batchrelay_pruned_rows_total",
            "Rows removed by retention, by table.",
            ["table"],
            registry=r,
        )
        self.store_bytes = Gauge(
            "batchrelay_store_bytes",
            "Bytes the store takes on disk by table (indexes included), after each pruning pass.",
            ["table"],
            registry=r,
        )

    def count_pruned(self, table: str, rows: int) -> None:
        self.pruned.labels(table=table).inc(rows)

    def set_store_sizes(self, sizes: dict[str, int]) -> None:
        self.store_bytes.clear()
        for table, size in sizes.items():
            self.store_bytes.labels(table=table).set(size)

    def observe_group_commit(self, size: int, seconds: float) -> None:
        self.group_size.observe(size)
        self.commit_seconds.observe(seconds)

    def count_dropped(self, receiver: str) -> None:
        self.dropped.labels(receiver=receiver).inc()

    def set_batch_states(self, counts: dict[str, int]) -> None:
        self.batches.clear()
        for state, count in counts.items():
            self.batches.labels(state=state).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
