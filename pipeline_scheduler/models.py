"""API models: what clients send (validated with pydantic) and what they get back.

Input models validate shapes and ranges only; checks that need the workspace or the
other jobs (file exists, trigger targets, cycles) live in ``service``. Answers are plain
dicts typed with ``TypedDict`` so that listing thousands of jobs stays cheap.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import InvalidRequestError

ScheduleType = Literal["date", "interval", "cron", "trigger"]
DateType = Literal["once", "daily", "weekly", "monthly", "every_x_days"]
RunStatus = Literal[
    "queued", "running", "success", "failure", "cancelled", "timeout", "interrupted", "skipped"
]
TriggeredBy = Literal["schedule", "manual", "trigger", "catchup", "retry"]

FINAL_STATUSES = frozenset({"success", "failure", "cancelled", "timeout", "interrupted", "skipped"})
ACTIVE_STATUSES = frozenset({"queued", "running"})
# Outcomes that count as "failure" for jobs triggered "on failure".
FAILED_STATUSES = frozenset({"failure", "timeout"})

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_INTERVAL_SECONDS = 10 * 366 * 24 * 3600
MAX_INTERVAL_DAYS = 3660
MAX_TRIGGER_CONDITIONS = 50

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
)
MAX_ENV_ENTRIES = 100
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# Which schedule fields apply to which schedule; the others are dropped on save.
SCHEDULE_FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("date_type", "run_date", "interval_days"),
    "interval": ("interval_seconds",),
    "cron": ("cron_expression",),
    "trigger": ("logical_operator", "trigger_conditions"),
}
ALL_SCHEDULE_FIELDS = frozenset(f for fs in SCHEDULE_FIELDS.values() for f in fs)


def _whole_number(value: Any, field: str, low: int, high: int) -> int:
    """Accept 3, 3.0 and "3"; refuse booleans, fractions and text."""
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number from {low} to {high}, not {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueError(f"must be a whole number from {low} to {high}, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"must be from {low} to {high}, not {value}")
    return value


class TriggerCondition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: str = Field(min_length=1, max_length=100)
    on: Literal["success", "failure"]


class JobSpecInput(BaseModel):
    """A job specification as a client sends it. Every field is optional here so that the
    same model parses a partial update (PUT); ``service`` checks the complete result."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    name: str | None = None
    pipeline_path: str | None = None
    python_code: str | None = None
    description: str | None = None
    schedule_type: ScheduleType | None = None
    date_type: DateType | None = None
    run_date: str | None = None
    interval_days: int | None = None
    interval_seconds: int | None = None
    cron_expression: str | None = None
    logical_operator: Literal["AND", "OR"] | None = None
    trigger_conditions: list[TriggerCondition] | None = None
    timezone: str | None = None
    paused: bool | None = None
    max_instances: int | None = None
    coalesce: bool | None = None
    misfire_grace_time: int | None = None
    catchup: Literal["run_once", "skip"] | None = None
    timeout_seconds: int | None = None
    max_retries: int | None = None
    retry_delay_seconds: int | None = None
    env: dict[str, str] | None = None
    secret_env: dict[str, str] | None = None
    parameters: dict[str, str | int | float | bool] | None = None
    python_executable: str | None = None
    working_dir: str | None = None
    kernel_name: str | None = None
    webhook_url: str | None = None

    @field_validator("timeout_seconds", mode="before")
    @classmethod
    def _timeout(cls, v: Any) -> Any:
        return None if v is None else _whole_number(v, "timeout_seconds", 1, 7 * 24 * 3600)

    @field_validator("max_retries", mode="before")
    @classmethod
    def _retries(cls, v: Any) -> Any:
        return None if v is None else _whole_number(v, "max_retries", 0, 10)

    @field_validator("retry_delay_seconds", mode="before")
    @classmethod
    def _retry_delay(cls, v: Any) -> Any:
        return None if v is None else _whole_number(v, "retry_delay_seconds", 0, 24 * 3600)

    @field_validator("env", "secret_env", "parameters", mode="after")
    @classmethod
    def _env_names(cls, v: Any) -> Any:
        if v is None:
            return v
        if len(v) > MAX_ENV_ENTRIES:
            raise ValueError(f"at most {MAX_ENV_ENTRIES} entries")
        for key, value in v.items():
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(
                    f"{key!r} is not a valid variable name (letters, digits, '_'; not starting with a digit)"
                )
            if isinstance(value, str) and ("\x00" in value or len(value) > 32768):
                raise ValueError(f"the value of {key!r} is too long or holds a NUL byte")
        return v

    @field_validator("interval_seconds", mode="before")
    @classmethod
    def _interval_seconds(cls, v: Any) -> Any:
        return None if v is None else _whole_number(v, "interval_seconds", 1, MAX_INTERVAL_SECONDS)

    @field_validator("interval_days", mode="before")
    @classmethod
    def _interval_days(cls, v: Any) -> Any:
        return None if v is None else _whole_number(v, "interval_days", 1, MAX_INTERVAL_DAYS)

    @field_validator("max_instances", mode="before")
    @classmethod
    def _max_instances(cls, v: Any) -> Any:
        return None if v is None else _whole_number(v, "max_instances", 1, 100)

    @field_validator("misfire_grace_time", mode="before")
    @classmethod
    def _misfire(cls, v: Any) -> Any:
        return None if v is None else _whole_number(v, "misfire_grace_time", 1, 7 * 24 * 3600)

    @field_validator("logical_operator", mode="before")
    @classmethod
    def _operator(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("name", "description", "cron_expression", "run_date", "timezone", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> Any:
        return v.strip() if isinstance(v, str) else v


def pydantic_message(err: ValidationError) -> str:
    """One readable sentence per problem, e.g. ``interval_seconds: must be from 1 to ...``."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "__root__") or "body"
        msg = e.get("msg", "is invalid")
        msg = msg.removeprefix("Value error, ")
        if e.get("type") == "literal_error":
            msg = f"must be one of {e.get('ctx', {}).get('expected', '')}"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def parse_job_spec(body: Any) -> JobSpecInput:
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object describing the job.")
    try:
        return JobSpecInput.model_validate(body)
    except ValidationError as err:
        raise InvalidRequestError(pydantic_message(err)) from None


def parse_json_object(raw: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    """Parse a request body that must be a JSON object."""
    if not raw or not raw.strip():
        if allow_empty:
            return {}
        raise InvalidRequestError("The request body is empty; send a JSON object.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidRequestError(f"The request body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object ({...}).")
    return data


class LastRun(TypedDict):
    id: int
    status: str
    finished_at: str | None


class JobAnswer(TypedDict, total=False):
    id: str
    name: str
    pipeline_path: str
    python_code: str | None
    schedule_type: str
    next_run_time: str | None
    trigger: str
    schedule_description: str
    paused: bool
    last_run: LastRun | None
    created_at: str
    updated_at: str
    code_hash: str | None
    pipeline_changed: bool | None


class RunAnswer(TypedDict, total=False):
    id: int
    job_id: str
    job_name: str
    pipeline_path: str
    status: str
    triggered_by: str
    scheduled_for: str | None
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    duration_seconds: float | None
    log_size: int
    log_truncated: bool
    pipeline_changed: bool | None
    message: str | None
    output: str
    error: str


class RunResult(TypedDict):
    """The original system's answer to a waited run-now."""

    success: bool
    output: str
    error: str
    exit_code: int | None
    run_id: int
