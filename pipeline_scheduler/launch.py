"""What a run is started with: its command, environment, working folder and log header.

Functions of the job definition and the settings, so the run executor stays about
queueing and recording. The file work they need is done by the caller, except the list of
the files that fired a run, which ``environment`` writes to the run's folder (it is called
on a file thread).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .domain import JobDefinition
from .settings import SchedulerSettings

# Variables of the server's own environment that a pipeline must not inherit.
_PRIVATE_ENV = ("JUPYTER_TOKEN",)
STALE_CODE_NOTICE = (
    "[amphi-scheduler] WARNING: the pipeline file changed after its code was generated; this "
    "run uses the stored code. Regenerate it from the Scheduler panel.\n"
)
FRESH_CODE_NOTICE = "[amphi-scheduler] the stored code matches the pipeline file.\n"


def command(
    job: JobDefinition, settings: SchedulerSettings, target: Path, script: Path, run_dir: Path
) -> list[str]:
    """The argv of a run. A notebook runs through this package's nbclient runner, with the
    server's Python; the notebook's own code runs in the job's kernel."""
    if job.is_notebook:
        argv = [
            sys.executable,
            "-m",
            "pipeline_scheduler.notebook_runner",
            str(target),
            str(notebook_path(run_dir)),
        ]
        if job.spec.get("kernel_name"):
            argv += ["--kernel", str(job.spec["kernel_name"])]
        return argv
    python = job.spec.get("python_executable") or settings.interpreter
    return [str(python), "-u", str(script)]


def notebook_path(run_dir: Path) -> Path:
    """Where a notebook run keeps its executed notebook."""
    return run_dir / "executed.ipynb"


def environment(
    job: JobDefinition,
    settings: SchedulerSettings,
    run_id: int,
    base: dict[str, str] | None = None,
    logical_time: float | None = None,
    event: dict[str, Any] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The environment of a run, and the secret values to keep out of its log (values
    under 4 characters are not masked: they would mask ordinary text).

    ``AMPHI_SCHEDULED_FOR`` is the run's logical time (ISO 8601 with the offset of the
    job's zone): the fire time a scheduled, catch-up, backfill or re-run run stands for,
    else when the run was asked for, so a pipeline computes "yesterday's data" the same
    way whenever it really runs."""
    env = dict(os.environ if base is None else base)
    for name in _PRIVATE_ENV:
        env.pop(name, None)
    env.update(
        PYTHONUNBUFFERED="1",
        AMPHI_SCHEDULER_RUN_ID=str(run_id),
        AMPHI_SCHEDULER_JOB_ID=job.id,
        AMPHI_SCHEDULER_WORKSPACE=str(settings.root_dir),
    )
    if logical_time is not None:
        env["AMPHI_SCHEDULED_FOR"] = logical_time_text(job, settings, logical_time)
    env.update(event_environment(event, settings.runs_dir / str(run_id)))
    env.update({k: str(v) for k, v in (job.spec.get("env") or {}).items()})
    parameters = job.spec.get("parameters") or {}
    for key, value in parameters.items():
        env[key] = json.dumps(value) if isinstance(value, bool) else str(value)
    if parameters:
        env["AMPHI_PARAMETERS"] = json.dumps(parameters)
    secrets = job.secret_env
    env.update(secrets)
    return env, [v for v in secrets.values() if len(v) >= 4]


# Above this size the list of trigger files is only in the file (the environment of a
# process is limited, 128 KiB a variable on Linux: a larger one fails the start).
MAX_TRIGGER_FILES_ENV_BYTES = 64 * 1024
TRIGGER_FILES_NAME = "trigger_files.json"


def event_environment(event: dict[str, Any] | None, run_dir: Path) -> dict[str, str]:
    """What a run started by an event is told about it. A run fired by arriving files gets
    ``AMPHI_TRIGGER_FILES_PATH``, the path of ``trigger_files.json`` in its run folder (the
    JSON list of the workspace-relative paths that fired it, written here: blocking, this
    runs on a file thread), and that list itself as ``AMPHI_TRIGGER_FILES`` when it is
    under ``MAX_TRIGGER_FILES_ENV_BYTES``."""
    if not event or event.get("kind") != "file":
        return {}
    listed = json.dumps(list(event.get("paths") or []))
    path = run_dir / TRIGGER_FILES_NAME
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(listed, encoding="utf-8")
    env = {"AMPHI_TRIGGER_FILES_PATH": str(path)}
    if len(listed.encode("utf-8")) < MAX_TRIGGER_FILES_ENV_BYTES:
        env["AMPHI_TRIGGER_FILES"] = listed
    return env


def logical_time_text(job: JobDefinition, settings: SchedulerSettings, when: float) -> str:
    """A logical time as the pipeline sees it: ISO 8601 in the job's zone, with offset."""
    try:
        tz: Any = ZoneInfo(job.spec.get("timezone") or settings.zone_name)
    except Exception:  # a zone the system no longer knows: UTC is still the right instant
        tz = timezone.utc
    return datetime.fromtimestamp(when, tz).isoformat()


def working_dir(job: JobDefinition, settings: SchedulerSettings, target: Path) -> Path:
    """The pipeline's own folder, or the job's ``working_dir`` (inside the workspace)."""
    if job.spec.get("working_dir"):
        return settings.root_dir / str(job.spec["working_dir"])
    return target.parent


def header(
    job: JobDefinition, run_id: int, triggered_by: str, attempt: int, started: str, code_changed: bool | None
) -> str:
    """The first lines of a run's log: what runs, and whether an .ampln snapshot is stale."""
    retry = f", attempt {attempt}" if attempt > 1 else ""
    text = (
        f"[amphi-scheduler] run {run_id} of '{job.name}' ({job.pipeline_path}), "
        f"{triggered_by}{retry}, started {started}\n"
    )
    if code_changed is None:
        return text
    return (STALE_CODE_NOTICE if code_changed else FRESH_CODE_NOTICE) + text
