"""Deadlines: the instant a deadline_time names each day across DST changes (New York,
Paris, Lord Howe's half-hour shift), and the monitor driven by a clock of the test's own
through a real service (store, executor, job service): a missed deadline alerts once, a
success in the window meets it, paused jobs never alert, a restart sends nothing twice,
and a max_duration_minutes run alerts while it still runs. Failure and recovery follow the
failing mark in the store (also one another server set), and the channels an alert goes to
follow alert_on (without one, the JSON webhook gets failures only)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from unit_helpers import wait_until, with_service

from pipeline_scheduler.alerts import Alert, AlertChannels, message_lines, slack_payload
from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.deadlines import (
    DeadlineMonitor,
    deadline_on,
    next_deadline,
    parse_time_of_day,
    previous_deadline,
)
from pipeline_scheduler.domain import JobDefinition
from pipeline_scheduler.settings import SchedulerSettings

NY, PARIS, LORD_HOWE = ZoneInfo("America/New_York"), ZoneInfo("Europe/Paris"), ZoneInfo("Australia/Lord_Howe")


def local(instant: datetime, tz: ZoneInfo) -> str:
    return instant.astimezone(tz).isoformat()


# ------------------------------------------------------------------ instants across DST
@pytest.mark.parametrize(
    ("tz", "day", "at", "expected"),
    [
        # An ordinary day, and the days of each change at a time the change does not touch.
        (NY, date(2026, 3, 7), "07:00", "2026-03-07T07:00:00-05:00"),
        (NY, date(2026, 3, 8), "07:00", "2026-03-08T07:00:00-04:00"),
        (NY, date(2026, 11, 1), "07:00", "2026-11-01T07:00:00-05:00"),
        # Spring forward 02:00 -> 03:00: a skipped time is the first instant after the jump.
        (NY, date(2026, 3, 8), "02:30", "2026-03-08T03:00:00-04:00"),
        (NY, date(2026, 3, 8), "02:00", "2026-03-08T03:00:00-04:00"),
        (NY, date(2026, 3, 8), "03:00", "2026-03-08T03:00:00-04:00"),
        (NY, date(2026, 3, 8), "01:59:59", "2026-03-08T01:59:59-05:00"),
        # Fall back 02:00 -> 01:00: a repeated time is its first occurrence (EDT).
        (NY, date(2026, 11, 1), "01:30", "2026-11-01T01:30:00-04:00"),
        (PARIS, date(2026, 3, 29), "02:30", "2026-03-29T03:00:00+02:00"),
        (PARIS, date(2026, 3, 29), "07:00", "2026-03-29T07:00:00+02:00"),
        (PARIS, date(2026, 10, 25), "02:30", "2026-10-25T02:30:00+02:00"),
        (PARIS, date(2026, 10, 25), "03:00", "2026-10-25T03:00:00+01:00"),
        # Lord Howe moves by half an hour: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April.
        (LORD_HOWE, date(2026, 10, 4), "02:15", "2026-10-04T02:30:00+11:00"),
        (LORD_HOWE, date(2026, 10, 4), "02:30", "2026-10-04T02:30:00+11:00"),
        (LORD_HOWE, date(2026, 10, 4), "01:59", "2026-10-04T01:59:00+10:30"),
        (LORD_HOWE, date(2026, 4, 5), "01:45", "2026-04-05T01:45:00+11:00"),
        (LORD_HOWE, date(2026, 4, 5), "02:00", "2026-04-05T02:00:00+10:30"),
    ],
)
def test_deadline_instant_of_a_day(tz: ZoneInfo, day: date, at: str, expected: str) -> None:
    instant = deadline_on(day, parse_time_of_day(at), tz)
    assert instant.tzinfo == timezone.utc
    assert local(instant, tz) == expected


def test_next_and_previous_deadline_step_over_a_gap_day() -> None:
    at = parse_time_of_day("02:30")
    before = datetime(2026, 3, 7, 12, 0, tzinfo=NY)
    first = next_deadline(at, NY, before)
    assert local(first, NY) == "2026-03-08T03:00:00-04:00"
    second = next_deadline(at, NY, first)
    assert local(second, NY) == "2026-03-09T02:30:00-04:00"
    assert second - first == timedelta(hours=23, minutes=30)
    assert previous_deadline(at, NY, second) == second, "an instant is its own previous deadline"
    assert previous_deadline(at, NY, second - timedelta(seconds=1)) == first
    assert local(previous_deadline(at, NY, first - timedelta(seconds=1)), NY) == "2026-03-07T02:30:00-05:00"


def test_a_day_of_a_repeated_hour_has_one_deadline() -> None:
    at = parse_time_of_day("01:30")
    start = datetime(2026, 10, 31, 12, 0, tzinfo=NY)
    instants = []
    after = start
    for _ in range(3):
        after = next_deadline(at, NY, after)
        instants.append(local(after, NY))
    assert instants == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00"]


def test_every_day_of_a_year_has_one_increasing_deadline() -> None:
    for tz in (NY, PARIS, LORD_HOWE):
        for text in ("00:00", "01:30", "02:15", "02:30", "23:59:59"):
            at = parse_time_of_day(text)
            after = datetime(2026, 1, 1, tzinfo=timezone.utc)
            for _ in range(366):
                instant = next_deadline(at, tz, after)
                gap = instant - after
                assert timedelta(0) < gap <= timedelta(hours=25, minutes=30), (tz, text, after, instant)
                after = instant


# ------------------------------------------------------------------ the monitor
class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorded:
    """The alert channels' ``deliver``, recording instead of sending (the boundary here)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def deliver(self, alert: Alert) -> int:
        self.alerts.append(alert)
        return 1


def _monitor(svc: SchedulerService, clock: Clock, sink: Recorded) -> DeadlineMonitor:
    return DeadlineMonitor(
        svc.settings,
        svc.store,
        svc.workers,
        svc.background,
        svc.executor,
        sink,  # type: ignore[arg-type]
        logging.getLogger("test"),
        clock=clock,
    )


def _job(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_path": "etl/load.py",
        "schedule_type": "cron",
        "cron_expression": "0 5 * * *",
        "timezone": "Europe/Paris",
        **fields,
    }


def _paris(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


async def _set_updated(svc: SchedulerService, job_id: str, when: float) -> None:
    """Date the definition back (the test's clock lives in another year than the row)."""
    await svc.workers.db(svc.store.set_job_fields, job_id, updated_at=when)


def test_missed_deadline_alerts_once_and_a_success_meets_it(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        clock = Clock(_paris("2030-06-01T06:00:00"))
        sink = Recorded()
        monitor = _monitor(svc, clock, sink)
        late, _ = await svc.jobs.create(_job("late", deadline_time="07:00"))
        met, _ = await svc.jobs.create(_job("met", deadline_time="07:00"))
        for job in (late, met):
            await _set_updated(svc, job["id"], _paris("2030-05-30T12:00:00"))
        # A success of "met" in the window (after the previous deadline, before this one).
        run_id = await svc.workers.db(
            svc.store.insert_run,
            job_id=met["id"],
            job_name="met",
            pipeline_path="etl/load.py",
            status="success",
            triggered_by="manual",
            created_at=_paris("2030-06-01T05:00:00"),
            started_at=_paris("2030-06-01T05:00:00"),
            finished_at=_paris("2030-06-01T05:10:00"),
        )
        assert run_id
        await monitor.load()
        assert monitor.next_due(late["id"]) == _paris("2030-06-01T07:00:00")
        assert await monitor.check_due(clock.now) == 0, "nothing due at 06:00"

        clock.now = _paris("2030-06-01T07:00:01")
        assert await monitor.check_due(clock.now) == 1
        assert [a.job.id for a in sink.alerts] == [late["id"]]
        alert = sink.alerts[0]
        assert alert.event == "deadline_missed" and alert.kind == "deadline"
        assert "late" in alert.title and "07:00" in alert.title and "Europe/Paris" in alert.title
        assert "No run succeeded" in alert.detail
        assert monitor.next_due(late["id"]) == _paris("2030-06-02T07:00:00")

        # A restart: a new monitor checks the last instant that passed, and sends nothing again.
        again = _monitor(svc, clock, sink)
        await again.load()
        assert await again.catch_up() == 0, [(a.job.name, a.title) for a in sink.alerts]
        assert len(sink.alerts) == 1

        # The next day nobody succeeded either: the "met" job misses this one.
        clock.now = _paris("2030-06-02T07:00:00")
        assert await monitor.check_due(clock.now) == 2
        assert sorted(a.job.name for a in sink.alerts[1:]) == ["late", "met"]

    with_service(settings, body, run_scheduler=False)


def test_a_deadline_that_passed_while_no_server_ran_is_checked_at_start(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        clock = Clock(_paris("2030-06-01T09:30:00"))
        sink = Recorded()
        job, _ = await svc.jobs.create(_job("overnight", deadline_time="07:00"))
        fresh, _ = await svc.jobs.create(_job("edited at 8", deadline_time="07:00"))
        await _set_updated(svc, job["id"], _paris("2030-05-20T12:00:00"))
        await _set_updated(svc, fresh["id"], _paris("2030-06-01T08:00:00"))
        monitor = _monitor(svc, clock, sink)
        await monitor.load()
        assert await monitor.catch_up() == 1
        assert [a.job.id for a in sink.alerts] == [job["id"]], "not the job defined after 07:00"
        assert "2030-06-01" in sink.alerts[0].title

    with_service(settings, body, run_scheduler=False)


def test_paused_jobs_have_no_deadline_alerts(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        clock = Clock(_paris("2030-06-01T06:00:00"))
        sink = Recorded()
        job, _ = await svc.jobs.create(_job("paused", deadline_time="07:00"))
        await svc.jobs.set_paused(job["id"], True)
        await _set_updated(svc, job["id"], _paris("2030-05-20T12:00:00"))
        monitor = _monitor(svc, clock, sink)
        svc.jobs.on_change(monitor.job_changed)
        await monitor.load()
        assert monitor.next_due(job["id"]) is None, "a paused job is not watched"
        clock.now = _paris("2030-06-01T07:00:01")
        assert await monitor.check_due(clock.now) == 0
        assert await monitor.catch_up() == 0

        # Resumed: watched again (the change listener), from the resume on.
        await svc.jobs.set_paused(job["id"], False)
        await monitor.apply_changes()
        assert monitor.next_due(job["id"]) == _paris("2030-06-02T07:00:00")
        # Paused again between the timer's setting and its instant: still no alert.
        await svc.workers.db(svc.store.set_job_fields, job["id"], paused=True)
        await _set_updated(svc, job["id"], _paris("2030-05-20T12:00:00"))
        clock.now = _paris("2030-06-02T07:00:00")
        assert await monitor.check_due(clock.now) == 0
        assert sink.alerts == []

    with_service(settings, body, run_scheduler=False)


def test_a_changed_or_removed_deadline_moves_the_timer(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        clock = Clock(time.time())
        monitor = _monitor(svc, clock, Recorded())
        svc.jobs.on_change(monitor.job_changed)
        await monitor.load()
        job, _ = await svc.jobs.create(_job("moving"))
        await monitor.apply_changes()
        assert monitor.next_due(job["id"]) is None
        await svc.jobs.update(job["id"], {"deadline_time": "23:59:59", "timezone": "Australia/Lord_Howe"})
        await monitor.apply_changes()
        due = monitor.next_due(job["id"])
        assert due is not None and 0 < due - clock.now <= 25.5 * 3600
        shown = datetime.fromtimestamp(due, LORD_HOWE)
        assert (shown.hour, shown.minute, shown.second) == (23, 59, 59)
        await svc.jobs.delete(job["id"])
        await monitor.apply_changes()
        assert monitor.next_due(job["id"]) is None

    with_service(settings, body, run_scheduler=False)


def test_max_duration_alerts_while_the_run_goes_on(settings: SchedulerSettings, workspace: Any) -> None:
    (workspace / "slow.py").write_text("import time\ntime.sleep(30)\n", encoding="utf-8")

    async def body(svc: SchedulerService) -> None:
        sink = Recorded()
        monitor = _monitor(svc, Clock(0), sink)
        monitor.clock = time.time
        job, _ = await svc.jobs.create(_job("slow", pipeline_path="slow.py", max_duration_minutes=60))
        quick, _ = await svc.jobs.create(_job("quick", max_duration_minutes=60))
        run, _ = await svc.runs.run_now(quick["id"], wait=False)
        assert monitor.watched_runs == [run["id"]]
        await wait_until(lambda: _final(svc, run["id"]), 20)
        assert monitor.watched_runs == [], "the timer of a run that ended in time is cancelled"
        # Now the monitor's clock runs 59 min 59.5 s ahead: a run queued now is 0.5 s from
        # its max_duration_minutes of 60 on that clock (the loop's timer does the waiting).
        monitor.clock = lambda: time.time() + 3600 - 0.5
        run, _ = await svc.runs.run_now(job["id"], wait=False)
        await wait_until(lambda: _value(sink.alerts), 10)
        current = await svc.workers.db(svc.store.get_run, run["id"])
        assert current is not None and current["status"] == "running", "the run was not stopped"
        [alert] = sink.alerts
        assert alert.event == "run_too_long" and alert.job.id == job["id"]
        assert "still running" in alert.title and "60 min" in alert.title
        assert alert.run is not None and alert.run["id"] == run["id"]
        await asyncio.sleep(0.2)
        assert len(sink.alerts) == 1, "one alert per run; none for the run that ended in time"
        await svc.runs.cancel(run["id"])

    with_service(settings, body, run_scheduler=False)


async def _value(x: Any) -> Any:
    return x


async def _final(svc: SchedulerService, run_id: int) -> bool:
    row = await svc.workers.db(svc.store.get_run, run_id)
    return row is not None and row["status"] not in ("queued", "running")


# ------------------------------------------------------------------ failure and recovery
def test_recovery_follows_the_last_final_failure_across_a_restart(
    settings: SchedulerSettings, workspace: Any
) -> None:
    """A retried attempt alerts nothing; a final failure alerts and marks the job failing
    in the store, so the first success after it, even on the next server, is a recovery."""
    flag = workspace / "fail.flag"
    (workspace / "flaky.py").write_text(
        f"import pathlib, sys\nsys.exit(1 if pathlib.Path({str(flag)!r}).exists() else 0)\n", encoding="utf-8"
    )
    flag.write_text("x")
    sink = Recorded()

    async def fail_then_stop(svc: SchedulerService) -> str:
        svc.alert_channels.deliver = sink.deliver  # type: ignore[method-assign]
        job, _ = await svc.jobs.create(_job("flaky", pipeline_path="flaky.py", max_retries=1))
        await svc.runs.run_now(job["id"])  # attempt 1 fails, attempt 2 (retry) fails too
        await wait_until(lambda: _value([a for a in sink.alerts if a.event == "run_failed"]), 20)
        runs = (await svc.runs.list(job_id=job["id"], limit=10))["runs"]
        assert [r["attempt"] for r in runs] == [2, 1], "the alert came after the last attempt"
        return str(job["id"])

    job_id = with_service(settings, fail_then_stop, run_scheduler=False)
    assert [a.event for a in sink.alerts] == ["run_failed"], "no alert for the attempt that was retried"
    flag.unlink()

    async def recover(svc: SchedulerService) -> None:
        svc.alert_channels.deliver = sink.deliver  # type: ignore[method-assign]
        for _ in range(2):
            await svc.runs.run_now(job_id)
        await wait_until(lambda: _value(len(sink.alerts) >= 2), 20)
        await asyncio.sleep(0.3)

    with_service(settings, recover, run_scheduler=False)
    assert [a.event for a in sink.alerts] == ["run_failed", "run_recovered"], "one recovery, then nothing"
    assert sink.alerts[1].run is not None and sink.alerts[1].run["status"] == "success"


def test_a_success_after_a_failing_mark_another_server_set_is_a_recovery(settings: SchedulerSettings) -> None:
    """A standby server runs a job (a manual run) that the active one marked failing after
    this server had seen the job succeed: the mark is read from the store, not remembered."""
    sink = Recorded()

    async def body(svc: SchedulerService) -> None:
        svc.alert_channels.deliver = sink.deliver  # type: ignore[method-assign]
        job, _ = await svc.jobs.create(_job("shared"))
        assert (await svc.runs.run_now(job["id"]))[0]["success"] is True
        # The other server's final failure of this job, as it records it.
        assert await svc.workers.db(svc.store.claim_alert, job["id"], "failing", "")
        assert (await svc.runs.run_now(job["id"]))[0]["success"] is True
        await wait_until(lambda: _value(sink.alerts), 20)
        assert [a.event for a in sink.alerts] == ["run_recovered"], "one recovery, nothing else"
        assert not await svc.workers.db(svc.store.clear_alert, job["id"], "failing"), "the mark is cleared"

    with_service(settings, body, run_scheduler=False)


# ------------------------------------------------------------------ the channels
def _channels(settings: SchedulerSettings) -> tuple[AlertChannels, list[tuple[str, str]]]:
    """Channels whose network calls are recorded as (what, URL or addresses), not made."""
    sent: list[tuple[str, str]] = []

    def network(fn: Any, *args: Any) -> Any:
        sent.append((fn.__name__, str(args[0] if fn.__name__ == "post_json" else args[1])))
        return asyncio.sleep(0)

    def spawn(coroutine: Any) -> None:
        coroutine.close()

    return AlertChannels(settings, network, spawn, logging.getLogger("test"), lambda run: run), sent


def _hooked(**spec: Any) -> JobDefinition:
    spec = {"webhook_url": "https://hooks.example.org/x", "slack_webhook_url": "https://slack.test/s", **spec}
    return JobDefinition("j1", "load", "etl/load.py", spec, None, None, False, 0.0, 0.0)


def test_without_alert_on_the_json_webhook_gets_failures_only(settings: SchedulerSettings) -> None:
    s = settings.replace(smtp_host="smtp.example.org", alert_email_to=["ops@example.org"])
    channels, sent = _channels(s)
    run = {"id": 7, "status": "success", "started_at": 10.0, "finished_at": 12.5, "attempt": 2}
    failed = {**run, "status": "failure", "exit_code": 3, "error_tail": "one\ntwo\n"}
    job = _hooked()
    assert channels.deliver(Alert("run_failed", job, "Job 'load' failed", run=failed)) == 3
    assert [what for what, _ in sent] == ["post_json", "post_json", "send_email"]
    sent.clear()
    for event in ("run_recovered", "deadline_missed", "run_too_long"):
        assert channels.deliver(Alert(event, job, "t", run=run)) == 2, event
    assert "https://hooks.example.org/x" not in [to for _, to in sent], "the JSON webhook got none"
    assert len(sent) == 6

    # alert_on set, the job's or the server's: every channel gets what it says.
    sent.clear()
    assert channels.deliver(Alert("run_recovered", _hooked(alert_on=["recovery"]), "t", run=run)) == 3
    assert channels.deliver(Alert("run_failed", _hooked(alert_on=["recovery"]), "t", run=failed)) == 0
    server_wide, sent = _channels(s.replace(alert_on=["failure", "recovery"]))
    assert server_wide.deliver(Alert("run_recovered", job, "t", run=run)) == 3
    assert server_wide.deliver(Alert("deadline_missed", job, "t")) == 0
    assert server_wide.deliver(Alert("deadline_missed", _hooked(alert_on=["deadline"]), "t")) == 3
    assert len(sent) == 6

    # The e-mail and the Slack text tell the same facts of the run.
    alert = Alert("run_failed", job, "Job 'load' failed", "It broke.", run=failed)
    mail = "\n".join(message_lines(alert, "http://lab/x"))
    text = slack_payload(alert, "http://lab/x")["text"]
    for fact in ("Run 7", "duration: 2.5 s", "exit code 3", "attempt 2", "It broke.", "one\ntwo"):
        assert fact in mail and fact in text, fact
    assert "status: failure" in mail and "status: *failure*" in text
