"""SchedulerService: the one place where jobs and runs change.

It owns the store (through one database thread), the APScheduler scheduler (on the
server's event loop) and the runner. Handlers and tests call its coroutines; nothing
here imports tornado or jupyter_server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from . import schedules, workspace
from .errors import (
    ConflictError,
    InvalidRequestError,
    InvalidScheduleError,
    JobNotFoundError,
    PathNotAllowedError,
    PayloadTooLargeError,
    RunNotFoundError,
)
from .models import (
    ACTIVE_STATUSES,
    ALL_SCHEDULE_FIELDS,
    FAILED_STATUSES,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TRIGGER_CONDITIONS,
    SCHEDULE_FIELDS,
    SPEC_FIELDS,
    RunResult,
    parse_job_spec,
)
from .runner import LocalSubprocessRunner, RunnerBackend, RunOutcome, RunRequest
from .store import APSCHEDULER_TABLE, JobRow, Store, make_engine
from .workspace import HashCache, resolve_pipeline

T = TypeVar("T")
COMPONENT_LIMIT = 1024 * 1024
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
FIRE_FUNCTION = "pipeline_scheduler.service:fire_scheduled_job"

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


@dataclass
class SchedulerSettings:
    root_dir: Path
    db_url: str
    timezone: str
    log_dir: Path
    max_log_bytes: int = 50 * 1024 * 1024
    tail_bytes: int = 64 * 1024
    allowed_extensions: tuple[str, ...] = (".py", ".ampln")
    allow_inline_code: bool = True
    max_code_bytes: int = 5 * 1024 * 1024
    python_executable: str = sys.executable
    max_concurrent_runs: int = field(default_factory=lambda: os.cpu_count() or 2)
    default_timeout_seconds: float | None = None
    kill_grace_seconds: float = 5.0
    default_misfire_grace_time: int = 60
    run_scheduler: bool = True


@dataclass
class ActiveRun:
    run_id: int
    job_id: str
    done: asyncio.Future[dict[str, Any]]
    cancel_requested: bool = False
    started: bool = False
    task: asyncio.Task[None] | None = None


def _iso(ts: float | None, tz: Any = timezone.utc) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz).isoformat()


def _job_matches(status: str | None, on: str) -> bool:
    if on == "success":
        return status == "success"
    return status in FAILED_STATUSES


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
        self.runner: RunnerBackend = runner or LocalSubprocessRunner()
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-scheduler-db")
        self._file_thread = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pipeline-scheduler-fs")
        self.store: Store | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self._runs: dict[int, ActiveRun] = {}
        self._slots: asyncio.Semaphore | None = None
        self._scheduled_for: dict[str, datetime] = {}
        self._dependents: dict[str, set[str]] = {}
        self._hashes = HashCache()
        self._job_lock: asyncio.Lock | None = None
        self.started = False
        self._starting: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ plumbing
    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread, functools.partial(fn, *args, **kwargs))

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

    # ------------------------------------------------------------------ life cycle
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

    # ------------------------------------------------------------------ APScheduler glue
    def _schedule(self, row: JobRow, trigger: Any) -> None:
        if self.scheduler is None:
            return
        if trigger is None:
            self._unschedule(row.id)
            return
        options: dict[str, Any] = {
            "misfire_grace_time": row.spec.get("misfire_grace_time")
            or self.settings.default_misfire_grace_time,
            "coalesce": row.spec.get("coalesce", True),
            # Runs are started as tasks and return at once; instance limits are enforced
            # by the service so that a refused run is recorded as 'skipped'.
            "max_instances": 1000,
        }
        if row.paused:
            options["next_run_time"] = None
        self.scheduler.add_job(
            FIRE_FUNCTION,
            trigger=trigger,
            id=row.id,
            name=row.name,
            args=[row.id],
            replace_existing=True,
            **options,
        )

    def _update_scheduled(self, row: JobRow, *, pause_changed: bool) -> None:
        if self.scheduler is None or row.spec.get("schedule_type") == "trigger":
            return
        try:
            self.scheduler.modify_job(
                row.id,
                name=row.name,
                misfire_grace_time=row.spec.get("misfire_grace_time")
                or self.settings.default_misfire_grace_time,
                coalesce=row.spec.get("coalesce", True),
            )
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

    # ------------------------------------------------------------------ answers
    def _job_answer(
        self,
        row: JobRow,
        next_run: float | None,
        names: Mapping[str, str],
        *,
        with_code: bool,
    ) -> dict[str, Any]:
        spec = row.spec
        tz_name = spec.get("timezone") or self.settings.timezone
        try:
            tz: Any = ZoneInfo(tz_name)
        except Exception:
            tz = timezone.utc
        answer: dict[str, Any] = {"id": row.id}
        for key in SPEC_FIELDS:
            if key in spec:
                answer[key] = spec[key]
        answer["name"] = row.name
        answer["pipeline_path"] = row.pipeline_path
        answer["timezone"] = tz_name
        if spec.get("schedule_type") == "trigger":
            answer["schedule_description"] = schedules.describe(
                spec, self.settings.timezone, lambda j: names.get(j, j)
            )
        else:
            answer["schedule_description"] = spec.get("_description", "")
        answer["trigger"] = spec.get("_trigger", "")
        answer["paused"] = row.paused
        answer["next_run_time"] = None if row.paused else _iso(next_run, tz)
        answer["last_run"] = (
            {
                "id": row.last_run_id,
                "status": row.last_run_status,
                "finished_at": _iso(row.last_run_finished_at),
            }
            if row.last_run_id is not None
            else None
        )
        answer["created_at"] = _iso(row.created_at)
        answer["updated_at"] = _iso(row.updated_at)
        answer["code_hash"] = row.code_hash
        answer["pipeline_changed"] = None
        if row.pipeline_path.lower().endswith(".ampln"):
            current = self._hashes.get(self.settings.root_dir / row.pipeline_path)
            answer["pipeline_changed"] = current is not None and current != row.code_hash
        if with_code:
            answer["python_code"] = row.python_code
        return answer

    def _run_answer(self, row: Mapping[str, Any], *, detail: bool = False) -> dict[str, Any]:
        started, finished = row.get("started_at"), row.get("finished_at")
        answer = {
            "id": row["id"],
            "job_id": row["job_id"],
            "job_name": row["job_name"],
            "pipeline_path": row["pipeline_path"],
            "status": row["status"],
            "triggered_by": row["triggered_by"],
            "attempt": row.get("attempt") or 1,
            "scheduled_for": _iso(row.get("scheduled_for")),
            "created_at": _iso(row.get("created_at")),
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "exit_code": row.get("exit_code"),
            "duration_seconds": round(finished - started, 3) if started and finished else None,
            "log_size": row.get("log_size") or 0,
            "log_truncated": bool(row.get("log_truncated")),
            "pipeline_changed": row.get("pipeline_changed"),
            "message": row.get("message"),
        }
        if detail:
            answer["output"] = row.get("output_tail") or ""
            answer["error"] = row.get("error_tail") or ""
        return answer

    # ------------------------------------------------------------------ jobs
    async def list_jobs(self) -> list[dict[str, Any]]:
        rows = await self._db(self._store.list_jobs)
        next_runs = await self._db(self._store.next_run_times)
        names = {r.id: r.name for r in rows}

        def build() -> list[dict[str, Any]]:
            return [self._job_answer(r, next_runs.get(r.id), names, with_code=False) for r in rows]

        return await self._fs(build)

    async def _get_row(self, job_id: str, with_code: bool = True) -> JobRow:
        row = await self._db(self._store.get_job, job_id, with_code)
        if row is None:
            raise JobNotFoundError(f"No job with id {job_id!r}; it may have been deleted.")
        return row

    async def get_job(self, job_id: str) -> dict[str, Any]:
        row = await self._get_row(job_id)
        next_runs = await self._db(self._store.next_run_times)
        names = await self._db(self._store.job_names)
        return await self._fs(self._job_answer, row, next_runs.get(job_id), names, with_code=True)

    async def create_job(self, body: Any) -> tuple[dict[str, Any], bool]:
        """Create a job, or replace one when ``id`` names an existing job.

        Answers (job, created)."""
        spec = parse_job_spec(body)
        assert self._job_lock is not None
        async with self._job_lock:
            existing = None
            job_id = spec.id
            if job_id is not None:
                if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
                    raise InvalidRequestError(
                        "id: use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit."
                    )
                existing = await self._db(self._store.get_job, job_id)
            else:
                job_id = f"job_{uuid.uuid4().hex[:16]}"
            fields = spec.model_dump(exclude_unset=True, exclude={"id"})
            if "trigger_conditions" in fields and spec.trigger_conditions is not None:
                fields["trigger_conditions"] = [c.model_dump() for c in spec.trigger_conditions]
            row, trigger = await self._prepare(job_id, fields, existing, schedule_changed=True)
            if existing is None:
                await self._db(self._store.insert_job, row)
            else:
                await self._db(self._store.replace_job, row)
            self._index_dependent(row.id, row.spec)
            self._schedule(row, trigger)
        return await self.get_job(job_id), existing is None

    async def update_job(self, job_id: str, body: Any) -> dict[str, Any]:
        spec = parse_job_spec(body)
        assert self._job_lock is not None
        async with self._job_lock:
            existing = await self._get_row(job_id)
            patch = spec.model_dump(exclude_unset=True, exclude={"id"})
            if "trigger_conditions" in patch and spec.trigger_conditions is not None:
                patch["trigger_conditions"] = [c.model_dump() for c in spec.trigger_conditions]
            merged = {k: v for k, v in existing.spec.items() if not k.startswith("_")}
            merged["name"] = existing.name
            merged["pipeline_path"] = existing.pipeline_path
            merged["paused"] = existing.paused
            schedule_changed = any(
                k in patch for k in ("schedule_type", "timezone", *ALL_SCHEDULE_FIELDS)
            )
            if "schedule_type" in patch and patch["schedule_type"] != merged.get("schedule_type"):
                for key in ALL_SCHEDULE_FIELDS:
                    if key not in patch:
                        merged.pop(key, None)
            merged.update(patch)
            row, trigger = await self._prepare(job_id, merged, existing, schedule_changed)
            await self._db(self._store.replace_job, row)
            self._index_dependent(row.id, row.spec)
            if schedule_changed:
                self._schedule(row, trigger)
            else:
                # Re-adding the job would restart an interval's countdown: change it in place.
                self._update_scheduled(row, pause_changed=existing.paused != row.paused)
        return await self.get_job(job_id)

    async def _prepare(
        self,
        job_id: str,
        fields: dict[str, Any],
        existing: JobRow | None,
        schedule_changed: bool,
    ) -> tuple[JobRow, Any]:
        """Validate a complete specification; answer the row to store and its trigger."""
        s = self.settings
        name = fields.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("name: required; give the job a name.")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequestError(f"name: at most {MAX_NAME_LENGTH} characters.")
        description = fields.get("description")
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidRequestError(f"description: at most {MAX_DESCRIPTION_LENGTH} characters.")
        rel, target = await self._fs(
            resolve_pipeline, s.root_dir, fields.get("pipeline_path"), s.allowed_extensions
        )
        kind = fields.get("schedule_type")
        if kind is None:
            raise InvalidScheduleError(
                "schedule_type: required; one of 'date', 'interval', 'cron', 'trigger'."
            )
        if kind == "date" and not fields.get("date_type"):
            fields["date_type"] = "once"
        trigger = schedules.build_trigger(
            fields, s.timezone, require_future=schedule_changed
        )
        if fields.get("timezone"):
            schedules.zone(fields["timezone"])
        if kind == "trigger":
            await self._check_conditions(job_id, fields)

        python_code, code_hash = None, None
        if rel.lower().endswith(".ampln"):
            new_code = fields.get("python_code")
            if new_code is not None:
                if not s.allow_inline_code:
                    raise InvalidRequestError(
                        "python_code: this server does not accept generated code "
                        "(allow_inline_code is off), so .ampln pipelines cannot be scheduled."
                    )
                if len(new_code.encode("utf-8", errors="replace")) > s.max_code_bytes:
                    raise PayloadTooLargeError(
                        f"python_code: larger than the {s.max_code_bytes:,} bytes allowed."
                    )
                if not new_code.strip():
                    new_code = None
            if new_code is not None:
                python_code = new_code
                code_hash = await self._fs(self._hashes.get, target)
            elif existing is not None and existing.pipeline_path == rel and existing.python_code:
                python_code, code_hash = existing.python_code, existing.code_hash
            else:
                raise InvalidRequestError(
                    "python_code: an .ampln pipeline needs its generated Python code; open it "
                    "in Amphi ETL's pipeline editor (or schedule it from the Scheduler panel, "
                    "which generates it)."
                )

        spec: dict[str, Any] = {}
        for key in SPEC_FIELDS:
            if key in ("name", "pipeline_path"):
                continue
            if key in ALL_SCHEDULE_FIELDS and key not in SCHEDULE_FIELDS[kind]:
                continue
            if fields.get(key) is not None:
                spec[key] = fields[key]
        if kind == "date" and spec.get("date_type") != "every_x_days":
            spec.pop("interval_days", None)
        if kind == "trigger":
            spec.setdefault("logical_operator", "OR")
        spec["timezone"] = fields.get("timezone") or s.timezone
        spec["_trigger"] = str(trigger) if trigger is not None else "trigger"
        spec["_description"] = schedules.describe(spec, s.timezone)
        now = time.time()
        row = JobRow(
            id=job_id,
            name=name,
            pipeline_path=rel,
            spec=spec,
            python_code=python_code,
            code_hash=code_hash,
            paused=bool(fields.get("paused", existing.paused if existing else False)),
            created_at=existing.created_at if existing else now,
            updated_at=now,
            last_run_id=existing.last_run_id if existing else None,
            last_run_status=existing.last_run_status if existing else None,
            last_run_finished_at=existing.last_run_finished_at if existing else None,
            trigger_watermark=existing.trigger_watermark if existing else 0,
        )
        return row, trigger

    async def _check_conditions(self, job_id: str, fields: dict[str, Any]) -> None:
        conditions = fields.get("trigger_conditions") or []
        if not conditions:
            raise InvalidScheduleError(
                "trigger_conditions: give at least one condition, e.g. "
                '[{"job_id": "<another job>", "on": "success"}].'
            )
        if len(conditions) > MAX_TRIGGER_CONDITIONS:
            raise InvalidScheduleError(
                f"trigger_conditions: at most {MAX_TRIGGER_CONDITIONS} conditions."
            )
        names = await self._db(self._store.job_names)
        for cond in conditions:
            if cond["job_id"] == job_id:
                raise InvalidScheduleError("trigger_conditions: a job cannot trigger itself.")
            if cond["job_id"] not in names:
                raise InvalidScheduleError(
                    f"trigger_conditions: no job with id {cond['job_id']!r}."
                )
        # A cycle exists when this job is upstream of one of its own conditions.
        upstream_of: dict[str, set[str]] = {}
        for upstream, deps in self._dependents.items():
            for dep in deps:
                upstream_of.setdefault(dep, set()).add(upstream)
        upstream_of[job_id] = {c["job_id"] for c in conditions}
        seen: set[str] = set()
        stack = list(upstream_of[job_id])
        while stack:
            current = stack.pop()
            if current == job_id:
                raise InvalidScheduleError(
                    "trigger_conditions: these conditions would form a cycle "
                    f"('{names.get(job_id, job_id)}' would end up triggering itself)."
                )
            if current in seen:
                continue
            seen.add(current)
            stack.extend(upstream_of.get(current, ()))

    async def delete_job(self, job_id: str) -> None:
        assert self._job_lock is not None
        async with self._job_lock:
            row = await self._get_row(job_id, with_code=False)
            dependents = sorted(self._dependents.get(job_id, set()))
            if dependents:
                names = await self._db(self._store.job_names)
                listed = ", ".join(f"'{names.get(d, d)}'" for d in dependents)
                raise ConflictError(
                    f"'{row.name}' is a trigger condition of {listed}; edit or delete "
                    "those jobs first."
                )
            self._unschedule(job_id)
            await self._db(self._store.delete_job, job_id)
            self._index_dependent(job_id, None)
            self._dependents.pop(job_id, None)
        for active in [a for a in self._runs.values() if a.job_id == job_id]:
            await self.cancel_run(active.run_id)
        await self.clear_runs(job_id=job_id)

    async def set_paused(self, job_id: str, paused: bool) -> dict[str, Any]:
        assert self._job_lock is not None
        async with self._job_lock:
            row = await self._get_row(job_id, with_code=False)
            await self._db(self._store.set_job_fields, job_id, paused=paused, updated_at=time.time())
            if self.scheduler is not None and row.spec.get("schedule_type") != "trigger":
                try:
                    if paused:
                        self.scheduler.pause_job(job_id)
                    else:
                        self.scheduler.resume_job(job_id)
                except JobLookupError:
                    pass  # a one-off that already fired has nothing to pause
        return await self.get_job(job_id)

    async def preview(self, body: Any) -> dict[str, Any]:
        spec = parse_job_spec(body)
        fields = spec.model_dump(exclude_unset=True)
        if spec.trigger_conditions is not None:
            fields["trigger_conditions"] = [c.model_dump() for c in spec.trigger_conditions]
        kind = fields.get("schedule_type")
        if kind is None:
            raise InvalidScheduleError(
                "schedule_type: required; one of 'date', 'interval', 'cron', 'trigger'."
            )
        if kind == "date" and not fields.get("date_type"):
            fields["date_type"] = "once"
        now = datetime.now(timezone.utc)
        trigger = schedules.build_trigger(fields, self.settings.timezone, now=now)
        tz_name = fields.get("timezone") or self.settings.timezone
        names: dict[str, str] = {}
        if kind == "trigger":
            await self._check_conditions(spec.id or "", fields)
            names = await self._db(self._store.job_names)
        tz = schedules.zone(tz_name)
        return {
            "description": schedules.describe(fields, self.settings.timezone, lambda j: names.get(j, j)),
            "trigger": str(trigger) if trigger is not None else "trigger",
            "timezone": tz_name,
            "next_run_times": [
                t.astimezone(tz).isoformat() for t in schedules.next_fire_times(trigger, 5, now)
            ],
        }

    # ------------------------------------------------------------------ runs
    async def start_run(
        self,
        job_id: str,
        triggered_by: str,
        *,
        scheduled_for: float | None = None,
        python_code: str | None = None,
    ) -> ActiveRun:
        """Record a run and start it in the background; answer at once."""
        row = await self._get_row(job_id)
        if python_code is not None and row.pipeline_path.lower().endswith(".ampln"):
            row = await self._refresh_code(row, python_code)
        store = self._store
        base = {
            "job_id": job_id,
            "job_name": row.name,
            "pipeline_path": row.pipeline_path,
            "triggered_by": triggered_by,
            "scheduled_for": scheduled_for,
        }
        if triggered_by != "manual":
            limit = int(row.spec.get("max_instances") or 1000)
            active_count = sum(1 for a in self._runs.values() if a.job_id == job_id)
            if active_count >= limit:
                now = time.time()
                run_id = await self._db(
                    store.insert_run,
                    **base,
                    status="skipped",
                    finished_at=now,
                    message=f"Skipped: {active_count} run(s) of this job were still active "
                    f"(max_instances is {limit}).",
                )
                done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                done.set_result(await self._db(store.get_run, run_id) or {})
                return ActiveRun(run_id, job_id, done)
        run_id = await self._db(store.insert_run, **base, status="queued")
        active = ActiveRun(run_id, job_id, asyncio.get_running_loop().create_future())
        self._runs[run_id] = active
        active.task = asyncio.create_task(self._execute(active, row, triggered_by))
        return active

    async def _refresh_code(self, row: JobRow, python_code: str) -> JobRow:
        if not python_code.strip():
            raise InvalidRequestError("python_code: empty; generate the pipeline's code again.")
        if len(python_code.encode("utf-8", errors="replace")) > self.settings.max_code_bytes:
            raise PayloadTooLargeError(
                f"python_code: larger than the {self.settings.max_code_bytes:,} bytes allowed."
            )
        _, target = await self._fs(
            resolve_pipeline, self.settings.root_dir, row.pipeline_path, self.settings.allowed_extensions
        )
        code_hash = await self._fs(self._hashes.get, target)
        await self._db(
            self._store.set_job_fields,
            row.id,
            python_code=python_code,
            code_hash=code_hash,
            updated_at=time.time(),
        )
        row.python_code, row.code_hash = python_code, code_hash
        return row

    async def _execute(self, active: ActiveRun, row: JobRow, triggered_by: str) -> None:
        s = self.settings
        store = self._store
        run_dir = s.log_dir / str(active.run_id)
        log_path = run_dir / "output.log"
        outcome: RunOutcome | None = None
        changed: bool | None = None
        try:
            assert self._slots is not None
            async with self._slots:
                if active.cancel_requested:
                    outcome = RunOutcome("cancelled", None, "", "", 0, False, "Cancelled while queued.")
                    return
                rel, target = await self._fs(
                    resolve_pipeline, s.root_dir, row.pipeline_path, s.allowed_extensions
                )
                header = (
                    f"[amphi-scheduler] run {active.run_id} of '{row.name}' ({rel}), "
                    f"{triggered_by}, started {datetime.now(self.tz).isoformat(timespec='seconds')}\n"
                )
                if rel.lower().endswith(".ampln"):
                    current = await self._fs(self._hashes.get, target)
                    changed = current != row.code_hash
                    if changed:
                        header = (
                            "[amphi-scheduler] WARNING: the pipeline file changed after its code "
                            "was generated; this run uses the stored code. Regenerate it from "
                            "the Scheduler panel.\n" + header
                        )
                    script = run_dir / "pipeline.py"
                    await self._fs(run_dir.mkdir, parents=True, exist_ok=True)
                    await self._fs(script.write_text, row.python_code or "", encoding="utf-8")
                else:
                    script = target
                env = dict(os.environ)
                env.update(
                    PYTHONUNBUFFERED="1",
                    AMPHI_SCHEDULER_RUN_ID=str(active.run_id),
                    AMPHI_SCHEDULER_JOB_ID=row.id,
                    AMPHI_SCHEDULER_WORKSPACE=str(s.root_dir),
                )
                env.pop("JUPYTER_TOKEN", None)
                request = RunRequest(
                    run_id=active.run_id,
                    argv=[s.python_executable, "-u", str(script)],
                    cwd=target.parent,
                    env=env,
                    log_path=log_path,
                    max_log_bytes=s.max_log_bytes,
                    tail_bytes=s.tail_bytes,
                    timeout_seconds=s.default_timeout_seconds,
                    kill_grace_seconds=s.kill_grace_seconds,
                    header=header,
                )

                async def on_started() -> None:
                    active.started = True
                    await self._db(
                        store.update_run,
                        active.run_id,
                        status="running",
                        started_at=time.time(),
                        log_path=str(log_path),
                        pipeline_changed=changed,
                    )

                outcome = await self.runner.run(request, on_started)
        except PathNotAllowedError as err:
            outcome = RunOutcome("failure", None, "", err.message, 0, False, err.message)
        except asyncio.CancelledError:
            outcome = RunOutcome("cancelled", None, "", "", 0, False, "Cancelled.")
        except Exception as err:
            self.log.exception("Run %s of job %s failed to run", active.run_id, row.id)
            outcome = RunOutcome("failure", None, "", str(err), 0, False, f"Internal error: {err}")
        finally:
            if outcome is None:
                outcome = RunOutcome("cancelled", None, "", "", 0, False, "Cancelled.")
            if active.cancel_requested and outcome.status in ("failure", "success") and not active.started:
                outcome.status = "cancelled"
            await self._record(active, row, outcome)

    async def _record(self, active: ActiveRun, row: JobRow, outcome: RunOutcome) -> None:
        store = self._store
        now = time.time()
        values: dict[str, Any] = {
            "status": outcome.status,
            "finished_at": now,
            "exit_code": outcome.exit_code,
            "output_tail": outcome.output_tail,
            "error_tail": outcome.error_tail,
            "log_size": outcome.log_size,
            "log_truncated": outcome.log_truncated,
            "message": outcome.message,
        }
        try:
            await self._db(store.finish_run, active.run_id, row.id, **values)
            record = await self._db(store.get_run, active.run_id)
        except Exception:
            self.log.exception("Could not record the end of run %s", active.run_id)
            record = None
        self._runs.pop(active.run_id, None)
        if not active.done.done():
            active.done.set_result(record or {"id": active.run_id, **values})
        if self.started:
            try:
                await self._fire_dependents(row.id, outcome.status, active.run_id)
            except Exception:
                self.log.exception("Could not start the jobs triggered by run %s", active.run_id)

    async def _fire_dependents(self, job_id: str, status: str, run_id: int) -> None:
        if status != "success" and status not in FAILED_STATUSES:
            return
        for dep_id in sorted(self._dependents.get(job_id, set())):
            dep = await self._db(self._store.get_job, dep_id, False)
            if dep is None or dep.paused or dep.spec.get("schedule_type") != "trigger":
                continue
            conditions = dep.spec.get("trigger_conditions") or []
            if (dep.spec.get("logical_operator") or "OR") == "OR":
                fire = any(
                    c["job_id"] == job_id and _job_matches(status, c["on"]) for c in conditions
                )
            else:
                latest = await self._db(
                    self._store.latest_final_runs, [c["job_id"] for c in conditions]
                )
                fire = all(
                    c["job_id"] in latest
                    and latest[c["job_id"]][0] > dep.trigger_watermark
                    and _job_matches(latest[c["job_id"]][1], c["on"])
                    for c in conditions
                )
            if fire:
                await self._db(self._store.set_job_fields, dep_id, trigger_watermark=run_id)
                await self.start_run(dep_id, "trigger")

    async def run_now(
        self, job_id: str, *, wait: bool = True, python_code: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Start a manual run. Answers (body, finished)."""
        if python_code is not None and not isinstance(python_code, str):
            raise InvalidRequestError("python_code: must be text.")
        active = await self.start_run(job_id, "manual", python_code=python_code)
        if not wait:
            run = await self._db(self._store.get_run, active.run_id)
            return self._run_answer(run or {}, detail=False), False
        record = await asyncio.shield(active.done)
        result: RunResult = {
            "success": record.get("status") == "success",
            "output": record.get("output_tail") or "",
            "error": record.get("error_tail") or record.get("message") or "",
            "exit_code": record.get("exit_code"),
            "run_id": active.run_id,
        }
        return dict(result), True

    async def wait_for_run(self, run_id: int, timeout: float | None = None) -> dict[str, Any]:
        active = self._runs.get(run_id)
        if active is not None:
            await asyncio.wait_for(asyncio.shield(active.done), timeout)
        return await self.get_run(run_id)

    async def cancel_run(self, run_id: int) -> dict[str, Any]:
        active = self._runs.get(run_id)
        if active is None:
            run = await self.get_run(run_id)
            raise ConflictError(f"Run {run_id} is not active (its status is '{run['status']}').")
        active.cancel_requested = True
        if not await self.runner.cancel(run_id) and active.task is not None and not active.started:
            active.task.cancel()
        await asyncio.shield(active.done)
        return await self.get_run(run_id)

    async def list_runs(
        self,
        *,
        job_id: str | None = None,
        statuses: list[str] | None = None,
        before: int | None = None,
        limit: int = 200,
    ) -> dict[str, Any]:
        rows = await self._db(
            self._store.list_runs, job_id=job_id, statuses=statuses, before=before, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "runs": [self._run_answer(r) for r in rows],
            "next_cursor": rows[-1]["id"] if more and rows else None,
        }

    async def get_run(self, run_id: int) -> dict[str, Any]:
        row = await self._db(self._store.get_run, run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
        return self._run_answer(row, detail=True)

    async def read_log(self, run_id: int, offset: int, max_bytes: int) -> dict[str, Any]:
        row = await self._db(self._store.get_run, run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
        path = row.get("log_path")

        def read() -> tuple[bytes, int]:
            if not path:
                return b"", 0
            try:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    f.seek(min(offset, size))
                    return f.read(max_bytes), size
            except FileNotFoundError:
                return b"", 0

        data, size = await self._fs(read)
        # Never cut a UTF-8 character in two: hand back complete characters only.
        cut = len(data)
        if cut == max_bytes:
            for back in range(1, min(4, cut) + 1):
                byte = data[cut - back]
                if byte & 0xC0 != 0x80:  # start of a character
                    needed = 1 if byte < 0x80 else 2 if byte >> 5 == 6 else 3 if byte >> 4 == 14 else 4
                    if needed > back:
                        cut -= back
                    break
        data = data[:cut]
        finished = row["status"] not in ACTIVE_STATUSES
        return {
            "data": data.decode("utf-8", errors="replace"),
            "offset": offset,
            "next_offset": offset + len(data),
            "size": size,
            "finished": finished and offset + len(data) >= size,
            "status": row["status"],
        }

    async def delete_run(self, run_id: int) -> None:
        row = await self._db(self._store.get_run, run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
        if row["status"] in ACTIVE_STATUSES and run_id in self._runs:
            raise ConflictError(f"Run {run_id} is still {row['status']}; cancel it first.")
        await self._db(self._store.delete_run, run_id)
        await self._fs(shutil.rmtree, self.settings.log_dir / str(run_id), ignore_errors=True)

    async def clear_runs(self, job_id: str | None = None) -> int:
        victims = await self._db(
            self._store.delete_runs, job_id=job_id, exclude_statuses=list(ACTIVE_STATUSES)
        )

        def remove_logs() -> None:
            for run_id, _ in victims:
                shutil.rmtree(self.settings.log_dir / str(run_id), ignore_errors=True)

        await self._fs(remove_logs)
        return len(victims)

    # ------------------------------------------------------------------ Amphi components panel
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

