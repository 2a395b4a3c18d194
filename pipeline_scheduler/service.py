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

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from . import schedules, workspace
from .base import COMPONENT_LIMIT, FIRE_FUNCTION, ActiveRun, SchedulerSettings, ServiceBase  # noqa: F401
from .errors import (
    InvalidScheduleError,
    JobNotFoundError,
)
from .jobs import JobOperations
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
        global _active_service
        if self.started:
            return
        s = self.settings
        await self._fs(s.log_dir.mkdir, parents=True, exist_ok=True)
        if s.db_url.startswith("sqlite:///"):
            db_file = Path(s.db_url[len("sqlite:///") :])
            await self._fs(db_file.parent.mkdir, parents=True, exist_ok=True)
        engine = await self._db(make_engine, s.db_url)
        self.store = Store(engine)
        await self._db(self.store.create_schema)
        self._slots = asyncio.Semaphore(max(1, s.max_concurrent_runs))
        self._job_lock = asyncio.Lock()
        await self._rebuild_dependents()
        if s.run_scheduler:
            interrupted = await self._db(self.store.mark_interrupted, time.time())
            if interrupted:
                self.log.warning("Marked %d run(s) interrupted by a previous stop", len(interrupted))
            scheduler = AsyncIOScheduler(
                jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=APSCHEDULER_TABLE)},
                timezone=self.tz,
            )
            scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
            self.scheduler = scheduler
            _active_service = self
            scheduler.start()
            await self._reconcile()
        self.started = True

    async def stop(self) -> None:
        """Stop firing, stop running pipelines (recorded as cancelled), release resources."""
        global _active_service
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if _active_service is self:
            _active_service = None
        active_runs = list(self._runs.values())
        for active in active_runs:
            active.cancel_requested = True

        async def cancel(active: ActiveRun) -> None:
            if not await self.runner.cancel(active.run_id) and active.task is not None and not active.started:
                active.task.cancel()

        await asyncio.gather(*(cancel(a) for a in active_runs), return_exceptions=True)
        tasks = [a.task for a in active_runs if a.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.kill_grace_seconds + 10)
        # Only now: the runs above still need the runner (log writes) to record their end.
        await self.runner.shutdown()
        if self.store is not None:
            await self._db(self.store.engine.dispose)
        self._db_thread.shutdown(wait=False)
        self._file_thread.shutdown(wait=False)
        self.started = False

    async def _reconcile(self) -> None:
        """Make APScheduler's job store agree with the job definitions (ours win)."""
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
            if row.id not in in_aps:
                if kind == "date" and (row.spec.get("date_type") or "once") == "once":
                    continue  # a one-off that already fired
                try:
                    trigger = schedules.build_trigger(
                        row.spec, self.settings.timezone, now=now, require_future=False
                    )
                except InvalidScheduleError as err:
                    self.log.error("Job %s has a schedule that no longer works: %s", row.id, err)
                    continue
                self._schedule(row, trigger)
            elif row.paused and in_aps[row.id] is not None:
                self.scheduler.pause_job(row.id)
            elif not row.paused and in_aps[row.id] is None:
                self.scheduler.resume_job(row.id)
        for stale in set(in_aps) - ours:
            self._unschedule(stale)

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._scheduled_for[event.job_id] = event.scheduled_run_times[-1]

    async def on_schedule_fired(self, job_id: str) -> None:
        scheduled = self._scheduled_for.pop(job_id, None)
        try:
            await self.start_run(
                job_id,
                "schedule",
                scheduled_for=scheduled.timestamp() if scheduled else time.time(),
            )
        except JobNotFoundError:
            self._unschedule(job_id)

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
        }
