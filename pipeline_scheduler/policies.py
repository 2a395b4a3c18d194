"""What happens after a run: each policy subscribes to the executor's ``RunFinished``.

- ``RetryPolicy``: a failed attempt with retries left starts the next attempt after the
  job's delay, doubled each time (a retry waiting for its delay does not survive a restart).
- ``DependentsPolicy``: a final outcome fires the trigger jobs whose conditions it meets
  (OR: any condition; AND: every condition's latest final outcome matches and is newer
  than the job's last trigger, tracked by a persisted watermark), at any depth.
- ``AlertPolicy``: a final failure or timeout, and the first success after one, are
  sent to the job's (or the global) alert channels (``alerts.AlertChannels``), from a
  network thread.
- ``RetentionPolicy``: a job's finished runs beyond the per-job limit are pruned after
  each of its runs (two index reads); the whole history, age limit included, is pruned by
  the service's watch loop every ``prune_interval_seconds``, never on a run's path (with
  100,000 runs that scan takes most of a second).

Dependents and alerts act on a job's final outcome only (``RunFinished.will_retry``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from . import alerts
from .domain import RunOverrides, RunStatus, TriggeredBy, outcome_matches
from .errors import JobNotFoundError
from .execution import RunExecutor, RunFinished
from .graph import DependencyGraph
from .history import remove_run_dirs
from .settings import SchedulerSettings
from .store import Store
from .workers import Background, Workers


class RetryPolicy:
    def __init__(self, executor: RunExecutor, background: Background) -> None:
        self.executor = executor
        self.background = background

    async def on_run_finished(self, event: RunFinished) -> None:
        if not event.will_retry:
            return
        delay = float(event.job.spec.get("retry_delay_seconds") or 0) * (2 ** (event.attempt - 1))
        run = event.run
        # The next attempt stands for the same logical time, with what the run was given.
        logical_time = run.get("scheduled_for") or run.get("created_at") or time.time()
        overrides = RunOverrides.from_dict(_json_object(run.get("overrides")))
        self.background.spawn(
            self._retry_later(event.job.id, event.attempt + 1, delay, float(logical_time), overrides)
        )

    async def _retry_later(
        self, job_id: str, attempt: int, delay: float, scheduled_for: float, overrides: RunOverrides
    ) -> None:
        await asyncio.sleep(delay)
        try:
            await self.executor.start(
                job_id, TriggeredBy.RETRY, scheduled_for=scheduled_for, attempt=attempt, overrides=overrides
            )
        except JobNotFoundError:
            pass  # deleted while waiting


def _json_object(value: Any) -> dict[str, Any] | None:
    """A JSON column as read (text), or as an answer has it (an object already)."""
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else None
    return value if isinstance(value, dict) else None


class DependentsPolicy:
    def __init__(self, store: Store, workers: Workers, graph: DependencyGraph, executor: RunExecutor) -> None:
        self.store = store
        self.workers = workers
        self.graph = graph
        self.executor = executor

    async def on_run_finished(self, event: RunFinished) -> None:
        if event.will_retry or not (event.status == RunStatus.SUCCESS or event.status.is_failed):
            return
        upstream = event.job.id
        for dependent_id in sorted(self.graph.dependents_of(upstream)):
            dependent = await self.workers.db(self.store.get_job, dependent_id, False)
            if dependent is None or dependent.paused or not dependent.is_trigger_only:
                continue
            conditions = dependent.spec.get("trigger_conditions") or []
            if (dependent.spec.get("logical_operator") or "OR") == "OR":
                fire = any(
                    c["job_id"] == upstream and outcome_matches(event.status, c["on"]) for c in conditions
                )
            else:
                latest = await self.workers.db(
                    self.store.latest_final_runs, [c["job_id"] for c in conditions]
                )
                fire = all(
                    c["job_id"] in latest
                    and latest[c["job_id"]][0] > dependent.trigger_watermark
                    and outcome_matches(latest[c["job_id"]][1], c["on"])
                    for c in conditions
                )
            if fire:
                await self.workers.db(
                    self.store.set_job_fields, dependent_id, trigger_watermark=event.run["id"]
                )
                await self.executor.start(dependent_id, TriggeredBy.TRIGGER)


class AlertPolicy:
    """Failure and recovery alerts. A job whose final outcome is a failure (or timeout) is
    marked failing in the store; the first success after that, on whichever server it ends,
    clears the mark and is a recovery. The mark is read from the store at each success (the
    clearing is the read: a delete by primary key that says whether there was a row), so a
    mark another server set, or one set before a restart, is seen, and two servers never
    both send the recovery.

    The marking is a finish step (``mark``, on the database thread in the trip that records
    the run's end); ``on_run_finished`` sends what it found."""

    step_name = "alert"

    def __init__(self, store: Store, channels: alerts.AlertChannels) -> None:
        self.store = store
        self.channels = channels

    def mark(self, event: RunFinished) -> str | None:
        """On the database thread: mark a final failure, clear the mark at a success;
        answer the alert to send ("failed", "recovered") or None."""
        if event.will_retry:
            return None
        if event.status.is_failed:
            self.store.claim_alert(event.job.id, "failing", "")
            return "failed"
        if event.status == RunStatus.SUCCESS and self.store.clear_alert(event.job.id, "failing"):
            return "recovered"
        return None

    async def on_run_finished(self, event: RunFinished) -> None:
        job = event.job
        found = event.facts.get(self.step_name)
        if found == "failed":
            timed_out = event.status == RunStatus.TIMEOUT
            title = f"Job '{job.name}' {'timed out' if timed_out else 'failed'}"
            self.channels.deliver(
                alerts.Alert("run_timed_out" if timed_out else "run_failed", job, title, run=event.run)
            )
        elif found == "recovered":
            title = f"Job '{job.name}' recovered"
            detail = "It succeeded after a failure."
            self.channels.deliver(alerts.Alert("run_recovered", job, title, detail, run=event.run))


class RetentionPolicy:
    prune_interval_seconds = 600.0

    def __init__(
        self, settings: SchedulerSettings, store: Store, workers: Workers, log: logging.Logger
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.log = log
        self._last_full_prune = 0.0
        # Per job: how many more runs it can finish before it may pass the limit, as this
        # server saw at its last prune (the database is read again only when none is left).
        # Runs that other servers add are pruned by them, or by the full sweep.
        self._room: dict[str, int] = {}

    async def on_run_finished(self, event: RunFinished) -> None:
        keep = self.settings.retention_max_runs_per_job
        if keep <= 0:
            return
        room = self._room.get(event.job.id, 0)
        if room > 0:
            self._room[event.job.id] = room - 1
            return
        victims, kept = await self.workers.db(self.store.prune_job_runs, event.job.id, keep)
        self._room[event.job.id] = keep - kept
        if victims:
            await self.workers.fs(remove_run_dirs, self.settings.runs_dir, victims)

    @property
    def is_due(self) -> bool:
        return time.time() - self._last_full_prune > self.prune_interval_seconds

    async def prune(self) -> int:
        """Prune finished runs beyond the per-job count and older than the age limit."""
        s = self.settings
        self._last_full_prune = time.time()
        cutoff = time.time() - s.retention_max_age_days * 86400 if s.retention_max_age_days > 0 else None
        if s.retention_max_runs_per_job <= 0 and cutoff is None:
            return 0
        try:
            victims = await self.workers.db(
                self.store.prune_runs, keep_per_job=s.retention_max_runs_per_job, older_than=cutoff
            )
        except Exception:
            self.log.exception("Could not apply the run retention")
            return 0
        if victims:
            await self.workers.fs(remove_run_dirs, s.runs_dir, [v[0] for v in victims])
        return len(victims)
