"""What makes a job valid: checks against the workspace, the schedule rules and the other
jobs, turning a complete JobSpec into the ``JobDefinition`` to store and its trigger.

Shapes and ranges of single fields are the request model's (``models.JobSpecInput``);
here live the checks that need files (the pipeline exists inside the workspace, an
interpreter is executable), the schedule (``schedules.build_trigger``) and the other jobs
(trigger targets exist, no cycles). Every refusal names its field.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from . import alerts, file_triggers, ray_runner, schedules, workspace
from .domain import JobDefinition
from .errors import InvalidRequestError, InvalidScheduleError, PayloadTooLargeError
from .graph import DependencyGraph
from .models import (
    ALL_SCHEDULE_FIELDS,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TRIGGER_CONDITIONS,
    SCHEDULE_FIELDS,
    SPEC_FIELDS,
)
from .settings import SchedulerSettings
from .store import Store
from .workers import Workers
from .workspace import HashCache

JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
_KERNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")


def schedule_kind(fields: dict[str, Any]) -> str:
    """The job's schedule_type (required); a 'date' schedule is 'once' unless told."""
    kind = fields.get("schedule_type")
    if kind is None:
        raise InvalidScheduleError(
            "schedule_type: required; one of 'date', 'interval', 'cron', 'trigger', 'file'."
        )
    if kind == "date" and not fields.get("date_type"):
        fields["date_type"] = "once"
    return str(kind)


def _first_of_every_x_days(days: object) -> object:
    """'Every N days' without a start date starts N days from now (as ISO 8601, UTC)."""
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        return None  # the schedule's own check names interval_days
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def check_job_id(job_id: object) -> str:
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise InvalidRequestError(
            "id: use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit."
        )
    return job_id


class JobValidator:
    def __init__(
        self,
        settings: SchedulerSettings,
        store: Store,
        workers: Workers,
        graph: DependencyGraph,
        hashes: HashCache,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.graph = graph
        self.hashes = hashes

    async def prepare(
        self,
        job_id: str,
        fields: dict[str, Any],
        existing: JobDefinition | None,
        *,
        schedule_changed: bool,
    ) -> tuple[JobDefinition, BaseTrigger | None]:
        """Validate a complete specification; answer the definition to store and its trigger."""
        s = self.settings
        name = fields.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("name: required; give the job a name.")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequestError(f"name: at most {MAX_NAME_LENGTH} characters.")
        description = fields.get("description")
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidRequestError(f"description: at most {MAX_DESCRIPTION_LENGTH} characters.")
        rel, target = await self.workers.fs(
            workspace.resolve_pipeline, s.root_dir, fields.get("pipeline_path"), s.extensions
        )
        kind = schedule_kind(fields)
        if kind == "date" and fields.get("date_type") == "every_x_days" and not fields.get("run_date"):
            # Count the days from a stored start, so rebuilding the trigger (a restart, another
            # server's change) never moves the schedule.
            fields["run_date"] = _first_of_every_x_days(fields.get("interval_days"))
        # One parse gives the trigger that fires and the words that describe it (it also
        # checks the time zone, trigger-only jobs included).
        schedule = schedules.parse_schedule(fields, s.zone_name, require_future=schedule_changed)
        trigger = schedule.trigger
        if kind == "trigger":
            await self.check_conditions(job_id, fields)
        if kind == "file":
            watch = await self.workers.fs(file_triggers.resolve_watch, s.root_dir, fields.get("watch_path"))
            fields["watch_path"] = watch.glob
        await self._check_execution_options(fields)
        python_code, code_hash = await self._code_snapshot(rel, target, fields, existing)

        spec: dict[str, Any] = {}
        for key in SPEC_FIELDS:
            if key in ("name", "pipeline_path"):
                continue
            if key in ALL_SCHEDULE_FIELDS and key not in SCHEDULE_FIELDS[kind]:
                continue
            if fields.get(key) is not None:
                spec[key] = fields[key]
        if kind == "date" and spec.get("date_type") != "every_x_days":
            spec.pop("interval_days", None)
        if kind == "trigger":
            spec.setdefault("logical_operator", "OR")
        spec["timezone"] = fields.get("timezone") or s.zone_name
        if fields.get("secret_env"):
            spec["_secret_env"] = fields["secret_env"]
        spec["_trigger"] = str(trigger) if trigger is not None else "trigger"
        spec["_description"] = schedule.description
        now = time.time()
        job = JobDefinition(
            id=job_id,
            name=name,
            pipeline_path=rel,
            spec=spec,
            python_code=python_code,
            code_hash=code_hash,
            paused=bool(fields.get("paused", existing.paused if existing else False)),
            created_at=existing.created_at if existing else now,
            updated_at=now,
            last_run_id=existing.last_run_id if existing else None,
            last_run_status=existing.last_run_status if existing else None,
            last_run_finished_at=existing.last_run_finished_at if existing else None,
            trigger_watermark=existing.trigger_watermark if existing else 0,
        )
        return job, trigger

    async def _code_snapshot(
        self, rel: str, target: Any, fields: dict[str, Any], existing: JobDefinition | None
    ) -> tuple[str | None, str | None]:
        """An .ampln job's generated code and the hash of the file it came from."""
        if not rel.lower().endswith(".ampln"):
            return None, None
        new_code = fields.get("python_code")
        if new_code is not None:
            self.check_code(new_code)
            if not new_code.strip():
                new_code = None
        if new_code is not None:
            return new_code, await self.workers.fs(self.hashes.get, target)
        if existing is not None and existing.pipeline_path == rel and existing.python_code:
            return existing.python_code, existing.code_hash
        raise InvalidRequestError(
            "python_code: an .ampln pipeline needs its generated Python code; open it in Amphi "
            "ETL's pipeline editor (or schedule it from the Scheduler panel, which generates it)."
        )

    def check_code(self, code: str) -> None:
        s = self.settings
        if not s.allow_inline_code:
            raise InvalidRequestError(
                "python_code: this server does not accept generated code "
                "(allow_inline_code is off), so .ampln pipelines cannot be scheduled."
            )
        if len(code.encode("utf-8", errors="replace")) > s.max_code_bytes:
            raise PayloadTooLargeError(f"python_code: larger than the {s.max_code_bytes:,} bytes allowed.")

    async def _check_execution_options(self, fields: dict[str, Any]) -> None:
        """Working folder, interpreter, kernel and webhook of a job (normalised in place)."""
        root = self.settings.root_dir
        if fields.get("working_dir"):
            fields["working_dir"] = await self.workers.fs(
                workspace.resolve_working_dir, root, fields["working_dir"]
            )
        if fields.get("python_executable"):
            fields["python_executable"] = await self.workers.fs(
                workspace.check_interpreter, fields["python_executable"]
            )
        kernel = fields.get("kernel_name")
        if kernel and not _KERNEL_NAME.fullmatch(kernel):
            raise InvalidRequestError(
                f"kernel_name: {kernel!r} is not a kernel name (see `jupyter kernelspec list`)."
            )
        if fields.get("webhook_url"):
            alerts.check_webhook_url(fields["webhook_url"])
        if fields.get("slack_webhook_url"):
            alerts.check_webhook_url(fields["slack_webhook_url"], "slack_webhook_url")
        if fields.get("runner") == "ray":
            if not ray_runner.ray_available():
                raise InvalidRequestError(f"runner: {ray_runner.RAY_EXTRA_MESSAGE}")
            if str(fields.get("pipeline_path") or "").lower().endswith(".ipynb"):
                raise InvalidRequestError("runner: notebooks run locally only; choose runner 'local'.")
        for key in ("env", "parameters"):
            if fields.get(key) == {}:
                fields[key] = None

    async def check_conditions(self, job_id: str, fields: dict[str, Any]) -> None:
        """A trigger job's conditions: at least one, no duplicates, existing jobs, no cycle."""
        conditions = fields.get("trigger_conditions") or []
        if not conditions:
            raise InvalidScheduleError(
                "trigger_conditions: give at least one condition, e.g. "
                '[{"job_id": "<another job>", "on": "success"}].'
            )
        if len(conditions) > MAX_TRIGGER_CONDITIONS:
            raise InvalidScheduleError(f"trigger_conditions: at most {MAX_TRIGGER_CONDITIONS} conditions.")
        names = await self.workers.db(self.store.job_names)
        seen: set[tuple[str, str]] = set()
        for cond in conditions:
            upstream = cond["job_id"]
            if upstream == job_id:
                raise InvalidScheduleError("trigger_conditions: a job cannot trigger itself.")
            if upstream not in names:
                raise InvalidScheduleError(f"trigger_conditions: no job with id {upstream!r}.")
            key = (upstream, cond["on"])
            if key in seen:
                raise InvalidScheduleError(
                    f"trigger_conditions: the condition on '{names[upstream]}' ({cond['on']}) is given twice."
                )
            seen.add(key)
        if self.graph.would_cycle(job_id, {c["job_id"] for c in conditions}):
            raise InvalidScheduleError(
                "trigger_conditions: these conditions would form a cycle "
                f"('{names.get(job_id, job_id)}' would end up triggering itself)."
            )
