"""The scheduler's settings: traitlets, defined once.

``SchedulerSettings`` is a traitlets ``Configurable`` with every setting of the scheduler.
The Jupyter server extension (``extension.PipelineSchedulerApp``) inherits these traits,
so they are read from ``jupyter_server_config.py`` (``c.PipelineSchedulerApp.timezone``)
and the command line (``--PipelineSchedulerApp.max_concurrent_runs=4``) the usual way,
and hands the core a plain ``SchedulerSettings`` copied trait by trait (generically, not
field by field). Tests and the CLI build one directly: ``SchedulerSettings(workspace_dir=...)``.

Values that depend on others (the database URL from ``dbPath``, the log folder under the
workspace, the default zone) are resolved by properties here, in one place.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from traitlets import Bool, Enum, Float, Integer, List, Unicode, default
from traitlets.config import Configurable

DATA_DIR_NAME = ".amphi"


def local_zone_name() -> str:
    """The server's IANA zone name (UTC when it cannot be told)."""
    try:
        import tzlocal

        return str(tzlocal.get_localzone_name() or "UTC")
    except Exception:
        return "UTC"


def _resolved(path: str) -> Path:
    """``path`` made absolute, with "~" and links resolved; kept per path, working folder
    and home (resolving walks the path: a few system calls, asked for several times a run)."""
    return _resolved_in(path, os.getcwd(), os.environ.get("HOME"))


@functools.lru_cache(maxsize=64)
def _resolved_in(path: str, cwd: str, home: str | None) -> Path:
    return Path(path).expanduser().resolve()


class SchedulerSettings(Configurable):
    """Every setting of the scheduler (see the README's Configuration table)."""

    workspace_dir = Unicode(
        "",
        config=True,
        help="Folder whose files can be scheduled (default: the server's root_dir).",
    )
    db_url = Unicode(
        "",
        config=True,
        help="SQLAlchemy URL of the database for jobs and runs "
        "(default: sqlite:///<workspace>/.amphi/scheduler.sqlite).",
    )
    dbPath = Unicode(  # noqa: N815 - the original system's setting name
        "",
        config=True,
        help="Path of an SQLite database file (the original amphi-scheduler setting); "
        "db_url wins when both are set.",
    )
    timezone = Unicode(
        "",
        config=True,
        help="IANA time zone for schedules that do not name one (default: the server's zone).",
    )
    log_dir = Unicode("", config=True, help="Folder for run logs (default: <workspace>/.amphi/runs).")
    max_log_bytes = Integer(
        50 * 1024 * 1024,
        config=True,
        help="Largest log file kept per run; later output is discarded after a marker.",
    )
    tail_bytes = Integer(
        64 * 1024,
        config=True,
        help="Bytes of the end of stdout and of stderr kept with each run for the API.",
    )
    allowed_extensions = List(
        Unicode(),
        default_value=[".py", ".ampln", ".ipynb"],
        config=True,
        help="File extensions that can be scheduled.",
    )
    allow_inline_code = Bool(
        True,
        config=True,
        help="Accept generated Python code (python_code) for .ampln pipelines.",
    )
    max_code_bytes = Integer(5 * 1024 * 1024, config=True, help="Largest python_code accepted for a job.")
    python_executable = Unicode(
        "", config=True, help="Interpreter that runs pipelines (default: the server's Python)."
    )
    max_concurrent_runs = Integer(
        0,
        config=True,
        help="Pipelines running at once; more wait in a queue (default: number of CPUs).",
    )
    default_timeout_seconds = Float(0.0, config=True, help="Stop runs after this many seconds (0: no limit).")
    misfire_grace_time = Integer(
        60,
        config=True,
        help="Seconds after a missed fire time during which the run still starts.",
    )
    kill_grace_seconds = Float(
        5.0, config=True, help="Seconds between SIGTERM and SIGKILL when a run is stopped."
    )
    pipe_grace_seconds = Float(
        5.0,
        config=True,
        help="Seconds to keep reading a run's output after its process exited (children that "
        "inherited the pipes may still write), before the log is closed.",
    )
    catchup = Enum(
        ["all", "latest", "none", "run_once", "skip"],
        default_value="latest",
        config=True,
        help="Default for fire times missed while no server ran (within misfire_grace_time): "
        "'all' runs each of them, oldest first, never more at once than the job's "
        "max_instances; 'latest' runs the latest one; 'none' records them as skipped. "
        "'run_once' and 'skip' are the older names of 'latest' and 'none'. Jobs can override it.",
    )
    backfill_max_runs = Integer(
        1000,
        config=True,
        help="Most fire times one backfill may run; a longer range is refused with its count.",
    )
    retention_max_runs_per_job = Integer(
        500,
        config=True,
        help="Finished runs kept per job (older ones and their logs are pruned; 0: no limit).",
    )
    retention_max_age_days = Float(
        90.0, config=True, help="Finished runs older than this many days are pruned (0: no limit)."
    )
    alert_webhook_url = Unicode(
        "",
        config=True,
        help="URL that receives a JSON POST when a run fails or times out, as in the original "
        "amphi-scheduler; with alert_on set (the job's or this server's) it gets what alert_on says "
        "(jobs can set their own webhook_url).",
    )
    alert_slack_webhook_url = Unicode(
        "",
        config=True,
        help="Slack-compatible incoming webhook URL that gets a readable message for each alert "
        "(jobs can set their own slack_webhook_url).",
    )
    alert_email_to = List(
        Unicode(),
        default_value=[],
        config=True,
        help="E-mail addresses that get each alert (jobs can set their own alert_emails); needs smtp_host.",
    )
    alert_email_from = Unicode(
        "", config=True, help="Sender address of alert e-mails (default: amphi-scheduler@<smtp_host>)."
    )
    alert_on = List(
        Enum(["failure", "recovery", "deadline"]),
        default_value=None,
        allow_none=True,
        config=True,
        help="What raises an alert, for jobs that set no alert_on of their own: 'failure' (a final "
        "failure or timeout), 'recovery' (the first success after one), 'deadline' (deadline_time, "
        "max_duration_minutes), on every channel. Unset: the JSON webhooks (webhook_url, "
        "alert_webhook_url) get failures only, Slack and e-mail all three.",
    )
    public_url = Unicode(
        "",
        config=True,
        help="Base URL of JupyterLab as people open it (e.g. https://hub.example.org/user/me/); alert "
        "messages link to the run under it. Empty: messages carry no link.",
    )
    smtp_host = Unicode("", config=True, help="SMTP server for alert e-mails (empty: no e-mail).")
    smtp_port = Integer(0, config=True, help="SMTP port (0: 465 with smtp_security 'ssl', else 587).")
    smtp_username = Unicode("", config=True, help="SMTP login (empty: no login).")
    smtp_password = Unicode("", config=True, help="SMTP password.")
    smtp_security = Enum(
        ["starttls", "ssl", "none"],
        default_value="starttls",
        config=True,
        help="How the SMTP connection is protected: STARTTLS, TLS from the start (ssl), or none.",
    )
    shutdown_policy = Enum(
        ["cancel", "wait"],
        default_value="cancel",
        config=True,
        help="On a clean server stop: cancel running pipelines, or wait for them to finish.",
    )
    webhook_rate_per_minute = Integer(
        60,
        config=True,
        help="Calls a job's inbound webhook answers per minute (a token bucket of as many calls; "
        "beyond it: 429 with Retry-After).",
    )
    lock_poll_seconds = Float(
        2.0,
        config=True,
        help="How often a standby server checks whether it can take over the scheduler, and "
        "how often the active one looks for job changes made through other servers.",
    )
    sqlite_busy_timeout_seconds = Float(
        10.0,
        config=True,
        help="How long an SQLite write waits for a lock held by another process before the "
        "request answers 503.",
    )
    leadership = Enum(
        ["auto", "file", "lease"],
        default_value="auto",
        config=True,
        help="How servers agree on the one that fires jobs: 'file' (a lock file in the "
        "workspace: servers on one host), 'lease' (a lease row in the database, renewed on the "
        "database's clock: servers on several hosts sharing a PostgreSQL db_url), or 'auto' "
        "(lease for any database but SQLite).",
    )
    lease_seconds = Float(
        10.0,
        config=True,
        help="Length of the scheduler lease (leadership 'lease'): the active server renews it "
        "every third of this and stops firing shortly before it would expire; a standby takes "
        "over at most this long (plus lease_poll_seconds) after the active server died.",
    )
    run_scheduler = Bool(
        True,
        config=True,
        help="Fire jobs from this server when it holds the workspace's scheduler lock "
        "(False: serve the API only, never fire).",
    )
    runner = Enum(
        ["local", "ray"],
        default_value="local",
        config=True,
        help="Where pipelines run unless a job says otherwise: 'local' subprocesses, or jobs "
        "on a Ray cluster ('ray', needs amphi-scheduler[ray] and ray_address).",
    )
    ray_address = Unicode(
        "",
        config=True,
        help="Address of the Ray cluster's dashboard (Job Submission API), e.g. "
        "http://ray-head:8265 (default: the RAY_ADDRESS environment variable, else "
        "http://127.0.0.1:8265).",
    )
    ray_python = Unicode(
        "python",
        config=True,
        help="Interpreter that runs pipelines on the Ray nodes (a job's python_executable wins).",
    )
    ray_pending_timeout_seconds = Float(
        600.0,
        config=True,
        help="A Ray run still waiting for resources after this many seconds fails (0: no limit).",
    )
    ray_refuse_unfit_resources = Bool(
        True,
        config=True,
        help="Fail a Ray run at once when no node of the cluster has the resources it asks "
        "for (turn off for an autoscaling cluster that adds such nodes on demand).",
    )
    ray_lost_contact_seconds = Float(
        30.0,
        config=True,
        help="A Ray run whose cluster cannot be reached for this many seconds is recorded interrupted.",
    )

    @default("timezone")
    def _default_timezone(self) -> str:
        return local_zone_name()

    # -- resolved values -----------------------------------------------------------------
    @property
    def root_dir(self) -> Path:
        return _resolved(self.workspace_dir or os.getcwd())

    @property
    def amphi_dir(self) -> Path:
        return self.root_dir / DATA_DIR_NAME

    @property
    def database_url(self) -> str:
        if self.db_url:
            return str(self.db_url)
        if self.dbPath:
            return f"sqlite:///{Path(self.dbPath).expanduser().resolve()}"
        return f"sqlite:///{self.amphi_dir / 'scheduler.sqlite'}"

    @property
    def uses_lease(self) -> bool:
        """Whether leadership is the database lease (else the workspace's lock file)."""
        if self.leadership == "auto":
            return not self.database_url.startswith("sqlite")
        return bool(self.leadership == "lease")

    @property
    def lease_poll_seconds(self) -> float:
        """How often a standby tries the lease: a fraction of it, at most lock_poll_seconds."""
        return float(min(self.lock_poll_seconds, max(0.1, self.lease_seconds / 5)))

    @property
    def runs_dir(self) -> Path:
        return _resolved(self.log_dir) if self.log_dir else self.amphi_dir / "runs"

    @property
    def lock_path(self) -> Path:
        return self.amphi_dir / "scheduler.lock"

    @property
    def zone_name(self) -> str:
        return str(self.timezone or local_zone_name())

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone_name)

    @property
    def extensions(self) -> tuple[str, ...]:
        return tuple(e if e.startswith(".") else f".{e}" for e in self.allowed_extensions)

    @property
    def interpreter(self) -> str:
        return str(self.python_executable or sys.executable)

    @property
    def concurrency(self) -> int:
        return max(1, int(self.max_concurrent_runs or (os.cpu_count() or 2)))

    @property
    def timeout_default(self) -> float | None:
        return float(self.default_timeout_seconds) or None

    # -- copies --------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Every setting's value, by name."""
        return {name: getattr(self, name) for name in SchedulerSettings.class_trait_names(config=True)}

    @classmethod
    def of(cls, source: Any, **overrides: Any) -> SchedulerSettings:
        """A plain copy of the settings of ``source`` (the extension app, or another copy)."""
        values = {name: getattr(source, name) for name in cls.class_trait_names(config=True)}
        values.update(overrides)
        return cls(**values)

    def replace(self, **overrides: Any) -> SchedulerSettings:
        return SchedulerSettings.of(self, **overrides)
