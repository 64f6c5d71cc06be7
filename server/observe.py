"""What the server says about itself: an access-log line per call, and Prometheus metrics.

Both transports report each call here once it is answered (:class:`Observer.record`): the
gRPC servicer from the wrapper every RPC goes through (:func:`knn_al.server.errors.translate_errors`),
the HTTP API from a middleware. The access log is the logger ``knn_al.access``; the metrics,
with ``--metrics-port``, live in a registry of their own (so two servers in one process
never share counters) and are served by ``prometheus_client``'s HTTP server:

========================================== ========= ================================================
name                                       type      labels
========================================== ========= ================================================
knn_al_call_duration_seconds               histogram transport (grpc, http), method
knn_al_calls_total                         counter   transport, method, status (a gRPC code name, or
                                                     an HTTP status)
knn_al_labels_total                        counter   project, annotator: labels given and accepted
knn_al_project_pool_size, _labeled,        gauge     project, read at each scrape
_leased, _budget_left (only with a budget),
_accuracy_estimate_low, _high,
_mean_uncertainty
========================================== ========= ================================================

A scrape waits at most :data:`SCRAPE_WAIT` seconds for each project: a project busy with a
long call (a million-item upload) keeps its gauges from the scrape before.
"""
from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from knn_al.projects.core import ProjectBusyError
from knn_al.projects.records import ProjectStats
from knn_al.projects.store import ProjectStore

__all__ = ["ACCESS_LOG", "CallRecord", "Observer", "SCRAPE_WAIT"]

ACCESS_LOG = logging.getLogger("knn_al.access")
#: Seconds a scrape waits for a busy project before it reports that project's last values.
SCRAPE_WAIT = 0.5
#: Latency buckets, seconds: a pick is ~5 ms, a label at 1M ~150 ms, an upload minutes.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class CallRecord:
    """One answered call: ``status`` is a gRPC code name (OK, INVALID_ARGUMENT, ...) or an
    HTTP status ("200"); ``labels`` the labels it stored (a SubmitLabel(s) that succeeded)."""

    transport: str
    method: str
    project: str
    annotator: str
    seconds: float
    status: str
    labels: int = 0

    def fields(self) -> dict[str, Any]:
        return {"transport": self.transport, "method": self.method, "project": self.project,
                "annotator": self.annotator, "ms": round(self.seconds * 1e3, 3), "status": self.status}


class _ProjectGauges:
    """A collector reading every open project's stats at each scrape."""

    def __init__(self, store: ProjectStore) -> None:
        self._store = store
        self._last: dict[str, ProjectStats] = {}
        self._lock = threading.Lock()

    def _stats(self) -> dict[str, ProjectStats]:
        from knn_al.projects.project import Project

        current = {}
        for project in self._store.list():
            if not isinstance(project, Project):  # quarantined: no stats to read
                continue
            name = project.settings.name
            try:
                current[name] = project.stats(wait=SCRAPE_WAIT)
            except ProjectBusyError:
                if name in self._last:
                    current[name] = self._last[name]
            except Exception:  # deleted meanwhile: gone from the next scrape
                continue
        with self._lock:
            self._last = current
        return current

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        stats = self._stats()
        families = {
            "pool_size": ("items in the pool", lambda s: s.pool_size),
            "labeled": ("items with a human label", lambda s: s.labeled),
            "leased": ("items handed out and not yet answered", lambda s: s.leased),
            "budget_left": ("labels left in the label budget (projects with a budget)",
                            lambda s: s.progress.budget_left),
            "accuracy_estimate_low": ("lower end of the leave-one-out accuracy's 95% interval",
                                      lambda s: s.progress.estimate.low),
            "accuracy_estimate_high": ("upper end of the leave-one-out accuracy's 95% interval",
                                       lambda s: s.progress.estimate.high),
            "mean_uncertainty": ("mean uncertainty of the unlabeled items", lambda s: s.mean_uncertainty),
        }
        for suffix, (text, value_of) in families.items():
            family = GaugeMetricFamily(f"knn_al_project_{suffix}", text, labels=["project"])
            for name, project_stats in sorted(stats.items()):
                value = value_of(project_stats)
                if value is not None and math.isfinite(value):
                    family.add_metric([name], float(value))
            yield family


class Observer:
    """Reports answered calls to the access log and, after :meth:`serve_metrics`, to Prometheus."""

    def __init__(self, store: ProjectStore) -> None:
        self._store = store
        self._metrics: tuple[Any, Any, Any] | None = None
        self.metrics_port: int | None = None
        self._http: Any = None

    def serve_metrics(self, *, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` (0: a free port) from a thread; returns the port."""
        from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

        registry = CollectorRegistry(auto_describe=True)
        duration = Histogram("knn_al_call_duration_seconds", "Seconds from a call's arrival to its answer",
                             ["transport", "method"], buckets=BUCKETS, registry=registry)
        calls = Counter("knn_al_calls", "Calls answered, by status", ["transport", "method", "status"],
                        registry=registry)
        labels = Counter("knn_al_labels", "Labels given and stored, by annotator", ["project", "annotator"],
                         registry=registry)
        registry.register(_ProjectGauges(self._store))
        self._http, _ = start_http_server(port, addr=host.strip("[]"), registry=registry)
        self._metrics = (duration, calls, labels)
        self.metrics_port = int(self._http.server_address[1])
        return self.metrics_port

    def record(self, call: CallRecord) -> None:
        if ACCESS_LOG.isEnabledFor(logging.INFO):
            ACCESS_LOG.info("%s %s project=%s annotator=%s %.1f ms %s", call.transport, call.method, call.project,
                            call.annotator, call.seconds * 1e3, call.status, extra={"fields": call.fields()})
        if self._metrics is not None:
            duration, calls, labels = self._metrics
            duration.labels(call.transport, call.method).observe(call.seconds)
            calls.labels(call.transport, call.method, call.status).inc()
            if call.labels:
                labels.labels(call.project, call.annotator).inc(call.labels)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
