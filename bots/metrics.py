"""`/metrics`: linedesk's telemetry as Prometheus metrics, in a registry of its own (no module globals).

Counters and histograms are fed as things happen (`core.telemetry.Telemetry`, and the HTTP layer's
latencies); the outbox's depth and the age of its oldest entry, and each desk's backlog and lag
(`core.desk_load`), are read from the store at scrape time, so every instance reports the shared backlog
the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from core.desk_load import DeskLoad

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._client_messages = Counter(
            "linedesk_inbound_messages", "Client messages accepted into sessions", ["line", "channel"], registry=r
        )
        self._inbound = Counter(
            "linedesk_inbound_events",
            "Stored platform events by what became of them (handled, duplicate, retried, failed)",
            ["source", "result"],
            registry=r,
        )
        self._deliveries = Counter(
            "linedesk_outbound_deliveries",
            "Outbox delivery attempts by route and result (delivered, retried, dead)",
            ["route", "result"],
            registry=r,
        )
        self._starts = Counter(
            "linedesk_process_starts",
            "Process starts by trigger and outcome (started, refused, failed)",
            ["trigger", "outcome"],
            registry=r,
        )
        self._failures = Counter("linedesk_instance_failures", "Process instances that failed", ["process"], registry=r)
        self.webhook_latency = Histogram(
            "linedesk_webhook_latency_seconds",
            "Telegram webhook: request to answer",
            ["line"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.slack_ack_latency = Histogram(
            "linedesk_slack_ack_latency_seconds",
            "Slack request: request to ack",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._backlog: dict[str, float] = {}
        self._desks: list[DeskLoad] = []
        r.register(_Backlog(self._backlog, self._desks))

    # --- core.telemetry.Telemetry -------------------------------------------------------------
    def client_message(self, line_id: str, channel: str) -> None:
        self._client_messages.labels(line_id, channel).inc()

    def inbound_event(self, source: str, result: str) -> None:
        self._inbound.labels(source, result).inc()

    def delivery(self, route: str, result: str) -> None:
        self._deliveries.labels(route, result).inc()

    def process_start(self, trigger: str, outcome: str) -> None:
        self._starts.labels(trigger, outcome).inc()

    def instance_failure(self, process_id: str) -> None:
        self._failures.labels(process_id).inc()

    # --- scraping ------------------------------------------------------------------------------
    def exposition(self, outbox_stats: dict[str, float], desks: Sequence[DeskLoad] = ()) -> bytes:
        """The Prometheus text format, with the outbox backlog and each desk's as the store reports them now."""
        self._backlog.clear()
        self._backlog.update(outbox_stats)
        self._desks[:] = desks
        return generate_latest(self.registry)


class _Backlog:
    def __init__(self, stats: dict[str, float], desks: list[DeskLoad]):
        self._stats = stats
        self._desks = desks

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "linedesk_outbox_depth", "Outbox entries waiting to be delivered", value=self._stats.get("pending", 0.0)
        )
        yield GaugeMetricFamily(
            "linedesk_outbox_oldest_age_seconds",
            "Age of the oldest waiting outbox entry",
            value=self._stats.get("oldest_age", 0.0),
        )
        yield GaugeMetricFamily(
            "linedesk_outbox_dead", "Outbox entries that failed for good", value=self._stats.get("dead", 0.0)
        )
        backlog = GaugeMetricFamily(
            "linedesk_desk_backlog",
            "Outbox entries due for a desk and not delivered yet (desk: slack:<channel>, telegram:<chat>)",
            labels=["line", "desk"],
        )
        lag = GaugeMetricFamily(
            "linedesk_desk_lag_seconds",
            "Age of the oldest entry due for a desk and not delivered",
            labels=["line", "desk"],
        )
        for load in self._desks:
            backlog.add_metric([load.line_id, load.desk], float(load.backlog))
            lag.add_metric([load.line_id, load.desk], load.lag)
        yield backlog
        yield lag
