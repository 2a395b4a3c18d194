"""The run executor: starts, limits, cancels and records runs, and announces each
finished run as a ``RunFinished`` event.

- A run is recorded ``queued`` at once, then waits for one of ``max_concurrent_runs``
  slots (FIFO), then runs through the ``RunnerBackend``; a cancel reaches it in either
  state. Scheduled fires beyond a job's ``max_instances`` are recorded ``skipped``
  (manual runs are not limited).
- Recording the end is retried while the database is locked by another program: an
  outcome is never lost.
- What happens after a run (retries, dependent jobs, alerts, retention) is not decided
  here: those are the policies (``policies.py``) that subscribe to ``RunFinished``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from . import launch
from .domain import SCHEDULED_ORIGINS, JobDefinition, RunOverrides, RunStatus, TriggeredBy
from .errors import (
    ConflictError,
    JobNotFoundError,
    PathNotAllowedError,
    RunNotFoundError,
    StoreUnavailableError,
)
from .leadership import this_process
from .ray_runner import RAY_EXTRA_MESSAGE
from .runner import RunnerBackend, RunOutcome, RunRequest
from .settings import SchedulerSettings
from .store import Store
from .workers import Background, Workers
from .workspace import HashCache, resolve_pipeline

RunRecord = dict[str, Any]

# Runs of a fire time: one per job and ``scheduled_for`` (the store's fire key).
_FIRE_ORIGINS = frozenset({TriggeredBy.SCHEDULE.value, TriggeredBy.CATCHUP.value})


class FireTakenError(Exception):
    """A fire time not recorded: it is recorded already, or this server lost the role."""

    def __init__(self, job_id: str, scheduled_for: float) -> None:
        when = datetime.fromtimestamp(scheduled_for).astimezone().isoformat(timespec="seconds")
        super().__init__(
            f"Fire time {when} of job {job_id} not started here: another server recorded it "
            "already, or this server no longer holds the scheduler lease"
        )


@dataclass
class RunFinished:
    """A run ended and its outcome is recorded."""

    job: JobDefinition
    run: RunRecord
    status: RunStatus
    attempt: int
    # What the finish steps (``RunExecutor.add_finish_step``) found, by step name.
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def will_retry(self) -> bool:
        """A failed attempt with retries left is not the job's final outcome: dependents
        and alerts wait for the last attempt."""
        return self.status.is_failed and self.attempt <= int(self.job.spec.get("max_retries") or 0)


@dataclass
class ActiveRun:
    run_id: int
    job_id: str
    done: asyncio.Future[RunRecord]
    attempt: int = 1
    scheduled_for: float | None = None
    is_started: bool = False
    is_executing: bool = False  # its task took its first step (a cancel can reach it)
    is_recording: bool = False  # its end is being recorded (a cancel must not cut that short)
    is_cancel_requested: bool = False
    cancel_reason: str = "Cancelled."
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    # The columns it was recorded with (queued), for an answer that needs no read back.
    queued_row: dict[str, Any] = field(default_factory=dict, repr=False)
    # Its "running" write, handed to the database thread when it started (not awaited:
    # the thread takes calls in order, so it is done once the end is recorded).
    started_write: concurrent.futures.Future[None] | None = field(default=None, repr=False)
    # The backend that runs it (None: the local one).
    backend: RunnerBackend | None = field(default=None, repr=False)
    # What it was given for itself only, over its job's values.
    overrides: RunOverrides = field(default_factory=RunOverrides)
    # Its logical time: the fire time it stands for, else the moment it was asked for.
    logical_time: float = 0.0
    # What started it, when an event did (files that arrived, a webhook call).
    event: dict[str, Any] | None = None


@dataclass
class _Queued:
    """What a run is recorded with, besides its job: handed to the database thread."""

    triggered_by: TriggeredBy
    scheduled_for: float | None
    attempt: int
    extra: dict[str, Any]  # overrides, event, backfill_id
    active_count: int  # the job's runs active here when it was asked for
    fencing_epoch: int | None


def _unrecorded(active: ActiveRun, job: JobDefinition, values: dict[str, Any]) -> RunRecord:
    """A run's record when its end could not be read back from the store."""
    return {"id": active.run_id, "job_id": job.id, **values}


def _consume_result(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen (its run was cancelled before awaiting it)."""
    if not future.cancelled():
        future.exception()


def _outcome(status: RunStatus, message: str, exit_code: int | None = None) -> RunOutcome:
    return RunOutcome(status.value, exit_code, "", "", 0, False, message)


class RunExecutor:
    def __init__(
        self,
        settings: SchedulerSettings,
        store: Store,
        runner: RunnerBackend,
        workers: Workers,
        background: Background,
        hashes: HashCache,
        log: logging.Logger,
        *,
        fencing_epoch: Callable[[], int | None] = lambda: None,
        backends: Mapping[str, RunnerBackend] | None = None,
    ) -> None:
        self.settings = settings
        # The leadership's fencing token: fired runs are recorded only under a live lease.
        self.fencing_epoch = fencing_epoch
        self.store = store
        self.runner = runner
        # Other backends than the local ``runner``, by the name a job's ``runner`` (or the
        # ``runner`` setting) gives.
        self.backends: dict[str, RunnerBackend] = dict(backends or {})
        self.workers = workers
        self.background = background
        self.hashes = hashes
        self.log = log
        self._runs: dict[int, ActiveRun] = {}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._subscribers: list[Callable[[RunFinished], Awaitable[None]]] = []
        self._start_listeners: list[Callable[[str, float | None, float], None]] = []
        self._queue_listeners: list[Callable[[ActiveRun, JobDefinition], None]] = []
        self._finish_steps: dict[str, Callable[[RunFinished], Any]] = {}
        self._recorded_listeners: list[Callable[[RunFinished], None]] = []
        self.is_accepting = True

    def subscribe(self, subscriber: Callable[[RunFinished], Awaitable[None]]) -> None:
        self._subscribers.append(subscriber)

    def on_run_started(self, listener: Callable[[str, float | None, float], None]) -> None:
        """``listener(triggered_by, scheduled_for, started_at)`` once a pipeline starts."""
        self._start_listeners.append(listener)

    def on_run_recorded(self, listener: Callable[[RunFinished], None]) -> None:
        """``listener(event)`` once a run's end is recorded, before anyone waiting for the
        run hears of it (so a count it keeps already includes the run); the subscribers
        (``subscribe``) act after that."""
        self._recorded_listeners.append(listener)

    def add_finish_step(self, name: str, step: Callable[[RunFinished], Any]) -> None:
        """``step(event)`` runs on the database thread right after a run's end is recorded,
        in the same trip there, for a policy that must read or mark the store at that moment
        (e.g. whether the job was failing); its answer is ``event.facts[name]``. A step
        that raises is logged and leaves no fact."""
        self._finish_steps[name] = step

    def on_run_queued(self, listener: Callable[[ActiveRun, JobDefinition], None]) -> None:
        """``listener(active, job)`` once a run is recorded as queued (it may start later)."""
        self._queue_listeners.append(listener)

    # -- what runs -----------------------------------------------------------------------
    def active(self, run_id: int) -> ActiveRun | None:
        return self._runs.get(run_id)

    def active_of_job(self, job_id: str) -> list[ActiveRun]:
        return [a for a in self._runs.values() if a.job_id == job_id]

    def running_ids(self) -> list[int]:
        return list(self._runs)

    @property
    def queue_length(self) -> int:
        return sum(1 for a in self._runs.values() if not a.is_started)

    @property
    def running_count(self) -> int:
        return sum(1 for a in self._runs.values() if a.is_started)

    def backend_name(self, job: JobDefinition) -> str:
        """Where a job's runs execute: its own ``runner``, else the server's (notebooks run
        locally: their runner is this package's nbclient module)."""
        if job.is_notebook:
            return "local"
        return str(job.spec.get("runner") or self.settings.runner)

    # -- starting ------------------------------------------------------------------------
    async def start(
        self,
        job_id: str,
        triggered_by: TriggeredBy,
        *,
        scheduled_for: float | None = None,
        attempt: int = 1,
        job: JobDefinition | None = None,
        overrides: RunOverrides | None = None,
        event: dict[str, Any] | None = None,
        backfill_id: int | None = None,
    ) -> ActiveRun:
        """Record a run and start it in the background; answer at once.

        ``overrides`` are merged over the job's values for this run only; ``event`` says
        what started an event-triggered run (JSON); both are recorded with the run. Without
        ``job``, the job is read in the same trip to the database thread that records the
        run."""
        overrides = overrides or RunOverrides()
        extra: dict[str, Any] = {}
        if overrides:
            extra["overrides"] = json.dumps(overrides.as_dict())
        if event is not None:
            extra["event"] = json.dumps(event)
        if backfill_id is not None:
            extra["backfill_id"] = backfill_id
        queued = _Queued(
            triggered_by,
            scheduled_for,
            attempt,
            extra,
            active_count=len(self.active_of_job(job_id)),
            fencing_epoch=self.fencing_epoch() if triggered_by.value in _FIRE_ORIGINS else None,
        )
        recorded, row = await self.workers.db(self._record_queued, job_id, job, queued)
        if row["status"] == RunStatus.SKIPPED.value:
            return self._ended(row)
        active = ActiveRun(
            row["id"],
            recorded.id,
            asyncio.get_running_loop().create_future(),
            attempt=attempt,
            scheduled_for=scheduled_for,
            queued_row=row,
            overrides=overrides,
            logical_time=scheduled_for if scheduled_for is not None else row["created_at"],
            event=event,
        )
        self._runs[active.run_id] = active
        for listener in self._queue_listeners:
            listener(active, recorded)
        active.task = asyncio.create_task(self._execute(active, recorded, triggered_by))
        return active

    def _record_queued(
        self, job_id: str, job: JobDefinition | None, queued: _Queued
    ) -> tuple[JobDefinition, dict[str, Any]]:
        """On the database thread: read the job (unless given) and record its run, queued,
        or skipped when a scheduled fire finds ``max_instances`` runs of the job active.
        Answer the job and the recorded row."""
        job = job or self.store.get_job(job_id)
        if job is None:
            raise JobNotFoundError(f"No job with id {job_id!r}; it may have been deleted.")
        base = {
            **self._run_columns(job, queued.triggered_by, queued.scheduled_for, queued.attempt),
            **queued.extra,
        }
        if queued.triggered_by in SCHEDULED_ORIGINS:
            limit = int(job.spec.get("max_instances") or 1000)
            if queued.active_count >= limit:
                message = (
                    f"Skipped: {queued.active_count} run(s) of this job were still active "
                    f"(max_instances is {limit})."
                )
                return job, self._record_skipped(base, message, queued.fencing_epoch)
        row = {**base, "status": RunStatus.QUEUED.value, "owner": this_process(), "created_at": time.time()}
        if (backend_name := self.backend_name(job)) != "local":
            row["backend"] = backend_name
        return job, {**row, "id": self._insert(row, queued.fencing_epoch)}

    def _record_skipped(self, base: dict[str, Any], message: str, fencing_epoch: int | None) -> RunRecord:
        """On the database thread: a fire time that did not run, kept in the history with
        the reason; answer its row as recorded."""
        row = {**base, "status": RunStatus.SKIPPED.value, "finished_at": time.time(), "message": message}
        run_id = self._insert(row, fencing_epoch)
        return self.store.get_run(run_id) or {**row, "id": run_id}

    @staticmethod
    def _ended(record: RunRecord) -> ActiveRun:
        """The handle of a run recorded as ended already (a skipped fire time)."""
        done: asyncio.Future[RunRecord] = asyncio.get_running_loop().create_future()
        done.set_result(record)
        return ActiveRun(record["id"], record["job_id"], done)

    def _insert(self, row: dict[str, Any], fencing_epoch: int | None) -> int:
        """On the database thread: record a run. A fire time (scheduled, catch-up) is
        recorded once per job and under the scheduler's fencing token: ``FireTakenError``
        when it is already recorded (another server fired it during a brief split brain) or
        this server lost the role."""
        if row["triggered_by"] not in _FIRE_ORIGINS or row.get("scheduled_for") is None:
            return self.store.insert_run(**row)
        run_id = self.store.insert_fired_run(fencing_epoch, **row)
        if run_id is None:
            raise FireTakenError(row["job_id"], float(row["scheduled_for"]))
        return run_id

    @staticmethod
    def _run_columns(
        job: JobDefinition, triggered_by: TriggeredBy, scheduled_for: float | None, attempt: int
    ) -> dict[str, Any]:
        return {
            "job_id": job.id,
            "job_name": job.name,
            "pipeline_path": job.pipeline_path,
            "triggered_by": triggered_by.value,
            "scheduled_for": scheduled_for,
            "attempt": attempt,
            "job_version": job.version,
        }

    # -- the schedule driver's FireHandler -----------------------------------------------
    async def start_fired(
        self, job_id: str, triggered_by: TriggeredBy, scheduled_for: float
    ) -> ActiveRun | None:
        try:
            return await self.start(job_id, triggered_by, scheduled_for=scheduled_for)
        except JobNotFoundError:
            self.log.info("Job %s fired after it was deleted", job_id)
        except FireTakenError as err:
            self.log.warning("%s", err)
        return None

    async def record_missed(
        self, job_id: str, triggered_by: TriggeredBy, scheduled_for: float, message: str
    ) -> None:
        epoch = self.fencing_epoch()
        try:
            await self.workers.db(self._record_missed, job_id, triggered_by, scheduled_for, message, epoch)
        except FireTakenError as err:
            self.log.warning("%s", err)

    def _record_missed(
        self,
        job_id: str,
        triggered_by: TriggeredBy,
        scheduled_for: float,
        message: str,
        fencing_epoch: int | None,
    ) -> None:
        job = self.store.get_job(job_id, False)
        if job is not None:
            base = self._run_columns(job, triggered_by, scheduled_for, 1)
            self._record_skipped(base, message, fencing_epoch)

    async def catchup_policy(self, job_id: str) -> str:
        job = await self.workers.db(self.store.get_job, job_id, False)
        return str((job.spec.get("catchup") if job else None) or self.settings.catchup)

    async def instance_limit(self, job_id: str) -> int:
        job = await self.workers.db(self.store.get_job, job_id, False)
        return int((job.spec.get("max_instances") if job else None) or 1000)

    # -- running -------------------------------------------------------------------------
    async def _execute(self, active: ActiveRun, job: JobDefinition, triggered_by: TriggeredBy) -> None:
        s = self.settings
        run_dir = s.runs_dir / str(active.run_id)
        log_path = run_dir / "output.log"
        outcome: RunOutcome | None = None
        active.is_executing = True
        try:
            if active.is_cancel_requested:  # cancelled before its task took a step
                outcome = _outcome(RunStatus.CANCELLED, active.cancel_reason)
                return
            # Prepared while queued, so a run holds its slot only while it runs; the slot is
            # asked for first, so runs take the free slots in the order they were queued.
            backend_name = self.backend_name(job)
            backend = self.runner if backend_name == "local" else self.backends.get(backend_name)
            if backend is None:
                outcome = _outcome(RunStatus.FAILURE, RAY_EXTRA_MESSAGE)
                return
            active.backend = backend
            submission_id = backend.submission_id(active.run_id)
            preparing = self.workers.fs_now(
                self._prepare, job, active, run_dir, log_path, backend_name != "local"
            )
            preparing.add_done_callback(_consume_result)  # cancelled while queued: unread
            async with self._slots:
                request, code_changed = await preparing

                async def on_started() -> None:
                    active.is_started = True
                    started_at = time.time()
                    for listener in self._start_listeners:
                        listener(triggered_by.value, active.scheduled_for, started_at)
                    # Not waited for: the pipeline runs meanwhile, and the database thread
                    # takes calls in order, so any later read (and the finish) sees it.
                    active.started_write = self.workers.db_post(
                        self.store.update_run,
                        active.run_id,
                        status=RunStatus.RUNNING.value,
                        started_at=started_at,
                        log_path=str(log_path),
                        pipeline_changed=code_changed,
                        pid=request.pid,
                        **({} if submission_id is None else {"ray_submission_id": submission_id}),
                    )

                started = datetime.now(s.tz).isoformat(timespec="seconds")
                request.header = launch.header(
                    job, active.run_id, triggered_by.value, active.attempt, started, code_changed
                )
                if active.is_cancel_requested:
                    outcome = _outcome(RunStatus.CANCELLED, active.cancel_reason)
                    return
                outcome = await backend.run(request, on_started)
                if outcome.status == RunStatus.CANCELLED:
                    # A remote backend may learn that the run had started after the cancel.
                    queued = active.cancel_reason == "Cancelled while queued." and active.is_started
                    outcome.message = "Cancelled." if queued else active.cancel_reason
        except PathNotAllowedError as err:
            outcome = RunOutcome(RunStatus.FAILURE.value, None, "", err.message, 0, False, err.message)
        except OSError as err:
            reason = (
                f"Cannot prepare the run in {run_dir}: {err.strerror or err}; check that the "
                "log folder (log_dir) is writable."
            )
            outcome = RunOutcome(RunStatus.FAILURE.value, None, "", reason, 0, False, reason)
        except asyncio.CancelledError:
            outcome = _outcome(RunStatus.CANCELLED, active.cancel_reason)
        except Exception as err:
            self.log.exception("Run %s of job %s failed to run", active.run_id, job.id)
            outcome = RunOutcome(
                RunStatus.FAILURE.value, None, "", str(err), 0, False, f"Internal error: {err}"
            )
        finally:
            active.is_recording = True
            if outcome is None:
                outcome = _outcome(RunStatus.CANCELLED, active.cancel_reason)
            if (
                active.is_cancel_requested
                and not active.is_started
                and outcome.status in ("failure", "success")
            ):
                outcome.status = RunStatus.CANCELLED.value
            await self._record(active, job, outcome)

    def _prepare(
        self,
        job: JobDefinition,
        active: ActiveRun,
        run_dir: Path,
        log_path: Path,
        is_remote: bool = False,
    ) -> tuple[RunRequest, bool | None]:
        """The run's request, from the job and its files (blocking: on a file thread)."""
        s = self.settings
        if active.overrides:
            job = dataclasses.replace(job, spec=active.overrides.applied_to(job.spec))
        _, target = resolve_pipeline(s.root_dir, job.pipeline_path, s.extensions)
        run_dir.mkdir(parents=True, exist_ok=True)
        code_changed: bool | None = None
        script = target
        if job.is_ampln:
            code_changed = self.hashes.get(target) != job.code_hash
            script = run_dir / "pipeline.py"
            script.write_text(job.python_code or "", encoding="utf-8")
        env, secrets = launch.environment(
            job, s, active.run_id, logical_time=active.logical_time, event=active.event
        )
        request = RunRequest(
            run_id=active.run_id,
            argv=launch.command(job, s, target, script, run_dir),
            cwd=launch.working_dir(job, s, target),
            env=env,
            log_path=log_path,
            max_log_bytes=s.max_log_bytes,
            tail_bytes=s.tail_bytes,
            timeout_seconds=job.spec.get("timeout_seconds") or s.timeout_default,
            kill_grace_seconds=s.kill_grace_seconds,
            pipe_grace_seconds=s.pipe_grace_seconds,
            redact=secrets,
        )
        if is_remote:  # runs elsewhere: only what the job sets, not this server's environment
            request.own_env = launch.environment(
                job, s, active.run_id, base={}, logical_time=active.logical_time, event=active.event
            )[0]
            request.script = script
            request.spec = dict(job.spec)
        return request, code_changed

    async def _record(self, active: ActiveRun, job: JobDefinition, outcome: RunOutcome) -> None:
        values: dict[str, Any] = {
            "status": outcome.status,
            "finished_at": time.time(),
            "exit_code": outcome.exit_code,
            "output_tail": outcome.output_tail,
            "error_tail": outcome.error_tail,
            "log_size": outcome.log_size,
            "log_truncated": outcome.log_truncated,
            "message": outcome.message,
        }
        if outcome.submission_id is not None:  # a Ray run that never started says it too
            values["ray_submission_id"] = outcome.submission_id
        try:
            status = RunStatus(outcome.status)
        except ValueError:  # a backend's own word: record the run as failed, with it
            status = RunStatus.FAILURE
            values["status"] = status.value
            values["message"] = f"The runner answered an unknown status {outcome.status!r}."
        # Decided once: the finish steps and the policies both act, or neither does.
        acting = self.is_accepting
        event: RunFinished | None = None
        for attempt in range(6):
            try:
                event = await self.workers.db(self._record_finished, active, job, status, values, acting)
                break
            except StoreUnavailableError:
                # Locked by another program: the outcome must not be lost, so try again.
                await asyncio.sleep(2 * (attempt + 1))
            except Exception:
                self.log.exception("Could not record the end of run %s", active.run_id)
                break
        self._check_started_write(active)
        self._runs.pop(active.run_id, None)
        if event is None:
            event = RunFinished(job, _unrecorded(active, job, values), status, active.attempt)
        for listener in self._recorded_listeners:
            try:
                listener(event)
            except Exception:
                self.log.exception("A listener failed after run %s", active.run_id)
        if not active.done.done():
            active.done.set_result(event.run)
        if not acting:
            return  # stopping: no retries, dependents or alerts any more
        for subscriber in self._subscribers:
            try:
                await subscriber(event)
            except Exception:
                self.log.exception("A policy failed after run %s", active.run_id)

    def _record_finished(
        self,
        active: ActiveRun,
        job: JobDefinition,
        status: RunStatus,
        values: dict[str, Any],
        acting: bool,
    ) -> RunFinished:
        """On the database thread: record a run's end and the job's last run, then (when
        ``acting``) take the finish steps; answer the event to announce. A database that
        cannot be used raises (the caller tries again); any other failure to record is
        logged, and the steps still see the run's outcome."""
        record: RunRecord | None = None
        try:
            record = self.store.finish_run(active.run_id, job.id, **values)
        except OperationalError:
            raise
        except Exception:
            self.log.exception("Could not record the end of run %s", active.run_id)
        event = RunFinished(job, record or _unrecorded(active, job, values), status, active.attempt)
        if acting:
            for name, step in self._finish_steps.items():
                try:
                    event.facts[name] = step(event)
                except Exception:
                    self.log.exception("The %s step after run %s failed", name, active.run_id)
        return event

    def _check_started_write(self, active: ActiveRun) -> None:
        """Report a failed "running" write (the end, recorded after it, stands all the same)."""
        written = active.started_write
        if written is None or not written.done():
            return
        if (err := written.exception()) is not None:
            self.log.warning("Could not record the start of run %s: %s", active.run_id, err)

    # -- stopping ------------------------------------------------------------------------
    async def cancel(self, run_id: int, reason: str | None = None) -> RunRecord:
        """Stop a queued or running run; answer its record once it is recorded."""
        active = self._runs.get(run_id)
        if active is None:
            run = await self.workers.db(self.store.get_run, run_id)
            if run is None:
                raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
            raise ConflictError(f"Run {run_id} is not active (its status is '{run['status']}').")
        self._request_cancel(active, reason)
        await self._stop(active)
        return await asyncio.shield(active.done)

    @staticmethod
    def _request_cancel(active: ActiveRun, reason: str | None) -> None:
        active.is_cancel_requested = True
        if reason:
            active.cancel_reason = reason
        elif not active.is_started:
            active.cancel_reason = "Cancelled while queued."

    async def _stop(self, active: ActiveRun) -> None:
        """Stop a run: the backend stops a running one; a queued one waiting for a slot is
        interrupted; one whose task has not taken a step yet sees the request when it does
        (cancelling it then would skip the recording of its end)."""
        if await (active.backend or self.runner).cancel(active.run_id) or active.is_started:
            return
        if active.task is not None and active.is_executing and not active.is_recording:
            active.task.cancel()

    async def shutdown(self) -> None:
        """Apply the shutdown policy: wait for running pipelines, or cancel them (recorded
        ``cancelled``); then release the backend."""
        self.is_accepting = False
        tasks = [a.task for a in self._runs.values() if a.task is not None]
        if self.settings.shutdown_policy == "wait" and tasks:
            self.log.info("amphi-scheduler: waiting for %d run(s) to finish", len(tasks))
            await asyncio.wait(tasks)
        remaining = list(self._runs.values())
        for active in remaining:
            self._request_cancel(active, "Cancelled: the server shut down.")
        await asyncio.gather(*(self._stop(a) for a in remaining), return_exceptions=True)
        tasks = [a.task for a in remaining if a.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.kill_grace_seconds + 10)
        # Only now: the runs above still needed the runner (log writes) to record their end.
        for backend in (self.runner, *self.backends.values()):
            await backend.shutdown()

    # -- runs that outlive the server (Ray) ----------------------------------------------
    async def reattach_orphans(self, is_alive: Callable[[str | None], bool]) -> list[int]:
        """Follow the active runs a dead server left on backends whose runs outlive it (a
        Ray cluster): claim each (one server only), then record it as it goes on, instead
        of marking it interrupted. Answer their ids."""
        names = [n for n, b in self.backends.items() if b.outlives_server]
        if not names:
            return []
        rows = await self.workers.db(self.store.claim_orphaned_runs, names, this_process(), is_alive)
        for row in rows:
            job = await self.workers.db(self.store.get_job, row["job_id"])
            if job is None:  # deleted meanwhile: nothing to follow it for
                await self.workers.db(
                    self.store.finish_run,
                    row["id"],
                    row["job_id"],
                    status=RunStatus.INTERRUPTED.value,
                    finished_at=time.time(),
                    message="The server stopped while this run was active, and its job was deleted.",
                )
                continue
            backend = self.backends[row["backend"]]
            active = ActiveRun(
                row["id"],
                job.id,
                asyncio.get_running_loop().create_future(),
                attempt=row.get("attempt") or 1,
                scheduled_for=row.get("scheduled_for"),
                is_started=row["status"] == RunStatus.RUNNING.value,
                is_executing=True,
                backend=backend,
            )
            self._runs[active.run_id] = active
            active.task = asyncio.create_task(self._follow(active, job, row, backend))
        return [run_id for run_id in (r["id"] for r in rows) if run_id in self._runs]

    async def _follow(
        self, active: ActiveRun, job: JobDefinition, row: RunRecord, backend: RunnerBackend
    ) -> None:
        """Record a reattached run to its end (its log is rewritten from the engine's)."""
        s = self.settings
        log_path = Path(row.get("log_path") or s.runs_dir / str(active.run_id) / "output.log")
        timeout = job.spec.get("timeout_seconds") or s.timeout_default
        if timeout and row.get("started_at"):
            timeout = max(0.001, timeout - (time.time() - row["started_at"]))
        request = RunRequest(
            run_id=active.run_id,
            argv=[],
            cwd=s.root_dir,
            env={},
            log_path=log_path,
            max_log_bytes=s.max_log_bytes,
            tail_bytes=s.tail_bytes,
            timeout_seconds=timeout,
            kill_grace_seconds=s.kill_grace_seconds,
            pipe_grace_seconds=s.pipe_grace_seconds,
            redact=launch.environment(job, s, active.run_id, base={})[1],
            spec=dict(job.spec),
        )

        async def on_started() -> None:
            active.is_started = True
            active.started_write = self.workers.db_post(
                self.store.update_run,
                active.run_id,
                status=RunStatus.RUNNING.value,
                started_at=time.time(),
                log_path=str(log_path),
                ray_submission_id=backend.submission_id(active.run_id),
            )

        try:
            outcome = await backend.reattach(request, active.is_started, on_started)
            if outcome.status == RunStatus.CANCELLED:
                outcome.message = active.cancel_reason
        except asyncio.CancelledError:
            outcome = _outcome(RunStatus.CANCELLED, active.cancel_reason)
        except Exception as err:
            self.log.exception("Could not follow run %s after a restart", active.run_id)
            outcome = _outcome(RunStatus.INTERRUPTED, f"Lost after a server restart: {err}")
        active.is_recording = True
        await self._record(active, job, outcome)
