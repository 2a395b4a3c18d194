"""Typed domain models of the scheduler core: run statuses, what started a run, and the
stored job definition.

One enum for statuses, used everywhere (store rows, answers, policies, handlers), so a
status is never a string literal scattered over modules. ``RunStatus`` is a ``str`` enum:
it compares equal to its value and serialises as it, so answers and database rows keep
the plain strings of the original API (``"success"``, ``"failure"``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


class RunStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"  # the server died while it ran
    SKIPPED = "skipped"  # a fire time that did not run (kept with the reason)

    def __str__(self) -> str:
        return self.value

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES

    @property
    def is_failed(self) -> bool:
        """Counts as "failure" for jobs triggered on failure, for retries and for alerts."""
        return self in FAILED_STATUSES


ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
FINAL_STATUSES = frozenset(set(RunStatus) - ACTIVE_STATUSES)
FAILED_STATUSES = frozenset({RunStatus.FAILURE, RunStatus.TIMEOUT})
RUN_STATUS_VALUES = tuple(s.value for s in RunStatus)


class TriggeredBy(str, enum.Enum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    TRIGGER = "trigger"
    CATCHUP = "catchup"
    RETRY = "retry"
    BACKFILL = "backfill"  # one fire time of a past range, run on request
    RERUN = "rerun"  # a past run again, with its logical time and what it was given
    FILE = "file"  # files matching the job's watch pattern arrived or changed
    WEBHOOK = "webhook"  # the job's inbound webhook was called

    def __str__(self) -> str:
        return self.value


TRIGGERED_BY_VALUES = tuple(t.value for t in TriggeredBy)
# Runs no person asked for (the scheduler's fires, file arrivals, webhook calls): limited by
# the job's max_instances (a refused one is recorded ``skipped``).
SCHEDULED_ORIGINS = frozenset(
    {TriggeredBy.SCHEDULE, TriggeredBy.TRIGGER, TriggeredBy.CATCHUP, TriggeredBy.FILE, TriggeredBy.WEBHOOK}
)


# Which schedule fields apply to which schedule_type; the others are dropped on save.
# Fields of a stored job specification, in the order answers list them.
SPEC_FIELDS = (
    "name",
    "pipeline_path",
    "description",
    "schedule_type",
    "date_type",
    "run_date",
    "interval_days",
    "interval_seconds",
    "cron_expression",
    "logical_operator",
    "trigger_conditions",
    "watch_path",
    "watch_debounce_seconds",
    "timezone",
    "max_instances",
    "coalesce",
    "misfire_grace_time",
    "catchup",
    "timeout_seconds",
    "max_retries",
    "retry_delay_seconds",
    "env",
    "parameters",
    "python_executable",
    "working_dir",
    "kernel_name",
    "webhook_url",
    "deadline_time",
    "max_duration_minutes",
    "slack_webhook_url",
    "alert_emails",
    "alert_on",
    "runner",
    "num_cpus",
    "num_gpus",
    "memory",
    "resources",
)

SCHEDULE_FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("date_type", "run_date", "interval_days"),
    "interval": ("interval_seconds",),
    "cron": ("cron_expression",),
    "trigger": ("logical_operator", "trigger_conditions"),
    "file": ("watch_path", "watch_debounce_seconds"),
}
ALL_SCHEDULE_FIELDS = frozenset(f for fs in SCHEDULE_FIELDS.values() for f in fs)
# What defines when a job fires (JobDefinition.schedule_key).
_SCHEDULE_KEY_FIELDS = ("schedule_type", "timezone", *sorted(ALL_SCHEDULE_FIELDS))


@dataclass(frozen=True)
class RunOverrides:
    """What one run is given instead of its job's values ("run with", a webhook call, a
    re-run): parameters and env values are merged over the job's (key by key), a timeout
    replaces the job's. Recorded with the run as JSON."""

    parameters: dict[str, Any] | None = None
    env: dict[str, str] | None = None
    timeout_seconds: int | None = None

    def __bool__(self) -> bool:
        return bool(self.parameters or self.env or self.timeout_seconds is not None)

    def as_dict(self) -> dict[str, Any]:
        """The fields given (an override that is absent is not written)."""
        given: dict[str, Any] = {}
        if self.parameters:
            given["parameters"] = dict(self.parameters)
        if self.env:
            given["env"] = dict(self.env)
        if self.timeout_seconds is not None:
            given["timeout_seconds"] = self.timeout_seconds
        return given

    @classmethod
    def from_dict(cls, given: dict[str, Any] | None) -> RunOverrides:
        given = given or {}
        return cls(given.get("parameters") or None, given.get("env") or None, given.get("timeout_seconds"))

    def applied_to(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A job specification with these overrides in it."""
        if not self:
            return spec
        merged = dict(spec)
        if self.parameters:
            merged["parameters"] = {**(spec.get("parameters") or {}), **self.parameters}
        if self.env:
            merged["env"] = {**(spec.get("env") or {}), **self.env}
        if self.timeout_seconds is not None:
            merged["timeout_seconds"] = self.timeout_seconds
        return merged


def iso(ts: float | None, tz: Any = timezone.utc) -> str | None:
    """POSIX seconds (how times are stored) as ISO 8601 with offset; None stays None."""
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat()


def outcome_matches(status: str | None, on: str) -> bool:
    """Whether a final status satisfies a trigger condition's ``on`` ("success"/"failure")."""
    if status is None:
        return False
    if on == "success":
        return status == RunStatus.SUCCESS
    return status in FAILED_STATUSES


@dataclass
class JobDefinition:
    """A job as stored: identity, file, schedule and options (``spec``), code snapshot,
    and the columns that move as it runs. ``spec`` holds the validated JobSpec fields that
    apply to its schedule, plus derived keys starting with ``_`` (description, trigger
    text, secrets) that answers never echo as given."""

    id: str
    name: str
    pipeline_path: str
    spec: dict[str, Any]
    python_code: str | None
    code_hash: str | None
    paused: bool
    created_at: float
    updated_at: float
    last_run_id: int | None = None
    last_run_status: str | None = None
    last_run_finished_at: float | None = None
    # Trigger jobs: only outcomes of runs with a larger id than this can fire the job again.
    trigger_watermark: int = 0
    # The definition's version (job history): 1 when created, one more per change.
    version: int = 1
    # sha256 of the job's inbound webhook token (None: no webhook); never in ``spec``.
    webhook_hash: str | None = None

    @property
    def schedule_type(self) -> str:
        return str(self.spec.get("schedule_type") or "")

    @property
    def is_trigger_only(self) -> bool:
        return self.schedule_type == "trigger"

    @property
    def is_event_triggered(self) -> bool:
        """Fires on events (other jobs' outcomes, arriving files), not at fire times: the
        schedule driver gives APScheduler nothing for it."""
        return self.schedule_type in ("trigger", "file")

    @property
    def is_ampln(self) -> bool:
        return self.pipeline_path.lower().endswith(".ampln")

    @property
    def is_notebook(self) -> bool:
        return self.pipeline_path.lower().endswith(".ipynb")

    @property
    def is_one_off(self) -> bool:
        return self.schedule_type == "date" and (self.spec.get("date_type") or "once") == "once"

    @property
    def schedule_key(self) -> str:
        """What the schedule driver gives APScheduler, as text: the job is added again
        (restarting an interval's countdown) only when this changes, never because of a
        rename, a pause or a refresh of an .ampln job's code."""
        return json.dumps([self.spec.get(k) for k in _SCHEDULE_KEY_FIELDS])

    @property
    def secret_env(self) -> dict[str, str]:
        return dict(self.spec.get("_secret_env") or {})
