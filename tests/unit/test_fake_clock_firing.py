"""Our triggers inside a real APScheduler 3 scheduler, on a fake clock, through real DST nights.

The scheduler is APScheduler's own BaseScheduler logic (job stores, ``_get_run_times``,
coalescing, misfire checks, the DebugExecutor that runs a job in the calling thread);
only its timer thread is left out: the test plays the main loop, doing what
``BlockingScheduler._main_loop`` does (process due jobs, then wait the number of seconds
``_process_jobs`` answers) with the wait replaced by moving a time-machine clock. Every
run records the fake clock's instant, so the assertions are about when jobs really ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler

from pipeline_scheduler.schedules import build_trigger

UTC = timezone.utc
RUNS: list[tuple[str, datetime]] = []  # (job id, instant of the fake clock when it ran)


def pipeline(job_id: str) -> None:
    """The job: note when it ran (module level, so a SQLAlchemy job store can refer to it)."""
    RUNS.append((job_id, datetime.now(UTC)))


class ManualScheduler(BaseScheduler):
    """APScheduler's scheduling logic without a timer thread; ``run_until`` is the loop."""

    def wakeup(self) -> None:
        pass  # nothing sleeps: run_until asks _process_jobs how long to wait

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def run_until(self, traveller: time_machine.Coordinates, end: datetime) -> int:
        rounds = 0
        while rounds < 10_000:
            rounds += 1
            wait = self._process_jobs()
            if wait is None:
                return rounds
            wake = datetime.now(UTC) + timedelta(seconds=wait)
            if wake > end:
                return rounds
            traveller.move_to(wake)
        raise AssertionError("the scheduler kept waking up without progress")


def Z(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlalchemy"])
def store(request: pytest.FixtureRequest) -> object:
    # The SQLAlchemy store pickles each trigger on every update and unpickles it to
    # compute the next run, as the server's job store does.
    return MemoryJobStore() if request.param == "memory" else SQLAlchemyJobStore(url="sqlite://")


@pytest.fixture(autouse=True)
def no_runs() -> Iterator[None]:
    RUNS.clear()
    yield
    RUNS.clear()


def fire(spec: dict, start: datetime, end: datetime, store: object, scheduler_zone: str) -> list[datetime]:
    """Run a job with ``spec`` from ``start`` to ``end`` on the fake clock; its run instants."""
    scheduled: list[datetime] = []

    def executed(event: JobExecutionEvent) -> None:
        scheduled.append(event.scheduled_run_time.astimezone(UTC))

    with time_machine.travel(start, tick=False) as traveller:
        scheduler = ManualScheduler(
            jobstores={"default": store},
            executors={"default": DebugExecutor()},
            timezone=ZoneInfo(scheduler_zone),
            job_defaults={"coalesce": True, "misfire_grace_time": 60, "max_instances": 1},
        )
        scheduler.add_listener(executed, EVENT_JOB_EXECUTED)
        scheduler.start()
        try:
            trigger = build_trigger(spec, "UTC", now=start)
            scheduler.add_job(pipeline, trigger, args=["job"], id="job")
            scheduler.run_until(traveller, end)
        finally:
            scheduler.shutdown(wait=False)
    ran = [at for _, at in RUNS]
    assert ran == scheduled, "a job ran at another instant than the one it was scheduled for"
    return ran


ZONES_OF_THE_SCHEDULER = ["UTC", "job zone"]  # the server's zone is often the job's own


def cron(expression: str, zone: str) -> dict:
    return {"schedule_type": "cron", "cron_expression": expression, "timezone": zone}


CASES = [
    pytest.param(
        cron("30 1 * * *", "America/New_York"),
        Z(11, 6, 12),
        Z(11, 8, 12),
        [Z(11, 7, 5, 30), Z(11, 8, 6, 30)],  # once on the night 01:30 happens twice
        id="fixed-time-fall-back-new-york",
    ),
    pytest.param(
        {
            "schedule_type": "date",
            "date_type": "daily",
            "run_date": "2027-01-10T06:30:00Z",  # 01:30 in New York
            "timezone": "America/New_York",
        },
        Z(11, 6, 12),
        Z(11, 8, 12),
        [Z(11, 7, 5, 30), Z(11, 8, 6, 30)],
        id="daily-fall-back-new-york",
    ),
    pytest.param(
        cron("30 2 * * *", "Europe/Paris"),
        Z(3, 27, 12),
        Z(3, 29, 12),
        [Z(3, 28, 1), Z(3, 29, 0, 30)],  # 02:30 does not exist on the 28th: at the jump
        id="fixed-time-spring-forward-paris",
    ),
    pytest.param(
        cron("0 1-3 * * *", "Europe/Paris"),
        Z(3, 27, 23, 30),
        Z(3, 28, 6),
        [Z(3, 28, 0), Z(3, 28, 1)],  # 01:00 CET; 02:00 (skipped) and 03:00 CEST: one instant, one run
        id="hour-range-spring-forward-paris",
    ),
    pytest.param(
        cron("*/30 * * * *", "America/New_York"),
        Z(11, 7, 3, 45),
        Z(11, 7, 7, 45),
        [Z(11, 7, 4) + timedelta(minutes=30 * k) for k in range(8)],  # each real half hour, once
        id="wildcard-fall-back-new-york",
    ),
    pytest.param(
        cron("30 * * * *", "Australia/Lord_Howe"),
        Z(4, 3, 13),
        Z(4, 3, 16, 15),
        [Z(4, 3, 13, 30), Z(4, 3, 14, 30), Z(4, 3, 15), Z(4, 3, 16)],  # 01:30 twice: +11 and +10:30
        id="wildcard-half-hour-fall-back-lord-howe",
    ),
    pytest.param(
        {
            "schedule_type": "date",
            "date_type": "every_x_days",
            "interval_days": 1,
            "run_date": "2027-03-26T02:30:00",
            "timezone": "Europe/Paris",
        },
        Z(3, 26, 0),
        Z(3, 29, 12),
        [Z(3, 26, 1, 30), Z(3, 27, 1, 30), Z(3, 28, 1), Z(3, 29, 0, 30)],
        id="every-day-spring-forward-paris",
    ),
]


@pytest.mark.parametrize("scheduler_zone", ZONES_OF_THE_SCHEDULER)
@pytest.mark.parametrize(("spec", "start", "end", "expected"), CASES)
def test_runs_through_a_dst_night(spec, start, end, expected, store, scheduler_zone) -> None:
    zone = spec["timezone"] if scheduler_zone == "job zone" else scheduler_zone
    assert fire(spec, start, end, store, zone) == expected


def test_a_minute_by_minute_loop_sees_the_same_runs() -> None:
    """Polling every simulated minute (not trusting the wait) gives the same run instants."""
    spec = cron("30 1 * * *", "America/New_York")
    start, end = Z(11, 7, 4), Z(11, 7, 8)
    with time_machine.travel(start, tick=False) as traveller:
        scheduler = ManualScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": DebugExecutor()},
            timezone=ZoneInfo("America/New_York"),
        )
        scheduler.start()
        scheduler.add_job(pipeline, build_trigger(spec, "UTC", now=start), args=["job"], id="job")
        moment = start
        while moment < end:
            scheduler._process_jobs()
            moment += timedelta(minutes=1)
            traveller.move_to(moment)
        scheduler.shutdown(wait=False)
    assert RUNS == [("job", Z(11, 7, 5, 30))]


def test_the_harness_sees_apschedulers_own_double_run() -> None:
    """The same loop with APScheduler's CronTrigger runs '30 1 * * *' twice on the fall-back
    night (the bug of the issue), so the tests above can fail."""
    from apscheduler.triggers.cron import CronTrigger

    start, end = Z(11, 6, 12), Z(11, 8, 12)
    with time_machine.travel(start, tick=False) as traveller:
        scheduler = ManualScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": DebugExecutor()},
            timezone=UTC,
        )
        scheduler.start()
        trigger = CronTrigger.from_crontab("30 1 * * *", timezone=ZoneInfo("America/New_York"))
        scheduler.add_job(pipeline, trigger, args=["job"], id="job")
        scheduler.run_until(traveller, end)
        scheduler.shutdown(wait=False)
    assert [at for _, at in RUNS] == [Z(11, 7, 5, 30), Z(11, 7, 6, 30), Z(11, 8, 6, 30)]
