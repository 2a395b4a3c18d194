"""The schedule driver: the ONLY code that talks to APScheduler.

APScheduler 3's ``AsyncIOScheduler`` (its timer on the server's event loop, its
processing on the database thread) keeps each job's trigger state (the next fire time, an
interval's countdown) in a SQLAlchemy job store in the scheduler's own database, across
restarts. This project's
tables keep the job definitions; ``reconcile`` makes APScheduler's store agree with
them (the definitions win) at start-up and after changes made through another server.

Fires do not call a job function. APScheduler persists a job as a reference to an
importable function, which would need a module global to find this driver again;
instead the driver's own executor (``_FireExecutor``) receives every due fire time,
applies the job's misfire grace time, and hands the fire to the driver, which decides
whether it is an ordinary fire, a catch-up after downtime or a miss to record, and
passes it on to its ``FireHandler`` (the run executor). Instance limits are the run
executor's business too, so that a refused fire is recorded as ``skipped``.

The synchronous methods (``put``, ``update``, ``set_paused``, ``remove``) write to
APScheduler's job store: callers run them on the database thread, in the same hop as the
job's own row, never on the event loop. APScheduler's own processing (at each wake-up:
after every job change, and when a fire time comes) reads the due jobs from that store and
writes their next fire times, so it runs there too (``_OffLoopScheduler``); the fires it
finds come back to the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from . import schedules
from .domain import JobDefinition, TriggeredBy
from .errors import InvalidScheduleError
from .settings import SchedulerSettings
from .store import raw_rows
from .workers import Background

APSCHEDULER_TABLE = "pipeline_scheduler_apscheduler_jobs"
_EXECUTOR = "pipeline-scheduler"
# APScheduler stores a textual reference to a callable with each job; this one is never
# called, because every job is submitted to the driver's own executor.
_JOB_REFERENCE = "pipeline_scheduler.scheduling:job_reference"


def job_reference(job_id: str) -> None:
    """The callable APScheduler stores with each job (see the module docstring)."""
    raise RuntimeError(f"Job {job_id} was run outside amphi-scheduler's schedule driver.")


class FireHandler(Protocol):
    """What the driver hands fires to (the run executor)."""

    def start_fired(
        self, job_id: str, triggered_by: TriggeredBy, scheduled_for: float
    ) -> Coroutine[Any, Any, Any]:
        """Start a run of a fire time; answer its ``ActiveRun`` (``done``: its end), or None
        when it did not start."""
        ...

    def record_missed(
        self, job_id: str, triggered_by: TriggeredBy, scheduled_for: float, message: str
    ) -> Coroutine[Any, Any, Any]: ...

    def catchup_policy(self, job_id: str) -> Coroutine[Any, Any, str]:
        """The job's catch-up policy ('all', 'latest', 'none', or the older names
        'run_once' and 'skip') for fire times missed while no server ran."""
        ...

    def instance_limit(self, job_id: str) -> Coroutine[Any, Any, int]:
        """How many runs of the job may be active at once (its max_instances)."""
        ...


# The older names of the catch-up policies (drop-in compatibility).
_CATCHUP_ALIASES = {"run_once": "latest", "skip": "none"}


def catchup_policy_name(value: str | None) -> str:
    """'all', 'latest' or 'none' for a policy as stored (older names included)."""
    name = value or "latest"
    return _CATCHUP_ALIASES.get(name, name)


# Where APScheduler's processing is handed to: ``offload(fn)`` runs ``fn`` on the database
# thread, after the calls handed there before.
Offload = Callable[[Callable[[], None]], object]


class _OffLoopScheduler(AsyncIOScheduler):
    """APScheduler's asyncio scheduler with its processing on the database thread.

    ``AsyncIOScheduler`` runs ``_process_jobs`` on the event loop at every wake-up, and that
    reads and writes the SQLAlchemy job store: blocking database calls on the loop, at each
    job change and each fire. Here a wake-up hands it to ``offload`` (one at a time: wake-ups
    while one is waiting there add nothing); its timer is still the loop's."""

    def __init__(self, offload: Offload, **options: Any) -> None:
        super().__init__(**options)
        self._offload = offload
        self._is_queued = False

    def wakeup(self) -> None:  # from any thread (APScheduler calls it inside add_job, etc.)
        if not self._is_queued:
            self._is_queued = True
            self._offload(self._process_off_loop)

    def _process_off_loop(self) -> None:
        """On the database thread: process the due jobs, then set the next wake-up."""
        self._is_queued = False
        loop = self._eventloop
        if not self.running or loop is None:
            return
        try:
            wait = self._process_jobs()
        except Exception:  # APScheduler catches the store's errors; anything else: retry
            self._logger.exception("amphi-scheduler: APScheduler could not process its jobs")
            wait = float(self.jobstore_retry_interval)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._set_timer, wait)

    def _set_timer(self, wait: float | None) -> None:
        if self.running:
            self._start_timer(wait)

    def shutdown(self, wait: bool = True) -> None:
        """Stop, on the database thread too: a processing pass under way there holds
        APScheduler's job store lock, which stopping takes (on the loop, it would wait)."""
        if not self.running:
            raise SchedulerNotRunningError
        self._offload(functools.partial(self._shutdown_off_loop, wait))

    def _shutdown_off_loop(self, wait: bool) -> None:
        BaseScheduler.shutdown(self, wait)
        loop = self._eventloop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._stop_timer)


class _FireExecutor(BaseExecutor):
    """APScheduler executor that hands due fire times to the driver, on the event loop
    (APScheduler finds them on the database thread)."""

    def __init__(self, driver: ScheduleDriver, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._driver = driver
        self._loop = loop

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        # No instance counting here: the run executor limits instances and records refusals.
        self._do_submit_job(job, run_times)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self._loop.call_soon_threadsafe(
                self._hand_over, job.id, job.trigger, job.misfire_grace_time, list(run_times)
            )

    def _hand_over(
        self, job_id: str, trigger: BaseTrigger, grace: float | None, run_times: list[datetime]
    ) -> None:
        if not self._driver.is_running:  # found by a pass that ran as the driver stopped
            return
        now = datetime.now(timezone.utc)
        for run_time in run_times:
            if grace is not None and (now - run_time).total_seconds() > grace:
                self._driver.missed(job_id, run_time)
            else:
                self._driver.fired(job_id, run_time, trigger, grace)


class ScheduleDriver:
    def __init__(
        self,
        settings: SchedulerSettings,
        engine: Engine,
        background: Background,
        log: logging.Logger,
        offload: Offload,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.background = background
        self.log = log
        # Where APScheduler's processing runs (the database thread).
        self.offload = offload
        self._scheduler: AsyncIOScheduler | None = None
        self._handler: FireHandler | None = None
        # What each job was last given to APScheduler as (JobDefinition.schedule_key).
        self._scheduled_keys: dict[str, str] = {}
        self._activated_at = 0.0
        # Jobs whose stored next fire time (the first one missed) had passed when this
        # server became active.
        self._overdue: dict[str, float] = {}
        self._caught_up: set[str] = set()
        self._index_made = False

    @property
    def is_running(self) -> bool:
        return self._scheduler is not None

    # -- life cycle ----------------------------------------------------------------------
    def start(self, handler: FireHandler, next_runs: dict[str, float | None]) -> None:
        """Start firing (this server became the active scheduler). ``next_runs``: the
        stored next fire times (``next_run_times()``, read on the database thread), to tell
        fire times missed while no server ran from ordinary ones."""
        self._handler = handler
        self._activated_at = time.time()
        self._caught_up = set()
        self._overdue = {
            job_id: next_run
            for job_id, next_run in next_runs.items()
            if next_run is not None and next_run < self._activated_at
        }
        scheduler = _OffLoopScheduler(
            self.offload,
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename=APSCHEDULER_TABLE)},
            executors={_EXECUTOR: _FireExecutor(self, asyncio.get_running_loop())},
            timezone=self.settings.tz,
        )
        self._scheduler = scheduler
        scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    # -- job store writes (call on the database thread) ---------------------------------
    def put(self, job: JobDefinition, trigger: BaseTrigger | None) -> float | None:
        """Give the job to APScheduler (replacing what it had), or take it away when it has
        no trigger; answer its next fire time."""
        if self._scheduler is None:
            return None
        if trigger is None:
            self.remove(job.id)
            return None
        options: dict[str, Any] = self._fire_options(job)
        if job.paused:
            options["next_run_time"] = None
        self._scheduled_keys[job.id] = job.schedule_key
        added = self._scheduler.add_job(
            _JOB_REFERENCE,
            trigger=trigger,
            id=job.id,
            name=job.name,
            args=[job.id],
            replace_existing=True,
            executor=_EXECUTOR,
            **options,
        )
        next_run = getattr(added, "next_run_time", None)
        return next_run.timestamp() if next_run is not None else None

    def update(self, job: JobDefinition, *, pause_changed: bool) -> None:
        """Apply a change that keeps the schedule (name, fire options, pause) in place: re-adding
        the job would restart an interval's countdown."""
        if self._scheduler is None or job.is_event_triggered:
            return
        try:
            self._scheduler.modify_job(job.id, name=job.name, **self._fire_options(job))
            if pause_changed:
                self.set_paused(job.id, job.paused)
        except JobLookupError:
            pass  # a one-off that already fired has nothing left to change

    def set_paused(self, job_id: str, paused: bool) -> None:
        if self._scheduler is None:
            return
        try:
            if paused:
                self._scheduler.pause_job(job_id)
            else:
                self._scheduler.resume_job(job_id)
        except JobLookupError:
            pass  # trigger-only jobs and fired one-offs are not in APScheduler

    def remove(self, job_id: str) -> None:
        self._scheduled_keys.pop(job_id, None)
        if self._scheduler is None:
            return
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    def _fire_options(self, job: JobDefinition) -> dict[str, Any]:
        return {
            "misfire_grace_time": job.spec.get("misfire_grace_time") or self.settings.misfire_grace_time,
            "coalesce": job.spec.get("coalesce", True),
            "max_instances": 1000,  # limits are the run executor's (refusals are recorded)
        }

    def scheduled_job(self, job_id: str) -> Job | None:
        """APScheduler's job, to inspect its trigger and next fire time (diagnostics, tests)."""
        return self._scheduler.get_job(job_id) if self._scheduler is not None else None

    def scheduled_jobs(self) -> list[Job]:
        return list(self._scheduler.get_jobs()) if self._scheduler is not None else []

    # -- reading next fire times ---------------------------------------------------------
    def read_next_runs(self, conn: Any, job_ids: Sequence[str] | None = None) -> dict[str, float | None]:
        """Next fire times (POSIX) from APScheduler's table on an open connection, in one
        query: of every job, or of ``job_ids``."""
        if not self._has_table(conn):
            return {}
        sql = f"SELECT id, next_run_time FROM {APSCHEDULER_TABLE}"  # noqa: S608 (constant)
        if job_ids is None:
            return dict(raw_rows(conn, sql))  # type: ignore[arg-type]
        query = text(f"{sql} WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
        return {r[0]: r[1] for r in conn.execute(query, {"ids": list(job_ids)}).all()}

    def next_run_times(self, job_ids: Sequence[str] | None = None) -> dict[str, float | None]:
        """Blocking: call on the database thread."""
        with self.engine.connect() as conn:
            return self.read_next_runs(conn, job_ids)

    def _has_table(self, conn: Any) -> bool:
        if not self._index_made:
            if not self.engine.dialect.has_table(conn, APSCHEDULER_TABLE):
                return False
            # A covering index: the job list reads every next fire time without reading
            # APScheduler's pickled jobs (4x faster with 10,000 jobs).
            try:
                with self.engine.begin() as ddl:
                    ddl.exec_driver_sql(
                        "CREATE INDEX IF NOT EXISTS ix_ps_aps_id_next"
                        f" ON {APSCHEDULER_TABLE} (id, next_run_time)"
                    )
            except DBAPIError as err:
                # Another server creating it at the same moment (PostgreSQL does not wait
                # on IF NOT EXISTS): the read works without it; try again next time.
                self.log.info("amphi-scheduler: index on %s not made yet: %s", APSCHEDULER_TABLE, err.orig)
                return True
            self._index_made = True
        return True

    # -- reconciling ---------------------------------------------------------------------
    def reconcile(self, jobs: Iterable[JobDefinition], *, full: bool, rebuild: bool = False) -> None:
        """Make APScheduler's job store agree with the job definitions (blocking: call on
        the database thread).

        At start-up (``full=False``) jobs already in APScheduler keep their trigger state.
        After changes made through another server (``full=True``), jobs whose schedule
        changed since this server scheduled them are added again; other changes (name,
        pause, fire options) are applied in place, keeping an interval's countdown. With
        ``rebuild`` (a database written by an older version, whose stored triggers follow
        older fire-time rules) every scheduled job gets a trigger built anew."""
        if self._scheduler is None:
            return
        in_store = self.next_run_times()
        ours: set[str] = set()
        now = datetime.now(timezone.utc)
        for job in jobs:
            ours.add(job.id)
            if job.is_event_triggered:
                if job.id in in_store:
                    self.remove(job.id)
                continue
            known = self._scheduled_keys.get(job.id)
            changed = rebuild or (full and known is not None and known != job.schedule_key)
            if job.id not in in_store or changed:
                try:
                    trigger = schedules.build_trigger(
                        job.spec, self.settings.zone_name, now=now, require_future=False
                    )
                except InvalidScheduleError as err:
                    self.log.error("Job %s has a schedule that no longer works: %s", job.id, err)
                    continue
                if job.id not in in_store and job.is_one_off and trigger is not None:
                    # A one-off absent from APScheduler has fired, unless it is still ahead.
                    # (A date trigger answers its date whatever ``now`` is: compare.)
                    ahead = trigger.get_next_fire_time(None, now)
                    if ahead is None or ahead <= now:
                        continue
                self.put(job, trigger)
                continue
            self._scheduled_keys[job.id] = job.schedule_key
            if full:
                self._scheduler.modify_job(job.id, name=job.name, **self._fire_options(job))
            if job.paused and in_store[job.id] is not None:
                self.set_paused(job.id, True)
            elif not job.paused and in_store[job.id] is None:
                self.set_paused(job.id, False)
        for stale in set(in_store) - ours:
            self.remove(stale)

    # -- fires (on the event loop, handed over by _FireExecutor) -------------------------
    def fired(
        self,
        job_id: str,
        run_time: datetime,
        trigger: BaseTrigger | None = None,
        grace: float | None = None,
    ) -> None:
        when = run_time.timestamp()
        handler = self._handler
        if handler is None:
            return
        overdue = job_id in self._overdue and when < self._activated_at
        if overdue or when < self._activated_at - 1:
            # A fire time that passed while no server was running.
            self.background.spawn(self._catch_up(handler, job_id, when, trigger, grace))
        else:
            self.background.spawn(handler.start_fired(job_id, TriggeredBy.SCHEDULE, when))

    def missed(self, job_id: str, run_time: datetime) -> None:
        """A fire time missed by more than the job's misfire_grace_time: record it."""
        if self._handler is None:
            return
        self.background.spawn(
            self._handler.record_missed(
                job_id,
                TriggeredBy.CATCHUP,
                run_time.timestamp(),
                f"Skipped: missed its fire time {run_time.isoformat()} by more than its "
                "misfire_grace_time (the server was not running).",
            )
        )

    async def _catch_up(
        self,
        handler: FireHandler,
        job_id: str,
        when: float,
        trigger: BaseTrigger | None = None,
        grace: float | None = None,
    ) -> None:
        """A fire time missed while no server ran, by the job's catch-up policy: 'none'
        records it skipped; 'latest' runs one per job per start (APScheduler hands the
        latest when the job coalesces); 'all' runs every missed fire time within the grace
        time, oldest first, never more at once than the job's max_instances."""
        given = await handler.catchup_policy(job_id)
        policy = catchup_policy_name(given)
        if policy == "none":
            await handler.record_missed(
                job_id,
                TriggeredBy.CATCHUP,
                when,
                f"Skipped: the server was not running at this fire time (catch-up policy '{given}').",
            )
        elif policy == "all":
            if job_id in self._caught_up:
                return  # its missed fire times are being run already (this one among them)
            self._caught_up.add(job_id)
            await self._catch_up_all(handler, job_id, when, trigger, grace)
        elif job_id in self._caught_up:
            await handler.record_missed(
                job_id, TriggeredBy.CATCHUP, when, "Skipped: this job already caught up once since start-up."
            )
        else:
            self._caught_up.add(job_id)
            await handler.start_fired(job_id, TriggeredBy.CATCHUP, when)

    def missed_fire_times(
        self, job_id: str, when: float, trigger: BaseTrigger | None, grace: float | None
    ) -> list[float]:
        """The fire times of a job missed while no server ran: from the first one missed
        (the stored next fire time) to ``when`` and up to this server's start, within
        ``grace`` seconds of now, oldest first (at most ``backfill_max_runs``). The trigger
        is the one APScheduler fires, so these are the times it would have fired at."""
        first = min(self._overdue.get(job_id, when), when)
        now = time.time()
        times = {round(when, 6)}
        if trigger is not None:
            start = datetime.fromtimestamp(first, timezone.utc)
            for t in schedules.next_fire_times(trigger, self.settings.backfill_max_runs, start):
                ts = t.timestamp()
                if ts >= self._activated_at:
                    break
                if grace is None or now - ts <= grace:
                    times.add(round(ts, 6))
        return sorted(times)[-self.settings.backfill_max_runs :]

    async def _catch_up_all(
        self,
        handler: FireHandler,
        job_id: str,
        when: float,
        trigger: BaseTrigger | None,
        grace: float | None,
    ) -> None:
        times = self.missed_fire_times(job_id, when, trigger, grace)
        slots = asyncio.Semaphore(max(1, await handler.instance_limit(job_id)))
        for ts in times:
            await slots.acquire()  # the rest wait here: queued, never skipped
            active = await handler.start_fired(job_id, TriggeredBy.CATCHUP, ts)
            if active is None:
                slots.release()
                continue
            active.done.add_done_callback(lambda _: slots.release())
