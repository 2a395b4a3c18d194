"""Crontab fire times checked against an oracle that is not our code: cronsim.

cronsim (a test-only dependency) evaluates crontab lines as Debian cron does, DST
included: for 5-field lines whose hour and minute fields do not start with '*' it walks
wall-clock time (a skipped time fires at the jump, a repeated one once), otherwise it
walks real instants. That is the rule ``triggers.py`` implements, so for 5-field lines the
two must agree everywhere. cronsim does no DST handling for 6-field lines; we only give it
6-field lines with '*' in the hour or minute field here (where no such handling applies),
and check fixed-time 6-field lines against hand tables in test_triggers.py.

Start instants sit around the 2027 DST changes of Europe/Paris, America/New_York and
Australia/Lord_Howe (a 30-minute shift); UTC and Asia/Kolkata (+05:30, no DST) get the
same starts. Every start has 7 seconds past the minute, so "first fire after the start"
and "first fire at or after it" coincide for both implementations.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import islice, takewhile
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim

from pipeline_scheduler.triggers import CrontabTrigger

UTC = timezone.utc
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]

# The 2027 changes, in UTC, written out from the zones' rules (not computed by our code):
TRANSITIONS = [
    datetime(2027, 3, 14, 7, 0, tzinfo=UTC),  # New York 02:00 EST -> 03:00 EDT
    datetime(2027, 3, 28, 1, 0, tzinfo=UTC),  # Paris 02:00 CET -> 03:00 CEST
    datetime(2027, 4, 3, 15, 0, tzinfo=UTC),  # Lord Howe 02:00 +11 -> 01:30 +10:30
    datetime(2027, 10, 2, 15, 30, tzinfo=UTC),  # Lord Howe 02:00 +10:30 -> 02:30 +11
    datetime(2027, 10, 31, 1, 0, tzinfo=UTC),  # Paris 03:00 CEST -> 02:00 CET
    datetime(2027, 11, 7, 6, 0, tzinfo=UTC),  # New York 02:00 EDT -> 01:00 EST
]
# Before the change by a day, by 3 hours and by 30 minutes: never inside a repeated hour's
# second pass, which cronsim's wall-clock walk cannot start from (a naive time has no fold).
STARTS = [
    t - delta + timedelta(seconds=7)
    for t in TRANSITIONS
    for delta in (timedelta(days=1), timedelta(hours=3), timedelta(minutes=30))
] + [datetime(2027, 1, 1, 0, 0, 7, tzinfo=UTC), datetime(2027, 6, 15, 12, 0, 7, tzinfo=UTC)]

# crontab(5)'s meaning of each macro (cronsim has no macros).
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

CORPUS = [
    # wildcards and steps on '*' (instant rules)
    "* * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "30 * * * *",
    "0,30 * * * *",
    "0 */2 * * *",
    "*/20 1-3 * * *",
    "* 2 * * *",
    "*/10 2 * * *",
    "*/7 */5 * * *",
    "15 */3 * * *",
    # fixed times, some inside the 2027 gaps and overlaps (wall-time rules)
    "30 1 * * *",
    "30 2 * * *",
    "0 2 * * *",
    "15 2 * * *",
    "45 1 * * *",
    "0 3 * * *",
    "59 23 * * *",
    "0 0 * * *",
    # ranges, lists and steps on ranges in the time fields (wall-time rules per cron(8))
    "0 1-3 * * *",
    "30 1-2 * * *",
    "15,45 2 * * *",
    "0 1,2,3 * * *",
    "0 0-23/5 * * *",
    "5/15 2 * * *",
    "23 0-20/2 * * *",
    "0 8-17 * * mon-fri",
    # days, months, names, OR of day-of-month and day-of-week
    "30 8 * * 1-5",
    "0 9 * * MON-FRI/2",
    "0 12 1 JAN-DEC/3 *",
    "0 6 * Mar-Nov/2 Tue,Thu",
    "0 0 13 * 5",
    "0 0 1,15 * 0",
    "0 0 */2 * 1",
    "0 0 1 * *",
    "0 0 12-16 3 *",
    "0 0 31 * *",
    "0 0 29 2 *",
    "0 0 29 2 1",
    "15 14 1 * *",
    "0 4 8-14 * *",
    "0 0 * * 7",
    "0 0 * * sun",
    "5 4 * * SUN",
    "0 0,12 1 */2 *",
    "0 0 * * 6,0",
    "0 22 * * 1-5",
    "0 0 1 jan *",
    # macros
    *MACROS,
    # 6 fields, seconds first, with '*' in the hour or minute field
    "*/20 * * * * *",
    "30 */10 * * * *",
    "0 */15 * * * *",
    "15 0 * * * *",
    "0 30 */2 * * *",
]


def _ours(expression: str, zone: str, start: datetime) -> Iterator[datetime]:
    trigger = CrontabTrigger(expression, ZoneInfo(zone))
    current = trigger.get_next_fire_time(None, start)
    while current is not None:
        yield current.astimezone(UTC)
        current = trigger.get_next_fire_time(current, current)


def _oracle(expression: str, zone: str, start: datetime) -> Iterator[datetime]:
    text = MACROS.get(expression, expression)
    return (t.astimezone(UTC) for t in CronSim(text, start.astimezone(ZoneInfo(zone))))


def ours(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    return list(islice(_ours(expression, zone, start), count))


def oracle(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    return list(islice(_oracle(expression, zone, start), count))


def until(times: Iterator[datetime], end: datetime) -> list[datetime]:
    return list(takewhile(lambda t: t < end, times))


def is_instant_rule(expression: str) -> bool:
    fields = MACROS.get(expression, expression).split()
    minute, hour = fields[-5], fields[-4]
    return minute.startswith("*") or hour.startswith("*")


def brute_force(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every real minute in [start, end) whose wall time matches, fields read by cronsim's
    parser: the definition of an instant rule, checked minute by minute."""
    tz = ZoneInfo(zone)
    sim = CronSim(MACROS.get(expression, expression), start.astimezone(tz))
    found = []
    moment = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < end:
        wall = moment.astimezone(tz)
        if (
            wall.month in sim.months
            and sim.match_day(wall.date())
            and wall.hour in sim.hours
            and wall.minute in sim.minutes
        ):
            found.append(moment)
        moment += timedelta(minutes=1)
    return found


def test_the_corpus_is_as_wide_as_promised() -> None:
    assert len(set(CORPUS)) >= 40


# cronsim walks real instants in whole hours through UTC, so across Lord Howe's 30-minute
# changes it steps over wall times that really happen: after the fall-back (2027-04-03
# 15:00Z, 02:00 +11 -> 01:30 +10:30) '30 * * * *' misses the second 01:30 (15:00Z) and
# '* 2 * * *' misses 02:00-02:29 +10:30; after the spring-forward (2027-10-02 15:30Z,
# 02:00 +10:30 -> 02:30 +11) '30 * * * *' misses 02:30 +11. cron(8) runs wildcard jobs
# "based on the new time", i.e. at those instants. Around those two changes the
# minute-by-minute scan below and the hand tables of test_triggers.py are the reference
# for instant rules instead of cronsim.
CRONSIM_WRONG = [
    (datetime(2027, 4, 2, tzinfo=UTC), datetime(2027, 4, 5, tzinfo=UTC)),
    (datetime(2027, 10, 1, tzinfo=UTC), datetime(2027, 10, 4, tzinfo=UTC)),
]


def cronsim_is_trusted(expression: str, zone: str, start: datetime, last: datetime) -> bool:
    if zone != "Australia/Lord_Howe" or not is_instant_rule(expression):
        return True
    return all(last < low or start >= high for low, high in CRONSIM_WRONG)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("expression", CORPUS)
def test_first_fire_times_agree_with_cronsim(expression: str, zone: str) -> None:
    count = 24
    checked = 0
    for start in STARTS:
        got = ours(expression, zone, start, count)
        assert len(got) == count
        assert all(b > a for a, b in itertools.pairwise(got))
        if cronsim_is_trusted(expression, zone, start, got[-1]):
            assert got == oracle(expression, zone, start, count), (expression, zone, start)
            checked += 1
    assert checked >= len(STARTS) - 6


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("expression", [e for e in CORPUS if is_instant_rule(e) and len(e.split()) != 6])
def test_instant_rules_fire_at_every_real_matching_minute(expression: str, zone: str) -> None:
    for transition in TRANSITIONS:
        start = transition - timedelta(hours=20, seconds=-7)
        end = transition + timedelta(hours=20)
        assert until(_ours(expression, zone, start), end) == brute_force(expression, zone, start, end)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"])
@pytest.mark.parametrize(
    "expression", ["30 1 * * *", "30 2 * * *", "0 2 * * *", "15 2 * * *", "0 1-3 * * *", "0 0 * * 1,3"]
)
def test_a_whole_year_agrees_with_cronsim(expression: str, zone: str) -> None:
    start = datetime(2027, 1, 1, 0, 0, 7, tzinfo=UTC)
    end = datetime(2028, 1, 1, tzinfo=UTC)
    got = until(_ours(expression, zone, start), end)
    assert got == until(_oracle(expression, zone, start), end)
    assert len(got) > 100


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York"])
def test_a_whole_year_every_hour_agrees_with_cronsim(zone: str) -> None:
    start = datetime(2027, 1, 1, 0, 0, 7, tzinfo=UTC)
    end = datetime(2028, 1, 1, tzinfo=UTC)
    got = until(_ours("0 * * * *", zone, start), end)
    assert got == until(_oracle("0 * * * *", zone, start), end)
    # Every real hour of the year, whatever the clocks did: 8760 of them, none twice.
    assert len(got) == 8760 - 1 and len(set(got)) == len(got)
