"""Job schedules: JobSpec fields <-> APScheduler 3 triggers, descriptions and fire times.

Pure functions with no I/O: everything here can be tested with a fixed clock.

Decisions worth knowing:
- daily / weekly / monthly are wall-clock schedules. They take the time of day (and the
  weekday or the day of month) of ``run_date`` *as seen in the job's time zone*, and fire
  at that wall-clock time in that zone, across DST changes.
- Cron expressions use standard crontab weekday numbers (0 or 7 = Sunday). APScheduler 3
  numbers weekdays from Monday, so numeric weekday fields are translated to names here.
- A monthly job on day 29-31 does not fire in months that lack that day, like cron.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .errors import InvalidScheduleError

_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
_WEEKDAY_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_CRON_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering
_DOW_TOKEN = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")
_MAX_CRON_LENGTH = 200


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
            f"run_date: {text!r} is not an ISO 8601 date-time such as '2030-01-15T08:30:00Z'."
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


class WallClockTrigger(CronTrigger):
    """The trigger of a daily / weekly / monthly job: a cron trigger that fires once per
    wall-clock occurrence. When clocks go back, a time in the repeated hour happens twice;
    like cron, the job runs at the first of the two only."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        nxt = super().get_next_fire_time(previous_fire_time, now)
        while nxt is not None and _is_repeated_wall_time(nxt):
            nxt = super().get_next_fire_time(nxt, nxt)
        return nxt


def _is_repeated_wall_time(dt: datetime) -> bool:
    """True for the second occurrence of an ambiguous local time (clocks went back)."""
    first, second = dt.replace(fold=0).utcoffset(), dt.replace(fold=1).utcoffset()
    return first is not None and second is not None and first > second and dt.utcoffset() == second


def _translate_dow(field: str) -> str:
    """Crontab weekday field (0/7 = Sunday) -> APScheduler 3 names (which start at Monday)."""
    if field in ("*", "?"):
        return "*"
    names: list[str] = []
    for token in field.split(","):
        m = _DOW_TOKEN.fullmatch(token)
        if not m:
            names.append(token.lower())  # names like mon-fri: APScheduler checks them
            continue
        start, end, step = m.group(1), m.group(2), m.group(3)
        if start == "*":
            if end is not None:
                raise InvalidScheduleError(f"cron_expression: bad day-of-week part {token!r}.")
            low, high = 0, 6
        else:
            low = int(start)
            high = int(end) if end is not None else (6 if step else low)
        stride = int(step) if step else 1
        if low > 7 or high > 7 or low > high or stride < 1:
            raise InvalidScheduleError(
                f"cron_expression: day-of-week {token!r} is out of range (0-7, where 0 and 7 are Sunday)."
            )
        for day in range(low, high + 1, stride):
            name = _CRON_DOW_NAMES[day % 7]
            if name not in names:
                names.append(name)
    return ",".join(names)


def cron_trigger(expression: Any, tz: ZoneInfo) -> CronTrigger:
    """A trigger for a 5-field crontab line, or 6 fields with seconds first."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidScheduleError(
            "cron_expression: required for a cron schedule, e.g. '*/5 * * * *' "
            "(minute hour day month weekday)."
        )
    if len(expression) > _MAX_CRON_LENGTH:
        raise InvalidScheduleError("cron_expression: too long.")
    fields = expression.split()
    if len(fields) == 5:
        second = "0"
        minute, hour, day, month, dow = fields
    elif len(fields) == 6:
        second, minute, hour, day, month, dow = fields
    else:
        raise InvalidScheduleError(
            f"cron_expression: {expression!r} has {len(fields)} fields; give 5 "
            "(minute hour day month weekday) or 6 (second first)."
        )
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day.replace("?", "*"),
            month=month,
            day_of_week=_translate_dow(dow),
            timezone=tz,
        )
    except InvalidScheduleError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise InvalidScheduleError(f"cron_expression: {expression!r} is not valid: {err}.") from None


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
    now = now or datetime.now(timezone.utc)
    tz = zone(spec.get("timezone") or default_timezone)
    kind = spec.get("schedule_type")
    trigger: BaseTrigger
    if kind == "trigger":
        return None
    if kind == "interval":
        seconds = spec.get("interval_seconds")
        if not isinstance(seconds, int) or seconds < 1:
            raise InvalidScheduleError(
                "interval_seconds: required for an interval schedule; a whole number of "
                "seconds of at least 1."
            )
        trigger = IntervalTrigger(seconds=seconds, timezone=tz, start_date=now + timedelta(seconds=seconds))
    elif kind == "cron":
        trigger = cron_trigger(spec.get("cron_expression"), tz)
    elif kind == "date":
        date_type = spec.get("date_type") or "once"
        if date_type == "every_x_days":
            days = spec.get("interval_days")
            if not isinstance(days, int) or days < 1:
                raise InvalidScheduleError(
                    "interval_days: required for 'every N days'; a whole number of at least 1."
                )
            # Without a start, the first run is N days from now (as APScheduler would
            # fire it), so previews never show "now" as a fire time that will not happen.
            start = (
                parse_run_date(spec["run_date"], tz) if spec.get("run_date") else now + timedelta(days=days)
            )
            trigger = IntervalTrigger(days=days, start_date=start.astimezone(tz), timezone=tz)
        else:
            when = parse_run_date(spec.get("run_date"), tz)
            local = when.astimezone(tz)
            if date_type == "once":
                if require_future and when < now - timedelta(seconds=1):
                    raise InvalidScheduleError(
                        f"run_date: {spec.get('run_date')} is in the past; pick a future "
                        "date and time for a one-off run."
                    )
                trigger = DateTrigger(run_date=local, timezone=tz)
            elif date_type == "daily":
                trigger = WallClockTrigger(
                    hour=local.hour, minute=local.minute, second=local.second, timezone=tz
                )
            elif date_type == "weekly":
                trigger = WallClockTrigger(
                    day_of_week=_WEEKDAY_NAMES[local.weekday()],
                    hour=local.hour,
                    minute=local.minute,
                    second=local.second,
                    timezone=tz,
                )
            elif date_type == "monthly":
                trigger = WallClockTrigger(
                    day=local.day,
                    hour=local.hour,
                    minute=local.minute,
                    second=local.second,
                    timezone=tz,
                )
            else:
                raise InvalidScheduleError(
                    "date_type: must be one of 'once', 'daily', 'weekly', 'monthly', 'every_x_days'."
                )
    else:
        raise InvalidScheduleError("schedule_type: must be one of 'date', 'interval', 'cron', 'trigger'.")
    if kind == "cron" and trigger.get_next_fire_time(None, now) is None:
        raise InvalidScheduleError(
            f"cron_expression: {spec.get('cron_expression')!r} never fires (no such date)."
        )
    return trigger


def next_fire_times(trigger: BaseTrigger | None, count: int, now: datetime) -> list[datetime]:
    """The next ``count`` fire times of a trigger after ``now``."""
    times: list[datetime] = []
    if trigger is None:
        return times
    previous: datetime | None = None
    current = now
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, current)
        if nxt is None:
            break
        times.append(nxt)
        previous = current = nxt
    return times


def _clock(dt: datetime) -> str:
    return dt.strftime("%H:%M:%S") if dt.second else dt.strftime("%H:%M")


def _every(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"Every {unit}" if n == 1 else f"Every {n:,} {unit}s"
    return "Every second" if seconds == 1 else f"Every {seconds:,} seconds"


@functools.lru_cache(maxsize=4096)
def _cron_text(expression: str) -> str:
    """cron_descriptor's sentence for an expression (slow: 0.5 ms; jobs share expressions)."""
    from cron_descriptor import Options, get_description

    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    return str(get_description(expression, options))


def describe(
    spec: Mapping[str, Any],
    default_timezone: str,
    job_name: Callable[[str], str] = lambda job_id: job_id,
) -> str:
    """A sentence a person reads, e.g. 'Every day at 08:30 (Europe/Paris)'."""
    tz_name = spec.get("timezone") or default_timezone
    kind = spec.get("schedule_type")
    try:
        tz = zone(tz_name)
        if kind == "interval":
            return _every(int(spec["interval_seconds"]))
        if kind == "cron":
            return f"{_cron_text(spec['cron_expression'])} ({tz_name})"
        if kind == "trigger":
            conditions = spec.get("trigger_conditions") or []
            joiner = f" {spec.get('logical_operator') or 'OR'} "
            parts = [
                f"'{job_name(c['job_id'])}' {'succeeds' if c['on'] == 'success' else 'fails'}"
                for c in conditions
            ]
            return "After " + joiner.join(parts) if parts else "After another job"
        if kind == "date":
            date_type = spec.get("date_type") or "once"
            if date_type == "every_x_days":
                days = int(spec["interval_days"])
                every = "Every day" if days == 1 else f"Every {days} days"
                if spec.get("run_date"):
                    start = parse_run_date(spec["run_date"], tz).astimezone(tz)
                    return f"{every} at {_clock(start)} from {start:%Y-%m-%d} ({tz_name})"
                return every
            local = parse_run_date(spec.get("run_date"), tz).astimezone(tz)
            if date_type == "once":
                return f"Once on {local:%a %d %b %Y} at {_clock(local)} ({tz_name})"
            if date_type == "daily":
                return f"Every day at {_clock(local)} ({tz_name})"
            if date_type == "weekly":
                return f"Every {_WEEKDAY_LONG[local.weekday()]} at {_clock(local)} ({tz_name})"
            if date_type == "monthly":
                note = " (skipped in months without that day)" if local.day > 28 else ""
                return f"Every month on day {local.day} at {_clock(local)} ({tz_name}){note}"
    except (InvalidScheduleError, KeyError, ValueError, TypeError):
        pass
    except Exception:  # cron_descriptor raises its own error types for odd expressions
        if kind == "cron":
            return f"Cron '{spec.get('cron_expression')}' ({tz_name})"
    return "Unknown schedule"
