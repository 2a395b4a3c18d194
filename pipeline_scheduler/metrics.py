"""Prometheus metrics, served on the Jupyter server's own ``/metrics`` endpoint.

jupyter_server already serves ``prometheus_client``'s default registry there; the
scheduler adds one collector to it while it runs. The collector keeps its own counts
(fed by the run executor's start and ``RunFinished`` events) and reads gauges from the
executor and the last job-state count, so a scrape never touches the database or blocks
the event loop.

| metric | type | labels | meaning |
|---|---|---|---|
| ``amphi_scheduler_runs_started_total`` | counter | ``triggered_by`` | runs whose pipeline started |
| ``amphi_scheduler_runs_finished_total`` | counter | ``status`` | runs that ended, by final status |
| ``amphi_scheduler_run_duration_seconds`` | histogram | | start to end of each finished run |
| ``amphi_scheduler_fire_lag_seconds`` | histogram | | start minus scheduled fire time (scheduled runs) |
| ``amphi_scheduler_queue_length`` | gauge | | runs waiting for a free slot |
| ``amphi_scheduler_running_runs`` | gauge | | runs running now |
| ``amphi_scheduler_role`` | gauge | ``role`` | 1 for this server's role (``active`` / ``standby``) |
| ``amphi_scheduler_jobs`` | gauge | ``state`` | jobs by state: ``scheduled``, ``paused``, ``trigger`` |
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from .execution import RunFinished

DURATION_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, float("inf"))
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, float("inf"))


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            cumulative.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return HistogramMetricFamily(name, documentation, buckets=cumulative, sum_value=self.total)


class SchedulerMetrics(Collector):
    def __init__(
        self,
        queue_length: Callable[[], int],
        running_runs: Callable[[], int],
        is_active: Callable[[], bool],
        log: logging.Logger,
    ) -> None:
        self._queue_length = queue_length
        self._running_runs = running_runs
        self._is_active = is_active
        self.log = log
        self._lock = threading.Lock()  # scrapes may come from another thread
        self._started: Counter[str] = Counter()
        self._finished: Counter[str] = Counter()
        self._durations = _Histogram(DURATION_BUCKETS)
        self._lag = _Histogram(LAG_BUCKETS)
        self.job_states: dict[str, int] = {}
        self._registered = False

    # -- fed by the executor -------------------------------------------------------------
    def run_started(self, triggered_by: str, scheduled_for: float | None, started_at: float) -> None:
        with self._lock:
            self._started[triggered_by] += 1
            if scheduled_for is not None and triggered_by in ("schedule", "catchup"):
                self._lag.observe(max(0.0, started_at - scheduled_for))

    def run_finished(self, event: RunFinished) -> None:
        with self._lock:
            self._finished[event.status.value] += 1
            started, finished = event.run.get("started_at"), event.run.get("finished_at")
            if started and finished:
                self._durations.observe(max(0.0, float(finished) - float(started)))

    # -- prometheus_client ---------------------------------------------------------------
    def collect(self) -> Iterator[Any]:
        with self._lock:
            started = CounterMetricFamily(
                "amphi_scheduler_runs_started", "Runs whose pipeline started.", labels=["triggered_by"]
            )
            for origin, count in sorted(self._started.items()):
                started.add_metric([origin], count)
            finished = CounterMetricFamily(
                "amphi_scheduler_runs_finished", "Runs that ended, by final status.", labels=["status"]
            )
            for status, count in sorted(self._finished.items()):
                finished.add_metric([status], count)
            yield started
            yield finished
            yield self._durations.family("amphi_scheduler_run_duration_seconds", "Start to end of each run.")
            yield self._lag.family(
                "amphi_scheduler_fire_lag_seconds", "Start of a scheduled run minus its fire time."
            )
        yield GaugeMetricFamily(
            "amphi_scheduler_queue_length", "Runs waiting for a slot.", self._queue_length()
        )
        yield GaugeMetricFamily("amphi_scheduler_running_runs", "Runs running now.", self._running_runs())
        role = GaugeMetricFamily("amphi_scheduler_role", "This server's scheduler role.", labels=["role"])
        active = self._is_active()
        role.add_metric(["active"], 1 if active else 0)
        role.add_metric(["standby"], 0 if active else 1)
        yield role
        jobs = GaugeMetricFamily("amphi_scheduler_jobs", "Jobs by state.", labels=["state"])
        for state in ("scheduled", "paused", "trigger"):
            jobs.add_metric([state], self.job_states.get(state, 0))
        yield jobs

    def register(self) -> None:
        try:
            REGISTRY.register(self)
            self._registered = True
        except ValueError:  # another scheduler in this process already serves them
            self.log.info("amphi-scheduler: metrics already registered by another scheduler in this process")

    def unregister(self) -> None:
        if self._registered:
            REGISTRY.unregister(self)
            self._registered = False
