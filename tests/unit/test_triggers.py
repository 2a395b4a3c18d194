"""triggers.py and the Schedule of schedules.py: hand-derived fire-time tables.

Every expected instant below was worked out by hand from the zones' 2027 rules (written
in UTC, with the wall time beside it); none is computed by the code under test. The
bugs of the issue each have a table: doubled and skipped runs around DST, DOM/DOW OR,
steps on named ranges, every_x_days drift, preview duplicates, year 9999. Where cronsim
is wrong (Lord Howe's 30-minute shift) or where we deliberately differ from it (6-field
lines at a fixed time) the tables here are the reference.
"""

from __future__ import annotations

import itertools
import pickle
import time as clock
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_scheduler.errors import InvalidScheduleError
from pipeline_scheduler.schedules import (
    WallClockTrigger,
    build_trigger,
    describe,
    next_fire_times,
    parse_schedule,
)
from pipeline_scheduler.triggers import CrontabTrigger, EveryNDaysTrigger, parse_cron

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")


def Z(month: int, day: int, hour: int, minute: int = 0, second: int = 0, year: int = 2027) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def cron(expression: str, zone: str, start: datetime, until: datetime) -> list[datetime]:
    """Fire times of a cron job in [start, until), as UTC instants."""
    spec = {"schedule_type": "cron", "cron_expression": expression, "timezone": zone}
    return between(spec, start, until)


def between(spec: dict, start: datetime, until: datetime) -> list[datetime]:
    trigger = parse_schedule(spec, "UTC", now=start).trigger
    assert trigger is not None
    times: list[datetime] = []
    current = trigger.get_next_fire_time(None, start)
    while current is not None and current < until:
        times.append(current.astimezone(UTC))
        current = trigger.get_next_fire_time(current, current)
    assert all(t.tzinfo is not None for t in times)
    assert all(b > a for a, b in itertools.pairwise(times)), "not strictly increasing"
    return times


# --------------------------------------------------------------------------- the bugs
def test_fixed_time_in_the_repeated_hour_runs_once_when_clocks_go_back() -> None:
    # New York, 7 Nov 2027: 01:00-02:00 happens twice (EDT, then EST).
    got = cron("30 1 * * *", "America/New_York", Z(11, 6, 0), Z(11, 9, 0))
    assert got == [Z(11, 6, 5, 30), Z(11, 7, 5, 30), Z(11, 8, 6, 30)]  # 01:30 EDT, EDT (first), EST


def test_monthly_cron_after_spring_forward_skips_no_month() -> None:
    # Paris changes on 28 March 2027; 1 April is not a change day but was skipped.
    got = cron("0 0 1 * *", "Europe/Paris", Z(2, 15, 0), Z(6, 15, 0))
    assert got == [Z(2, 28, 23), Z(3, 31, 22), Z(4, 30, 22), Z(5, 31, 22)]


def test_day_range_across_spring_forward_misses_no_day() -> None:
    # New York changes on 14 March 2027 at 02:00; midnight of the 15th was skipped.
    got = cron("0 0 12-16 3 *", "America/New_York", Z(3, 1, 0), Z(4, 1, 0))
    assert got == [Z(3, 12, 5), Z(3, 13, 5), Z(3, 14, 5), Z(3, 15, 4), Z(3, 16, 4)]


def test_day_of_month_and_day_of_week_are_ored_when_both_are_restricted() -> None:
    got = cron("0 0 13 * 5", "UTC", Z(1, 1, 0, 0, 7), Z(2, 1, 0))
    # Fridays of January 2027 (1, 8, 15, 22, 29) and Wednesday the 13th.
    assert [t.day for t in got] == [8, 13, 15, 22, 29]
    assert "or on Friday" in describe({"schedule_type": "cron", "cron_expression": "0 0 13 * 5"}, "UTC")


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("0 0 * * 5", [1, 8, 15, 22, 29]),  # '*' day of month: only the weekday applies
        ("0 0 13 * *", [13]),  # '*' day of week: only the day of month applies
        ("0 0 13 * ?", [13]),  # '?' is '*'
        ("0 0 */10 * 5", [1]),  # Vixie: a field starting with '*' ANDs (days 1, 11, 21, 31 that are Fridays)
        ("0 0 1-31 * 5", list(range(1, 32))),  # both restricted: OR, so every day
    ],
)
def test_day_fields_follow_vixie_cron(expression: str, days: list[int]) -> None:
    got = cron(expression, "UTC", Z(1, 1, 0, 0, 0) - timedelta(seconds=1), Z(2, 1, 0))
    assert [t.day for t in got] == days


def test_steps_on_named_ranges_are_kept() -> None:
    weekdays = cron("0 9 * * MON-FRI/2", "UTC", Z(1, 3, 0), Z(1, 17, 0))  # from Sunday 3 Jan
    assert [t.strftime("%a %d") for t in weekdays] == [
        "Mon 04",
        "Wed 06",
        "Fri 08",
        "Mon 11",
        "Wed 13",
        "Fri 15",
    ]
    quarterly = cron("0 0 1 JAN-DEC/3 *", "UTC", Z(1, 1, 0) - timedelta(seconds=1), Z(12, 31, 0))
    assert [t.month for t in quarterly] == [1, 4, 7, 10]
    assert [t.month for t in cron("0 0 1 jan-dec/3 *", "UTC", Z(1, 2, 0), Z(12, 31, 0))] == [4, 7, 10]


def test_every_x_days_keeps_its_wall_time_across_both_changes() -> None:
    spec = {
        "schedule_type": "date",
        "date_type": "every_x_days",
        "interval_days": 2,
        "run_date": "2027-03-25T07:30:00Z",  # 08:30 in Paris (winter)
        "timezone": "Europe/Paris",
    }
    spring = between(spec, Z(3, 20, 0), Z(4, 3, 0))
    assert spring == [Z(3, 25, 7, 30), Z(3, 27, 7, 30), Z(3, 29, 6, 30), Z(3, 31, 6, 30), Z(4, 2, 6, 30)]
    autumn = between(spec, Z(10, 26, 0), Z(11, 3, 0))
    # Day 0 is 25 March; 216 days later is 27 October, an even step.
    assert autumn == [Z(10, 27, 6, 30), Z(10, 29, 6, 30), Z(10, 31, 7, 30), Z(11, 2, 7, 30)]
    assert all(t.astimezone(PARIS).strftime("%H:%M") == "08:30" for t in spring + autumn)
    assert describe(spec, "UTC") == "Every 2 days at 08:30 from 2027-03-25 (Europe/Paris)"


def test_preview_on_a_spring_forward_night_has_no_duplicates_and_true_wall_times() -> None:
    spec = {"schedule_type": "cron", "cron_expression": "0,30 2,3 * * *", "timezone": "Europe/Paris"}
    now = Z(3, 27, 12)
    got = next_fire_times(build_trigger(spec, "UTC", now=now), 4, now)
    shown = [t.astimezone(PARIS).isoformat() for t in got]
    # 02:00 and 02:30 do not exist on 28 March: both fire once at the jump (03:00), with
    # 03:00 itself; then 03:30. The next night is normal again.
    assert shown == [
        "2027-03-28T03:00:00+02:00",
        "2027-03-28T03:30:00+02:00",
        "2027-03-29T02:00:00+02:00",
        "2027-03-29T02:30:00+02:00",
    ]


@pytest.mark.parametrize("date_type", ["once", "daily", "weekly", "monthly", "every_x_days"])
@pytest.mark.parametrize(
    "run_date",
    [
        "9999-12-31T23:00:00-05:00",
        "9999-12-31T23:59:59.999999",
        "9999-06-01T00:00:00Z",
        "0001-01-01T00:00:00+05:00",
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_refused_by_field(date_type: str, run_date: str) -> None:
    spec = {
        "schedule_type": "date",
        "date_type": date_type,
        "run_date": run_date,
        "interval_days": 1,
        "timezone": "America/New_York",
    }
    with pytest.raises(InvalidScheduleError, match=r"^run_date: .*between the years 1900 and 9998"):
        build_trigger(spec, "UTC", now=Z(1, 1, 0), require_future=False)
    assert describe(spec, "UTC") == "Unknown schedule"


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"])
@pytest.mark.parametrize(
    "spec",
    [
        {"schedule_type": "cron", "cron_expression": "0 0 * * *"},
        {"schedule_type": "cron", "cron_expression": "*/10 * * * * *"},
        {"schedule_type": "cron", "cron_expression": "*/15 * * * *"},
        {"schedule_type": "date", "date_type": "daily", "run_date": "2027-01-01T23:59:00"},
        {
            "schedule_type": "date",
            "date_type": "every_x_days",
            "interval_days": 1,
            "run_date": "9998-12-31T12:00",
        },
        {"schedule_type": "date", "date_type": "every_x_days", "interval_days": 3000},
        {"schedule_type": "interval", "interval_seconds": 86400},
    ],
)
def test_fire_times_near_the_end_of_the_calendar_just_end(spec: dict, zone: str) -> None:
    now = datetime(9999, 12, 31, 6, 0, tzinfo=UTC)
    spec = {**spec, "timezone": zone}
    try:
        schedule = parse_schedule(spec, "UTC", now=now)
    except InvalidScheduleError as err:  # e.g. the first of 'every 3000 days' is after 9999
        assert str(err).startswith(("interval_days:", "interval_seconds:"))
        return
    got = schedule.next_fire_times(500_000, now)
    assert len(got) < 200_000  # it ended rather than looping
    assert all(b > a for a, b in itertools.pairwise(got))
    assert schedule.next_fire_times(3, datetime.max.replace(tzinfo=UTC)) == []


# --------------------------------------------------------------------------- cron(8) DST rules
@pytest.mark.parametrize(
    ("expression", "zone", "start", "expected"),
    [
        # Wall-time rules: a skipped time fires at the jump, once.
        ("30 2 * * *", "Europe/Paris", Z(3, 27, 12), [Z(3, 28, 1), Z(3, 29, 0, 30)]),
        ("0 2 * * *", "America/New_York", Z(3, 13, 12), [Z(3, 14, 7), Z(3, 15, 6)]),
        ("15 2 * * *", "Australia/Lord_Howe", Z(10, 2, 0), [Z(10, 2, 15, 30), Z(10, 3, 15, 15)]),
        ("15,45 2 * * *", "Europe/Paris", Z(3, 27, 12), [Z(3, 28, 1), Z(3, 29, 0, 15)]),
        # ... a repeated time fires once, at its first occurrence.
        ("30 2 * * *", "Europe/Paris", Z(10, 30, 12), [Z(10, 31, 0, 30), Z(11, 1, 1, 30)]),
        ("45 1 * * *", "Australia/Lord_Howe", Z(4, 3, 0), [Z(4, 3, 14, 45), Z(4, 4, 15, 15)]),
        ("0 1-3 * * *", "America/New_York", Z(11, 7, 0), [Z(11, 7, 5), Z(11, 7, 7), Z(11, 7, 8)]),
        # 6 fields at a fixed time: the same rules (cronsim would skip / double these).
        ("0 30 2 * * *", "Europe/Paris", Z(3, 27, 12), [Z(3, 28, 1), Z(3, 29, 0, 30)]),
        ("0 30 2 * * *", "Europe/Paris", Z(10, 30, 12), [Z(10, 31, 0, 30), Z(11, 1, 1, 30)]),
        ("15 30 1 * * *", "America/New_York", Z(11, 6, 12), [Z(11, 7, 5, 30, 15), Z(11, 8, 6, 30, 15)]),
        # Instant rules: every real instant whose wall time matches.
        (
            "*/30 * * * *",
            "America/New_York",
            Z(11, 7, 4, 50),
            [Z(11, 7, 5), Z(11, 7, 5, 30), Z(11, 7, 6), Z(11, 7, 6, 30), Z(11, 7, 7)],
        ),
        ("*/30 2 * * *", "Europe/Paris", Z(3, 27, 12), [Z(3, 29, 0), Z(3, 29, 0, 30)]),  # 28th: no 02:xx
        # Lord Howe, 4 April: 02:00 +11 becomes 01:30 +10:30 at 15:00Z (cronsim misses 15:00Z).
        (
            "30 * * * *",
            "Australia/Lord_Howe",
            Z(4, 3, 13),
            [Z(4, 3, 13, 30), Z(4, 3, 14, 30), Z(4, 3, 15), Z(4, 3, 16)],
        ),
        ("0 */2 * * *", "Australia/Lord_Howe", Z(4, 3, 12), [Z(4, 3, 13), Z(4, 3, 15, 30), Z(4, 3, 17, 30)]),
        # Lord Howe, 3 October: 02:00 +10:30 becomes 02:30 +11 at 15:30Z.
        (
            "30 * * * *",
            "Australia/Lord_Howe",
            Z(10, 2, 13, 45),
            [Z(10, 2, 14), Z(10, 2, 15), Z(10, 2, 15, 30), Z(10, 2, 16, 30)],
        ),
        # Kolkata: +05:30, no DST.
        ("0 0 * * *", "Asia/Kolkata", Z(3, 13, 0), [Z(3, 13, 18, 30), Z(3, 14, 18, 30), Z(3, 15, 18, 30)]),
    ],
)
def test_dst_table(expression: str, zone: str, start: datetime, expected: list[datetime]) -> None:
    spec = {"schedule_type": "cron", "cron_expression": expression, "timezone": zone}
    trigger = build_trigger(spec, "UTC", now=start)
    assert next_fire_times(trigger, len(expected), start) == expected


def test_instant_rule_fills_lord_howes_half_hour_after_the_fall_back() -> None:
    got = cron("* 2 * * *", "Australia/Lord_Howe", Z(4, 3, 14), Z(4, 3, 17))
    # 02:00-02:59 +10:30 are 15:30Z-16:29Z; 02:00 +11 never shows on the clock.
    assert got == [Z(4, 3, 15, 30) + timedelta(minutes=m) for m in range(60)]


# --------------------------------------------------------------------------- wall-clock schedules
def date_spec(date_type: str, run_date: str, zone: str, **extra: object) -> dict:
    return {"schedule_type": "date", "date_type": date_type, "run_date": run_date, "timezone": zone, **extra}


@pytest.mark.parametrize(
    ("spec", "start", "until", "expected"),
    [
        (  # daily 02:30 Paris: the jump on 28 March, the first 02:30 on 31 October
            date_spec("daily", "2027-01-10T02:30:00", "Europe/Paris"),
            Z(3, 27, 0),
            Z(3, 30, 0),
            [Z(3, 27, 1, 30), Z(3, 28, 1), Z(3, 29, 0, 30)],
        ),
        (
            date_spec("daily", "2027-01-10T02:30:00", "Europe/Paris"),
            Z(10, 30, 0),
            Z(11, 2, 0),
            [Z(10, 30, 0, 30), Z(10, 31, 0, 30), Z(11, 1, 1, 30)],
        ),
        (  # daily 01:30 New York: once on 7 November
            date_spec("daily", "2027-01-10T06:30:00Z", "America/New_York"),
            Z(11, 6, 0),
            Z(11, 9, 0),
            [Z(11, 6, 5, 30), Z(11, 7, 5, 30), Z(11, 8, 6, 30)],
        ),
        (  # daily 02:30 New York: 14 March at the jump (03:00 EDT)
            date_spec("daily", "2027-01-10T02:30:00", "America/New_York"),
            Z(3, 13, 0),
            Z(3, 16, 0),
            [Z(3, 13, 7, 30), Z(3, 14, 7), Z(3, 15, 6, 30)],
        ),
        (  # weekly, Sundays 02:15 Lord Howe: 3 October's 02:15 is skipped -> 02:30 +11
            date_spec("weekly", "2027-09-26T02:15:00", "Australia/Lord_Howe"),
            Z(9, 25, 0),
            Z(10, 10, 0),
            [Z(9, 25, 15, 45), Z(10, 2, 15, 30), Z(10, 9, 15, 15)],
        ),
        (  # weekly, Sundays 01:45 Lord Howe: 4 April's repeated 01:45 fires once (+11)
            date_spec("weekly", "2027-03-28T01:45:00", "Australia/Lord_Howe"),
            Z(3, 27, 0),
            Z(4, 11, 0),
            [Z(3, 27, 14, 45), Z(4, 3, 14, 45), Z(4, 10, 15, 15)],
        ),
        (  # monthly on the 28th at 02:30 Paris: 28 March at the jump
            date_spec("monthly", "2027-01-28T02:30:00", "Europe/Paris"),
            Z(2, 1, 0),
            Z(5, 1, 0),
            [Z(2, 28, 1, 30), Z(3, 28, 1), Z(4, 28, 0, 30)],
        ),
        (  # every 3 days from 11 March 02:30 New York: 14 March at the jump
            date_spec("every_x_days", "2027-03-11T02:30:00", "America/New_York", interval_days=3),
            Z(3, 1, 0),
            Z(3, 21, 0),
            [Z(3, 11, 7, 30), Z(3, 14, 7), Z(3, 17, 6, 30), Z(3, 20, 6, 30)],
        ),
        (  # every 7 days from 31 Oct 2027 01:30 New York, a Sunday: 7 November once (EDT)
            date_spec("every_x_days", "2027-10-31T01:30:00", "America/New_York", interval_days=7),
            Z(10, 1, 0),
            Z(11, 15, 0),
            [Z(10, 31, 5, 30), Z(11, 7, 5, 30), Z(11, 14, 6, 30)],
        ),
        (  # every 2 days in Kolkata at local midnight
            date_spec("every_x_days", "2027-01-01T00:00:00+05:30", "Asia/Kolkata", interval_days=2),
            Z(1, 1, 0),
            Z(1, 6, 0),
            [Z(1, 2, 18, 30), Z(1, 4, 18, 30)],
        ),
    ],
)
def test_wall_clock_schedule_table(spec: dict, start: datetime, until: datetime, expected: list) -> None:
    assert between(spec, start, until) == expected


def test_every_x_days_without_start_counts_calendar_days_from_now() -> None:
    spec = {
        "schedule_type": "date",
        "date_type": "every_x_days",
        "interval_days": 1,
        "timezone": "Europe/Paris",
    }
    now = Z(3, 26, 12, 0, 7)  # 13:00:07 in Paris, two days before the change
    got = next_fire_times(build_trigger(spec, "UTC", now=now), 3, now)
    assert got == [Z(3, 27, 12, 0, 7), Z(3, 28, 11, 0, 7), Z(3, 29, 11, 0, 7)]  # 13:00:07 every day


def test_interval_counts_elapsed_time_across_dst() -> None:
    spec = {"schedule_type": "interval", "interval_seconds": 3600, "timezone": "America/New_York"}
    now = Z(3, 14, 5, 30)
    got = next_fire_times(build_trigger(spec, "UTC", now=now), 4, now)
    assert [t.astimezone(UTC) for t in got] == [
        Z(3, 14, 6, 30),
        Z(3, 14, 7, 30),
        Z(3, 14, 8, 30),
        Z(3, 14, 9, 30),
    ]


# --------------------------------------------------------------------------- crontab syntax
@pytest.mark.parametrize(
    ("expression", "same_as"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * SUN", "0 0 * * 0"),
        ("0 0 * * Mon,wed", "0 0 * * 1,3"),
        ("0 0 1 jan,JUL *", "0 0 1 1,7 *"),
        ("0 0 * * 5-7", "0 0 * * 0,5,6"),
        ("0 0 * * 0-7/2", "0 0 * * 0,2,4,6"),
        ("5/20 * * * *", "5,25,45 * * * *"),
        ("0 */7 * * *", "0 0,7,14,21 * * *"),
        ("*/90 * * * *", "0 * * * *"),
        ("0 0 ? * 1", "0 0 * * 1"),
        ("0 0 0 * * *", "0 0 * * *"),
    ],
)
def test_equivalent_spellings_fire_alike(expression: str, same_as: str) -> None:
    a, b = parse_cron(expression), parse_cron(same_as)
    assert (a.seconds, a.minutes, a.hours, a.days, a.months, a.weekdays) == (
        b.seconds,
        b.minutes,
        b.hours,
        b.days,
        b.months,
        b.weekdays,
    )
    got = cron(expression, "Europe/Paris", Z(3, 1, 0, 0, 7), Z(4, 1, 0))  # across a DST change
    assert got == cron(same_as, "Europe/Paris", Z(3, 1, 0, 0, 7), Z(4, 1, 0))


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("60 * * * *", "minute 60 is out of range"),
        ("* 24 * * *", "hour 24 is out of range"),
        ("* * 0 * *", "day-of-month 0 is out of range"),
        ("* * 32 * *", "day-of-month 32 is out of range"),
        ("* * * 13 *", "month 13 is out of range"),
        ("* * * * 8", "day-of-week 8 is out of range"),
        ("60 * * * * *", "second 60 is out of range"),
        ("*/0 * * * *", "step in '*/0' is 0"),
        ("1-5/0 * * * *", "step in '1-5/0' is 0"),
        ("30-10 * * * *", "goes backwards"),
        ("0 0 * * FRI-MON", "goes backwards"),
        ("0 0 * DEC-JAN *", "goes backwards"),
        ("0 0 30 2 *", "never fires: February has no day 30"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("@reboot", "'@reboot' runs when a machine starts"),
        ("@every 5m", "unknown macro"),
        ("@daily 5", "unknown macro"),
        ("* * * * monday", "3 letters"),
        ("* * * * * * *", "has 7 fields"),
        ("* * * *", "has 4 fields"),
        ("1,,2 * * * *", "empty item"),
        ("*/x * * * *", "whole number"),
        ("? * * * *", "not a valid minute"),
        ("L * * * *", "not a valid minute"),
        ("0 0 L * *", "not a valid day-of-month"),
        ("0 0 * * 5#2", "not a valid day-of-week"),
        ("* * * * *\x00", "use only"),
        ("1," * 150 + "2 * * * *", "too long"),
        ("", "required"),
    ],
)
def test_bad_crontab_lines_are_refused_with_a_reason(expression: str, fragment: str) -> None:
    with pytest.raises(InvalidScheduleError) as info:
        build_trigger({"schedule_type": "cron", "cron_expression": expression}, "UTC", now=Z(1, 1, 0))
    message = str(info.value)
    assert message.startswith("cron_expression: "), message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("expression", "sentence"),
    [
        ("@daily", "At 00:00 (UTC)"),
        ("@midnight", "At 00:00 (UTC)"),
        ("@hourly", "Every hour (UTC)"),
        ("@weekly", "At 00:00, on Sunday (UTC)"),
        ("@monthly", "At 00:00, on day 1 of the month (UTC)"),
        ("@yearly", "At 00:00, on day 1 of the month, in January (UTC)"),
        ("0 0 13 * 5", "At 00:00, on day 13 of the month or on Friday (UTC)"),
        ("0 0 */2 * 1", "At 00:00, on days 1, 3, 5, ..., 31 of the month, if it is a Monday (UTC)"),
        ("0 9 * * MON-FRI/2", "At 09:00, on Monday, Wednesday and Friday (UTC)"),
        ("30 8 * * 1-5", "At 08:30, on Monday to Friday (UTC)"),
        ("0 0 1 JAN-DEC/3 *", "At 00:00, on day 1 of the month, in January, April, July and October (UTC)"),
        ("0 0 * * 0,7", "At 00:00, on Sunday (UTC)"),
        ("*/5 * * * *", "Every 5 minutes (UTC)"),
        ("0 0 1-31 * 5", "At 00:00 (UTC)"),  # ORed with every day: every day
    ],
)
def test_cron_words_agree_with_the_rule(expression: str, sentence: str) -> None:
    assert describe({"schedule_type": "cron", "cron_expression": expression}, "UTC") == sentence


# --------------------------------------------------------------------------- storage
def test_triggers_pickle_and_keep_their_fire_times() -> None:
    now = Z(11, 6, 0)
    triggers = [
        CrontabTrigger("30 1 * * *", NEW_YORK),
        CrontabTrigger("*/15 * * * *", LORD_HOWE),
        EveryNDaysTrigger(datetime(2027, 3, 11).date(), 3, datetime(2027, 1, 1, 2, 30).time(), NEW_YORK),
    ]
    for trigger in triggers:
        copy = pickle.loads(pickle.dumps(trigger))
        assert type(copy) is type(trigger) and str(copy) == str(trigger) and repr(copy) == repr(trigger)
        assert next_fire_times(copy, 20, now) == next_fire_times(trigger, 20, now)
    assert str(triggers[0]) == "cron['30 1 * * *', America/New_York]"
    assert str(triggers[2]) == "every_x_days[3 from 2027-03-11 at 02:30:00, America/New_York]"


def test_an_old_wall_clock_trigger_still_unpickles_and_now_fires_right() -> None:
    # What older versions stored for a daily 01:30 job in New York.
    old = WallClockTrigger(hour=1, minute=30, second=0, timezone=NEW_YORK)
    copy = pickle.loads(pickle.dumps(old))
    assert isinstance(copy, WallClockTrigger)
    assert next_fire_times(copy, 3, Z(11, 6, 0)) == [Z(11, 6, 5, 30), Z(11, 7, 5, 30), Z(11, 8, 6, 30)]
    weekly = pickle.loads(
        pickle.dumps(WallClockTrigger(day_of_week="sun", hour=2, minute=30, timezone=PARIS))
    )
    assert next_fire_times(weekly, 2, Z(3, 27, 0)) == [Z(3, 28, 1), Z(4, 4, 0, 30)]


# --------------------------------------------------------------------------- no unexpected error
FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(
        ["2027-03-28T02:30:00", "9999-12-31T23:59:59", "0001-01-01", "2027-13-01", "2030-01-15T08:30Z"]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
CRON_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(
        st.sampled_from(
            [
                "*",
                "?",
                "0",
                "7",
                "59",
                "60",
                "1-5",
                "5-1",
                "*/0",
                "*/7",
                "MON-FRI/2",
                "jan",
                "L",
                ",",
                "/",
                "-",
            ]
        ),
        min_size=1,
        max_size=7,
    ).map(" ".join),
)
ZONE_NAMES = st.sampled_from(
    [
        "UTC",
        "Europe/Paris",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Nowhere",
        "",
        "../etc",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["date", "interval", "cron", "trigger", "weekly", None]),
    date_type=st.one_of(
        st.sampled_from(["once", "daily", "weekly", "monthly", "every_x_days"]), FIELD_VALUES
    ),
    run_date=FIELD_VALUES,
    interval_days=FIELD_VALUES,
    interval_seconds=FIELD_VALUES,
    cron_expression=CRON_TEXT,
    zone_name=ZONE_NAMES,
    conditions=FIELD_VALUES,
    now=st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
)
def test_only_invalid_schedule_error_escapes(
    kind, date_type, run_date, interval_days, interval_seconds, cron_expression, zone_name, conditions, now
) -> None:
    spec = {
        "schedule_type": kind,
        "date_type": date_type,
        "run_date": run_date,
        "interval_days": interval_days,
        "interval_seconds": interval_seconds,
        "cron_expression": cron_expression,
        "timezone": zone_name,
        "trigger_conditions": conditions,
        "logical_operator": "AND",
    }
    assert isinstance(describe(spec, "UTC"), str)
    try:
        trigger = build_trigger(spec, "UTC", now=now, require_future=False)
    except InvalidScheduleError as err:
        field = str(err).split(":", 1)[0]
        assert field in spec, str(err)
        return
    times = next_fire_times(trigger, 5, now)
    assert all(t.tzinfo is not None for t in times)
    assert all(b > a for a, b in itertools.pairwise(times))


@settings(max_examples=300, deadline=None)
@given(
    fields=st.tuples(
        st.sampled_from(["0", "30", "*/15", "15,45", "*", "0-10/5"]),
        st.sampled_from(["*", "2", "1-3", "*/4", "0,12", "1,2"]),
        st.sampled_from(["*", "13", "1-7", "*/10", "29", "31"]),
        st.sampled_from(["*", "3", "MAR-NOV/2", "10,11", "feb"]),
        st.sampled_from(["*", "5", "MON-FRI", "0,6", "sun", "*/3"]),
    ),
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]),
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
)
def test_random_crontab_lines_agree_with_cronsim(fields: tuple[str, ...], zone: str, start: datetime) -> None:
    from cronsim import CronSim, CronSimError

    expression = " ".join(fields)
    tz = ZoneInfo(zone)
    try:
        CronSim(expression, start)
    except CronSimError:  # e.g. '0 * 31 feb *', which never fires
        with pytest.raises(InvalidScheduleError, match="^cron_expression: .* never fires"):
            CrontabTrigger(expression, tz)
        return
    start = start.replace(microsecond=0)
    local = start.astimezone(tz)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return  # cronsim cannot start from inside a repeated hour (a naive time has no fold)
    expected = [t.astimezone(UTC) for t in itertools.islice(CronSim(expression, start.astimezone(tz)), 8)]
    trigger = CrontabTrigger(expression, tz)
    got, current = [], start
    for _ in range(8):
        current = trigger.fire_after(current)
        assert current is not None
        got.append(current)
    assert got == expected


# --------------------------------------------------------------------------- cost
@pytest.mark.parametrize(
    "expression", ["0 0 29 2 1", "0 0 31 * *", "0 0 29 2 *", "* * 29 2 *", "59 23 31 12 *", "*/5 * * * *"]
)
def test_fire_times_are_found_without_scanning_minutes(expression: str) -> None:
    trigger = CrontabTrigger(expression, NEW_YORK)
    trigger.fire_after(Z(1, 1, 0))  # warm the per-year DST table
    began = clock.perf_counter()
    times = next_fire_times(trigger, 5, Z(3, 1, 0, year=2029))
    elapsed = clock.perf_counter() - began
    assert len(times) == 5
    assert elapsed < 0.05, f"{elapsed * 1000:.1f} ms"  # a minute-by-minute scan takes seconds


def test_creating_a_job_parses_and_describes_fast() -> None:
    spec = {"schedule_type": "cron", "cron_expression": "0 */2 1-7 * MON", "timezone": "Europe/Paris"}
    build_trigger(spec, "UTC")
    describe(spec, "UTC")
    began = clock.perf_counter()
    for _ in range(100):
        build_trigger(spec, "UTC")
        describe(spec, "UTC")
    assert (clock.perf_counter() - began) / 100 < 0.002
