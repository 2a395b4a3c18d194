"""SchedulerService: the one place where jobs and runs change.

It owns the store (through one database thread), the APScheduler scheduler (on the
server's event loop) and the runner. Handlers and tests call its coroutines; nothing
here imports tornado or jupyter_server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from . import schedules, workspace
from .base import COMPONENT_LIMIT, FIRE_FUNCTION, ActiveRun, SchedulerSettings, ServiceBase  # noqa: F401
from .errors import (
    InvalidScheduleError,
    JobNotFoundError,
)
from .jobs import JobOperations
from .lock import SchedulerLock, process_is_alive, stop_orphan, this_process
from .runs import RunOperations
from .store import APSCHEDULER_TABLE, Store, make_engine

# The service whose scheduler fires jobs in this process. APScheduler persists jobs as a
# reference to an importable function plus the job id, so the function finds it here.
_active_service: SchedulerService | None = None


async def fire_scheduled_job(job_id: str) -> None:
    """Entry point APScheduler calls at each fire time (stored by reference)."""
    service = _active_service
    if service is None:
        logging.getLogger(__name__).warning("Job %s fired with no active scheduler", job_id)
        return
    await service.on_schedule_fired(job_id)


class SchedulerService(JobOperations, RunOperations):
    """The one place where jobs and runs change."""

    async def ensure_started(self) -> None:
        """Start on first use when the server did not start extensions yet (idempotent)."""
        if self.started:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.start())
        await asyncio.shield(self._starting)

    async def start(self) -> None:
        if self.started:
            return
        s = self.settings
        started_at = time.perf_counter()
        try:
            await self._fs(s.log_dir.mkdir, parents=True, exist_ok=True)
        except OSError as err:
            # Runs will fail with a clear message; the API and the schedules still work.
            self.log.error("amphi-scheduler: cannot create the log folder %s: %s", s.log_dir, err)
        if s.db_url.startswith("sqlite:///"):
            db_file = Path(s.db_url[len("sqlite:///") :])
            await self._fs(db_file.parent.mkdir, parents=True, exist_ok=True)
        engine = await self._db(make_engine, s.db_url)
        self.store = Store(engine)
        await self._db(self.store.create_schema)
        self._slots = asyncio.Semaphore(max(1, s.max_concurrent_runs))
        self._job_lock = asyncio.Lock()
        self._caught_up = set()
        await self._rebuild_dependents()
        if s.run_scheduler:
            lock = SchedulerLock(s.lock_path or s.root_dir / workspace.DATA_DIR_NAME / "scheduler.lock")
            self._lock = lock
            if await self._fs(lock.try_acquire):
                await self._become_active()
            else:
                self.log.info(
                    "amphi-scheduler: another server (%s) runs the scheduler of this workspace; "
                    "this one serves the API and takes over if it stops",
                    await self._fs(lock.holder),
                )
                self._spawn(self._standby_loop())
        self.started = True
        self.log.info("amphi-scheduler started in %.3fs", time.perf_counter() - started_at)

    async def _become_active(self) -> None:
        """Take the scheduler role: recover interrupted runs, start firing, watch changes."""
        global _active_service
        store = self._store
        own = set(self._runs)
        interrupted = await self._db(
            store.mark_interrupted,
            time.time(),
            lambda owner: owner == this_process() or process_is_alive(owner),
        )
        interrupted = [r for r in interrupted if r not in own]
        if interrupted:
            self.log.warning("Marked %d run(s) interrupted by a previous stop", len(interrupted))
            pids = await self._db(store.run_pids, interrupted)
            for run_id, pid in pids.items():
                if await self._fs(stop_orphan, pid, run_id):
                    self.log.warning("Stopped the leftover processes of interrupted run %s", run_id)
        self._activated_at = time.time()
        self._overdue = {
            job_id
            for job_id, next_run in (await self._db(store.next_run_times)).items()
            if next_run is not None and next_run < self._activated_at
        }
        scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=APSCHEDULER_TABLE)},
            timezone=self.tz,
        )
        scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.scheduler = scheduler
        _active_service = self
        self._seen_revision = int(await self._db(store.get_meta, "jobs_revision") or 0)
        scheduler.start()
        await self._reconcile(full=False)
        self._spawn(self._watch_loop())

    async def _standby_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lock_poll_seconds)
            if self._lock is not None and await self._fs(self._lock.try_acquire):
                self.log.info("amphi-scheduler: the active server stopped; taking over the scheduler")
                await self._become_active()
                return

    async def _watch_loop(self) -> None:
        """While active: apply job changes made through other servers, prune old runs."""
        last_prune = 0.0
        while True:
            await asyncio.sleep(self.settings.lock_poll_seconds)
            try:
                revision = int(await self._db(self._store.get_meta, "jobs_revision") or 0)
                if revision != self._seen_revision:
                    self._seen_revision = revision
                    await self._rebuild_dependents()
                    await self._reconcile(full=True)
                if time.time() - last_prune > 600:
                    last_prune = time.time()
                    await self._apply_retention()
            except Exception:
                self.log.exception("amphi-scheduler: could not refresh the schedule")

    @property
    def is_active(self) -> bool:
        return self.scheduler is not None

    async def stop(self) -> None:
        """Stop firing, stop running pipelines (recorded as cancelled, or awaited when the
        shutdown policy is 'wait'), release the scheduler lock and resources."""
        global _active_service
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        if _active_service is self:
            _active_service = None
        for task in list(self._background):
            task.cancel()
        active_runs = list(self._runs.values())
        if self.settings.shutdown_policy == "wait":
            tasks = [a.task for a in active_runs if a.task is not None]
            if tasks:
                self.log.info("amphi-scheduler: waiting for %d run(s) to finish", len(tasks))
                await asyncio.wait(tasks)
            active_runs = list(self._runs.values())
        for active in active_runs:
            active.cancel_requested = True
            active.cancel_reason = "Cancelled: the server shut down."

        async def cancel(active: ActiveRun) -> None:
            if not await self.runner.cancel(active.run_id) and active.task is not None and not active.started:
                active.task.cancel()

        await asyncio.gather(*(cancel(a) for a in active_runs), return_exceptions=True)
        tasks = [a.task for a in active_runs if a.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.kill_grace_seconds + 10)
        # Only now: the runs above still need the runner (log writes) to record their end.
        await self.runner.shutdown()
        if self._lock is not None:
            await self._fs(self._lock.release)
        if self.store is not None:
            await self._db(self.store.engine.dispose)
        self._db_thread.shutdown(wait=False)
        self._file_thread.shutdown(wait=False)
        self._alert_thread.shutdown(wait=False)
        self.started = False

    async def _reconcile(self, *, full: bool) -> None:
        """Make APScheduler's job store agree with the job definitions (ours win).

        At start-up (``full=False``) jobs already in APScheduler keep their trigger state;
        after changes made through another server (``full=True``) jobs whose definition
        changed since this server scheduled them are scheduled again."""
        assert self.scheduler is not None
        rows = await self._db(self._store.list_jobs)
        in_aps = await self._db(self._store.next_run_times)
        ours = set()
        now = datetime.now(timezone.utc)
        for row in rows:
            ours.add(row.id)
            kind = row.spec.get("schedule_type")
            if kind == "trigger":
                if row.id in in_aps:
                    self._unschedule(row.id)
                continue
            known = self._scheduled_versions.get(row.id)
            # Changed through another server (or created there) since we scheduled it.
            changed = full and known != row.updated_at
            if row.id not in in_aps or changed:
                is_one_off = kind == "date" and (row.spec.get("date_type") or "once") == "once"
                if is_one_off and not changed:
                    continue  # a one-off that already fired
                try:
                    trigger = schedules.build_trigger(
                        row.spec, self.settings.timezone, now=now, require_future=False
                    )
                except InvalidScheduleError as err:
                    self.log.error("Job %s has a schedule that no longer works: %s", row.id, err)
                    continue
                self._schedule(row, trigger)
                continue
            self._scheduled_versions[row.id] = row.updated_at
            if row.paused and in_aps[row.id] is not None:
                self.scheduler.pause_job(row.id)
            elif not row.paused and in_aps[row.id] is None:
                self.scheduler.resume_job(row.id)
        for stale in set(in_aps) - ours:
            self._unschedule(stale)
            self._scheduled_versions.pop(stale, None)

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        # Without coalescing, APScheduler calls the job once per missed fire time (in
        # order) after a single submission: each call takes its own fire time.
        if event.scheduled_run_times:
            self._scheduled_for.setdefault(event.job_id, []).extend(event.scheduled_run_times)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        """A fire time missed beyond misfire_grace_time (the server was down): record it."""
        pending = self._scheduled_for.get(event.job_id)
        if pending and event.scheduled_run_time in pending:
            pending.remove(event.scheduled_run_time)
        self._spawn(self._record_missed(event.job_id, event.scheduled_run_time))

    async def _record_missed(self, job_id: str, when: datetime) -> None:
        row = await self._db(self._store.get_job, job_id, False)
        if row is None:
            return
        await self.record_skipped(
            self._run_fields(row, "catchup", when.timestamp()),
            f"Skipped: missed its fire time {when.isoformat()} by more than its "
            "misfire_grace_time (the server was not running).",
        )

    async def on_schedule_fired(self, job_id: str) -> None:
        pending = self._scheduled_for.get(job_id)
        scheduled = pending.pop(0) if pending else None
        if not pending:
            self._scheduled_for.pop(job_id, None)
        when = scheduled.timestamp() if scheduled else time.time()
        try:
            overdue = job_id in self._overdue and when < self._activated_at
            if overdue or when < self._activated_at - 1:
                # A fire time that passed while no server was running.
                await self._catch_up(job_id, when)
            else:
                await self.start_run(job_id, "schedule", scheduled_for=when)
        except JobNotFoundError:
            self._unschedule(job_id)

    async def _catch_up(self, job_id: str, when: float) -> None:
        row = await self._get_row(job_id, with_code=False)
        policy = row.spec.get("catchup") or self.settings.default_catchup
        base = self._run_fields(row, "catchup", when)
        if policy == "skip":
            await self.record_skipped(
                base, "Skipped: the server was not running at this fire time (catch-up policy 'skip')."
            )
        elif job_id in self._caught_up:
            await self.record_skipped(base, "Skipped: this job already caught up once since start-up.")
        else:
            self._caught_up.add(job_id)
            await self.start_run(job_id, "catchup", scheduled_for=when)

    async def read_components_config(self) -> str:
        return await self._fs(workspace.read_text, self._data_dir / "config.toml")

    async def write_components_config(self, content: object) -> None:
        text = workspace.check_text(content, "content", COMPONENT_LIMIT)
        await self._fs(workspace.write_text_atomic, self._data_dir / "config.toml", text)

    async def save_component_file(self, filename: object, content: object) -> str:
        path = workspace.component_path(self.settings.root_dir, filename)
        text = workspace.check_text(content, "content", COMPONENT_LIMIT)
        await self._fs(workspace.write_text_atomic, path, text)
        return path.name

    async def delete_component_file(self, filename: object) -> str:
        path = workspace.component_path(self.settings.root_dir, filename)
        await self._fs(workspace.delete_file, path)
        return path.name

    @property
    def _data_dir(self) -> Path:
        return self.settings.root_dir / workspace.DATA_DIR_NAME

    def describe_config(self) -> dict[str, Any]:
        return {
            "amphi_dir": str(self.settings.root_dir),
            "timezone": self.settings.timezone,
            "allowed_extensions": list(self.settings.allowed_extensions),
            "allow_inline_code": self.settings.allow_inline_code,
            "max_concurrent_runs": self.settings.max_concurrent_runs,
            "scheduler_state": "active" if self.scheduler is not None else "standby",
            "retention_max_runs_per_job": self.settings.retention_max_runs_per_job,
            "retention_max_age_days": self.settings.retention_max_age_days,
            "shutdown_policy": self.settings.shutdown_policy,
        }
