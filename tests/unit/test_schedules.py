"""schedules.py: JobSpec schedule fields -> APScheduler triggers, descriptions, fire times.

Every test passes a frozen clock as ``now=``; nothing here touches the disk or the wall clock.
"""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from pipeline_scheduler.errors import InvalidScheduleError
from pipeline_scheduler.schedules import (
    build_trigger,
    cron_trigger,
    describe,
    next_fire_times,
    parse_run_date,
    zone,
)
from pipeline_scheduler.triggers import CrontabTrigger, EveryNDaysTrigger

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
AUCKLAND = ZoneInfo("Pacific/Auckland")
# Saturday 10 January 2026, 12:00:07 UTC: seconds that no schedule below fires on, so a
# fire time equal to "now" can never hide a wrong answer.
NOW = datetime(2026, 1, 10, 12, 0, 7, tzinfo=UTC)


def fires(spec: dict, count: int = 5, now: datetime = NOW, default_tz: str = "UTC") -> list[datetime]:
    return next_fire_times(build_trigger(spec, default_tz, now=now), count, now)


# --------------------------------------------------------------------------- round trips
# The payloads the original frontend sends (DESIGN.md section 4), with what they must become.
ORIGINAL_PAYLOADS = [
    pytest.param(
        {"schedule_type": "date", "date_type": "once", "run_date": "2030-01-15T08:30:00.000Z"},
        DateTrigger,
        "Once on Tue 15 Jan 2030 at 08:30 (UTC)",
        [datetime(2030, 1, 15, 8, 30, tzinfo=UTC)],
        id="once",
    ),
    pytest.param(
        {"schedule_type": "date", "date_type": "daily", "run_date": "2026-01-15T08:30:00.000Z"},
        CrontabTrigger,
        "Every day at 08:30 (UTC)",
        [datetime(2026, 1, d, 8, 30, tzinfo=UTC) for d in (11, 12, 13)],
        id="daily",
    ),
    pytest.param(
        # Thursday 15 January 2026
        {"schedule_type": "date", "date_type": "weekly", "run_date": "2026-01-15T17:45:00.000Z"},
        CrontabTrigger,
        "Every Thursday at 17:45 (UTC)",
        [datetime(2026, 1, d, 17, 45, tzinfo=UTC) for d in (15, 22, 29)],
        id="weekly",
    ),
    pytest.param(
        {"schedule_type": "date", "date_type": "monthly", "run_date": "2026-01-05T06:00:00.000Z"},
        CrontabTrigger,
        "Every month on day 5 at 06:00 (UTC)",
        [datetime(2026, m, 5, 6, 0, tzinfo=UTC) for m in (2, 3, 4)],
        id="monthly",
    ),
    pytest.param(
        {
            "schedule_type": "date",
            "date_type": "every_x_days",
            "interval_days": 3,
            "run_date": "2026-01-11T06:00:00.000Z",
        },
        EveryNDaysTrigger,
        "Every 3 days at 06:00 from 2026-01-11 (UTC)",
        [datetime(2026, 1, d, 6, 0, tzinfo=UTC) for d in (11, 14, 17)],
        id="every_x_days",
    ),
    pytest.param(
        {"schedule_type": "interval", "interval_seconds": 3600},
        IntervalTrigger,
        "Every hour",
        [NOW + timedelta(hours=h) for h in (1, 2, 3)],
        id="interval",
    ),
    pytest.param(
        {"schedule_type": "cron", "cron_expression": "*/5 * * * *"},
        CrontabTrigger,
        "Every 5 minutes (UTC)",
        [datetime(2026, 1, 10, 12, m, tzinfo=UTC) for m in (5, 10, 15)],
        id="cron",
    ),
]


@pytest.mark.parametrize(("spec", "trigger_type", "sentence", "first_fires"), ORIGINAL_PAYLOADS)
def test_original_payload_round_trip(spec, trigger_type, sentence, first_fires) -> None:
    trigger = build_trigger(spec, "UTC", now=NOW)
    assert isinstance(trigger, trigger_type)
    assert describe(spec, "UTC") == sentence
    got = next_fire_times(trigger, len(first_fires), NOW)
    assert got == first_fires
    assert all(t > NOW for t in got)


def test_trigger_payload_has_no_time_trigger_and_describes_its_conditions() -> None:
    spec = {
        "schedule_type": "trigger",
        "logical_operator": "AND",
        "trigger_conditions": [
            {"job_id": "job_load", "on": "success"},
            {"job_id": "job_clean", "on": "failure"},
        ],
    }
    trigger = build_trigger(spec, "UTC", now=NOW)
    assert trigger is None
    assert next_fire_times(trigger, 5, NOW) == []
    names = {"job_load": "Load", "job_clean": "Clean"}
    assert describe(spec, "UTC", names.__getitem__) == "After 'Load' succeeds AND 'Clean' fails"
    spec_or = {**spec, "logical_operator": "OR"}
    assert describe(spec_or, "UTC", names.__getitem__) == "After 'Load' succeeds OR 'Clean' fails"
    # Without a name lookup the ids are shown.
    assert "'job_load' succeeds" in describe(spec, "UTC")


def test_once_fires_exactly_once() -> None:
    spec = {"schedule_type": "date", "date_type": "once", "run_date": "2026-01-10T13:00:00Z"}
    assert fires(spec, 5) == [datetime(2026, 1, 10, 13, 0, tzinfo=UTC)]


def test_date_type_defaults_to_once() -> None:
    spec = {"schedule_type": "date", "run_date": "2026-02-01T09:00:00Z"}
    assert isinstance(build_trigger(spec, "UTC", now=NOW), DateTrigger)
    assert fires(spec) == [datetime(2026, 2, 1, 9, 0, tzinfo=UTC)]


def test_interval_fire_times_are_evenly_spaced_from_creation() -> None:
    got = fires({"schedule_type": "interval", "interval_seconds": 90}, 4)
    assert got == [NOW + timedelta(seconds=90 * k) for k in (1, 2, 3, 4)]
    assert describe({"schedule_type": "interval", "interval_seconds": 90}, "UTC") == "Every 90 seconds"


@pytest.mark.parametrize(
    ("seconds", "sentence"),
    [
        (1, "Every second"),
        (60, "Every minute"),
        (7200, "Every 2 hours"),
        (172800, "Every 2 days"),
        (3661, "Every 3,661 seconds"),
    ],
)
def test_interval_descriptions(seconds: int, sentence: str) -> None:
    assert describe({"schedule_type": "interval", "interval_seconds": seconds}, "UTC") == sentence


def test_every_x_days_without_start_first_fires_after_n_days() -> None:
    """Without run_date the first run is N days after creation, as the scheduler fires it
    (a first fire time equal to 'now' would be shown by the preview but never happen)."""
    got = fires({"schedule_type": "date", "date_type": "every_x_days", "interval_days": 2}, 3)
    assert got == [NOW + timedelta(days=2 * k) for k in (1, 2, 3)]


def test_every_x_days_with_a_past_start_keeps_its_phase() -> None:
    spec = {
        "schedule_type": "date",
        "date_type": "every_x_days",
        "interval_days": 7,
        "run_date": "2025-12-01T10:00:00Z",
        "timezone": "UTC",
    }
    got = fires(spec, 3)
    assert got[0] > NOW
    assert all((t - datetime(2025, 12, 1, 10, tzinfo=UTC)).days % 7 == 0 for t in got)
    assert all((t.hour, t.minute) == (10, 0) for t in got)


# --------------------------------------------------------------------------- time zones
def test_daily_in_paris_fires_at_0830_local_across_both_dst_changes_of_2026() -> None:
    spec = {
        "schedule_type": "date",
        "date_type": "daily",
        "run_date": "2026-01-15T07:30:00.000Z",  # 08:30 in Paris (winter)
        "timezone": "Europe/Paris",
    }
    assert describe(spec, "UTC") == "Every day at 08:30 (Europe/Paris)"

    # Last Sunday of March 2026 is the 29th: clocks go from +01:00 to +02:00.
    spring = fires(spec, 3, now=datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    # Last Sunday of October 2026 is the 25th: clocks go from +02:00 back to +01:00.
    autumn = fires(spec, 3, now=datetime(2026, 10, 23, 12, 0, tzinfo=UTC))

    for t in spring + autumn:
        local = t.astimezone(PARIS)
        assert (local.hour, local.minute, local.second) == (8, 30, 0), local
    assert [t.astimezone(PARIS).day for t in spring] == [28, 29, 30]
    assert [t.astimezone(PARIS).day for t in autumn] == [24, 25, 26]
    assert [t.astimezone(PARIS).utcoffset() for t in spring] == [
        timedelta(hours=1),
        timedelta(hours=2),
        timedelta(hours=2),
    ]
    assert [t.astimezone(PARIS).utcoffset() for t in autumn] == [
        timedelta(hours=2),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
    # The same local time is a different UTC hour on each side of a change.
    assert [t.astimezone(UTC).hour for t in spring] == [7, 6, 6]
    assert [t.astimezone(UTC).hour for t in autumn] == [6, 7, 7]


def test_daily_in_the_repeated_hour_fires_once_when_clocks_go_back() -> None:
    """02:30 happens twice in Paris on 25 October 2026; a daily job runs at the first only."""
    spec = {
        "schedule_type": "date",
        "date_type": "daily",
        "run_date": "2026-01-15T01:30:00Z",  # 02:30 in Paris
        "timezone": "Europe/Paris",
    }
    got = fires(spec, 4, now=datetime(2026, 10, 23, 12, 0, tzinfo=UTC))
    assert [t.astimezone(PARIS).day for t in got] == [24, 25, 26, 27]
    assert got[1].astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert all((t.astimezone(PARIS).hour, t.astimezone(PARIS).minute) == (2, 30) for t in got)
    weekly = {**spec, "date_type": "weekly", "run_date": "2026-10-18T01:30:00Z"}  # Sundays 02:30
    sundays = fires(weekly, 3, now=datetime(2026, 10, 20, 12, 0, tzinfo=UTC))
    assert [t.astimezone(PARIS).day for t in sundays] == [25, 1, 8]


def test_daily_in_the_skipped_hour_still_fires_that_day() -> None:
    """02:30 does not exist in Paris on 29 March 2026: the job runs once that day anyway,
    at the jump (03:00 summer time, the first instant after the gap), as cron(8) does."""
    spec = {
        "schedule_type": "date",
        "date_type": "daily",
        "run_date": "2026-01-15T01:30:00Z",
        "timezone": "Europe/Paris",
    }
    got = fires(spec, 4, now=datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    assert [t.astimezone(PARIS).day for t in got] == [28, 29, 30, 31]
    assert got[1].astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 summer time
    assert got[2].astimezone(UTC) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 again


def test_cron_with_wildcard_hours_fires_at_every_real_instant_of_the_repeated_hour() -> None:
    spec = {"schedule_type": "cron", "cron_expression": "0 * * * *", "timezone": "Europe/Paris"}
    got = fires(spec, 4, now=datetime(2026, 10, 24, 23, 30, tzinfo=UTC))
    assert [t.astimezone(UTC).hour for t in got] == [0, 1, 2, 3]  # 02:00 twice, one hour apart


def test_triggers_survive_pickling_as_the_job_store_keeps_them() -> None:
    for spec in (
        {
            "schedule_type": "date",
            "date_type": "daily",
            "run_date": "2026-01-15T07:30:00Z",
            "timezone": "Europe/Paris",
        },
        {"schedule_type": "date", "date_type": "monthly", "run_date": "2026-01-31T09:00:00Z"},
        {"schedule_type": "cron", "cron_expression": "0 9 * * 7"},
        {"schedule_type": "interval", "interval_seconds": 60},
    ):
        trigger = build_trigger(spec, "UTC", now=NOW)
        copy = pickle.loads(pickle.dumps(trigger))
        assert type(copy) is type(trigger) and str(copy) == str(trigger)
        assert next_fire_times(copy, 5, NOW) == next_fire_times(trigger, 5, NOW)


def test_run_date_in_utc_is_read_in_the_job_zone() -> None:
    """07:30Z (what Date.toISOString sends) with Europe/Paris in winter means 08:30 Paris."""
    spec = {
        "schedule_type": "date",
        "date_type": "daily",
        "run_date": "2026-01-15T07:30:00.000Z",
        "timezone": "Europe/Paris",
    }
    trigger = build_trigger(spec, "UTC", now=NOW)
    assert isinstance(trigger, CrontabTrigger)
    assert str(trigger) == "cron['0 30 8 * * *', Europe/Paris]"
    first = next_fire_times(trigger, 1, NOW)[0]
    assert first == datetime(2026, 1, 11, 8, 30, tzinfo=PARIS)
    assert first.astimezone(UTC).hour == 7


def test_default_zone_applies_when_the_job_names_none() -> None:
    spec = {"schedule_type": "date", "date_type": "daily", "run_date": "2026-01-15T07:30:00.000Z"}
    first = fires(spec, 1, default_tz="Europe/Paris")[0]
    assert first.astimezone(PARIS).hour == 8
    assert describe(spec, "Europe/Paris") == "Every day at 08:30 (Europe/Paris)"
    # An explicit zone wins over the default.
    in_utc = fires({**spec, "timezone": "UTC"}, 1, default_tz="Europe/Paris")[0]
    assert (in_utc.astimezone(UTC).hour, in_utc.minute) == (7, 30)


def test_run_date_without_offset_is_wall_clock_time_in_the_zone() -> None:
    value = parse_run_date("2026-07-01T08:30:00", PARIS)
    assert value.utcoffset() == timedelta(hours=2)
    assert value.astimezone(UTC) == datetime(2026, 7, 1, 6, 30, tzinfo=UTC)
    assert parse_run_date("2026-07-01T08:30:00Z", PARIS) == datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    assert parse_run_date(" 2026-07-01T08:30:00.000+05:30 ", PARIS) == datetime(2026, 7, 1, 3, 0, tzinfo=UTC)


def test_weekly_takes_the_weekday_in_the_job_zone() -> None:
    # Thursday 20:00 UTC is already Friday 09:00 in Auckland (+13:00 in January).
    run_date = "2026-01-15T20:00:00.000Z"
    assert datetime(2026, 1, 15, 20, tzinfo=UTC).weekday() == 3
    spec = {
        "schedule_type": "date",
        "date_type": "weekly",
        "run_date": run_date,
        "timezone": "Pacific/Auckland",
    }
    assert describe(spec, "UTC") == "Every Friday at 09:00 (Pacific/Auckland)"
    got = fires(spec, 4)
    for t in got:
        local = t.astimezone(AUCKLAND)
        assert local.weekday() == 4 and (local.hour, local.minute) == (9, 0)
        assert t.astimezone(UTC).weekday() == 3  # still Thursday in UTC
    assert [b - a for a, b in pairwise(got)] == [timedelta(days=7)] * 3


def test_monthly_on_day_31_skips_short_months() -> None:
    spec = {"schedule_type": "date", "date_type": "monthly", "run_date": "2026-01-31T09:00:00Z"}
    got = fires(spec, 7)
    assert [(t.year, t.month) for t in got] == [
        (2026, 1),
        (2026, 3),
        (2026, 5),
        (2026, 7),
        (2026, 8),
        (2026, 10),
        (2026, 12),
    ]
    assert all(t.day == 31 and t.hour == 9 for t in got)
    assert "skipped in months without that day" in describe(spec, "UTC")


def test_monthly_takes_the_day_of_month_in_the_job_zone() -> None:
    # 23:30 UTC on 31 March is 01:30 on 1 April in Paris.
    spec = {
        "schedule_type": "date",
        "date_type": "monthly",
        "run_date": "2026-03-31T23:30:00Z",
        "timezone": "Europe/Paris",
    }
    got = fires(spec, 3)
    assert all(t.astimezone(PARIS).day == 1 for t in got)
    assert all((t.astimezone(PARIS).hour, t.astimezone(PARIS).minute) == (1, 30) for t in got)


# --------------------------------------------------------------------------- cron
def test_six_field_cron_has_seconds_first() -> None:
    spec = {"schedule_type": "cron", "cron_expression": "30 */10 * * * *"}
    got = fires(spec, 3)
    assert got == [datetime(2026, 1, 10, 12, m, 30, tzinfo=UTC) for m in (0, 10, 20)]
    every_15s = fires({"schedule_type": "cron", "cron_expression": "*/15 * * * * *"}, 4)
    assert [t.second for t in every_15s] == [15, 30, 45, 0]
    assert "30 seconds" in describe(spec, "UTC")


def test_five_field_cron_fires_on_whole_minutes() -> None:
    got = fires({"schedule_type": "cron", "cron_expression": "15 14 * * *"}, 2)
    assert got == [datetime(2026, 1, 10, 14, 15, tzinfo=UTC), datetime(2026, 1, 11, 14, 15, tzinfo=UTC)]


def test_cron_runs_in_the_job_zone() -> None:
    got = fires({"schedule_type": "cron", "cron_expression": "0 9 * * *", "timezone": "Europe/Paris"}, 2)
    assert all(t.astimezone(PARIS).hour == 9 for t in got)
    assert got[0].astimezone(UTC).hour == 8


@pytest.mark.parametrize(
    ("dow", "weekdays"),  # python weekday(): Monday 0 ... Sunday 6
    [
        ("0", {6}),
        ("7", {6}),
        ("1-5", {0, 1, 2, 3, 4}),
        ("1", {0}),
        ("6", {5}),
        ("5-7", {4, 5, 6}),
        ("0,6", {5, 6}),
        ("*/2", {6, 1, 3, 5}),  # crontab: Sunday, Tuesday, Thursday, Saturday
        ("1-5/2", {0, 2, 4}),
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("SUN", {6}),
        ("*", {0, 1, 2, 3, 4, 5, 6}),
    ],
)
def test_crontab_weekday_numbers(dow: str, weekdays: set[int]) -> None:
    got = fires({"schedule_type": "cron", "cron_expression": f"0 9 * * {dow}"}, 14)
    assert {t.weekday() for t in got} == weekdays
    assert all((t.hour, t.minute) == (9, 0) for t in got)


def test_cron_trigger_directly_accepts_question_mark_day() -> None:
    trigger = cron_trigger("0 12 ? * 1", UTC)
    assert next_fire_times(trigger, 1, NOW)[0] == datetime(2026, 1, 12, 12, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- refusals
def assert_refused(spec: dict, field: str, now: datetime = NOW) -> str:
    with pytest.raises(InvalidScheduleError) as info:
        build_trigger(spec, "UTC", now=now)
    message = str(info.value)
    assert message.startswith(f"{field}:"), message
    assert len(message) > len(field) + 10
    assert info.value.status_code == 400
    return message


@pytest.mark.parametrize(
    "expression",
    [
        "61 * * * *",
        "* 25 * * *",
        "* * 32 * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "0 9 * * 7-1",
        "*/0 * * * *",
        "a b c d e",
        "* * * * 1-",
        "x * * * * *",
        "",
        "   ",
        None,
        42,
    ],
)
def test_bad_cron_fields_are_refused(expression) -> None:
    assert_refused({"schedule_type": "cron", "cron_expression": expression}, "cron_expression")


@pytest.mark.parametrize("expression", ["*", "* *", "* * *", "* * * *", "1 2 3 4 5 6 7"])
def test_wrong_number_of_cron_fields_is_refused(expression: str) -> None:
    message = assert_refused({"schedule_type": "cron", "cron_expression": expression}, "cron_expression")
    assert f"has {len(expression.split())} fields" in message


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6 *"])
def test_cron_that_never_fires_is_refused(expression: str) -> None:
    assert "never fires" in assert_refused(
        {"schedule_type": "cron", "cron_expression": expression}, "cron_expression"
    )


def test_leap_day_cron_is_accepted() -> None:
    got = fires({"schedule_type": "cron", "cron_expression": "0 0 29 2 *"}, 2)
    assert [t.year for t in got] == [2028, 2032]


def test_overlong_cron_is_refused() -> None:
    assert_refused({"schedule_type": "cron", "cron_expression": "1," * 150 + "2 * * * *"}, "cron_expression")


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe/Pariss", "../../etc/passwd", "x" * 100, 5])
def test_unknown_time_zones_are_refused(name) -> None:
    for spec in (
        {"schedule_type": "interval", "interval_seconds": 60, "timezone": name},
        {"schedule_type": "cron", "cron_expression": "0 9 * * *", "timezone": name},
        {"schedule_type": "date", "date_type": "daily", "run_date": "2026-01-15T07:30:00Z", "timezone": name},
    ):
        assert_refused(spec, "timezone")
    with pytest.raises(InvalidScheduleError, match="^timezone:"):
        zone(name)


def test_unknown_default_zone_is_refused() -> None:
    with pytest.raises(InvalidScheduleError, match="^timezone:"):
        build_trigger({"schedule_type": "interval", "interval_seconds": 5}, "Nowhere/City", now=NOW)


@pytest.mark.parametrize("date_type", ["once", "daily", "weekly", "monthly"])
@pytest.mark.parametrize(
    "run_date",
    ["tomorrow", "2030-13-01T00:00:00Z", "2030-01-32T00:00:00Z", "15/01/2030 08:30", "", None, 12345],
)
def test_unparseable_run_date_is_refused(date_type: str, run_date) -> None:
    assert_refused({"schedule_type": "date", "date_type": date_type, "run_date": run_date}, "run_date")


def test_unparseable_every_x_days_start_is_refused() -> None:
    spec = {"schedule_type": "date", "date_type": "every_x_days", "interval_days": 2, "run_date": "soon"}
    assert_refused(spec, "run_date")


def test_once_in_the_past_is_refused() -> None:
    spec = {"schedule_type": "date", "date_type": "once", "run_date": "2026-01-10T11:59:00Z"}
    message = assert_refused(spec, "run_date")
    assert "past" in message
    # A job that is only being re-read (not rescheduled) may keep a past date.
    trigger = build_trigger(spec, "UTC", now=NOW, require_future=False)
    assert isinstance(trigger, DateTrigger)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"schedule_type": "weekly"}, "schedule_type"),
        ({}, "schedule_type"),
        ({"schedule_type": "date", "date_type": "yearly", "run_date": "2030-01-01T00:00:00Z"}, "date_type"),
        ({"schedule_type": "interval"}, "interval_seconds"),
        ({"schedule_type": "interval", "interval_seconds": 0}, "interval_seconds"),
        ({"schedule_type": "interval", "interval_seconds": -5}, "interval_seconds"),
        ({"schedule_type": "interval", "interval_seconds": 1.5}, "interval_seconds"),
        ({"schedule_type": "interval", "interval_seconds": "60"}, "interval_seconds"),
        ({"schedule_type": "date", "date_type": "every_x_days"}, "interval_days"),
        ({"schedule_type": "date", "date_type": "every_x_days", "interval_days": 0}, "interval_days"),
        ({"schedule_type": "cron"}, "cron_expression"),
    ],
)
def test_missing_or_wrong_schedule_fields_are_refused(spec: dict, field: str) -> None:
    assert_refused(spec, field)


def test_describe_never_raises_on_broken_specs() -> None:
    assert describe({"schedule_type": "interval"}, "UTC") == "Unknown schedule"
    assert (
        describe({"schedule_type": "date", "date_type": "daily", "run_date": "x"}, "UTC")
        == "Unknown schedule"
    )
    assert (
        describe({"schedule_type": "cron", "cron_expression": "0 9 * * 1-5"}, "Bad/Zone")
        == "Unknown schedule"
    )
