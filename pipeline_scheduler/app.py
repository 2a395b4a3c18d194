"""``SchedulerService``: the composition root of the scheduler core.

It builds each collaborator with what it uses and owns their life cycle; it holds no
scheduling, execution or validation logic of its own:

- ``store`` (SQL tables, on the ``workers``' database thread) and ``driver`` (the schedule
  driver, the only code that talks to APScheduler);
- ``executor`` (queue, limits, cancel, record; announces ``RunFinished``) and the
  policies subscribed to it (retries, dependents, alerts, retention);
- ``deadlines`` (``DeadlineMonitor``: missed ``deadline_time`` and ``max_duration_minutes``,
  while this server is the active scheduler; it follows ``jobs.on_change``) and the
  ``alert_channels`` that it and the alert policy send through;
- ``jobs`` (``JobService``: definitions), ``runs`` (``RunService``: history, run now,
  re-run, cancel) and ``backfills`` (``BackfillService``), which the HTTP handlers and the
  command line call;
- ``file_triggers`` (``FileTriggers``: jobs fired by arriving files, watched while this
  server is the active scheduler; it follows ``jobs.on_change``) and ``webhooks``
  (``Webhooks``: each job's inbound webhook, called through the HTTP handlers);
- ``leadership`` (one active scheduler per workspace: the file lock on SQLite, a lease
  row in the database on PostgreSQL).

Nothing here imports tornado or jupyter_server: a test or a script drives the core
with ``SchedulerService(SchedulerSettings(workspace_dir=...))``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from . import __version__
from .alerts import AlertChannels
from .backfills import BackfillService
from .components import ComponentFiles
from .deadlines import DeadlineMonitor
from .execution import RunExecutor
from .file_triggers import FileTriggers
from .graph import DependencyGraph
from .history import RunService, run_answer
from .jobs import JobService
from .leadership import (
    FileLockLeadership,
    LeaseLeadership,
    SchedulerLeadership,
    SchedulerLock,
    process_is_alive,
    stop_orphan,
    this_process,
)
from .metrics import SchedulerMetrics
from .policies import AlertPolicy, DependentsPolicy, RetentionPolicy, RetryPolicy
from .ray_runner import ray_backends
from .runner import LocalSubprocessRunner, RunnerBackend
from .scheduling import ScheduleDriver
from .settings import SchedulerSettings
from .store import Store, make_engine
from .validation import JobValidator
from .webhooks import Webhooks
from .workers import Background, Workers
from .workspace import HashCache


class SchedulerService:
    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        runner: RunnerBackend | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.settings = settings
        self.log = log or logging.getLogger("pipeline_scheduler")
        self.workers = Workers(self.log)
        self.background = Background(self.log)
        hashes = HashCache()
        self.store = Store(make_engine(settings.database_url, settings.sqlite_busy_timeout_seconds))
        self.driver = ScheduleDriver(
            settings, self.store.engine, self.background, self.log, offload=self.workers.db_post
        )
        self.leadership = self._leadership()
        self.graph = DependencyGraph()
        self.executor = RunExecutor(
            settings,
            self.store,
            runner or LocalSubprocessRunner(),
            self.workers,
            self.background,
            hashes,
            self.log,
            backends=ray_backends(settings, self.log),
            fencing_epoch=self.leadership.fencing_epoch,
        )
        validator = JobValidator(settings, self.store, self.workers, self.graph, hashes)
        self.jobs = JobService(
            settings, self.store, self.workers, self.driver, self.graph, validator, self.executor, hashes
        )
        self.runs = RunService(settings, self.store, self.workers, self.executor, self.jobs)
        # Event triggers: files arriving in the workspace (watched while this server is the
        # active scheduler) and inbound webhook calls.
        self.file_triggers = FileTriggers(settings, self.store, self.workers, self.executor, self.log)
        self.jobs.on_change(self.file_triggers.job_changed)
        self.webhooks = Webhooks(settings, self.store, self.workers, self.jobs, self.executor)
        self.backfills = BackfillService(
            settings,
            self.store,
            self.workers,
            self.executor,
            self.background,
            self.log,
            is_active=lambda: self.is_active,
        )
        self.components = ComponentFiles(settings, self.workers)
        self.retention = RetentionPolicy(settings, self.store, self.workers, self.log)
        self.alert_channels = AlertChannels(
            settings, self.workers.network, self.background.spawn, self.log, run_answer
        )
        self.alerts = AlertPolicy(self.store, self.alert_channels)
        self.executor.add_finish_step(self.alerts.step_name, self.alerts.mark)
        for policy in (
            RetryPolicy(self.executor, self.background),
            DependentsPolicy(self.store, self.workers, self.graph, self.executor),
            self.alerts,
            self.retention,
        ):
            self.executor.subscribe(policy.on_run_finished)
        self.deadlines = DeadlineMonitor(
            settings, self.store, self.workers, self.background, self.executor, self.alert_channels, self.log
        )
        self.jobs.on_change(self.deadlines.job_changed)
        self.metrics = SchedulerMetrics(
            lambda: self.executor.queue_length,
            lambda: self.executor.running_count,
            lambda: self.is_active,
            self.log,
        )
        self.executor.on_run_started(self.metrics.run_started)
        self.executor.on_run_recorded(self.metrics.run_finished)
        self.is_started = False
        self._rebuild_triggers = False
        self._starting: asyncio.Future[None] | None = None

    def _leadership(self) -> SchedulerLeadership:
        """The file lock for SQLite (one host); a lease row for a shared database."""
        s = self.settings
        if s.uses_lease:
            return LeaseLeadership(self.store.engine, s.lease_seconds, s.lease_poll_seconds, self.log)
        return FileLockLeadership(SchedulerLock(s.lock_path), s.lock_poll_seconds, self.log)

    @property
    def is_active(self) -> bool:
        """Whether this server fires jobs (else it is a standby serving the API)."""
        return self.driver.is_running

    # -- life cycle ----------------------------------------------------------------------
    async def ensure_started(self) -> None:
        """Start on first use when the server did not start extensions yet (idempotent)."""
        if self.is_started:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.start())
        await asyncio.shield(self._starting)

    async def start(self) -> None:
        if self.is_started:
            return
        s = self.settings
        started_at = time.perf_counter()
        try:
            await self.workers.fs(s.runs_dir.mkdir, parents=True, exist_ok=True)
        except OSError as err:
            # Runs will fail with a clear message; the API and the schedules still work.
            self.log.error("amphi-scheduler: cannot create the log folder %s: %s", s.runs_dir, err)
        url = s.database_url
        if url.startswith("sqlite:///"):
            await self.workers.fs(Path(url[len("sqlite:///") :]).parent.mkdir, parents=True, exist_ok=True)
        found_version = await self.workers.db(self.store.create_schema)
        if self.executor.backends:  # engines that name runs: by this database's own key
            key = await self.workers.db(self.store.instance_key)
            for backend in self.executor.backends.values():
                backend.bind_database(key)
        # Databases of schema 2 or older hold APScheduler triggers of the old fire-time rules.
        self._rebuild_triggers = found_version is not None and found_version < 3
        await self.jobs.load()
        if s.run_scheduler:
            if await self.leadership.try_take():
                await self._become_active()
            else:
                self.background.spawn(self.leadership.stand_by(self._become_active))
        self.metrics.register()
        self.background.spawn(self._watch_loop())
        self.background.spawn(self._warm_job_list())
        self.is_started = True
        self.log.info("amphi-scheduler started in %.3fs", time.perf_counter() - started_at)

    async def _warm_job_list(self) -> None:
        """Build the in-memory job list now (most of a second with 10,000 jobs), so the first
        ``GET jobs`` after a start does not wait for it."""
        try:
            await self.jobs.list_json()
        except Exception:
            self.log.exception("amphi-scheduler: could not build the job list")

    async def _become_active(self) -> None:
        """Take the scheduler role: recover interrupted runs, start firing."""
        dead = self.leadership.superseded  # the server whose expired lease this one took

        def is_alive(owner: str | None) -> bool:
            # A server on another host counts as alive, unless it lost its lease to this one.
            return owner == this_process() or (owner != dead and process_is_alive(owner))

        # Runs on a cluster outlive a dead server: follow them again instead (Ray).
        await self.executor.reattach_orphans(is_alive)
        own = set(self.executor.running_ids())
        interrupted = await self.workers.db(self.store.mark_interrupted, time.time(), is_alive)
        interrupted = [r for r in interrupted if r not in own]
        if interrupted:
            self.log.warning("Marked %d run(s) interrupted by a previous stop", len(interrupted))
            pids = await self.workers.db(self.store.run_pids, interrupted)
            for run_id, pid in pids.items():
                if await self.workers.fs(stop_orphan, pid, run_id):
                    self.log.warning("Stopped the leftover processes of interrupted run %s", run_id)
        next_runs = await self.workers.db(self.driver.next_run_times)
        self.driver.start(self.executor, next_runs)
        await self.jobs.reconcile(full=False, rebuild=self._rebuild_triggers)
        self._rebuild_triggers = False
        try:
            await self.deadlines.start()
        except Exception:
            self.log.exception("amphi-scheduler: could not start checking the deadlines")
        await self.backfills.resume()
        try:
            await self.file_triggers.start()
        except Exception:
            self.log.exception("amphi-scheduler: could not start watching files")
        self.background.spawn(self.leadership.hold(self._step_down))

    async def _step_down(self) -> None:
        """The role was lost (a lease not renewed in time): stop firing at once, let the
        runs already started finish and record, and stand by to take the role again."""
        self.driver.shutdown()
        self.backfills.release()
        self.deadlines.stop()
        await self.file_triggers.stop()
        self.background.spawn(self.leadership.stand_by(self._become_active))

    async def _watch_loop(self) -> None:
        """Follow job changes made through other servers; prune old runs now and then; run
        the backfills asked of other servers."""
        counted_revision = None
        while True:
            await asyncio.sleep(self.settings.lock_poll_seconds)
            try:
                revision = await self.jobs.follow_other_servers()
                if revision != counted_revision:  # jobs by state change only with a definition
                    self.metrics.job_states = await self.workers.db(self.store.job_state_counts)
                    counted_revision = revision
                if self.is_active and self.retention.is_due:
                    await self.retention.prune()
                if self.is_active:  # backfills asked of a standby server
                    await self.backfills.resume()
            except Exception:
                self.log.exception("amphi-scheduler: could not refresh the schedule")

    async def stop(self) -> None:
        """Stop firing, stop running pipelines (recorded as cancelled, or awaited when the
        shutdown policy is 'wait'), release the scheduler lock and resources."""
        self.driver.shutdown()
        self.deadlines.shutdown()
        await self.file_triggers.stop()
        self.metrics.unregister()
        await self.background.stop()
        await self.executor.shutdown()
        await self.leadership.release()
        await self.workers.db(self.store.engine.dispose)
        self.workers.shutdown()
        self.is_started = False

    # -- GET config ----------------------------------------------------------------------
    def describe_config(self) -> dict[str, Any]:
        s = self.settings
        return {
            "amphi_dir": str(s.root_dir),
            "version": __version__,
            "timezone": s.zone_name,
            "allowed_extensions": list(s.extensions),
            "allow_inline_code": s.allow_inline_code,
            "max_concurrent_runs": s.concurrency,
            "scheduler_state": "active" if self.is_active else "standby",
            "queue_length": self.executor.queue_length,
            "running_runs": self.executor.running_count,
            "retention_max_runs_per_job": s.retention_max_runs_per_job,
            "retention_max_age_days": s.retention_max_age_days,
            "shutdown_policy": s.shutdown_policy,
        }
