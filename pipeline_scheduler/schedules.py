"""Job schedules: JobSpec fields -> one parsed Schedule (trigger, description, fire times).

Pure functions with no I/O: everything here can be tested with a fixed clock. The
trigger APScheduler fires, the preview's fire times, a job's ``next_run_time`` and the
sentence a person reads all come from one ``Schedule`` parsed by ``parse_schedule``, so
they cannot disagree. The fire-time rules themselves (crontab, DST) live in
``triggers.py``; its docstring says what happens when clocks change.

Decisions worth knowing:
- daily / weekly / monthly / every-N-days are wall-clock schedules. They take the time of
  day (and the weekday or the day of month) of ``run_date`` *as seen in the job's time
  zone*, and fire at that wall-clock time in that zone, across DST changes: a time the
  clocks skip fires at the jump, a time that happens twice fires at its first occurrence.
- every-N-days counts calendar days from ``run_date``'s local date (or from now, at
  now's wall time, when there is no ``run_date``), not 24-hour steps.
- A monthly job on day 29-31 does not fire in months that lack that day, like cron.
- ``interval`` counts elapsed seconds, whatever the clocks do (computed in UTC).
- Dates must lie between the years 1900 and 9998, so that no fire-time arithmetic can
  overflow; fire-time searches simply end at the end of the calendar.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .errors import InvalidScheduleError
from .triggers import CronRule, CrontabTrigger, EveryNDaysTrigger, parse_cron

__all__ = [
    "Schedule",
    "WallClockTrigger",
    "build_trigger",
    "cron_trigger",
    "describe",
    "fire_times_between",
    "next_fire_times",
    "parse_run_date",
    "parse_schedule",
    "zone",
]

UTC = timezone.utc
_WEEKDAY_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_CRON_DAY_LONG = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTH_LONG = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MIN_YEAR, _MAX_YEAR = 1900, 9998
MAX_INTERVAL_SECONDS = 100 * 366 * 86400
MAX_INTERVAL_DAYS = 100 * 366
_UNKNOWN = "Unknown schedule"


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or a clear error."""
    if not isinstance(name, str) or not name or len(name) > 64 or "\x00" in name:
        raise InvalidScheduleError("timezone: give an IANA time zone name such as 'Europe/Paris' or 'UTC'.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidScheduleError(
            f"timezone: unknown time zone {name!r}; use an IANA name such as "
            "'Europe/Paris', 'America/New_York' or 'UTC'."
        ) from None


def parse_run_date(text: Any, tz: ZoneInfo) -> datetime:
    """Parse an ISO 8601 date-time. A value without offset is wall-clock time in ``tz``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidScheduleError(
            "run_date: required for this schedule; give an ISO 8601 date-time such as '2030-01-15T08:30:00Z'."
        )
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidScheduleError(
            f"run_date: {text[:60]!r} is not an ISO 8601 date-time such as '2030-01-15T08:30:00Z'."
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    try:
        in_range = all(_MIN_YEAR <= v.year <= _MAX_YEAR for v in (value, value.astimezone(UTC)))
    except (OverflowError, ValueError):
        in_range = False
    if not in_range:
        raise InvalidScheduleError(
            f"run_date: {text[:60]!r} is out of range; give a date between the years "
            f"{_MIN_YEAR} and {_MAX_YEAR}."
        )
    return value


class WallClockTrigger(CronTrigger):
    """Kept so that job stores written by older versions still unpickle: the trigger of a
    daily / weekly / monthly job was an APScheduler CronTrigger subclass. Its fire times
    now come from the same rules as a new job's (``CrontabTrigger`` of its fields)."""

    def _crontab(self) -> CrontabTrigger:
        cached = self.__dict__.get("_crontab_trigger")
        if cached is None:
            text = {field.name: str(field) for field in self.fields}
            expression = " ".join(
                text.get(name, "*") for name in ("second", "minute", "hour", "day", "month", "day_of_week")
            )
            cached = CrontabTrigger(expression, ZoneInfo(str(self.timezone)))
            self.__dict__["_crontab_trigger"] = cached
        return cached

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        try:
            crontab = self._crontab()
        except (InvalidScheduleError, ValueError, ZoneInfoNotFoundError):
            return super().get_next_fire_time(previous_fire_time, now)  # type: ignore[no-any-return]
        return crontab.get_next_fire_time(previous_fire_time, now)


def cron_trigger(expression: Any, tz: ZoneInfo) -> CrontabTrigger:
    """A trigger for a crontab line: 5 fields, 6 with seconds first, or a macro."""
    return CrontabTrigger(expression, tz)


# --------------------------------------------------------------------------- the parsed schedule
@dataclass(frozen=True)
class Schedule:
    """A job's schedule, parsed once: what fires, and the words for it."""

    kind: str
    timezone: str
    trigger: BaseTrigger | None  # None for trigger-only jobs
    description: str

    def next_fire_times(self, count: int, now: datetime) -> list[datetime]:
        """The next ``count`` fire times at or after ``now``, strictly increasing, aware."""
        return next_fire_times(self.trigger, count, now)


def _whole_number(spec: Mapping[str, Any], field: str, largest: int, what: str) -> int:
    value = spec.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidScheduleError(f"{field}: required for {what}; a whole number of at least 1.")
    if value > largest:
        raise InvalidScheduleError(f"{field}: at most {largest:,} (100 years); use a cron schedule instead.")
    return value


def _clock(dt: datetime) -> str:
    return dt.strftime("%H:%M:%S") if dt.second else dt.strftime("%H:%M")


def _every(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"Every {unit}" if n == 1 else f"Every {n:,} {unit}s"
    return "Every second" if seconds == 1 else f"Every {seconds:,} seconds"


def _trigger_sentence(spec: Mapping[str, Any], job_name: Callable[[str], str]) -> str:
    conditions = spec.get("trigger_conditions") or []
    joiner = f" {spec.get('logical_operator') or 'OR'} "
    try:
        parts = [
            f"'{job_name(c['job_id'])}' {'succeeds' if c['on'] == 'success' else 'fails'}" for c in conditions
        ]
    except (KeyError, TypeError, AttributeError, ValueError):
        return _UNKNOWN
    return "After " + joiner.join(parts) if parts else "After another job"


def parse_schedule(
    spec: Mapping[str, Any],
    default_timezone: str,
    *,
    now: datetime | None = None,
    require_future: bool = True,
    job_name: Callable[[str], str] = lambda job_id: job_id,
) -> Schedule:
    """Parse a job's schedule fields into one Schedule.

    Raises InvalidScheduleError with a message starting with the field's name when the
    fields do not make a schedule that can fire.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    tz_name = spec.get("timezone") or default_timezone
    tz = zone(tz_name)
    kind = spec.get("schedule_type")
    trigger: BaseTrigger
    if kind == "trigger":
        return Schedule("trigger", tz_name, None, _trigger_sentence(spec, job_name))
    if kind == "file":
        pattern = spec.get("watch_path")
        if not isinstance(pattern, str) or not pattern.strip():
            raise InvalidScheduleError(
                "watch_path: required for a file arrival schedule; a glob such as 'data/incoming/*.csv'."
            )
        return Schedule("file", tz_name, None, f"When files matching {pattern.strip()} arrive")
    if kind == "interval":
        seconds = _whole_number(spec, "interval_seconds", MAX_INTERVAL_SECONDS, "an interval schedule")
        try:
            first = now + timedelta(seconds=seconds)
        except OverflowError:
            raise InvalidScheduleError(
                "interval_seconds: the first run would fall after the year 9999."
            ) from None
        trigger = IntervalTrigger(seconds=seconds, timezone=UTC, start_date=first)
        return Schedule(kind, tz_name, trigger, _every(seconds))
    if kind == "cron":
        crontab = CrontabTrigger(spec.get("cron_expression"), tz)
        return Schedule(kind, tz_name, crontab, f"{_cron_sentence(crontab.expression)} ({tz_name})")
    if kind != "date":
        raise InvalidScheduleError(
            "schedule_type: must be one of 'date', 'interval', 'cron', 'trigger', 'file'."
        )
    date_type = spec.get("date_type") or "once"
    if date_type == "every_x_days":
        days = _whole_number(spec, "interval_days", MAX_INTERVAL_DAYS, "'every N days'")
        every = "Every day" if days == 1 else f"Every {days} days"
        if spec.get("run_date"):
            start = parse_run_date(spec["run_date"], tz).astimezone(tz)
            description = f"{every} at {_clock(start)} from {start:%Y-%m-%d} ({tz_name})"
        else:
            # Without a start the first run is N days from now, at now's wall time.
            start = now.astimezone(tz)
            try:
                start = datetime.combine(start.date() + timedelta(days=days), start.time(), tzinfo=tz)
            except OverflowError:
                raise InvalidScheduleError(
                    "interval_days: the first run would fall after the year 9999."
                ) from None
            description = every
        trigger = EveryNDaysTrigger(start.date(), days, start.time(), tz)
        return Schedule(kind, tz_name, trigger, description)
    if date_type not in ("once", "daily", "weekly", "monthly"):
        raise InvalidScheduleError(
            "date_type: must be one of 'once', 'daily', 'weekly', 'monthly', 'every_x_days'."
        )
    when = parse_run_date(spec.get("run_date"), tz)
    local = when.astimezone(tz)
    at = f"{local.second} {local.minute} {local.hour}"
    if date_type == "once":
        if require_future and when < now - timedelta(seconds=1):
            raise InvalidScheduleError(
                f"run_date: {spec.get('run_date')} is in the past; pick a future date and time "
                "for a one-off run."
            )
        trigger = DateTrigger(run_date=when.astimezone(UTC), timezone=UTC)
        description = f"Once on {local:%a %d %b %Y} at {_clock(local)} ({tz_name})"
    elif date_type == "daily":
        trigger = CrontabTrigger(f"{at} * * *", tz)
        description = f"Every day at {_clock(local)} ({tz_name})"
    elif date_type == "weekly":
        trigger = CrontabTrigger(f"{at} * * {local.isoweekday() % 7}", tz)
        description = f"Every {_WEEKDAY_LONG[local.weekday()]} at {_clock(local)} ({tz_name})"
    else:
        trigger = CrontabTrigger(f"{at} {local.day} * *", tz)
        note = " (skipped in months without that day)" if local.day > 28 else ""
        description = f"Every month on day {local.day} at {_clock(local)} ({tz_name}){note}"
    return Schedule(kind, tz_name, trigger, description)


def build_trigger(
    spec: Mapping[str, Any],
    default_timezone: str,
    *,
    now: datetime | None = None,
    require_future: bool = True,
) -> BaseTrigger | None:
    """The APScheduler trigger for a job's schedule fields, or None for trigger-only jobs.

    Raises InvalidScheduleError with a message naming the field when the fields do not
    make a schedule that can fire.
    """
    return parse_schedule(spec, default_timezone, now=now, require_future=require_future).trigger


def next_fire_times(trigger: BaseTrigger | None, count: int, now: datetime) -> list[datetime]:
    """The next ``count`` fire times of a trigger at or after ``now``: strictly increasing
    real instants, each an aware datetime (format with ``.astimezone(tz)``)."""
    times: list[datetime] = []
    for nxt in _fire_times_from(trigger, now):
        if len(times) >= count:
            break
        times.append(nxt)
    return times


def fire_times_between(
    trigger: BaseTrigger | None, start: datetime, end: datetime, limit: int, count_up_to: int
) -> tuple[list[datetime], int]:
    """The fire times of a trigger from ``start`` to ``end`` (both included), oldest first:
    at most ``limit`` of them, and how many there are (counted up to ``count_up_to``; more
    answer ``count_up_to + 1``). The same fire times as ``next_fire_times``."""
    times: list[datetime] = []
    count = 0
    for nxt in _fire_times_from(trigger, start):
        if nxt > end or count > count_up_to:
            break
        count += 1
        if len(times) < limit:
            times.append(nxt)
    return times, count


def _fire_times_from(trigger: BaseTrigger | None, now: datetime) -> Iterator[datetime]:
    if trigger is None:
        return
    previous: datetime | None = None
    current = now
    try:
        while True:
            nxt = trigger.get_next_fire_time(previous, current)
            if nxt is None or (previous is not None and nxt.astimezone(UTC) <= previous.astimezone(UTC)):
                return
            yield nxt
            previous = current = nxt
    except (OverflowError, ValueError):
        return  # APScheduler's own triggers at the end of the calendar: the list just ends


def describe(
    spec: Mapping[str, Any],
    default_timezone: str,
    job_name: Callable[[str], str] = lambda job_id: job_id,
) -> str:
    """A sentence a person reads, e.g. 'Every day at 08:30 (Europe/Paris)'; never raises."""
    try:
        return parse_schedule(spec, default_timezone, require_future=False, job_name=job_name).description
    except InvalidScheduleError:
        return _UNKNOWN


# --------------------------------------------------------------------------- cron in words
def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _named(values: list[int], name: Callable[[int], str]) -> str:
    steps = {b - a for a, b in zip(values, values[1:], strict=False)}
    if len(values) >= 5 and len(steps) == 1 and steps != {1}:
        # An arithmetic run such as */2: '1, 3, 5, ..., 31'.
        return ", ".join(name(v) for v in values[:3]) + f", ..., {name(values[-1])}"
    parts: list[str] = []
    for low, high in _runs(values):
        if high - low >= 2:
            parts.append(f"{name(low)} to {name(high)}")
        else:
            parts.extend(name(v) for v in range(low, high + 1))
    return _join(parts)


def _day_phrase(rule: CronRule) -> str:
    dom_limited = len(rule.days) < 31
    dow_limited = len(rule.weekdays) < 7
    days = sorted(rule.days)
    dom = f"on day{'s' if len(days) > 1 else ''} {_named(days, str)} of the month"
    dow = "on " + _named(sorted(rule.weekdays), lambda d: _CRON_DAY_LONG[d])
    if rule.days_and:
        if dom_limited and dow_limited:
            return f"{dom}, if it is a {_named(sorted(rule.weekdays), lambda d: _CRON_DAY_LONG[d])}"
        return dom if dom_limited else (dow if dow_limited else "")
    if not dom_limited or not dow_limited:
        return ""  # one of the two ORed fields allows every day
    return f"{dom} or {dow}"


@functools.lru_cache(maxsize=4096)
def _cron_sentence(expression: str) -> str:
    """Words for a crontab line, built from the parsed rule (so they say OR where the rule
    ORs). cron_descriptor words the time of day only (about 0.5 ms; hence the cache)."""
    rule = parse_cron(expression)
    second, minute, hour = rule.fields[:3]
    has_seconds = len(expression.split()) == 6
    time_text = f"{second} {minute} {hour} * * *" if has_seconds else f"{minute} {hour} * * *"
    try:
        from cron_descriptor import Options, get_description

        options = Options()
        options.use_24hour_time_format = True
        options.verbose = False
        time_phrase = str(get_description(time_text, options))
    except Exception:  # cron_descriptor raises its own error types on odd (valid) fields
        time_phrase = f"At second {second}, minute {minute}, hour {hour}"
    parts = [time_phrase]
    day_phrase = _day_phrase(rule)
    if day_phrase:
        parts.append(day_phrase)
    if len(rule.months) < 12:
        parts.append("in " + _named(sorted(rule.months), lambda m: _MONTH_LONG[m - 1]))
    return ", ".join(parts)
