"""ScheduleDriver alone, with a FAKE FireHandler (the one faked boundary) on a real SQLite
engine and a real APScheduler running on the test's event loop.

The driver's job-store methods (``put``, ``update``, ``set_paused``, ``remove``,
``reconcile``) are called on the loop thread here; the service calls them on its database
thread, which changes nothing about what they write. Fire decisions are driven through
the driver's executor entry points (``fired``/``missed``) or, with a frozen clock, through
APScheduler's own processing."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

from pipeline_scheduler import schedules
from pipeline_scheduler.domain import JobDefinition, TriggeredBy
from pipeline_scheduler.scheduling import ScheduleDriver
from pipeline_scheduler.settings import SchedulerSettings
from pipeline_scheduler.store import make_engine
from pipeline_scheduler.workers import Background

LOG = logging.getLogger("test_scheduling_driver")
UTC = timezone.utc
T0 = datetime(2030, 1, 7, 12, 0, 0, tzinfo=UTC)


class FakeHandler:
    """Records the calls synchronously, when the driver makes them (the coroutines it
    answers only announce the call on ``seen`` once they run)."""

    def __init__(self, policy: str = "run_once") -> None:
        self.policy = policy
        self.calls: list[tuple[Any, ...]] = []
        self.seen: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    async def _announce(self, call: tuple[Any, ...]) -> None:
        await self.seen.put(call)

    def start_fired(self, job_id: str, triggered_by: TriggeredBy, scheduled_for: float) -> Awaitable[None]:
        call = ("start", job_id, triggered_by, scheduled_for)
        self.calls.append(call)
        return self._announce(call)

    def record_missed(
        self, job_id: str, triggered_by: TriggeredBy, scheduled_for: float, message: str
    ) -> Awaitable[None]:
        call = ("missed", job_id, triggered_by, scheduled_for, message)
        self.calls.append(call)
        return self._announce(call)

    async def catchup_policy(self, job_id: str) -> str:
        return self.policy

    async def next(self) -> tuple[Any, ...]:
        return await asyncio.wait_for(self.seen.get(), 5)


def definition(job_id: str, spec: dict[str, Any], **fields: Any) -> JobDefinition:
    values: dict[str, Any] = {
        "id": job_id,
        "name": f"Job {job_id}",
        "pipeline_path": "ok.py",
        "spec": {"timezone": "UTC", **spec},
        "python_code": None,
        "code_hash": None,
        "paused": False,
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    values.update(fields)
    return JobDefinition(**values)


def interval(job_id: str, seconds: int, **fields: Any) -> JobDefinition:
    return definition(job_id, {"schedule_type": "interval", "interval_seconds": seconds}, **fields)


def cron(job_id: str, expression: str = "0 3 * * *", **fields: Any) -> JobDefinition:
    return definition(job_id, {"schedule_type": "cron", "cron_expression": expression}, **fields)


def once(job_id: str, when: datetime, **fields: Any) -> JobDefinition:
    return definition(
        job_id, {"schedule_type": "date", "date_type": "once", "run_date": when.isoformat()}, **fields
    )


def trigger_only(job_id: str, upstream: str) -> JobDefinition:
    return definition(
        job_id,
        {
            "schedule_type": "trigger",
            "logical_operator": "OR",
            "trigger_conditions": [{"job_id": upstream, "on": "success"}],
        },
    )


def trigger_of(job: JobDefinition) -> Any:
    return schedules.build_trigger(job.spec, "UTC", require_future=False)


class DatabaseThread:
    """The one thread the driver hands APScheduler's processing to, as the service's
    database thread (``Workers.db_post``); ``drain`` waits until what it was given ran."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-db")

    def __call__(self, fn: Callable[[], None]) -> object:
        return self.pool.submit(fn)

    async def drain(self) -> None:
        await asyncio.wrap_future(self.pool.submit(lambda: None))


def with_driver(
    settings: SchedulerSettings,
    body: Callable[[ScheduleDriver, FakeHandler], Awaitable[None]],
    *,
    policy: str = "run_once",
    next_runs: dict[str, float | None] | None = None,
    **overrides: Any,
) -> None:
    async def main() -> None:
        s = settings.replace(**overrides) if overrides else settings
        engine = make_engine(s.database_url)
        background = Background(LOG)
        database = DatabaseThread()
        driver = ScheduleDriver(s, engine, background, LOG, offload=database)
        handler = FakeHandler(policy)
        driver.start(handler, next_runs or {})
        try:
            await asyncio.wait_for(body(driver, handler), 10)
        finally:
            driver.shutdown()
            await database.drain()  # APScheduler stops on the database thread
            await loop_turn()  # and then stops its timer on the loop
            await background.stop()
            database.pool.shutdown()
            engine.dispose()

    asyncio.run(main())


async def loop_turn() -> None:
    """Returns once every callback already scheduled on the loop has run (FIFO)."""
    loop = asyncio.get_running_loop()
    marker = loop.create_future()
    loop.call_soon_threadsafe(marker.set_result, None)
    await marker


async def process_due_jobs(driver: ScheduleDriver) -> None:
    """Let APScheduler process due jobs now. ``wakeup()`` is APScheduler's public call
    for "there may be jobs due" (the driver's scheduler hands the processing to the
    database thread); only reaching the scheduler (``driver._scheduler``) is private,
    because the driver rightly exposes no such method. The fires found there come back to
    the loop (``fired``/``missed``), so once the thread is drained and the loop has taken
    one turn, the driver's decisions are made."""
    assert driver._scheduler is not None and isinstance(driver.offload, DatabaseThread)
    driver._scheduler.wakeup()
    await driver.offload.drain()
    await loop_turn()


def next_fire(driver: ScheduleDriver, job_id: str) -> float | None:
    return driver.next_run_times([job_id]).get(job_id)


# --------------------------------------------------------------------------- job store
def test_put_and_next_run_times_read_apschedulers_table(settings: SchedulerSettings) -> None:
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)

    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        jobs = [interval("every-hour", 3600), cron("nightly", "30 2 * * *"), once("one-off", future)]
        answers = {job.id: driver.put(job, trigger_of(job)) for job in jobs}
        stored = driver.next_run_times()
        assert stored == answers
        assert stored["one-off"] == future.timestamp()
        nightly = datetime.fromtimestamp(stored["nightly"], UTC)
        assert (nightly.hour, nightly.minute, nightly.second) == (2, 30, 0)
        assert driver.next_run_times(["nightly"]) == {"nightly": stored["nightly"]}
        for job_id, ts in stored.items():
            aps = driver.scheduled_job(job_id)
            assert aps is not None and aps.next_run_time.timestamp() == ts
        assert {j.id for j in driver.scheduled_jobs()} == set(stored)
        # A job without a trigger is taken away from APScheduler.
        assert driver.put(cron("nightly"), None) is None
        assert "nightly" not in driver.next_run_times()

    with_driver(settings, body)


def test_apschedulers_processing_reads_its_store_on_the_database_thread(
    settings: SchedulerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each wake-up (the start, every job change, each fire) reads the due jobs from the
    SQLAlchemy job store: that read happens on the thread the driver was given, never on
    the event loop's, and a fire found there still reaches the handler on the loop."""
    readers: list[str] = []
    handled_on: list[str] = []
    read_due_jobs = SQLAlchemyJobStore.get_due_jobs

    def noting_reader(store: SQLAlchemyJobStore, now: datetime) -> list[Any]:
        readers.append(threading.current_thread().name)
        return read_due_jobs(store, now)  # type: ignore[no-any-return]

    monkeypatch.setattr(SQLAlchemyJobStore, "get_due_jobs", noting_reader)

    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        # A real fire, by the scheduler's own timer, half a second from now.
        job = once("soon", datetime.now(UTC) + timedelta(seconds=0.5))
        driver.put(job, trigger_of(job))
        deadline = time.monotonic() + 8
        while not handler.calls:
            assert time.monotonic() < deadline, "the fire never reached the handler"
            await asyncio.sleep(0.05)
        handled_on.append(threading.current_thread().name)

    with_driver(settings, body)
    assert readers and all(name.startswith("test-db") for name in readers), readers
    assert handled_on == ["MainThread"]


def test_pause_resume_and_remove(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        job = interval("j", 600)
        first = driver.put(job, trigger_of(job))
        assert first is not None
        driver.set_paused("j", True)
        assert driver.next_run_times() == {"j": None}
        driver.set_paused("j", False)
        assert next_fire(driver, "j") == first  # still ahead: the same fire time
        driver.remove("j")
        assert driver.next_run_times() == {}
        driver.remove("j")  # removing again is harmless
        driver.set_paused("missing", True)  # so is pausing what APScheduler does not have
        # A paused definition is put without a next fire time.
        paused = interval("p", 600, paused=True)
        assert driver.put(paused, trigger_of(paused)) is None
        assert driver.next_run_times() == {"p": None}

    with_driver(settings, body)


def test_update_keeps_the_countdown_and_renames(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            job = interval("j", 3600)
            assert driver.put(job, trigger_of(job)) == (T0 + timedelta(hours=1)).timestamp()
            clock.shift(100)
            renamed = interval("j", 3600, name="Renamed", updated_at=2.0)
            driver.update(renamed, pause_changed=False)
            assert next_fire(driver, "j") == (T0 + timedelta(hours=1)).timestamp()
            assert driver.scheduled_job("j").name == "Renamed"
            paused = interval("j", 3600, name="Renamed", paused=True)
            driver.update(paused, pause_changed=True)
            assert next_fire(driver, "j") is None
            # By contrast, putting the job again restarts the countdown from now.
            assert driver.put(renamed, trigger_of(renamed)) == (T0 + timedelta(seconds=3700)).timestamp()
            driver.update(trigger_only("t", "j"), pause_changed=False)  # trigger-only: nothing to do
            assert "t" not in driver.next_run_times()

    with_driver(settings, body)


# --------------------------------------------------------------------------- reconcile
def test_reconcile_full_re_adds_only_when_the_schedule_changed(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            job = interval("j", 3600, python_code="print(1)")
            driver.put(job, trigger_of(job))
            first = next_fire(driver, "j")
            clock.shift(100)
            # Changed through another server: name, code and updated_at, not the schedule.
            edited = interval("j", 3600, name="Edited", python_code="print(2)", updated_at=50.0)
            assert edited.schedule_key == job.schedule_key
            driver.reconcile([edited], full=True)
            assert next_fire(driver, "j") == first  # the countdown was not restarted
            assert driver.scheduled_job("j").name == "Edited"

            # A real schedule change is added again.
            faster = interval("j", 600, name="Edited", updated_at=60.0)
            driver.reconcile([faster], full=True)
            assert next_fire(driver, "j") == (T0 + timedelta(seconds=700)).timestamp()
            assert "0:10:00" in str(driver.scheduled_job("j").trigger)

            # Paused and resumed through another server: applied in place.
            driver.reconcile([interval("j", 600, paused=True)], full=True)
            assert next_fire(driver, "j") is None
            driver.reconcile([interval("j", 600)], full=True)
            assert next_fire(driver, "j") == (T0 + timedelta(seconds=700)).timestamp()

    with_driver(settings, body)


def test_reconcile_at_start_up_keeps_trigger_state(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            job = interval("j", 3600)
            driver.put(job, trigger_of(job))
            first = next_fire(driver, "j")
            clock.shift(100)
            driver.reconcile([interval("j", 3600, updated_at=9.0)], full=False)
            assert next_fire(driver, "j") == first

    with_driver(settings, body)


def test_reconcile_removes_stale_skips_trigger_only_and_adds_missing(settings: SchedulerSettings) -> None:
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)

    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        stale = cron("deleted-elsewhere")
        driver.put(stale, trigger_of(stale))
        became_trigger = cron("became-trigger")
        driver.put(became_trigger, trigger_of(became_trigger))
        keep = cron("keep", "15 4 * * *")
        driver.put(keep, trigger_of(keep))
        kept_next = next_fire(driver, "keep")

        driver.reconcile(
            [
                keep,
                trigger_only("became-trigger", "keep"),
                trigger_only("always-trigger", "keep"),
                once("future-one-off", ahead),  # missing from APScheduler, still ahead
                interval("new-elsewhere", 900),  # created through another server
            ],
            full=True,
        )
        stored = driver.next_run_times()
        assert set(stored) == {"keep", "future-one-off", "new-elsewhere"}
        assert stored["keep"] == kept_next
        assert stored["future-one-off"] == ahead.timestamp()

    with_driver(settings, body)


@pytest.mark.parametrize("full", [True, False])
def test_reconcile_does_not_re_add_a_one_off_that_already_fired(
    settings: SchedulerSettings, full: bool
) -> None:
    """BUG (kept failing on purpose): a one-off that fired is gone from APScheduler's
    table; reconcile means to skip it ("A one-off absent from APScheduler has fired, unless
    it is still ahead") by asking ``trigger.get_next_fire_time(None, now)``, but
    APScheduler's DateTrigger answers its run_date for ``previous_fire_time=None`` whatever
    ``now`` is, so the one-off is added again with its past fire time, and APScheduler
    fires it a second time (within misfire_grace_time; later than that it records a
    'missed' run instead, at every start-up)."""

    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            job = once("one-off", T0 + timedelta(seconds=10))
            driver.put(job, trigger_of(job))
            clock.shift(20)
            await process_due_jobs(driver)
            fired_at = (T0 + timedelta(seconds=10)).timestamp()
            assert handler.calls == [("start", "one-off", TriggeredBy.SCHEDULE, fired_at)]
            assert "one-off" not in driver.next_run_times()  # APScheduler dropped it

            driver.reconcile([job], full=full)  # e.g. another server changed some other job
            await process_due_jobs(driver)
            assert "one-off" not in driver.next_run_times()
            assert len(handler.calls) == 1, f"the one-off fired again: {handler.calls}"

    with time_machine.travel(T0, tick=False):
        with_driver(settings, body)


# --------------------------------------------------------------------------- fires
def test_fire_after_activation_starts_a_scheduled_run(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        when = datetime.now(UTC) + timedelta(seconds=5)
        driver.fired("j", when)
        assert handler.calls == [("start", "j", TriggeredBy.SCHEDULE, when.timestamp())]
        assert await handler.next() == handler.calls[0]  # and the coroutine was run

    with_driver(settings, body)


def test_fire_before_activation_catches_up_once(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        long_ago = datetime.now(UTC) - timedelta(hours=2)
        driver.fired("j", long_ago)
        assert await handler.next() == ("start", "j", TriggeredBy.CATCHUP, long_ago.timestamp())
        later = long_ago + timedelta(hours=1)
        driver.fired("j", later)
        call = await handler.next()
        assert call[:4] == ("missed", "j", TriggeredBy.CATCHUP, later.timestamp())
        assert "already caught up" in call[4]
        # Another job catches up once too.
        driver.fired("k", long_ago)
        assert await handler.next() == ("start", "k", TriggeredBy.CATCHUP, long_ago.timestamp())
        assert len(handler.calls) == 3

    with_driver(settings, body)


def test_catch_up_policy_skip_records_the_miss(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        long_ago = datetime.now(UTC) - timedelta(hours=2)
        driver.fired("j", long_ago)
        call = await handler.next()
        assert call[:4] == ("missed", "j", TriggeredBy.CATCHUP, long_ago.timestamp())
        assert "catch-up policy 'skip'" in call[4]
        assert [c[0] for c in handler.calls] == ["missed"]

    with_driver(settings, body, policy="skip")


def test_overdue_jobs_catch_up_within_the_tolerance(settings: SchedulerSettings) -> None:
    """A job whose stored next fire time had passed at activation catches up even for a
    fire time less than a second before activation; other jobs fire normally there."""

    def body_at(activated: float) -> Callable[[ScheduleDriver, FakeHandler], Awaitable[None]]:
        async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
            just_before = datetime.fromtimestamp(activated - 0.5, UTC)
            driver.fired("on-time", just_before)
            assert handler.calls == [("start", "on-time", TriggeredBy.SCHEDULE, activated - 0.5)]
            driver.fired("overdue", just_before)
            assert await handler.next() == handler.calls[0]
            assert await handler.next() == ("start", "overdue", TriggeredBy.CATCHUP, activated - 0.5)

        return body

    with time_machine.travel(T0, tick=False):
        activated = T0.timestamp()
        with_driver(
            settings,
            body_at(activated),
            next_runs={"overdue": activated - 30, "on-time": activated + 30, "paused": None},
        )


def test_missed_records_the_misfire(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        when = datetime.now(UTC) - timedelta(minutes=10)
        driver.missed("j", when)
        call = await handler.next()
        assert call[:4] == ("missed", "j", TriggeredBy.CATCHUP, when.timestamp())
        assert "misfire_grace_time" in call[4]

    with_driver(settings, body)


def test_fires_without_a_handler_are_ignored(settings: SchedulerSettings) -> None:
    async def main() -> None:
        background = Background(LOG)
        engine = make_engine(settings.database_url)
        driver = ScheduleDriver(settings, engine, background, LOG, offload=DatabaseThread())  # never started
        driver.fired("j", datetime.now(UTC))
        driver.missed("j", datetime.now(UTC))
        assert driver.put(cron("j"), trigger_of(cron("j"))) is None
        assert not driver.is_running
        assert driver.next_run_times() == {}  # APScheduler's table was never made
        engine.dispose()

    asyncio.run(main())


# --------------------------------------------------------------------------- frozen clock
@pytest.mark.parametrize("paused", [False, True])
def test_interval_fires_once_when_the_clock_passes_it(settings: SchedulerSettings, paused: bool) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            job = interval("every-minute", 60, paused=paused)
            driver.put(job, trigger_of(job))
            await process_due_jobs(driver)
            assert handler.calls == []  # not due yet
            clock.shift(61)
            await process_due_jobs(driver)
            if paused:
                assert handler.calls == []
                assert next_fire(driver, "every-minute") is None
            else:
                expected = (T0 + timedelta(seconds=60)).timestamp()
                assert handler.calls == [("start", "every-minute", TriggeredBy.SCHEDULE, expected)]
                assert next_fire(driver, "every-minute") == expected + 60
                await process_due_jobs(driver)  # nothing new is due
                assert len(handler.calls) == 1

    with time_machine.travel(T0, tick=False):
        with_driver(settings, body)


def test_fire_later_than_the_grace_time_is_recorded_missed(settings: SchedulerSettings) -> None:
    async def body(driver: ScheduleDriver, handler: FakeHandler) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            job = definition(
                "j", {"schedule_type": "interval", "interval_seconds": 60, "misfire_grace_time": 5}
            )
            driver.put(job, trigger_of(job))
            clock.shift(100)  # 40 s after the fire time at T0 + 60 s
            await process_due_jobs(driver)
            expected = (T0 + timedelta(seconds=60)).timestamp()
            assert [c[:4] for c in handler.calls] == [("missed", "j", TriggeredBy.CATCHUP, expected)]
            assert "misfire_grace_time" in handler.calls[0][4]

    with time_machine.travel(T0, tick=False):
        with_driver(settings, body)
