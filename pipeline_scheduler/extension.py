"""The Jupyter Server extension: configuration (traitlets) and wiring."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Enum, Float, Integer, List, Unicode, default

from .handlers import route_table
from .service import SchedulerService, SchedulerSettings


def _local_zone() -> str:
    try:
        import tzlocal

        return str(tzlocal.get_localzone_name() or "UTC")
    except Exception:
        return "UTC"


class PipelineSchedulerApp(ExtensionApp):
    """Schedules pipelines (.py, Amphi .ampln) and runs them as subprocesses."""

    name = "pipeline_scheduler"
    load_other_extensions = True

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
    catchup = Enum(
        ["run_once", "skip"],
        default_value="run_once",
        config=True,
        help="Default for fire times missed while no server ran (within misfire_grace_time): "
        "run once at start-up, or record them as skipped. Jobs can override it.",
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
        help="URL that receives a JSON POST when a run fails or times out (jobs can set their own).",
    )
    shutdown_policy = Enum(
        ["cancel", "wait"],
        default_value="cancel",
        config=True,
        help="On a clean server stop: cancel running pipelines, or wait for them to finish.",
    )
    lock_poll_seconds = Float(
        2.0,
        config=True,
        help="How often a standby server checks whether it can take over the scheduler.",
    )

    @default("timezone")
    def _default_timezone(self) -> str:
        return _local_zone()

    def _settings_object(self) -> SchedulerSettings:
        assert self.serverapp is not None
        root = Path(self.workspace_dir or self.serverapp.root_dir).expanduser().resolve()
        data = root / ".amphi"
        if self.db_url:
            url = self.db_url
        elif self.dbPath:
            url = f"sqlite:///{Path(self.dbPath).expanduser().resolve()}"
        else:
            url = f"sqlite:///{data / 'scheduler.sqlite'}"
        return SchedulerSettings(
            root_dir=root,
            db_url=url,
            timezone=self.timezone or _local_zone(),
            log_dir=Path(self.log_dir).expanduser().resolve() if self.log_dir else data / "runs",
            max_log_bytes=self.max_log_bytes,
            tail_bytes=self.tail_bytes,
            allowed_extensions=tuple(e if e.startswith(".") else f".{e}" for e in self.allowed_extensions),
            allow_inline_code=self.allow_inline_code,
            max_code_bytes=self.max_code_bytes,
            python_executable=self.python_executable or sys.executable,
            max_concurrent_runs=self.max_concurrent_runs or (os.cpu_count() or 2),
            default_timeout_seconds=self.default_timeout_seconds or None,
            default_misfire_grace_time=self.misfire_grace_time,
            kill_grace_seconds=self.kill_grace_seconds,
            default_catchup=self.catchup,
            retention_max_runs_per_job=self.retention_max_runs_per_job,
            retention_max_age_days=self.retention_max_age_days,
            alert_webhook_url=self.alert_webhook_url,
            shutdown_policy=self.shutdown_policy,
            lock_poll_seconds=self.lock_poll_seconds,
        )

    def initialize_settings(self) -> None:
        from . import schedules

        schedules.zone(self.timezone or _local_zone())  # fail at start-up on a bad zone
        self.service = SchedulerService(self._settings_object(), log=self.log)
        self.settings["pipeline_scheduler_service"] = self.service

    def initialize_handlers(self) -> None:
        self.handlers.extend(route_table())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.service.ensure_started()
        self.log.info(
            "amphi-scheduler: workspace %s, database %s, scheduler %s",
            self.service.settings.root_dir,
            self.service.settings.db_url,
            "active" if self.service.scheduler is not None else "standby",
        )

    async def stop_extension(self) -> None:
        await self.service.stop()
