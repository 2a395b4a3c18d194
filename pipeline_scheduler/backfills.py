"""Backfills (``service.backfills``): run a job for every fire time of its schedule in a
past range, oldest first, at most ``max_active`` at a time.

Why it looks like this:
- The fire times come from the job's parsed ``Schedule`` (``schedules.parse_schedule`` and
  ``schedules.fire_times_between``): the same trigger the schedule driver fires and the
  preview lists, so a backfill can never disagree with them about a fire time (DST
  included).
- A backfill is a row of its own table with the list of its fire times, and each of its
  runs names it (``runs.backfill_id``) with its fire time as ``scheduled_for``. The row
  records its progress (``started``: how many of its fire times, oldest first, have had a
  run started), written after each start, so a fire time never becomes pending again
  when its runs are deleted (``DELETE /runs``, retention; retention also keeps the runs
  of a backfill until it ends). A server that starts while a backfill was queued or
  running resumes it after its last started fire time, and runs again those whose runs
  the stop ended (recorded ``interrupted`` by the start-up sweep, or cancelled by the
  shutdown), so a backfill is never left "running".
- Its loop is never cancelled inside ``executor.start`` (a cancel there would leave the
  run's row inserted with no run to execute or cancel it): a cancel, a step-down or a
  stop waits for the start to answer, then cancels that run (a cancel) or leaves it.
- Its runs are ordinary runs of the run executor (``triggered_by: backfill``): each holds
  one of the ``max_concurrent_runs`` slots while it runs; they are not limited by the
  job's ``max_instances`` and have no fire key, so they never collide with a scheduled
  run of the same fire time.
- Only the active scheduler runs backfills: a backfill asked of a standby server stays
  queued until the active one sees it (its watch loop, every ``lock_poll_seconds``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from . import schedules
from .domain import JobDefinition, RunStatus, TriggeredBy, iso
from .errors import ConflictError, InvalidRequestError, InvalidScheduleError, JobNotFoundError, SchedulerError
from .execution import RunExecutor
from .models import parse_backfill, parse_instant
from .settings import SchedulerSettings
from .store import Store
from .workers import Background, Workers

QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"
ACTIVE_BACKFILL_STATUSES = (QUEUED, RUNNING)
# How a run cancelled by a server's stop is recorded (execution.RunExecutor.shutdown).
SHUTDOWN_CANCEL_PREFIX = "Cancelled: the server shut down"
# How far a refused range's fire times are counted for the message.
_COUNT_FACTOR = 100


class BackfillNotFoundError(SchedulerError, LookupError):
    status_code = 404


def pending_fire_times(row: dict[str, Any], runs: list[tuple[float | None, str, str | None]]) -> list[float]:
    """The fire times of a backfill still to run, oldest first: those after its last
    started one, and those whose runs all ended by a server's stop. A fire time started
    whose runs were deleted since is not pending. (A row without ``started``, of before it
    was recorded: the fire times with no run that ran.)"""
    times = [float(t) for t in json.loads(row["fire_times"])]
    ran = {t for t, status, text in runs if not _ended_by_stop(status, text)}
    done = row.get("started")
    if done is None:
        return [t for t in times if t not in ran]
    stopped = {t for t, status, text in runs if _ended_by_stop(status, text)} - ran
    return [t for index, t in enumerate(times) if (t in stopped if index < done else t not in ran)]


def backfill_answer(row: dict[str, Any], runs: list[tuple[float | None, str, str | None]]) -> dict[str, Any]:
    """A backfill as the API answers it: ``counts`` of its runs (those that still exist)
    by status, ``pending``: its fire times still to run."""
    counts: dict[str, int] = {}
    for _, status, _message in runs:
        counts[status] = counts.get(status, 0) + 1
    active = row["status"] in ACTIVE_BACKFILL_STATUSES
    return {
        "id": row["id"],
        "job_id": row["job_id"],
        "start": iso(row["start_at"]),
        "end": iso(row["end_at"]),
        "max_active": row["max_active"],
        "status": row["status"],
        "total": row["total"],
        "counts": counts,
        "pending": len(pending_fire_times(row, runs)) if active else 0,
        "message": row.get("message"),
        "created_at": iso(row["created_at"]),
        "finished_at": iso(row.get("finished_at")),
    }


class _Running:
    """A backfill this server is running."""

    def __init__(self, backfill_id: int) -> None:
        self.backfill_id = backfill_id
        self.run_ids: set[int] = set()
        self.is_cancelled = False
        self.is_stopping = False  # cancelled, or this server steps down or stops
        self.is_starting = False  # inside executor.start
        self.task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """End its loop: at once, or right after the start it is in answers (a cancel in
        ``executor.start`` would leave the run's row queued with no run behind it)."""
        self.is_stopping = True
        if self.task is not None and not self.is_starting:
            self.task.cancel()


class BackfillService:
    def __init__(
        self,
        settings: SchedulerSettings,
        store: Store,
        workers: Workers,
        executor: RunExecutor,
        background: Background,
        log: logging.Logger,
        *,
        is_active: Any = lambda: True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.executor = executor
        self.background = background
        self.log = log
        self.is_active = is_active
        self._running: dict[int, _Running] = {}

    # -- the fire times ------------------------------------------------------------------
    def fire_times(self, job: JobDefinition, start: datetime, end: datetime) -> list[float]:
        """The job's fire times in [start, end], or a 400 naming the field (CPU only)."""
        if job.schedule_type not in ("date", "interval", "cron"):
            raise InvalidRequestError(
                "job_id: this job runs on events (after other jobs, on arriving files), not at fire "
                "times; a backfill needs a schedule that fires at times."
            )
        if job.is_one_off:
            raise InvalidRequestError(
                "job_id: this job runs once (it has one fire time); run it now or re-run one of its runs "
                "instead of a backfill."
            )
        anchor = start
        if job.schedule_type == "interval":
            # An interval counts from when it was (re)scheduled: from the range's start here.
            anchor = start - timedelta(seconds=int(job.spec.get("interval_seconds") or 0))
        try:
            schedule = schedules.parse_schedule(
                job.spec, self.settings.zone_name, now=anchor, require_future=False
            )
        except InvalidScheduleError as err:
            raise InvalidRequestError(f"job_id: the job's schedule no longer works: {err.message}") from None
        limit = self.settings.backfill_max_runs
        count_up_to = max(limit * _COUNT_FACTOR, 10_000)
        times, count = schedules.fire_times_between(schedule.trigger, start, end, limit, count_up_to)
        if count > limit:
            how_many = f"more than {count_up_to:,}" if count > count_up_to else f"{count:,}"
            raise InvalidRequestError(
                f"end: the range has {how_many} fire times, more than the {limit:,} a backfill may run "
                "(backfill_max_runs); split it into shorter ranges."
            )
        if not times:
            raise InvalidRequestError("end: the job's schedule has no fire time in this range.")
        return [t.timestamp() for t in times]

    # -- the API -------------------------------------------------------------------------
    async def create(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        request = parse_backfill(body)
        start = parse_instant("start", request.start.strip())
        end = parse_instant("end", request.end.strip())
        if end <= start:
            raise InvalidRequestError("end: must be after start.")
        now = datetime.now(timezone.utc)
        if end > now + timedelta(seconds=1):
            raise InvalidRequestError(
                "end: must not be in the future (a backfill runs past fire times; "
                "the schedule runs the ones to come)."
            )
        max_active = request.max_active or 1
        if max_active > self.settings.concurrency:
            raise InvalidRequestError(
                f"max_active: at most {self.settings.concurrency} (the server's max_concurrent_runs)."
            )
        job = await self.workers.db(self.store.get_job, job_id, False)
        if job is None:
            raise JobNotFoundError(f"No job with id {job_id!r}; it may have been deleted.")
        times = await self.workers.fs(self.fire_times, job, start, end)
        row = {
            "job_id": job.id,
            "start_at": start.timestamp(),
            "end_at": end.timestamp(),
            "max_active": max_active,
            "status": QUEUED,
            "total": len(times),
            "fire_times": json.dumps(times),
            "created_at": time.time(),
        }
        backfill_id = await self.workers.db(self.store.insert_backfill, **row)
        if self.is_active():
            self._launch({**row, "id": backfill_id})
        return await self.get(backfill_id)

    async def get(self, backfill_id: int) -> dict[str, Any]:
        row = await self.workers.db(self.store.get_backfill, backfill_id)
        if row is None:
            raise BackfillNotFoundError(f"No backfill with id {backfill_id}; it may have been deleted.")
        runs = await self.workers.db(self.store.backfill_runs, [backfill_id])
        return backfill_answer(row, runs[backfill_id])

    async def of_job(self, job_id: str) -> dict[str, Any]:
        rows = await self.workers.db(self.store.list_backfills, job_id)
        runs = await self.workers.db(self.store.backfill_runs, [r["id"] for r in rows]) if rows else {}
        return {"backfills": [backfill_answer(r, runs[r["id"]]) for r in rows]}

    async def cancel(self, backfill_id: int) -> dict[str, Any]:
        """Start no more of its runs and cancel its queued and running ones."""
        row = await self.workers.db(self.store.get_backfill, backfill_id)
        if row is None:
            raise BackfillNotFoundError(f"No backfill with id {backfill_id}; it may have been deleted.")
        if row["status"] not in ACTIVE_BACKFILL_STATUSES:
            raise ConflictError(f"Backfill {backfill_id} is not active (its status is '{row['status']}').")
        running = self._running.get(backfill_id)
        if running is not None:
            running.is_cancelled = running.is_stopping = True  # first: no run of it starts from now on
        await self.workers.db(
            self.store.update_backfill,
            backfill_id,
            only_active=True,
            status=CANCELLED,
            finished_at=time.time(),
            message="Cancelled.",
        )
        if running is not None:
            await asyncio.gather(
                *(self._cancel_run(run_id) for run_id in list(running.run_ids)), return_exceptions=True
            )
            running.stop()
            if running.task is not None:  # ends at once, or once the start it is in answers
                await asyncio.wait([running.task])
        return await self.get(backfill_id)

    async def _cancel_run(self, run_id: int) -> None:
        if self.executor.active(run_id) is not None:
            await self.executor.cancel(run_id, "Cancelled with its backfill.")

    # -- running -------------------------------------------------------------------------
    async def resume(self) -> None:
        """Run the backfills left queued or running that this server does not run yet: at
        the start of its role (a previous server's), and now and then while it holds it
        (one asked of a standby server)."""
        rows = await self.workers.db(self.store.list_backfills, None, list(ACTIVE_BACKFILL_STATUSES), 1000)
        for row in sorted(rows, key=lambda r: r["id"]):
            if row["id"] not in self._running:
                self._launch(row)

    def _launch(self, row: dict[str, Any]) -> None:
        running = _Running(row["id"])
        self._running[row["id"]] = running
        running.task = self.background.spawn(self._run(row, running), name=f"backfill-{row['id']}")

    async def _run(self, row: dict[str, Any], running: _Running) -> None:
        backfill_id = row["id"]
        slots = asyncio.Semaphore(max(1, int(row["max_active"])))
        waiting: set[asyncio.Future[Any]] = set()
        status, message = DONE, None
        try:
            runs = (await self.workers.db(self.store.backfill_runs, [backfill_id]))[backfill_id]
            fresh = await self.workers.db(self.store.get_backfill, backfill_id)
            if fresh is None or fresh["status"] not in ACTIVE_BACKFILL_STATUSES:
                return
            times = [float(t) for t in json.loads(fresh["fire_times"])]
            index_of = {t: index for index, t in enumerate(times)}
            started = fresh.get("started")
            if started is None:  # a row of before the progress was recorded: from its runs
                had_run = {t for t, _status, _text in runs}
                started = max((index + 1 for index, t in enumerate(times) if t in had_run), default=0)
            # After its last started fire time, and those whose runs only a stop ended.
            todo = pending_fire_times({**fresh, "started": started}, runs)
            await self.workers.db(
                self.store.update_backfill, backfill_id, only_active=True, status=RUNNING, started=started
            )
            for when in todo:
                await slots.acquire()
                if running.is_stopping:
                    return
                running.is_starting = True
                try:
                    active = await self.executor.start(
                        row["job_id"], TriggeredBy.BACKFILL, scheduled_for=when, backfill_id=backfill_id
                    )
                    running.run_ids.add(active.run_id)
                    if running.is_cancelled:  # cancelled while it started: cancel that run too
                        await self._cancel_run(active.run_id)
                        return
                finally:
                    running.is_starting = False
                if index_of[when] >= started:
                    started = index_of[when] + 1
                    await self.workers.db(
                        self.store.update_backfill, backfill_id, only_active=True, started=started
                    )
                if running.is_stopping:  # stepping down: that run goes on here, the loop ends
                    return

                def release(_: Any, run_id: int = active.run_id) -> None:
                    running.run_ids.discard(run_id)
                    slots.release()

                done = asyncio.shield(active.done)
                done.add_done_callback(release)
                waiting.add(done)
            if waiting:
                await asyncio.wait(waiting)
        except JobNotFoundError:
            status, message = CANCELLED, "Cancelled: its job was deleted."
        except asyncio.CancelledError:
            # Cancelled (recorded by cancel), or the server stops or steps down (the server
            # that is active next resumes it).
            self._forget(running)
            return
        except Exception as err:
            self.log.exception("Backfill %s failed", backfill_id)
            status, message = CANCELLED, f"Stopped by an internal error: {err}"
        finally:
            if running.is_stopping:
                self._forget(running)
        if running.is_stopping:  # cancelled (recorded by cancel), or stepping down
            return
        try:
            await self.workers.db(
                self.store.update_backfill,
                backfill_id,
                only_active=True,
                status=status,
                finished_at=time.time(),
                message=message,
            )
        except Exception:
            self.log.exception("Could not record the end of backfill %s", backfill_id)
        finally:
            # Only now: until its end is recorded, ``resume`` must not start it again.
            self._forget(running)

    def _forget(self, running: _Running) -> None:
        if self._running.get(running.backfill_id) is running:
            del self._running[running.backfill_id]

    def running_ids(self) -> list[int]:
        return list(self._running)

    def release(self) -> None:
        """This server lost the scheduler role: start no more backfill runs (the server
        that takes the role resumes them; runs already started finish here). Each stays
        listed until its loop has ended (at once, or once the start it is in answers), so
        ``resume`` never runs a backfill twice here."""
        for running in list(self._running.values()):
            running.stop()


def _ended_by_stop(status: str, message: str | None) -> bool:
    """A run ended by a server's stop, not by itself or a person: run its fire time again."""
    return status == RunStatus.INTERRUPTED or (
        status == RunStatus.CANCELLED and (message or "").startswith(SHUTDOWN_CANCEL_PREFIX)
    )
