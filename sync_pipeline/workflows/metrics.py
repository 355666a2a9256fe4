"""Prometheus metrics of a worker process, served in the text format on `--metrics-port`.

- `workflow_queue_depth{status,priority}` and `workflow_queue_oldest_due_age_seconds`: read from
  PostgreSQL when scraped (at most once a second), so every worker reports the whole queue
  (`workflow_queue_state_up` says whether that read worked);
- `workflow_deliveries_total`, `workflow_delivery_failures_total{reason}`,
  `workflow_delivery_seconds` (histogram of webhook request time) and
  `workflow_changes_dispatched_total`: what this process did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sync_pipeline.workflows.queue import QueueState, queue_state

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STATE_MAX_AGE_S = 1.0
CONNECT_TIMEOUT_S = 5
METRICS_APPLICATION_NAME = "sync_pipeline workflows metrics"


class QueueStateCollector(Collector):
    """Queue depth and oldest due age, from one short query per scrape (cached for `max_age_s`).

    A lost connection is replaced on the next scrape; while PostgreSQL cannot be read,
    `workflow_queue_state_up` is 0 and the queue gauges are left out (the counters stay served).
    """

    def __init__(self, conninfo: str, max_age_s: float = STATE_MAX_AGE_S) -> None:
        self._conninfo = conninfo
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._cached: tuple[float, QueueState] | None = None

    def describe(self) -> list:
        """Nothing to declare up front (so registering does not query PostgreSQL)."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self._state()
        yield GaugeMetricFamily(
            "workflow_queue_state_up",
            "1 when the last scrape read the queue's state from PostgreSQL, else 0",
            value=0 if state is None else 1,
        )
        if state is None:
            return
        depth = GaugeMetricFamily(
            "workflow_queue_depth",
            "Unfinished executions by status and priority",
            labels=["status", "priority"],
        )
        for (status, priority), count in sorted(state.depth.items()):
            depth.add_metric([status, str(priority)], count)
        yield depth
        yield GaugeMetricFamily(
            "workflow_queue_oldest_due_age_seconds",
            "Seconds the oldest due execution has been waiting",
            value=state.oldest_due_age_s,
        )

    def _state(self) -> QueueState | None:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self._max_age_s:
                state = self._read_or_none()
                if state is None:
                    return None
                self._cached = (time.monotonic(), state)
            return self._cached[1]

    def _read_or_none(self) -> QueueState | None:
        """The queue's state; a broken connection is replaced once; None when unreadable."""
        for _ in range(2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(
                        self._conninfo,
                        autocommit=True,
                        connect_timeout=CONNECT_TIMEOUT_S,
                        application_name=METRICS_APPLICATION_NAME,
                    )
                return queue_state(self._conn)
            except psycopg.OperationalError:
                self._drop_connection()
        return None

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop_connection()


class WorkerMetrics:
    """The counters and histogram a worker updates, in a registry of their own."""

    def __init__(
        self, conninfo: str | None = None, state_max_age_s: float = STATE_MAX_AGE_S
    ) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "workflow_deliveries", "Webhooks delivered (2xx)", registry=self.registry
        )
        self.failures = Counter(
            "workflow_delivery_failures",
            "Failed webhook attempts",
            ["reason"],
            registry=self.registry,
        )
        self.dead = Counter(
            "workflow_dead_letters", "Executions moved to the dead letters", registry=self.registry
        )
        self.latency = Histogram(
            "workflow_delivery_seconds",
            "Webhook request time",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.dispatched = Counter(
            "workflow_changes_dispatched", "Field changes dispatched", registry=self.registry
        )
        self.queued = Counter(
            "workflow_executions_queued",
            "Executions enqueued by this dispatcher",
            registry=self.registry,
        )
        self._state = QueueStateCollector(conninfo, state_max_age_s) if conninfo else None
        if self._state is not None:
            self.registry.register(self._state)
        self._server = None

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve the registry on `host:port` (0: any free port) in a thread; answers the port."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return self._server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._state is not None:
            self._state.close()
