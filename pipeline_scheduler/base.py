"""Settings, shared state and plumbing of the scheduler service.

The service is split by concern: ``jobs.JobOperations`` (definitions, validation),
``runs.RunOperations`` (execution and history) and ``service.SchedulerService`` (life
cycle, the scheduler, standby). Nothing here imports tornado or jupyter_server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import OperationalError

from . import schedules
from .errors import JobNotFoundError, StoreUnavailableError
from .listing import JobListing
from .lock import SchedulerLock
from .models import (
    FAILED_STATUSES,
)
from .runner import LocalSubprocessRunner, RunnerBackend
from .store import JobRow, Store
from .workspace import HashCache

T = TypeVar("T")
COMPONENT_LIMIT = 1024 * 1024
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
FIRE_FUNCTION = "pipeline_scheduler.service:fire_scheduled_job"


@dataclass
class SchedulerSettings:
    root_dir: Path
    db_url: str
    timezone: str
    log_dir: Path
    max_log_bytes: int = 50 * 1024 * 1024
    tail_bytes: int = 64 * 1024
    allowed_extensions: tuple[str, ...] = (".py", ".ampln", ".ipynb")
    allow_inline_code: bool = True
    max_code_bytes: int = 5 * 1024 * 1024
    python_executable: str = sys.executable
    max_concurrent_runs: int = field(default_factory=lambda: os.cpu_count() or 2)
    default_timeout_seconds: float | None = None
    kill_grace_seconds: float = 5.0
    default_misfire_grace_time: int = 60
    run_scheduler: bool = True
    # What a missed fire time (server down) does by default: run once at start-up or skip.
    default_catchup: str = "run_once"
    retention_max_runs_per_job: int = 500
    retention_max_age_days: float = 90.0
    alert_webhook_url: str = ""
    # On a clean server stop: "cancel" running pipelines, or "wait" for them to finish.
    shutdown_policy: str = "cancel"
    lock_poll_seconds: float = 2.0
    lock_path: Path | None = None


@dataclass
class ActiveRun:
    run_id: int
    job_id: str
    done: asyncio.Future[dict[str, Any]]
    cancel_requested: bool = False
    started: bool = False
    task: asyncio.Task[None] | None = None
    attempt: int = 1
    cancel_reason: str = "Cancelled."


def _iso(ts: float | None, tz: Any = timezone.utc) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz).isoformat()


def in_order(*steps: Callable[[], Any]) -> list[Any]:
    """Call each step in turn and answer their results: several steps in one hop to the
    database thread (a job's row, then APScheduler's job store, whose synchronous writes
    must not run on the event loop)."""
    return [step() for step in steps]


def _job_matches(status: str | None, on: str) -> bool:
    if on == "success":
        return status == "success"
    return status in FAILED_STATUSES


class ServiceBase:
    """State and plumbing shared by the job and run operations of SchedulerService."""

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        runner: RunnerBackend | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.settings = settings
        self.log = log or logging.getLogger("pipeline_scheduler")
        self.runner: RunnerBackend = runner or LocalSubprocessRunner()
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-scheduler-db")
        self._file_thread = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pipeline-scheduler-fs")
        # Webhook alerts wait on the network (up to their timeout): never on the file threads.
        self._alert_thread = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pipeline-scheduler-alert")
        self.store: Store | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self._runs: dict[int, ActiveRun] = {}
        self._slots: asyncio.Semaphore | None = None
        # Fire times APScheduler submitted per job, in order, each taken by one call.
        self._scheduled_for: dict[str, list[datetime]] = {}
        self._dependents: dict[str, set[str]] = {}
        self._hashes = HashCache()
        self._job_lock: asyncio.Lock | None = None
        self.started = False
        self._starting: asyncio.Future[None] | None = None
        # Background tasks (retries waiting for their delay, alerts, watchers) to stop with us.
        self._background: set[asyncio.Task[Any]] = set()
        # updated_at of each job as last given to APScheduler, to notice changes made by
        # another server on the same database.
        self._scheduled_versions: dict[str, float] = {}
        self._seen_revision: int | None = None
        self._activated_at = 0.0
        self._caught_up: set[str] = set()
        # Jobs whose stored next fire time had passed when this server became active.
        self._overdue: set[str] = set()
        self._lock: SchedulerLock | None = None
        self._listing = JobListing()

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._db_thread, functools.partial(fn, *args, **kwargs))
        except OperationalError as err:
            self.log.error("amphi-scheduler database error: %s", err)
            raise StoreUnavailableError(
                "The scheduler database is not usable right now "
                f"({str(err.orig) if err.orig else err}); if another program holds it locked, "
                "try again when it is done."
            ) from None

    async def _fs(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._file_thread, functools.partial(fn, *args, **kwargs))

    @property
    def _store(self) -> Store:
        if self.store is None:
            raise RuntimeError("SchedulerService.start() has not been awaited")
        return self.store

    @property
    def tz(self) -> ZoneInfo:
        return schedules.zone(self.settings.timezone)

    async def _get_row(self, job_id: str, with_code: bool = True) -> JobRow:
        row = await self._db(self._store.get_job, job_id, with_code)
        if row is None:
            raise JobNotFoundError(f"No job with id {job_id!r}; it may have been deleted.")
        return row

    async def _rebuild_dependents(self) -> None:
        rows = await self._db(self._store.list_jobs)
        self._dependents = {}
        for row in rows:
            self._index_dependent(row.id, row.spec)

    def _index_dependent(self, job_id: str, spec: Mapping[str, Any] | None) -> None:
        for deps in self._dependents.values():
            deps.discard(job_id)
        if spec and spec.get("schedule_type") == "trigger":
            for cond in spec.get("trigger_conditions") or []:
                self._dependents.setdefault(cond["job_id"], set()).add(job_id)

    def _fire_options(self, row: JobRow) -> dict[str, Any]:
        """The job's options that APScheduler applies when it fires."""
        return {
            "misfire_grace_time": row.spec.get("misfire_grace_time")
            or self.settings.default_misfire_grace_time,
            "coalesce": row.spec.get("coalesce", True),
        }

    @staticmethod
    def _run_fields(row: JobRow, triggered_by: str, scheduled_for: float | None) -> dict[str, Any]:
        """The columns every new run of ``row`` starts with."""
        return {
            "job_id": row.id,
            "job_name": row.name,
            "pipeline_path": row.pipeline_path,
            "triggered_by": triggered_by,
            "scheduled_for": scheduled_for,
        }

    def _schedule(self, row: JobRow, trigger: Any) -> float | None:
        """Give the job to APScheduler (or take it away); answer its next fire time."""
        if self.scheduler is None:
            return None
        if trigger is None:
            self._unschedule(row.id)
            return None
        options: dict[str, Any] = {
            **self._fire_options(row),
            # Runs are started as tasks and return at once; instance limits are enforced
            # by the service so that a refused run is recorded as 'skipped'.
            "max_instances": 1000,
        }
        if row.paused:
            options["next_run_time"] = None
        self._scheduled_versions[row.id] = row.updated_at
        job = self.scheduler.add_job(
            FIRE_FUNCTION,
            trigger=trigger,
            id=row.id,
            name=row.name,
            args=[row.id],
            replace_existing=True,
            **options,
        )
        next_run = getattr(job, "next_run_time", None)
        return next_run.timestamp() if next_run is not None else None

    def _update_scheduled(self, row: JobRow, *, pause_changed: bool) -> None:
        if self.scheduler is None or row.spec.get("schedule_type") == "trigger":
            return
        self._scheduled_versions[row.id] = row.updated_at
        try:
            self.scheduler.modify_job(row.id, name=row.name, **self._fire_options(row))
            if pause_changed:
                if row.paused:
                    self.scheduler.pause_job(row.id)
                else:
                    self.scheduler.resume_job(row.id)
        except JobLookupError:
            pass  # a one-off that already fired has nothing left to change

    def _unschedule(self, job_id: str) -> None:
        if self.scheduler is None:
            return
        try:
            self.scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    def _note_revision(self, revision: int | None) -> None:
        """Our own change of job definitions made ``revision``: when it directly follows
        the last one applied, nothing else changed and the watch loop need not reload."""
        if revision is not None and self._seen_revision is not None and revision == self._seen_revision + 1:
            self._seen_revision = revision

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a coroutine in the background, kept until it ends (and stopped with us)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # Implemented by RunOperations; declared here for the job operations that use them.
    async def cancel_run(self, run_id: int) -> dict[str, Any]:
        raise NotImplementedError

    async def clear_runs(self, job_id: str | None = None) -> int:
        raise NotImplementedError
