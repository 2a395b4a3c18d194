"""Request models: what clients send, validated with pydantic. One contract source.

The OpenAPI document (``openapi.py``) is generated from these models and from the answer
models of ``api_models.py``; the TypeScript types of the frontend are generated from that
document. So every range and enum a request field has is written here once, as a
``Field``/``Annotated`` constraint that the JSON Schema shows. The person-readable
messages (``interval_seconds: must be from 1 to 316224000, not 0``) come from the
``BeforeValidator`` in front of each constraint, which runs first and also keeps the
lenient coercion of ``"3"`` and ``3.0`` for whole numbers.

``JobSpecInput`` parses every job body (every field optional, so that it also parses a
partial update). The schedule variants (``IntervalJobSpec``, ``CronJobSpec``, ...) add the
fields that each kind of schedule requires: they document ``POST jobs`` and
``POST schedule/preview``; the server parses with ``JobSpecInput`` and then checks what
needs the workspace or the other jobs (the file exists, trigger targets, cycles, a
one-off date in the future) in the job service.

Statuses are the one ``RunStatus`` enum of ``domain``; the names below are re-exported
for the modules that import them from here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)

from .domain import (  # noqa: F401  (re-exported)
    ACTIVE_STATUSES,
    ALL_SCHEDULE_FIELDS,
    FAILED_STATUSES,
    FINAL_STATUSES,
    RUN_STATUS_VALUES,
    SCHEDULE_FIELDS,
    SPEC_FIELDS,
    TRIGGERED_BY_VALUES,
    RunOverrides,
    RunStatus,
    TriggeredBy,
)
from .errors import InvalidRequestError

ScheduleType = Literal["date", "interval", "cron", "trigger", "file"]
DateType = Literal["once", "daily", "weekly", "monthly", "every_x_days"]
LogicalOperator = Literal["AND", "OR"]
# 'run_once' and 'skip' are the older names of 'latest' and 'none' (still accepted).
CatchupPolicy = Literal["all", "latest", "none", "run_once", "skip"]
TriggerOn = Literal["success", "failure"]

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_INTERVAL_SECONDS = 10 * 366 * 24 * 3600
MAX_INTERVAL_DAYS = 3660
MAX_TRIGGER_CONDITIONS = 50
MAX_INSTANCES = 100
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_MISFIRE_GRACE_SECONDS = 7 * 24 * 3600
MAX_RETRIES = 10
MAX_RETRY_DELAY_SECONDS = 24 * 3600
MAX_ENV_ENTRIES = 100
MAX_ENV_VALUE_LENGTH = 32768
MAX_WEBHOOK_URL_LENGTH = 2000
MAX_WATCH_PATH_LENGTH = 1024
MAX_WATCH_DEBOUNCE_SECONDS = 3600
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
KERNEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
# Five fields, or six with seconds first; what each field may hold is checked by the server.
CRON_PATTERN = r"^\s*\S+(\s+\S+){4,5}\s*$"
# Text that is not only white space (names are stripped before they are checked).
NOT_BLANK_PATTERN = r"\S"
WEBHOOK_URL_PATTERN = r"^https?://[^/?#\s]+"
_ENV_NAME = re.compile(ENV_NAME_PATTERN.strip("^$"))
# The scheduler sets these in every run (run id, job id, logical time, trigger files,
# parameters): a job, a run's overrides or a webhook call cannot give them.
RESERVED_ENV_PREFIX = "AMPHI_"
RESERVED_ENV_NAMES_PATTERN = f"^{RESERVED_ENV_PREFIX}"
RESERVED_NAME = (
    f"reserved: the scheduler sets the {RESERVED_ENV_PREFIX}* variables of a run (run id, logical time, ...)"
)


# ------------------------------------------------------------------ constrained types


def _whole_number(value: Any, low: int, high: int) -> int:
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


def _whole(low: int, high: int) -> BeforeValidator:
    return BeforeValidator(lambda v: _whole_number(v, low, high))


def _text(high: int, *, required: str | None = None, strip: bool = True) -> BeforeValidator:
    """Strip text, then check its length (``required``: the message for blank text)."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic's own type error names the field
        if strip:
            value = value.strip()
        if required is not None and not value:
            raise ValueError(required)
        if len(value) > high:
            raise ValueError(f"at most {high} characters")
        return value

    return BeforeValidator(check)


def _variables(what: str) -> Callable[[Any], Any]:
    """Checks of an ``env``/``secret_env``/``parameters`` object, before its value types."""

    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if len(value) > MAX_ENV_ENTRIES:
            raise ValueError(f"at most {MAX_ENV_ENTRIES} entries")
        for key, item in value.items():
            if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
                raise ValueError(
                    f"{key!r} is not a valid {what} name (letters, digits, '_'; not starting with a digit)"
                )
            if key.startswith(RESERVED_ENV_PREFIX):
                raise ValueError(f"{key!r} is {RESERVED_NAME}")
            if isinstance(item, str) and ("\x00" in item or len(item) > MAX_ENV_VALUE_LENGTH):
                raise ValueError(f"the value of {key!r} is too long or holds a NUL byte")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"the value of {key!r} must be a finite number, not {item}")
        return value

    return check


def _matching(pattern: str, message: str) -> BeforeValidator:
    """Refuse text that does not match ``pattern`` with a message a person can act on
    (the same pattern is the schema's ``pattern``)."""
    regex = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, str) and not regex.search(value):
            raise ValueError(message.format(value=value))
        return value

    return BeforeValidator(check)


def _at_most_conditions(value: Any) -> Any:
    if isinstance(value, list) and len(value) > MAX_TRIGGER_CONDITIONS:
        raise ValueError(f"at most {MAX_TRIGGER_CONDITIONS} conditions")
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


IntervalSeconds = Annotated[int, Field(ge=1, le=MAX_INTERVAL_SECONDS), _whole(1, MAX_INTERVAL_SECONDS)]
IntervalDays = Annotated[int, Field(ge=1, le=MAX_INTERVAL_DAYS), _whole(1, MAX_INTERVAL_DAYS)]
MaxInstances = Annotated[int, Field(ge=1, le=MAX_INSTANCES), _whole(1, MAX_INSTANCES)]
MisfireGrace = Annotated[int, Field(ge=1, le=MAX_MISFIRE_GRACE_SECONDS), _whole(1, MAX_MISFIRE_GRACE_SECONDS)]
TimeoutSeconds = Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS), _whole(1, MAX_TIMEOUT_SECONDS)]
Retries = Annotated[int, Field(ge=0, le=MAX_RETRIES), _whole(0, MAX_RETRIES)]
RetryDelay = Annotated[int, Field(ge=0, le=MAX_RETRY_DELAY_SECONDS), _whole(0, MAX_RETRY_DELAY_SECONDS)]
JobName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NOT_BLANK_PATTERN),
    _text(MAX_NAME_LENGTH, required="required; give the job a name"),
]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH), _text(MAX_DESCRIPTION_LENGTH)]
_strip = BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)
CronExpression = Annotated[
    str,
    Field(
        # Stated, not enforced here: the cron parser's messages say which field is wrong.
        json_schema_extra={"pattern": CRON_PATTERN},
        description="5 fields (minute hour day month weekday), or 6 with seconds first, "
        "e.g. '*/5 * * * *'; each field's values are checked by the server.",
        examples=["*/5 * * * *", "0 8 * * mon-fri"],
    ),
    _strip,
]
RunDate = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="ISO 8601 date-time, e.g. '2030-01-15T08:30:00.000Z' (as Date.toISOString() "
        "sends it). A value without an offset is wall-clock time in `timezone`. "
        "For date_type 'once' it must be in the future.",
    ),
    _strip,
]
TimeZone = Annotated[
    str,
    Field(
        description="IANA time zone name (e.g. 'Europe/Paris'); default: the server's configured zone.",
        examples=["Europe/Paris", "UTC"],
    ),
    _strip,
]
PipelinePath = Annotated[
    str,
    Field(
        # Stated, not enforced here: the workspace check refuses it (PathNotAllowedError).
        json_schema_extra={"minLength": 1},
        description="A file inside the workspace, relative to it, that exists and has an "
        "allowed extension (.py, .ampln, .ipynb by default; see GET config). An .ampln "
        "pipeline needs `python_code`.",
    ),
]
# Variable names and values, as the schema states them; the before-validator checks the
# same with messages that name the variable.
_VARIABLES_SCHEMA = {
    "type": "object",
    "maxProperties": MAX_ENV_ENTRIES,
    "propertyNames": {"pattern": ENV_NAME_PATTERN, "not": {"pattern": RESERVED_ENV_NAMES_PATTERN}},
}
EnvVariables = Annotated[
    dict[str, str],
    WithJsonSchema(
        {
            **_VARIABLES_SCHEMA,
            "additionalProperties": {
                "type": "string",
                "maxLength": MAX_ENV_VALUE_LENGTH,
                "pattern": "^[^\\x00]*$",
            },
        }
    ),
    BeforeValidator(_variables("variable")),
]
ParameterValue = str | int | float | bool
Parameters = Annotated[
    dict[str, ParameterValue],
    WithJsonSchema(
        {
            **_VARIABLES_SCHEMA,
            # A text value has the limits of an environment variable's (it becomes one).
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "maxLength": MAX_ENV_VALUE_LENGTH, "pattern": "^[^\\x00]*$"},
                    {"type": ["number", "boolean"]},
                ]
            },
        }
    ),
    BeforeValidator(_variables("parameter")),
]
RunnerName = Literal["local", "ray"]
MAX_RAY_RESOURCES = 32
RAY_RESOURCE_PATTERN = r"^[A-Za-z0-9_.:/\-]{1,100}$"
_RAY_RESOURCE = re.compile(RAY_RESOURCE_PATTERN)


def _ray_resources(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if len(value) > MAX_RAY_RESOURCES:
        raise ValueError(f"at most {MAX_RAY_RESOURCES} resources")
    for key, amount in value.items():
        if not isinstance(key, str) or not _RAY_RESOURCE.fullmatch(key):
            raise ValueError(f"{key!r} is not a resource name (1-100 letters, digits, '_.:/-')")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0 <= amount <= 1e9:
            raise ValueError(f"the amount of {key!r} must be a number from 0 to 1e9, not {amount!r}")
    return value


def _ray_amount(value: Any) -> Any:
    if isinstance(value, bool) or (value is not None and not isinstance(value, int | float)):
        raise ValueError(f"must be a number from 0 to 1000000, not {value!r}")
    return value


RayAmount = Annotated[float, Field(ge=0, le=1e6), BeforeValidator(_ray_amount)]
RayMemory = Annotated[int, Field(ge=0, le=2**50), _whole(0, 2**50)]
RayResources = Annotated[
    dict[str, float],
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_RAY_RESOURCES,
            "propertyNames": {"pattern": RAY_RESOURCE_PATTERN},
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1e9},
        }
    ),
    BeforeValidator(_ray_resources),
]


KernelName = Annotated[
    str,
    Field(pattern=KERNEL_NAME_PATTERN),
    _matching(KERNEL_NAME_PATTERN, "{value!r} is not a kernel name (see `jupyter kernelspec list`)"),
]
WebhookUrl = Annotated[
    str,
    Field(
        max_length=MAX_WEBHOOK_URL_LENGTH,
        pattern=WEBHOOK_URL_PATTERN,
        description="http(s) URL that receives a JSON POST when a run fails or times out.",
    ),
    _matching(WEBHOOK_URL_PATTERN, "{value!r} is not an http(s) URL"),
    _text(MAX_WEBHOOK_URL_LENGTH, strip=False),
]


WatchPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_WATCH_PATH_LENGTH,
        description="With schedule_type 'file': a glob of files relative to the workspace, e.g. "
        "'data/incoming/*.csv' ('*' and '?' within a folder name, '**' for any folders below). "
        "Its folder part before the first wildcard must be an existing folder inside the "
        "workspace: absolute paths, '..' and folders reached through a symbolic link leading "
        "outside it are refused.",
        examples=["data/incoming/*.csv", "exports/**/*.json"],
    ),
    _text(MAX_WATCH_PATH_LENGTH, required="required; give a glob such as 'data/incoming/*.csv'"),
]
WatchDebounce = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_WATCH_DEBOUNCE_SECONDS,
        description="With schedule_type 'file': seconds without further changes before the "
        "files count as arrived (default 3).",
    ),
    _whole(1, MAX_WATCH_DEBOUNCE_SECONDS),
]

MAX_DURATION_MINUTES = 7 * 24 * 60
MAX_ALERT_EMAILS = 20
DEADLINE_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
EMAIL_PATTERN = r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"
AlertOn = Literal["failure", "recovery", "deadline"]
DeadlineTime = Annotated[
    str,
    Field(
        pattern=DEADLINE_TIME_PATTERN,
        description="Wall-clock time in the job's `timezone`, 'HH:MM' or 'HH:MM:SS': each day a run "
        "must have succeeded since the previous day's deadline, else a deadline alert is raised "
        "(a time the clocks skip that day means the first instant after the jump; a time they pass "
        "twice, its first occurrence).",
        examples=["07:00"],
    ),
    _matching(DEADLINE_TIME_PATTERN, "{value!r} is not a time of day as HH:MM or HH:MM:SS (00:00 to 23:59)"),
    _strip,
]
MaxDurationMinutes = Annotated[int, Field(ge=1, le=MAX_DURATION_MINUTES), _whole(1, MAX_DURATION_MINUTES)]
SlackWebhookUrl = Annotated[
    str,
    Field(
        max_length=MAX_WEBHOOK_URL_LENGTH,
        pattern=WEBHOOK_URL_PATTERN,
        description="Slack-compatible incoming webhook URL: gets a readable message for each alert.",
    ),
    _matching(WEBHOOK_URL_PATTERN, "{value!r} is not an http(s) URL"),
    _text(MAX_WEBHOOK_URL_LENGTH, strip=False),
]


def _emails(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    if len(value) > MAX_ALERT_EMAILS:
        raise ValueError(f"at most {MAX_ALERT_EMAILS} addresses")
    for item in value:
        if not isinstance(item, str) or not re.fullmatch(EMAIL_PATTERN, item.strip()) or len(item) > 254:
            raise ValueError(f"{item!r} is not an e-mail address")
    return [item.strip() for item in value]


AlertEmails = Annotated[
    list[Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN)]],
    Field(max_length=MAX_ALERT_EMAILS, description="E-mail addresses that get the job's alerts."),
    BeforeValidator(_emails),
]
AlertOnList = Annotated[
    list[AlertOn],
    Field(
        max_length=3,
        description="What raises the job's alerts: 'failure' (a final failure or timeout), "
        "'recovery' (the first success after one), 'deadline' (deadline_time, max_duration_minutes); "
        "default: the server's alert_on setting. [] turns the job's alerts off.",
    ),
]


JobId = Annotated[
    str,
    Field(pattern=JOB_ID_PATTERN),
    _matching(JOB_ID_PATTERN, "use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit"),
]


class TriggerCondition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job_id: str = Field(min_length=1, max_length=100, description="The id of another, existing job.")
    on: TriggerOn


TriggerConditions = Annotated[
    list[TriggerCondition],
    # uniqueItems is stated, not enforced here: the job service names the repeated condition.
    Field(max_length=MAX_TRIGGER_CONDITIONS, json_schema_extra={"uniqueItems": True}),
    BeforeValidator(_at_most_conditions),
]


class JobSpecInput(BaseModel):
    """A job specification as a client sends it. Every field is optional here so that the
    same model parses a partial update (PUT); ``service`` checks the complete result.
    Fields that do not apply to the schedule type are ignored."""

    model_config = ConfigDict(extra="ignore", title="JobSpec")

    id: JobId | None = Field(
        default=None,
        description="POST jobs only: the id of an existing job to replace (or the id a new job gets).",
    )
    name: JobName | None = None
    pipeline_path: PipelinePath | None = None
    python_code: str | None = Field(
        default=None, description="The Python code generated from an .ampln pipeline; ignored for others."
    )
    description: Description | None = None
    schedule_type: ScheduleType | None = None
    date_type: DateType | None = Field(default=None, description="With schedule_type 'date'; default 'once'.")
    run_date: RunDate | None = None
    interval_days: IntervalDays | None = Field(default=None, description="With date_type 'every_x_days'.")
    interval_seconds: IntervalSeconds | None = Field(
        default=None, description="With schedule_type 'interval'."
    )
    cron_expression: CronExpression | None = None
    logical_operator: Annotated[LogicalOperator, BeforeValidator(_upper)] | None = Field(
        default=None, description="With schedule_type 'trigger'; default 'OR'."
    )
    trigger_conditions: TriggerConditions | None = Field(
        default=None, description="With schedule_type 'trigger': at least one condition."
    )
    watch_path: WatchPath | None = None
    watch_debounce_seconds: WatchDebounce | None = None
    timezone: TimeZone | None = None
    paused: bool | None = None
    max_instances: MaxInstances | None = None
    coalesce: bool | None = None
    misfire_grace_time: MisfireGrace | None = Field(default=None, description="Seconds.")
    catchup: CatchupPolicy | None = Field(
        default=None, description="What a fire time missed while no server ran does."
    )
    timeout_seconds: TimeoutSeconds | None = None
    max_retries: Retries | None = None
    retry_delay_seconds: RetryDelay | None = Field(default=None, description="Doubles at each retry.")
    env: EnvVariables | None = Field(default=None, description="Environment variables of the runs.")
    secret_env: EnvVariables | None = Field(
        default=None, description="Write-only environment variables; answers list their names only."
    )
    parameters: Parameters | None = Field(
        default=None, description="Passed to the runs as environment variables (and AMPHI_PARAMETERS)."
    )
    python_executable: str | None = Field(
        default=None, description="Absolute path of an existing Python interpreter."
    )
    working_dir: str | None = Field(default=None, description="An existing folder inside the workspace.")
    kernel_name: KernelName | None = Field(default=None, description="For .ipynb pipelines.")
    webhook_url: WebhookUrl | None = None
    deadline_time: DeadlineTime | None = None
    max_duration_minutes: MaxDurationMinutes | None = Field(
        default=None,
        description="A run that is still queued or running this many minutes after it was asked "
        "for raises a deadline alert (it is not stopped: timeout_seconds does that).",
    )
    slack_webhook_url: SlackWebhookUrl | None = None
    alert_emails: AlertEmails | None = None
    alert_on: AlertOnList | None = None
    runner: RunnerName | None = Field(
        default=None,
        description="Where the runs execute: 'local' subprocesses or a 'ray' cluster "
        "(default: the server's `runner` setting). Notebooks always run locally.",
    )
    num_cpus: RayAmount | None = Field(default=None, description="Ray runs: CPUs reserved for the run.")
    num_gpus: RayAmount | None = Field(default=None, description="Ray runs: GPUs reserved for the run.")
    memory: RayMemory | None = Field(default=None, description="Ray runs: bytes of memory reserved.")
    resources: RayResources | None = Field(
        default=None, description='Ray runs: custom resources reserved, e.g. {"special": 1}.'
    )


# ------------------------------------------------------------------ schedule variants
# They require what each kind of schedule needs; they describe the bodies of POST jobs
# and POST schedule/preview (the server parses both with JobSpecInput).


class OnceSchedule(JobSpecInput):
    """Once, at ``run_date`` (in the future)."""

    model_config = ConfigDict(title="OnceSchedule")
    schedule_type: Literal["date"]
    date_type: Literal["once"] | None = Field(default=None, description="Default 'once'.")
    run_date: RunDate


class WallClockSchedule(JobSpecInput):
    """Daily / weekly / monthly at the wall-clock time (and weekday, day of month) that
    ``run_date`` has in ``timezone``."""

    model_config = ConfigDict(title="WallClockSchedule")
    schedule_type: Literal["date"]
    date_type: Literal["daily", "weekly", "monthly"]
    run_date: RunDate


class EveryXDaysSchedule(JobSpecInput):
    """Every ``interval_days`` days, from ``run_date`` (optional start)."""

    model_config = ConfigDict(title="EveryXDaysSchedule")
    schedule_type: Literal["date"]
    date_type: Literal["every_x_days"]
    interval_days: IntervalDays


class IntervalSchedule(JobSpecInput):
    model_config = ConfigDict(title="IntervalSchedule")
    schedule_type: Literal["interval"]
    interval_seconds: IntervalSeconds


class CronSchedule(JobSpecInput):
    model_config = ConfigDict(title="CronSchedule")
    schedule_type: Literal["cron"]
    cron_expression: CronExpression


class TriggerSchedule(JobSpecInput):
    """Runs when other jobs' runs end: any condition (OR) or all of them (AND)."""

    model_config = ConfigDict(title="TriggerSchedule")
    schedule_type: Literal["trigger"]
    trigger_conditions: Annotated[
        list[TriggerCondition],
        Field(min_length=1, max_length=MAX_TRIGGER_CONDITIONS, json_schema_extra={"uniqueItems": True}),
        BeforeValidator(_at_most_conditions),
    ]


class FileSchedule(JobSpecInput):
    """Runs when files matching ``watch_path`` arrive or change in the workspace."""

    model_config = ConfigDict(title="FileSchedule")
    schedule_type: Literal["file"]
    watch_path: WatchPath


SCHEDULE_VARIANTS: tuple[type[JobSpecInput], ...] = (
    OnceSchedule,
    WallClockSchedule,
    EveryXDaysSchedule,
    IntervalSchedule,
    CronSchedule,
    TriggerSchedule,
    FileSchedule,
)


# A new job: one of the schedules, with the name and the file it runs.
class OnceJobSpec(OnceSchedule):
    model_config = ConfigDict(title="OnceJobSpec")
    name: JobName
    pipeline_path: PipelinePath


class WallClockJobSpec(WallClockSchedule):
    model_config = ConfigDict(title="WallClockJobSpec")
    name: JobName
    pipeline_path: PipelinePath


class EveryXDaysJobSpec(EveryXDaysSchedule):
    model_config = ConfigDict(title="EveryXDaysJobSpec")
    name: JobName
    pipeline_path: PipelinePath


class IntervalJobSpec(IntervalSchedule):
    model_config = ConfigDict(title="IntervalJobSpec")
    name: JobName
    pipeline_path: PipelinePath


class CronJobSpec(CronSchedule):
    model_config = ConfigDict(title="CronJobSpec")
    name: JobName
    pipeline_path: PipelinePath


class TriggerJobSpec(TriggerSchedule):
    model_config = ConfigDict(title="TriggerJobSpec")
    name: JobName
    pipeline_path: PipelinePath


class FileJobSpec(FileSchedule):
    model_config = ConfigDict(title="FileJobSpec")
    name: JobName
    pipeline_path: PipelinePath


JOB_VARIANTS: tuple[type[JobSpecInput], ...] = (
    OnceJobSpec,
    WallClockJobSpec,
    EveryXDaysJobSpec,
    IntervalJobSpec,
    CronJobSpec,
    TriggerJobSpec,
    FileJobSpec,
)


class RunNowRequest(BaseModel):
    """The optional body of ``POST run/{job_id}``."""

    model_config = ConfigDict(extra="ignore", title="RunNowRequest")

    wait: bool = Field(
        default=True,
        description="true: answer when the run ends (RunNowResult); false: answer 202 with the Run at once.",
    )
    python_code: str | None = Field(
        default=None, description="Fresh generated code of an .ampln job, stored before the run."
    )
    parameters: Parameters | None = Field(
        default=None, description="For this run only: merged over the job's parameters, key by key."
    )
    env: EnvVariables | None = Field(
        default=None, description="For this run only: merged over the job's environment variables."
    )
    timeout_seconds: TimeoutSeconds | None = Field(
        default=None, description="For this run only: replaces the job's timeout."
    )

    def overrides(self) -> RunOverrides:
        return RunOverrides(self.parameters, self.env, self.timeout_seconds)


class BackfillRequest(BaseModel):
    """The body of ``POST jobs/{job_id}/backfill``: a past range of fire times to run."""

    model_config = ConfigDict(extra="ignore", title="BackfillRequest")

    start: str = Field(
        min_length=1,
        max_length=64,
        description="ISO 8601 date-time with its UTC offset (or Z): the first fire time it may run.",
    )
    end: str = Field(
        min_length=1,
        max_length=64,
        description="ISO 8601 date-time with its UTC offset (or Z), at most now: the last fire time it "
        "may run (included).",
    )
    max_active: MaxInstances | None = Field(
        default=None,
        description="How many of its runs may be active at once (1 when absent; at most the "
        "server's max_concurrent_runs).",
    )


def parse_backfill(body: dict[str, Any]) -> BackfillRequest:
    """The body of ``POST jobs/{job_id}/backfill``, or a 400 naming each wrong field."""
    try:
        return BackfillRequest.model_validate(body)
    except ValidationError as err:
        raise InvalidRequestError(pydantic_message(err)) from None


def parse_instant(name: str, text: str) -> datetime:
    """An ISO 8601 instant with its UTC offset (or Z), or a 400 naming ``name``."""
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise InvalidRequestError(
            f"{name}: not an ISO 8601 date and time, such as 2030-01-15T08:30:00Z: {text[:64]!r}."
        ) from None
    if value.tzinfo is None:
        raise InvalidRequestError(f"{name}: needs its UTC offset (or Z), such as 2030-01-15T08:30:00Z.")
    try:
        value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise InvalidRequestError(f"{name}: out of range.") from None
    return value


def parse_run_now(body: dict[str, Any]) -> RunNowRequest:
    """The body of ``POST run/{job_id}``, or a 400 naming each wrong field."""
    try:
        return RunNowRequest.model_validate(body)
    except ValidationError as err:
        raise InvalidRequestError(pydantic_message(err)) from None


def parse_webhook_parameters(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON object a webhook call sends: the run's parameters, checked like a job's
    ``parameters`` (names, value types, sizes), or a 400 whose ``fields`` name the parameter."""
    if len(body) > MAX_ENV_ENTRIES:
        raise InvalidRequestError(f"body: at most {MAX_ENV_ENTRIES} parameters, not {len(body)}")
    for key, value in body.items():
        problem = None
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            problem = "not a valid parameter name (letters, digits, '_'; not starting with a digit)"
        elif key.startswith(RESERVED_ENV_PREFIX):
            problem = RESERVED_NAME
        elif isinstance(value, float) and not math.isfinite(value):
            problem = f"must be a finite number, not {value}"
        elif isinstance(value, str):
            if "\x00" in value or len(value) > MAX_ENV_VALUE_LENGTH:
                problem = f"at most {MAX_ENV_VALUE_LENGTH} characters, without NUL bytes"
        elif not isinstance(value, int | float | bool):
            problem = f"a parameter value must be text, a number or true/false, not {type(value).__name__}"
        if problem is not None:
            raise InvalidRequestError(f"{key!r}: {problem}", fields={str(key)[:100]: problem})
    return dict(body)


class ComponentsConfigWrite(BaseModel):
    model_config = ConfigDict(extra="ignore", title="ComponentsConfigWrite")

    content: str = Field(description="The TOML text of .amphi/config.toml.")


class ComponentFileWrite(BaseModel):
    model_config = ConfigDict(extra="ignore", title="ComponentFileWrite")

    filename: str = Field(min_length=1, description="A file name (no folders) in .amphi/components/.")
    content: str


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
    seen: list[_NonFinite] = []

    def non_finite(text: str) -> _NonFinite:
        seen.append(_NonFinite(text))
        return seen[-1]

    def number(text: str) -> float | _NonFinite:
        value = float(text)
        return value if math.isfinite(value) else non_finite(text)

    try:
        data = json.loads(raw, parse_constant=non_finite, parse_float=number)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidRequestError(f"The request body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object ({...}).")
    if seen:
        # NaN and Infinity are not JSON numbers (JSON.parse refuses them): no field takes one.
        where, text = _non_finite(data)
        problem = f"must be a finite number, not {text}"
        name = ".".join(where)
        fields = None if len(where) > 1 else {name[:100]: problem}  # a webhook's parameter
        raise InvalidRequestError(f"{name}: {problem}", fields=fields)
    return data


class _NonFinite:
    """Stands for a number the JSON text gave as NaN, Infinity or too large for a float."""

    def __init__(self, text: str) -> None:
        self.text = text


def _non_finite(data: dict[str, Any]) -> tuple[list[str], str]:
    """The path of keys and indexes to the first non-finite number of a parsed body."""
    stack: list[tuple[list[str], Any]] = [([], data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, _NonFinite):
            return where or ["body"], value.text
        if isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(reversed([([*where, str(key)], item) for key, item in items]))
    return ["body"], "NaN"


class RunResult(TypedDict):
    """The original system's answer to a waited run-now (``api_models.RunNowResult``)."""

    success: bool
    output: str
    error: str
    exit_code: int | None
    run_id: int
