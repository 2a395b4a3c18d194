"""Fire-time rules: crontab lines and calendar schedules, as APScheduler 3 triggers.

APScheduler 3's own CronTrigger gets crontab wrong in ways a data engineer notices
(day-of-month AND day-of-week, steps on named ranges dropped, runs skipped or doubled
around DST changes), so this module parses crontab itself and computes fire times from
the parsed rule. The scheduler, the preview and the job list all ask these triggers, so
what a person is shown is what runs.

Semantics, and where they come from:

- Crontab fields as in Vixie / Debian cron (crontab(5)): 5 fields, or 6 with seconds
  first; lists, ranges, steps on ``*``, on ranges and on named ranges (``MON-FRI/2``),
  ``N/S`` meaning ``N-max/S`` (cronie, cronsim), names in any case, 0 and 7 = Sunday,
  ``?`` = ``*`` in the day fields. Day-of-month and day-of-week are ORed when both are
  restricted; when either field *starts with* ``*`` the two are ANDed, which with a bare
  ``*`` means only the other applies (Vixie's ``DOM_STAR``/``DOW_STAR`` rule, so
  ``0 0 */2 * 1`` is "odd days that are Mondays", as in every Vixie-derived cron).
- DST follows cron(8) of Debian: "Only jobs that run at a particular time (not specified
  as @hourly, nor with '*' in the hour or minute specifier) are affected". So:

  * *wall-time rules* (neither the minute nor the hour field starts with ``*``; this
    includes ``0 1-3 * * *`` and ``30 2,14 * * *``, and every daily / weekly / monthly /
    every-N-days schedule) fire once per matching wall time: a wall time that does not
    exist that day fires at the jump (the first instant after the gap), a wall time that
    happens twice fires at its first occurrence, and wall times that land on the same
    instant fire once;
  * *instant rules* (``*`` or ``*/n`` in the minute or hour field, ``@hourly``) fire at
    every real instant whose wall time matches: nothing in a gap, and each of the two
    real instants of a repeated wall time.

  Ranges and lists count as "a particular time" because cron(8) says so and Debian's
  code tests only for a leading '*'; it is also what a person wants: under the other
  reading ``30 2,14 * * *`` would lose its 02:30 run on the spring-forward day and run it
  twice on the fall-back night, the very complaints this module fixes.

  This is what cronsim (the test oracle, which mimics Debian cron) computes for 5-field
  lines. We deliberately differ in one place: cronsim applies the wall-time rule only to
  5-field lines, we apply it to 6-field lines too, because a seconds field does not change
  what "at 02:30:00 every day" means to a person (cronsim skips such a job on the
  spring-forward day and runs it twice on the fall-back night). cronsim also steps over
  some real instants after Lord Howe's 30-minute changes; there we follow cron(8)'s
  "every real instant that matches" (the tests say where).
- Fire times are whole seconds, returned as aware UTC datetimes: comparing two aware
  datetimes of the *same* zone ignores ``fold`` in Python, which would make the first and
  second 01:30 of a fall-back night look equal to APScheduler.
- Searches go field by field and day by day (never minute by minute), end quietly (None)
  at the end of the representable calendar, and never raise OverflowError.
"""

from __future__ import annotations

import calendar
import functools
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from .errors import InvalidScheduleError

UTC = timezone.utc
MAX_CRON_LENGTH = 200
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MAX_MONTH_LENGTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True)
class _FieldKind:
    name: str  # as a person reads it in a message
    low: int
    high: int
    names: tuple[str, ...] = ()  # 3-letter names, the first one worth ``low``
    example: str = ""


_SECONDS = _FieldKind("second", 0, 59, example="0-59")
_MINUTES = _FieldKind("minute", 0, 59, example="0-59")
_HOURS = _FieldKind("hour", 0, 23, example="0-23")
_DAYS = _FieldKind("day-of-month", 1, 31, example="1-31")
_MONTHS = _FieldKind("month", 1, 12, _MONTH_NAMES, "1-12 or JAN-DEC")
_WEEKDAYS = _FieldKind("day-of-week", 0, 7, _DOW_NAMES, "0-7 or SUN-SAT, where 0 and 7 are Sunday")


def _refuse(message: str) -> InvalidScheduleError:
    return InvalidScheduleError(f"cron_expression: {message}")


def _value(text: str, kind: _FieldKind) -> int:
    if text.isdigit() and text.isascii():
        number = int(text)
    elif kind.names and text.lower() in kind.names:
        return kind.low + kind.names.index(text.lower())
    elif kind.names and len(text) > 3 and text[:3].lower() in kind.names:
        raise _refuse(f"write {kind.name} names with 3 letters ({text[:3].upper()!r}, not {text!r}).")
    else:
        raise _refuse(f"{text!r} is not a valid {kind.name}; use {kind.example}.")
    if not kind.low <= number <= kind.high:
        raise _refuse(f"{kind.name} {number} is out of range; use {kind.example}.")
    return number


def _parse_field(text: str, kind: _FieldKind) -> frozenset[int]:
    """One crontab field -> the set of values it allows (crontab(5) syntax)."""
    if kind is _WEEKDAYS or kind is _DAYS:
        text = text.replace("?", "*")
    values: set[int] = set()
    for term in text.split(","):
        if not term:
            raise _refuse(f"empty item in the {kind.name} field {text!r} (check the commas).")
        body, slash, step_text = term.partition("/")
        if body == "*":
            low, high = kind.low, kind.high
        elif "-" in body:
            first, _, last = body.partition("-")
            low, high = _value(first, kind), _value(last, kind)
            if high < low:
                hint = (
                    " Weekdays count from Sunday (0); for Friday to Sunday write 'FRI-SAT,SUN' or '5-7'."
                    if kind is _WEEKDAYS
                    else f" Write it low to high, or in two parts: '{first}-{kind.high},{kind.low}-{last}'."
                )
                raise _refuse(f"the {kind.name} range {body!r} goes backwards.{hint}")
        else:
            low = _value(body, kind)
            high = kind.high if slash else low  # 'N/S' is 'N-max/S' (cronie, cronsim)
        step = 1
        if slash:
            if not (step_text.isdigit() and step_text.isascii()):
                raise _refuse(f"the step in {term!r} must be a whole number, as in '*/5'.")
            step = int(step_text)
            if step == 0:
                raise _refuse(f"the step in {term!r} is 0; a step must be at least 1.")
        values.update(range(low, high + 1, step))
    if kind is _WEEKDAYS and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


@dataclass(frozen=True)
class CronRule:
    """A parsed crontab line. ``expression`` is the text as given (macros kept)."""

    expression: str
    fields: tuple[str, str, str, str, str, str]  # second minute hour day month weekday, as text
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_and: bool  # Vixie: either day field starts with '*' -> both must match
    wall_time: bool  # cron(8): no '*' in the hour or minute field -> wall-time DST rule

    def matches_date(self, day: date) -> bool:
        dom = day.day in self.days
        dow = day.isoweekday() % 7 in self.weekdays
        return (dom and dow) if self.days_and else (dom or dow)

    def _time_at_or_after(self, floor: time) -> time | None:
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        i = bisect_left(hours, floor.hour)
        if i < len(hours) and hours[i] == floor.hour:
            j = bisect_left(minutes, floor.minute)
            if j < len(minutes) and minutes[j] == floor.minute:
                k = bisect_left(seconds, floor.second)
                if k < len(seconds):
                    return time(floor.hour, floor.minute, seconds[k])
                j += 1
            if j < len(minutes):
                return time(floor.hour, minutes[j], seconds[0])
            i += 1
        if i < len(hours):
            return time(hours[i], minutes[0], seconds[0])
        return None

    def next_wall_after(self, wall: datetime) -> datetime | None:
        """The first matching naive wall time strictly after ``wall`` (whole seconds)."""
        try:
            start = wall.replace(microsecond=0) + _SECOND
        except OverflowError:
            return None
        day, floor = start.date(), start.time()
        months = self.months
        while True:
            if day.month not in months:
                year, month = day.year, day.month
                while True:
                    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                    if month in months:
                        break
                if year > date.max.year:
                    return None
                day, floor = date(year, month, 1), time()
                continue
            if self.matches_date(day):
                found = self._time_at_or_after(floor)
                if found is not None:
                    return datetime.combine(day, found)
            if day == date.max:
                return None
            day, floor = day + _DAY, time()


def _cron_fields(expression: str) -> list[str]:
    text = expression.strip()
    if text.startswith("@"):
        macro = text.lower()
        if macro == "@reboot":
            raise _refuse(
                "'@reboot' runs when a machine starts, which a schedule cannot do; "
                "give a time schedule such as '@daily' or '0 0 * * *'."
            )
        if macro not in MACROS:
            raise _refuse(f"unknown macro {text!r}; use one of {', '.join(MACROS)}, or 5 fields.")
        text = MACROS[macro]
    fields = text.split()
    if len(fields) not in (5, 6):
        raise _refuse(
            f"{expression!r} has {len(fields)} fields; give 5 "
            "(minute hour day month weekday) or 6 (second first)."
        )
    return fields if len(fields) == 6 else ["0", *fields]


@functools.lru_cache(maxsize=4096)
def _parse_cron_cached(expression: str) -> CronRule:
    fields = _cron_fields(expression)
    second, minute, hour, dom, month, dow = fields
    rule = CronRule(
        expression=expression.strip(),
        fields=(second, minute, hour, dom, month, dow),
        seconds=tuple(sorted(_parse_field(second, _SECONDS))),
        minutes=tuple(sorted(_parse_field(minute, _MINUTES))),
        hours=tuple(sorted(_parse_field(hour, _HOURS))),
        days=_parse_field(dom, _DAYS),
        months=_parse_field(month, _MONTHS),
        weekdays=_parse_field(dow, _WEEKDAYS),
        days_and=dom.startswith(("*", "?")) or dow.startswith(("*", "?")),
        wall_time=not (minute.startswith("*") or hour.startswith("*")),
    )
    if rule.days_and and min(rule.days) > max(_MAX_MONTH_LENGTH[m - 1] for m in rule.months):
        months = [calendar.month_name[m] for m in sorted(rule.months)]
        day = min(rule.days)
        which = (
            f"{months[0]} has no day {day}"
            if len(months) == 1
            else f"none of {', '.join(months[:-1])} and {months[-1]} has a day {day}"
        )
        raise _refuse(
            f"{expression.strip()!r} never fires: {which}; check the day-of-month and month fields."
        )
    return rule


def parse_cron(expression: Any) -> CronRule:
    """Parse a crontab line (cached), or raise InvalidScheduleError('cron_expression: ...')."""
    if not isinstance(expression, str) or not expression.strip():
        raise _refuse("required for a cron schedule, e.g. '*/5 * * * *' (minute hour day month weekday).")
    if len(expression) > MAX_CRON_LENGTH:
        raise _refuse(f"too long ({len(expression)} characters; at most {MAX_CRON_LENGTH}).")
    if not expression.isascii() or not expression.isprintable():
        raise _refuse("use only digits, letters and the characters * , - / ? and spaces.")
    return _parse_cron_cached(expression)


# --------------------------------------------------------------------------- wall time <-> instants
def _floor_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("fire times are computed from aware datetimes only")
    return moment.astimezone(UTC).replace(microsecond=0)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta:
    offset = moment.astimezone(tz).utcoffset()
    return offset if offset is not None else timedelta(0)


def wall_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant a wall-time rule fires for a naive wall time: its first occurrence, or
    the jump (the first instant after the gap) when clocks skip it. May raise
    OverflowError at the ends of the calendar."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == wall:
        return first
    # In a gap fold=0 reads the wall time with the offset from before the change and
    # fold=1 with the one after (PEP 495), so the change lies between the two.
    low, high = wall.replace(tzinfo=tz, fold=1).astimezone(UTC), first
    if low > high:
        low, high = high, low
    before = _offset(low, tz)
    while high - low > _SECOND:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if _offset(middle, tz) == before:
            low = middle
        else:
            high = middle
    return high


_PROBE = timedelta(hours=12)


@functools.lru_cache(maxsize=1024)
def _year_transitions(tz: ZoneInfo, year: int) -> tuple[datetime, ...]:
    """The UTC instants in ``year`` at which ``tz`` changes its UTC offset (found by probing
    every 12 hours, then bisecting to the second; no zone changes twice within 12 hours)."""
    found: list[datetime] = []
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else datetime(9999, 12, 30, tzinfo=UTC)
    previous, previous_offset = start, _offset(start, tz)
    probe = start
    while probe < end:
        probe = min(probe + _PROBE, end)
        offset = _offset(probe, tz)
        if offset != previous_offset:
            low, high = previous, probe
            while high - low > _SECOND:
                middle = (low + (high - low) / 2).replace(microsecond=0)
                if _offset(middle, tz) == previous_offset:
                    low = middle
                else:
                    high = middle
            found.append(high)
        previous, previous_offset = probe, offset
    return tuple(found)


def _first_transition(tz: ZoneInfo, after: datetime, until: datetime) -> datetime | None:
    """The first offset change in (after, until], or None."""
    for year in range(after.year, until.year + 1):
        changes = _year_transitions(tz, year)
        i = bisect_right(changes, after)
        if i < len(changes) and changes[i] <= until:
            return changes[i]
    return None


def rule_fire_after(rule: CronRule, tz: ZoneInfo, moment: datetime, *, wall_time: bool) -> datetime | None:
    """The first fire instant of ``rule`` strictly after ``moment`` (UTC), or None."""
    try:
        after = _floor_utc(moment)
        if wall_time:
            wall = _wall(after, tz)
            while True:
                candidate = rule.next_wall_after(wall)
                if candidate is None:
                    return None
                instant = wall_instant(candidate, tz)
                if instant > after:
                    return instant
                wall = candidate  # a first occurrence that is already past (clocks went back)
        # Instant rule: walk the stretches of constant UTC offset.
        start, strict = after, True
        while True:
            offset = _offset(start, tz)
            wall = (start + offset).replace(tzinfo=None)
            candidate = rule.next_wall_after(wall if strict else wall - _SECOND)
            if candidate is None:
                return None
            instant = (candidate - offset).replace(tzinfo=UTC)
            change = _first_transition(tz, start, instant)
            if change is None:
                return instant
            start, strict = change, False
    except (OverflowError, ValueError):
        return None  # the end of the calendar (year 9999)


# --------------------------------------------------------------------------- triggers
class _RuleTrigger(BaseTrigger):
    """Shared APScheduler plumbing: ``get_next_fire_time`` from ``fire_after``."""

    timezone: ZoneInfo

    def fire_after(self, moment: datetime) -> datetime | None:
        raise NotImplementedError

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is not None:
            return self.fire_after(previous_fire_time)
        try:
            return self.fire_after(now - timedelta(microseconds=1))  # at or after now
        except OverflowError:
            return None


class CrontabTrigger(_RuleTrigger):
    """Fires on a crontab line in a time zone (see the module docstring for DST)."""

    def __init__(self, expression: Any, timezone: ZoneInfo) -> None:
        self.rule = parse_cron(expression)
        self.timezone = timezone

    @property
    def expression(self) -> str:
        return self.rule.expression

    def fire_after(self, moment: datetime) -> datetime | None:
        return rule_fire_after(self.rule, self.timezone, moment, wall_time=self.rule.wall_time)

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "expression": self.rule.expression, "timezone": self.timezone.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version", 1) > 1:
            raise ValueError(f"Got serialized data for version {state['version']} of CrontabTrigger")
        self.rule = parse_cron(state["expression"])
        self.timezone = ZoneInfo(state["timezone"])

    def __str__(self) -> str:
        return f"cron[{self.rule.expression!r}, {self.timezone.key}]"

    def __repr__(self) -> str:
        return f"<CrontabTrigger (expression={self.rule.expression!r}, timezone={self.timezone.key!r})>"


class EveryNDaysTrigger(_RuleTrigger):
    """Every ``days`` calendar days from ``start`` (a local date) at the wall time ``at``.

    Calendar days, not 24-hour steps: the wall time stays the same across DST changes.
    A wall time the clocks skip fires at the jump, a repeated one at its first occurrence.
    """

    def __init__(self, start: date, days: int, at: time, timezone: ZoneInfo) -> None:
        if days < 1:
            raise ValueError("days must be at least 1")
        self.start, self.days, self.at, self.timezone = start, days, at.replace(microsecond=0), timezone

    def _wall(self, k: int) -> datetime:
        return datetime.combine(self.start + timedelta(days=k * self.days), self.at)

    def fire_after(self, moment: datetime) -> datetime | None:
        try:
            after = _floor_utc(moment)
            wall = _wall(after, self.timezone)
            k = max(0, (wall.date() - self.start).days // self.days)
            while True:
                candidate = self._wall(k)
                if candidate > wall:
                    instant = wall_instant(candidate, self.timezone)
                    if instant > after:
                        return instant
                k += 1
        except (OverflowError, ValueError):
            return None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 1,
            "start": self.start.isoformat(),
            "days": self.days,
            "at": self.at.isoformat(),
            "timezone": self.timezone.key,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version", 1) > 1:
            raise ValueError(f"Got serialized data for version {state['version']} of EveryNDaysTrigger")
        self.start = date.fromisoformat(state["start"])
        self.days = int(state["days"])
        self.at = time.fromisoformat(state["at"])
        self.timezone = ZoneInfo(state["timezone"])

    def __str__(self) -> str:
        start, at = self.start.isoformat(), self.at.isoformat()
        return f"every_x_days[{self.days} from {start} at {at}, {self.timezone.key}]"

    def __repr__(self) -> str:
        return (
            f"<EveryNDaysTrigger (start={self.start.isoformat()!r}, days={self.days}, "
            f"at={self.at.isoformat()!r}, timezone={self.timezone.key!r})>"
        )
