"""Answer models: what every route answers, as pydantic models. One contract source.

The server keeps building its answers as plain dicts (the job list of 10,000 jobs is
cached JSON text, re-rendered only where a job changed): these models DESCRIBE those
answers. They are the response schemas of the OpenAPI document (``openapi.py``), from
which the frontend's TypeScript types are generated, and the API tests validate real
answers of a real server against them. They forbid unknown fields and validate
strictly, so an answer field that the models do not describe fails those tests.

They are not database rows (``store.JobRow`` and the run rows are): an answer is what a
client may rely on, a row is what is stored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from .domain import SPEC_FIELDS, RunStatus, TriggeredBy
from .models import (
    AlertOn,
    CatchupPolicy,
    DateType,
    LogicalOperator,
    ParameterValue,
    ScheduleType,
    TriggerCondition,
)

__all__ = [
    "ActiveRun",
    "Backfill",
    "BackfillList",
    "ComponentFileResult",
    "ComponentsConfig",
    "Config",
    "DeletedRuns",
    "Error",
    "FinishedRuns",
    "CompactRun",
    "Job",
    "JobDetail",
    "JobVersion",
    "JobVersionDefinition",
    "JobVersionList",
    "JobList",
    "JobNextRuns",
    "LastRun",
    "RecentRuns",
    "Preview",
    "Run",
    "RunDetail",
    "RunList",
    "RunLog",
    "RunNowResult",
    "RunOverridesModel",
    "RunTimeline",
    "Success",
    "WebhookToken",
]


class _Answer(BaseModel):
    # strict: a number answered as text, or text as a number, is a drift, not a coercion.
    model_config = ConfigDict(extra="forbid", strict=True)


class LastRun(_Answer):
    """The job's latest finished run."""

    id: int
    status: RunStatus
    finished_at: AwareDatetime | None


class ActiveRun(_Answer):
    """A queued or running run of the job (besides ``last_run``, its latest finished one)."""

    id: int
    status: Literal[RunStatus.QUEUED, RunStatus.RUNNING]
    started_at: AwareDatetime | None = Field(description="null while queued")


class Job(_Answer):
    """A job as ``GET jobs`` lists it: the JobSpec fields that apply to its schedule, and
    what the server adds. Never ``secret_env`` (only its names) nor ``python_code``."""

    id: str
    name: str
    pipeline_path: str
    description: str | None = None
    schedule_type: ScheduleType
    date_type: DateType | None = None
    run_date: str | None = Field(default=None, description="As it was sent (ISO 8601).")
    interval_days: int | None = None
    interval_seconds: int | None = None
    cron_expression: str | None = None
    logical_operator: LogicalOperator | None = None
    trigger_conditions: list[TriggerCondition] | None = None
    watch_path: str | None = Field(default=None, description="schedule_type 'file': the glob it watches.")
    watch_debounce_seconds: int | None = None
    timezone: str = Field(description="The job's IANA time zone (the server's default when not set).")
    max_instances: int | None = None
    coalesce: bool | None = None
    misfire_grace_time: int | None = None
    catchup: CatchupPolicy | None = None
    timeout_seconds: int | None = None
    max_retries: int | None = None
    retry_delay_seconds: int | None = None
    env: dict[str, str] | None = None
    parameters: dict[str, ParameterValue] | None = None
    python_executable: str | None = None
    working_dir: str | None = None
    kernel_name: str | None = None
    webhook_url: str | None = None
    deadline_time: str | None = Field(
        default=None, description="'HH:MM' (or 'HH:MM:SS'): a run must have succeeded by then each day."
    )
    max_duration_minutes: int | None = None
    slack_webhook_url: str | None = None
    alert_emails: list[str] | None = None
    alert_on: list[AlertOn] | None = None
    runner: Literal["local", "ray"] | None = None
    num_cpus: float | None = None
    num_gpus: float | None = None
    memory: int | None = None
    resources: dict[str, float] | None = None
    secret_env_keys: list[str] = Field(description="The names of the secret variables; never their values.")
    version: int = Field(ge=1, description="The definition's version: 1 when created, one more per change.")
    webhook_enabled: bool = Field(
        default=False, description="Whether the job has an inbound webhook (its token is never answered)."
    )
    next_run_time: AwareDatetime | None = Field(description="null when paused, finished or trigger-only")
    trigger: str = Field(description="The APScheduler trigger, as text.")
    schedule_description: str = Field(description="The schedule, for a person.")
    paused: bool
    last_run: LastRun | None
    active_run: ActiveRun | None = Field(description="The queued or running run of the job, if any.")
    created_at: AwareDatetime
    updated_at: AwareDatetime
    code_hash: str | None = Field(description="sha256 of the .ampln text the code was generated from.")
    pipeline_changed: bool | None = Field(
        description=".ampln only: whether the file changed since its code was generated."
    )


class JobDetail(Job):
    """A job as ``GET jobs/{job_id}`` (and every write) answers it: with its code."""

    python_code: str | None


class WebhookToken(_Answer):
    """The answer of ``POST jobs/{job_id}/webhook``: the only time the token is shown."""

    job_id: str
    token: str = Field(description="The secret: keep it; the server stores only its hash.")
    path: str = Field(description="pipeline-scheduler/hooks/{job_id}/{token}, below the server's base URL.")
    url: str = Field(description="The whole URL to POST to (from public_url, else this request's host).")


class JobList(_Answer):
    jobs: list[Job] = Field(description="Newest first.")


class _VersionDefinitionBase(_Answer):
    secret_env_keys: list[str] = Field(description="The names of its secret variables; never their values.")
    python_code: str | None = Field(
        default=None, description=".ampln only, and only in GET jobs/{job_id}/versions/{version}."
    )
    code_hash: str | None = Field(default=None, description=".ampln only: the hash its code came from.")


# A version's definition has the JobSpec fields of a Job answer (taken from Job, so a
# field added to jobs is part of their versions too), without what the server derives.
JobVersionDefinition = create_model(
    "JobVersionDefinition",
    __base__=_VersionDefinitionBase,
    __doc__="A job's definition as one of its versions keeps it: what a restore brings back.",
    **{  # type: ignore[call-overload]
        name: (Job.model_fields[name].annotation, Job.model_fields[name])
        for name in SPEC_FIELDS
        if name in Job.model_fields
    },
)


class JobVersion(_Answer):
    """One version of a job's definition (job history)."""

    version: int = Field(ge=1)
    created_at: AwareDatetime
    author: str | None = Field(description="Who made the change (null: not known, e.g. before job history).")
    changes: list[str] = Field(
        description="The fields that differ from the version before (empty for the first); "
        "`secret_env` when secret values changed (never the values)."
    )
    restored_from: int | None = Field(description="The version this one restored, if it is a restore.")
    definition: JobVersionDefinition  # type: ignore[valid-type]


class JobVersionList(_Answer):
    versions: list[JobVersion] = Field(description="Newest first.")


class RunOverridesModel(_Answer):
    """What one run was given over its job's values."""

    parameters: dict[str, ParameterValue] | None = None
    env: dict[str, str] | None = None
    timeout_seconds: int | None = Field(default=None, ge=1)


class Run(_Answer):
    """A run as the history lists it."""

    id: int
    job_id: str
    job_name: str
    pipeline_path: str
    status: RunStatus
    triggered_by: TriggeredBy
    attempt: int = Field(ge=1, description="1 for the first attempt, 2 for the first retry, ...")
    scheduled_for: AwareDatetime | None
    created_at: AwareDatetime | None
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    exit_code: int | None
    duration_seconds: float | None
    log_size: int = Field(ge=0)
    log_truncated: bool
    pipeline_changed: bool | None
    message: str | None = Field(description="Why it ended the way it did, e.g. why it was skipped.")
    has_notebook: bool = Field(description="A notebook run whose executed notebook can be downloaded.")
    backend: Literal["local", "ray"] = Field(
        default="local", description="Where it ran: a local subprocess or a Ray cluster."
    )
    ray_submission_id: str | None = Field(
        default=None, description="Ray runs: the job's submission id on the cluster."
    )
    overrides: RunOverridesModel | None = Field(
        default=None,
        description="What this run was given over its job's values (run with, webhook, re-run); "
        "null: the job's own values.",
    )
    event: dict[str, Any] | None = Field(
        default=None,
        description="What started an event-triggered run: the files that arrived, the webhook call.",
    )
    job_version: int | None = Field(
        default=None, ge=1, description="The version of the job definition it ran (null: before versions)."
    )
    backfill_id: int | None = Field(default=None, description="The backfill it belongs to, if any.")


class RunDetail(Run):
    """A run as ``GET runs/{run_id}`` answers it: with the tails of its output."""

    output: str = Field(description="The end of its stdout (the whole log: runs/{run_id}/log).")
    error: str = Field(description="The end of its stderr.")


class RunList(_Answer):
    runs: list[Run] = Field(description="Newest first.")
    next_cursor: int | None = Field(description="`before` of the next page; null on the last page.")


class CompactRun(_Answer):
    """A run as a run strip or the runs timeline draws it."""

    id: int
    job_id: str
    status: RunStatus
    triggered_by: TriggeredBy
    created_at: AwareDatetime | None = Field(description="When it was queued.")
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None
    duration_seconds: float | None = Field(description="started_at to finished_at; null until both exist.")


class RecentRuns(_Answer):
    """The answer to ``GET runs/recent``: each job asked about, with its newest runs."""

    runs_by_job: dict[str, list[CompactRun]] = Field(
        description="Every job id asked about; its newest runs first (an empty list for no runs)."
    )


class RunTimeline(_Answer):
    """The answer to ``GET runs/timeline``: the runs whose span overlaps the range."""

    since: AwareDatetime
    until: AwareDatetime
    runs: list[CompactRun] = Field(description="Newest first.")
    truncated: bool = Field(description="More runs overlap the range than the limit let through.")


class JobNextRuns(_Answer):
    """The answer to ``GET jobs/{job_id}/next_runs``."""

    job_id: str
    timezone: str
    description: str
    paused: bool = Field(description="When paused, the times it would fire at if resumed now.")
    next_run_times: list[AwareDatetime] = Field(
        max_length=50, description="In the schedule's zone; empty for trigger-only and fired one-off jobs."
    )


class Backfill(_Answer):
    """A backfill: a job's fire times in a past range, run oldest first."""

    id: int
    job_id: str
    start: AwareDatetime
    end: AwareDatetime
    max_active: int = Field(ge=1, description="How many of its runs may be active at once.")
    status: Literal["queued", "running", "done", "cancelled"]
    total: int = Field(ge=0, description="How many fire times the range has (one run each).")
    counts: dict[str, int] = Field(description="Its runs by status (a status with none is absent).")
    pending: int = Field(ge=0, description="Fire times not started yet (0 once it ended).")
    message: str | None = Field(description="Why it ended early (cancelled, its job deleted).")
    created_at: AwareDatetime
    finished_at: AwareDatetime | None


class BackfillList(_Answer):
    backfills: list[Backfill] = Field(description="Newest first.")


class RunNowResult(_Answer):
    """The answer to a waited ``POST run/{job_id}`` (the original system's shape)."""

    success: bool
    output: str
    error: str
    exit_code: int | None
    run_id: int


class RunLog(_Answer):
    """Log bytes of a run from ``offset``, decoded as UTF-8 (never a character cut in two)."""

    data: str
    offset: int = Field(ge=0)
    next_offset: int = Field(ge=0, description="The offset to ask for next.")
    size: int = Field(ge=0, description="The log file's size now.")
    finished: bool = Field(description="The run has ended and this chunk reaches the end of the log.")
    status: RunStatus
    stderr_ranges: list[list[int]] = Field(
        default_factory=list,
        description="The parts of `data` the pipeline wrote to stderr, as [start, end) indexes "
        "of `data` counted in UTF-16 code units (JavaScript string indexes); the rest is stdout "
        "or the scheduler's own lines. Empty for logs that do not record it.",
    )


class FinishedRuns(_Answer):
    """The answer to ``GET runs/finished``: runs in the order they ended, after a cursor."""

    runs: list[Run] = Field(
        description="The runs that ended after the cursor `after`, oldest end first; none "
        "when `after` is not given."
    )
    cursor: int = Field(ge=0, description="`after` of the next call.")


class Preview(_Answer):
    description: str
    trigger: str
    timezone: str
    next_run_times: list[AwareDatetime] = Field(
        max_length=5, description="The next fire times (at most 5), in the schedule's zone."
    )


class Config(_Answer):
    amphi_dir: str = Field(description="The workspace root.")
    timezone: str = Field(description="The default time zone of jobs.")
    allowed_extensions: list[str]
    allow_inline_code: bool
    max_concurrent_runs: int
    scheduler_state: Literal["active", "standby"] = Field(
        description="standby: another server on this workspace runs the schedules."
    )
    retention_max_runs_per_job: int
    retention_max_age_days: float
    shutdown_policy: Literal["cancel", "wait"]
    version: str = Field(description="The amphi-scheduler package version.")
    queue_length: int = Field(ge=0, description="Runs of this server waiting for a free slot.")
    running_runs: int = Field(ge=0, description="Runs of this server running now.")


class Success(_Answer):
    success: Literal[True]


class DeletedRuns(Success):
    deleted: int = Field(ge=0)


class ComponentsConfig(_Answer):
    content: str = Field(description="The text of .amphi/config.toml ('' when absent).")


class ComponentFileResult(Success):
    filename: str


class Error(_Answer):
    """Every error answer (4xx, 503)."""

    error: str = Field(description="A message a person can act on.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="What is wrong with each request field, e.g. "
        '{"interval_seconds": "must be from 1 to 316224000, not 0"}.',
    )
