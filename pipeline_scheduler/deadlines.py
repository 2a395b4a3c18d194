"""Deadlines: "a run must have succeeded by 07:00 in the job's zone" and "a run must not
take longer than N minutes", each raising a deadline alert (``alerts.AlertChannels``)
when missed, even while a run is still going or when none started.

``deadline_time`` (``"HH:MM"`` or ``"HH:MM:SS"``) names a wall-clock time in the job's
zone, every day. The deadline instant of a day is that wall time there; a time the clocks
skip that day (a spring-forward gap) means the first instant after the jump (02:30 in New
York on the day the clocks go from 02:00 to 03:00 is 03:00 EDT); a time they pass twice
(fall back) means its first occurrence. A deadline is met when a run of the job ended
in success after the previous day's deadline instant and by this one. It is checked at
its instant, by a timer (an asyncio sleep until the soonest deadline of all jobs, woken
when a job changes: ``JobService.on_change``), never by polling; the check reads the
database in its thread.

A missed deadline is recorded (``store.claim_alert``, keyed by job and instant) before
its alert is sent, so a restarted server or a second one never sends it twice. When this
server takes the scheduler role it checks each job's last deadline instant that passed
(only the last: older ones are history), so a deadline that passed while no server ran
is not missed; one already recorded is not sent again. Only deadlines after the job's
definition last changed count (a job created, edited or resumed at 08:00 is not late for
07:00 that day), and paused jobs have no deadline alerts.

``max_duration_minutes``: a run still queued or running that many minutes after it was
asked for raises a deadline alert (once per run) and goes on (``timeout_seconds`` stops
runs; this only tells). The timer is the executor's run's own (``loop.call_later``), set
when the run is queued and cancelled when it ends; runs are watched by the server that
runs them.

The monitor runs where the scheduler is active (``SchedulerService._become_active``) and
stops when the role is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from datetime import timezone as dt_timezone
from typing import Any
from zoneinfo import ZoneInfo

from . import alerts
from .domain import JobDefinition
from .execution import ActiveRun, RunExecutor, RunFinished
from .settings import SchedulerSettings
from .store import Store
from .workers import Background, Workers

# A wake-up at least this often, so a wall clock set forward (or a machine that slept)
# is noticed within this many seconds.
MAX_SLEEP_SECONDS = 3600.0
RETRY_AFTER_ERROR_SECONDS = 60.0


# ------------------------------------------------------------------ deadline instants
def parse_time_of_day(text: str) -> time_of_day:
    """``"07:00"`` or ``"07:00:30"`` (as models.DeadlineTime accepts it)."""
    parts = [int(p) for p in text.strip().split(":")] + [0]
    return time_of_day(parts[0], parts[1], parts[2])


def deadline_on(day: date, at: time_of_day, tz: ZoneInfo) -> datetime:
    """The deadline instant of ``day`` (UTC): the wall time ``at`` in ``tz``; a skipped
    wall time is the first instant after the jump, a repeated one its first occurrence."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(dt_timezone.utc)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # exists (fold=0: the first of two occurrences)
    # In a gap fold=0 reads the wall time with the offset before the jump (the later UTC
    # instant) and fold=1 with the one after (the earlier): the jump is between them.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(dt_timezone.utc)
    high = first
    after = high.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def next_deadline(at: time_of_day, tz: ZoneInfo, after: datetime) -> datetime:
    """The first deadline instant strictly after ``after`` (an aware datetime)."""
    day = after.astimezone(tz).date() - timedelta(days=1)
    for offset in range(4):
        instant = deadline_on(day + timedelta(days=offset), at, tz)
        if instant > after:
            return instant
    raise AssertionError("unreachable: a deadline exists every day")


def previous_deadline(at: time_of_day, tz: ZoneInfo, until: datetime) -> datetime:
    """The last deadline instant at or before ``until``."""
    day = until.astimezone(tz).date() + timedelta(days=1)
    for offset in range(4):
        instant = deadline_on(day - timedelta(days=offset), at, tz)
        if instant <= until:
            return instant
    raise AssertionError("unreachable: a deadline exists every day")


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, dt_timezone.utc)


@dataclass
class _Watch:
    job_id: str
    at: time_of_day
    text: str
    tz: ZoneInfo
    due: float  # the next deadline instant to check (POSIX seconds)


# ------------------------------------------------------------------ the monitor
class DeadlineMonitor:
    def __init__(
        self,
        settings: SchedulerSettings,
        store: Store,
        workers: Workers,
        background: Background,
        executor: RunExecutor,
        channels: alerts.AlertChannels,
        log: logging.Logger,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.background = background
        self.executor = executor
        self.channels = channels
        self.log = log
        self.clock = clock
        self._watches: dict[str, _Watch] = {}
        self._changed: set[str] = set()
        self._reload_all = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._duration_timers: dict[int, asyncio.TimerHandle] = {}
        executor.on_run_queued(self.run_queued)
        executor.subscribe(self.on_run_finished)

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Take over the deadlines: load every job's and start the timer task, which first
        checks the last deadline of each that passed (one database read or two per job:
        in the background, so taking the scheduler role does not wait for them)."""
        if self.is_running:
            return
        await self.load()
        self._task = self.background.spawn(self._run())

    async def catch_up(self) -> int:
        """Check each job's last deadline instant that passed (it may have passed while no
        server ran); answer how many alerts were sent."""
        now = self.clock()
        sent = 0
        for watch in list(self._watches.values()):
            sent += await self._check(watch, previous_deadline(watch.at, watch.tz, _utc(now)).timestamp())
        return sent

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._watches.clear()
        self._reload_all = True  # whatever changed while stopped: start() loads anyway

    def job_changed(self, job_id: str | None) -> None:
        """``JobService``'s change listener: a job (``None``: any job) was changed. Noted for
        the timer task, which reads the job again (a full load clears what is noted)."""
        if job_id is None:
            self._reload_all = True
        else:
            self._changed.add(job_id)
        self._wake.set()

    # -- the timer -----------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            await self.catch_up()
        except Exception:
            self.log.exception("amphi-scheduler: could not check the deadlines that passed")
        while True:
            try:
                self._wake.clear()
                await self.apply_changes()
                now = self.clock()
                due = min((w.due for w in self._watches.values()), default=None)
                if due is not None and due <= now:
                    await self.check_due(now)
                    continue
                timeout = MAX_SLEEP_SECONDS if due is None else min(due - now, MAX_SLEEP_SECONDS)
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("amphi-scheduler: could not check the deadlines")
                await asyncio.sleep(RETRY_AFTER_ERROR_SECONDS)

    async def apply_changes(self) -> None:
        """Read the jobs noted as changed again (all of them after another server's change)."""
        if self._reload_all:
            await self.load()
            return
        changed, self._changed = self._changed, set()
        for job_id in changed:
            job = await self.workers.db(self.store.get_job, job_id, False)
            self._watches.pop(job_id, None)
            if job is not None:
                self._watch(job)

    async def load(self) -> None:
        """Watch the deadline of every job that has one and is not paused."""
        self._reload_all = False
        self._changed.clear()
        jobs = await self.workers.db(self.store.jobs_with_spec_key, "deadline_time")
        self._watches.clear()
        for job in jobs:
            self._watch(job)

    def _watch(self, job: JobDefinition) -> None:
        text = job.spec.get("deadline_time")
        if not isinstance(text, str) or job.paused:
            return
        try:
            at = parse_time_of_day(text)
            tz = ZoneInfo(str(job.spec.get("timezone") or self.settings.zone_name))
        except Exception:
            self.log.warning("Job %s: deadline_time %r cannot be read; it is not checked", job.id, text)
            return
        due = next_deadline(at, tz, _utc(self.clock())).timestamp()
        self._watches[job.id] = _Watch(job.id, at, text, tz, due)

    def next_due(self, job_id: str) -> float | None:
        """The next deadline instant the timer checks for a job (None: not watched)."""
        watch = self._watches.get(job_id)
        return None if watch is None else watch.due

    async def check_due(self, now: float) -> int:
        """Check every deadline due at ``now`` (the last instant passed of each) and set the
        next one; answer how many alerts were sent. The timer calls it."""
        sent = 0
        for watch in [w for w in self._watches.values() if w.due <= now]:
            instant = previous_deadline(watch.at, watch.tz, _utc(now)).timestamp()
            watch.due = next_deadline(watch.at, watch.tz, _utc(now)).timestamp()
            sent += await self._check(watch, instant)
        return sent

    async def _check(self, watch: _Watch, instant: float) -> bool:
        """Check one deadline instant of a job; True when its alert was sent now."""
        job = await self.workers.db(self.store.get_job, watch.job_id, False)
        if job is None or job.paused or job.spec.get("deadline_time") != watch.text:
            return False
        if instant <= job.updated_at:
            return False  # set (or the job resumed) after this instant
        since = previous_deadline(watch.at, watch.tz, _utc(instant - 1)).timestamp()
        if await self.workers.db(self.store.succeeded_between, job.id, since, instant):
            return False
        if not await self.workers.db(self.store.claim_alert, job.id, "deadline", str(int(instant))):
            return False  # sent before (a restart, another server)
        local = _utc(instant).astimezone(watch.tz)
        active = self.executor.active_of_job(job.id)
        if any(a.is_started for a in active):
            detail = "A run is still running."
        elif active:
            detail = "A run is queued and has not started."
        else:
            previous = _utc(since).astimezone(watch.tz)
            detail = f"No run succeeded since the previous deadline ({previous:%Y-%m-%d %H:%M})."
        title = (
            f"Job '{job.name}' missed its deadline: no successful run by {watch.text} "
            f"{watch.tz.key} on {local:%Y-%m-%d}"
        )
        extra = {"deadline": local.isoformat()}
        self.channels.deliver(alerts.Alert("deadline_missed", job, title, detail, extra=extra))
        return True

    # -- max_duration_minutes ------------------------------------------------------------
    @property
    def watched_runs(self) -> list[int]:
        """The runs whose max_duration_minutes timer is set."""
        return sorted(self._duration_timers)

    def run_queued(self, active: ActiveRun, job: JobDefinition) -> None:
        """The executor's queue listener: time a run of a job with ``max_duration_minutes``."""
        minutes = job.spec.get("max_duration_minutes")
        if not isinstance(minutes, int) or minutes <= 0:
            return
        created = float((active.queued_row or {}).get("created_at") or self.clock())
        delay = max(0.0, created + minutes * 60 - self.clock())
        loop = asyncio.get_running_loop()
        self._duration_timers[active.run_id] = loop.call_later(
            delay, self._duration_passed, active.run_id, job, minutes
        )

    async def on_run_finished(self, event: RunFinished) -> None:
        timer = self._duration_timers.pop(int(event.run["id"]), None)
        if timer is not None:
            timer.cancel()

    def _duration_passed(self, run_id: int, job: JobDefinition, minutes: int) -> None:
        self._duration_timers.pop(run_id, None)
        active = self.executor.active(run_id)
        if active is None:
            return
        self.background.spawn(self._duration_alert(active, job, minutes))

    async def _duration_alert(self, active: ActiveRun, job: JobDefinition, minutes: int) -> None:
        try:
            if not await self.workers.db(self.store.claim_alert, job.id, "duration", str(active.run_id)):
                return
            run: dict[str, Any] | None = await self.workers.db(self.store.get_run, active.run_id)
            state = "is still running" if active.is_started else "has not started"
            title = (
                f"Job '{job.name}': run {active.run_id} {state} after {minutes} min (max_duration_minutes)"
            )
            detail = "The run goes on; timeout_seconds is what stops a run."
            extra = {"max_duration_minutes": minutes}
            self.channels.deliver(alerts.Alert("run_too_long", job, title, detail, run=run, extra=extra))
        except Exception:
            self.log.exception("Could not send the max_duration_minutes alert of run %s", active.run_id)

    def shutdown(self) -> None:
        self.stop()
        for timer in self._duration_timers.values():
            timer.cancel()
        self._duration_timers.clear()
