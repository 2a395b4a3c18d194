"""Prometheus metrics on the Jupyter server's own /metrics endpoint, against a real server:
each value moves as runs start and finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from api_support import SchedulerClient, interval_job
from prometheus_client.parser import text_string_to_metric_families


async def scrape(jp_fetch: Callable[..., Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await jp_fetch("metrics", method="GET")
    assert answer.code == 200
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        if family.name.startswith("amphi_scheduler"):
            for sample in family.samples:
                values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict[Any, float], name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_with_runs(api: SchedulerClient, jp_fetch: Callable[..., Any]) -> None:
    await api.get("config")  # the test server starts extensions on first use
    before = await scrape(jp_fetch)
    assert value(before, "amphi_scheduler_role", role="active") == 1
    assert value(before, "amphi_scheduler_role", role="standby") == 0
    assert value(before, "amphi_scheduler_queue_length") == 0

    ok = await api.create_job(**interval_job("ok"))
    failing = await api.create_job(**interval_job("failing", path="fail.py"))
    paused = await api.create_job(**interval_job("paused"))
    await api.post(f"jobs/{paused['id']}/pause")
    assert (await api.run_now(ok["id"]))["success"] is True
    assert (await api.run_now(failing["id"]))["success"] is False

    after = await scrape(jp_fetch)
    started = "amphi_scheduler_runs_started_total"
    finished = "amphi_scheduler_runs_finished_total"
    assert value(after, started, triggered_by="manual") == value(before, started, triggered_by="manual") + 2
    assert value(after, finished, status="success") == value(before, finished, status="success") + 1
    assert value(after, finished, status="failure") == value(before, finished, status="failure") + 1
    durations = "amphi_scheduler_run_duration_seconds_count"
    assert value(after, durations) == value(before, durations) + 2
    assert value(after, "amphi_scheduler_run_duration_seconds_sum") > value(
        before, "amphi_scheduler_run_duration_seconds_sum"
    )

    # Job states are counted by the watch loop (every lock_poll_seconds).
    deadline = time.monotonic() + 15
    while True:
        states = await scrape(jp_fetch)
        if (
            value(states, "amphi_scheduler_jobs", state="scheduled") == 2
            and value(states, "amphi_scheduler_jobs", state="paused") == 1
        ):
            break
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.2)


async def test_fire_lag_is_observed_for_scheduled_runs(
    api: SchedulerClient, jp_fetch: Callable[..., Any]
) -> None:
    lag = "amphi_scheduler_fire_lag_seconds_count"
    before = value(await scrape(jp_fetch), lag)
    job = await api.create_job(**interval_job("every second", seconds=1))
    deadline = time.monotonic() + 20
    while True:
        values = await scrape(jp_fetch)
        if value(values, lag) >= before + 1:
            break
        assert time.monotonic() < deadline, "no scheduled run started"
        await asyncio.sleep(0.2)
    assert value(values, "amphi_scheduler_runs_started_total", triggered_by="schedule") >= 1
    # Lag of a 1 s interval job on a quiet server stays well under its bucket of 5 s.
    assert value(values, "amphi_scheduler_fire_lag_seconds_bucket", le="5.0") >= 1
    await api.delete(f"jobs/{job['id']}")
