"""The gateway's figures, read from the live objects when asked (no global registry): for
Prometheus at ``/metrics`` and as JSON at ``/stats`` (the desk's monitoring panel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.delivery import Delivery
from gateway.outbox import Outbox
from gateway.supervisor import Supervisor
from sessions.states import SessionState


class GatewayCollector(Collector):
    def __init__(self, supervisor: Supervisor, outbox: Outbox, delivery: Delivery) -> None:
        self.supervisor = supervisor
        self.outbox = outbox
        self.delivery = delivery

    def hosts_running(self) -> int:
        return sum(1 for host in self.supervisor.hosts.values() if host.alive)

    def stats(self) -> dict[str, Any]:
        """The same figures as ``collect``, plus each session's recent history, as JSON."""
        delivery = self.delivery.stats
        return {
            "hosts": self.hosts_running(),
            "host_restarts": self.supervisor.host_restarts,
            "outbox_depth": self.outbox.depth(),
            "outbox_oldest_age_s": round(self.outbox.oldest_age_s(), 3),
            "parked": self.outbox.parked_count(),
            "delivered": delivery.delivered,
            "delivery_failures": dict(delivery.failures),
            "latency_p50_s": round(delivery.latency_p50_s, 4),
            "latency_p99_s": round(delivery.latency_p99_s, 4),
            "events_in": dict(self.supervisor.events_in),
            "sessions": [
                self.supervisor.history(session_id) for session_id in self.supervisor.live
            ],
        }

    def collect(self) -> Iterator[Metric]:
        states = self.supervisor.states()
        by_state = GaugeMetricFamily(
            "zapdesk_gateway_sessions", "Sessions by state.", labels=["state"]
        )
        for state in SessionState:
            by_state.add_metric([state.value], states.get(state.value, 0))
        yield by_state

        events_in = CounterMetricFamily(
            "zapdesk_gateway_events_in", "Events received from session hosts.", labels=["type"]
        )
        for kind, count in sorted(self.supervisor.events_in.items()):
            events_in.add_metric([kind], count)
        yield events_in

        stats = self.delivery.stats
        yield CounterMetricFamily(
            "zapdesk_gateway_events_delivered", "Events core acknowledged.", value=stats.delivered
        )
        failures = CounterMetricFamily(
            "zapdesk_gateway_delivery_failures", "Failed deliveries by kind.", labels=["kind"]
        )
        for kind, count in sorted(stats.failures.items()):
            failures.add_metric([kind], count)
        yield failures
        latency = GaugeMetricFamily(
            "zapdesk_gateway_delivery_latency_seconds",
            "Event time to core's acknowledgement, over recent events.",
            labels=["quantile"],
        )
        latency.add_metric(["0.5"], stats.latency_p50_s)
        latency.add_metric(["0.99"], stats.latency_p99_s)
        yield latency

        yield GaugeMetricFamily(
            "zapdesk_gateway_outbox_depth",
            "Events waiting for delivery.",
            value=self.outbox.depth(),
        )
        yield GaugeMetricFamily(
            "zapdesk_gateway_outbox_oldest_age_seconds",
            "Age of the oldest event waiting for delivery.",
            value=self.outbox.oldest_age_s(),
        )
        yield GaugeMetricFamily(
            "zapdesk_gateway_outbox_parked",
            "Events core refused, kept aside for a person to look at.",
            value=self.outbox.parked_count(),
        )
        yield GaugeMetricFamily(
            "zapdesk_gateway_hosts",
            "Session-host processes running.",
            value=self.hosts_running(),
        )
        yield CounterMetricFamily(
            "zapdesk_gateway_host_restarts",
            "Session hosts restarted after dying or hanging.",
            value=self.supervisor.host_restarts,
        )


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
