"""Job definitions: validation against the workspace and the other jobs, CRUD, preview."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError

from . import alerts, schedules, workspace
from .base import _JOB_ID, COMPONENT_LIMIT, SchedulerSettings, ServiceBase, _iso, in_order  # noqa: F401
from .errors import (
    ConflictError,
    InvalidRequestError,
    InvalidScheduleError,
    PayloadTooLargeError,
)
from .listing import JobListing
from .models import (
    ALL_SCHEDULE_FIELDS,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TRIGGER_CONDITIONS,
    SCHEDULE_FIELDS,
    SPEC_FIELDS,
    parse_job_spec,
)
from .store import JobHead, JobRow
from .workspace import resolve_pipeline

_KERNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")


def _schedule_kind(fields: dict[str, Any]) -> str:
    """The job's schedule_type (required); a 'date' schedule is 'once' unless told."""
    kind = fields.get("schedule_type")
    if kind is None:
        raise InvalidScheduleError("schedule_type: required; one of 'date', 'interval', 'cron', 'trigger'.")
    if kind == "date" and not fields.get("date_type"):
        fields["date_type"] = "once"
    return str(kind)


class JobOperations(ServiceBase):
    """Job definitions: validation, create/replace/update/delete, pause, preview."""

    def _static_answer(self, row: JobRow) -> tuple[dict[str, Any], Any]:
        """The parts of a job's answer that change only when the job is edited, and its zone."""
        spec = row.spec
        tz_name = spec.get("timezone") or self.settings.timezone
        try:
            tz: Any = ZoneInfo(tz_name)
        except Exception:
            tz = timezone.utc
        answer: dict[str, Any] = {"id": row.id}
        for key in SPEC_FIELDS:
            if key in spec:
                answer[key] = spec[key]
        answer["name"] = row.name
        answer["pipeline_path"] = row.pipeline_path
        answer["timezone"] = tz_name
        answer["schedule_description"] = spec.get("_description", "")
        answer["trigger"] = spec.get("_trigger", "")
        answer["created_at"] = _iso(row.created_at)
        answer["updated_at"] = _iso(row.updated_at)
        answer["code_hash"] = row.code_hash
        answer["secret_env_keys"] = sorted(spec.get("_secret_env") or {})
        return answer, tz

    def _live_answer(
        self,
        static: dict[str, Any],
        tz: Any,
        head: JobHead,
        next_run: float | None,
        names: Mapping[str, str],
    ) -> dict[str, Any]:
        """A job's answer: its static part plus what changes as it runs."""
        answer = dict(static)
        if answer.get("schedule_type") == "trigger":
            answer["schedule_description"] = schedules.describe(
                answer, self.settings.timezone, lambda j: names.get(j, j)
            )
        answer.update(self._moving_fields(static, tz, head, next_run))
        return answer

    def _moving_fields(
        self, static: Mapping[str, Any], tz: Any, head: JobHead, next_run: float | None
    ) -> dict[str, Any]:
        """The fields of a job's answer that change as it runs (reads an .ampln's hash)."""
        changed = None
        if head.pipeline_path.lower().endswith(".ampln"):
            current = self._hashes.get(self.settings.root_dir / head.pipeline_path)
            changed = current is not None and current != static.get("code_hash")
        return {
            "paused": bool(head.paused),
            "next_run_time": None if head.paused else _iso(next_run, tz),
            "last_run": (
                {
                    "id": head.last_run_id,
                    "status": head.last_run_status,
                    "finished_at": _iso(head.last_run_finished_at),
                }
                if head.last_run_id is not None
                else None
            ),
            "pipeline_changed": changed,
        }

    def _job_answer(
        self,
        row: JobRow,
        next_run: float | None,
        names: Mapping[str, str],
        *,
        with_code: bool,
    ) -> dict[str, Any]:
        static, tz = self._static_answer(row)
        answer = self._live_answer(static, tz, JobHead.of(row), next_run, names)
        if with_code:
            answer["python_code"] = row.python_code
        return answer

    async def list_jobs(self) -> list[dict[str, Any]]:
        """Every job's answer, newest first."""
        return json.loads(await self.list_jobs_json())["jobs"]  # type: ignore[no-any-return]

    async def list_jobs_json(self) -> str:
        """``{"jobs": [...]}`` as JSON text, newest first: the answer to ``GET jobs``.

        Built from the in-memory ``JobListing``: one query reads what changed, the jobs
        edited since are read again, and only the answers that changed are rendered."""
        listing = self._listing
        async with listing.lock:
            # (Taking in 10,000 heads is work for a thread, not for the event loop.)
            changes = await self._db(self._store.job_listing, listing.seq)
            if not await self._fs(listing.apply, changes):
                changes = await self._db(self._store.job_listing, None)
                await self._fs(listing.apply, changes)
            stale = await self._fs(listing.stale)
            for start in range(0, len(stale), 500):
                rows = await self._db(self._store.get_jobs, stale[start : start + 500])
                await self._fs(self._take_static, listing, rows)
            answer = listing.reusable(changes.next_runs)
            if answer is None:
                # A job deleted between the two queries has no static part: left out.
                answer = await self._fs(self._render_listing, listing, changes.next_runs)
            return answer

    def _take_static(self, listing: JobListing, rows: list[JobRow]) -> None:
        for row in rows:
            entry = listing.jobs.get(row.id)
            if entry is None:
                continue
            entry.static, entry.tz = self._static_answer(row)
            entry.static_at, entry.prefix, entry.fragment = row.updated_at, None, None
            entry.trigger = entry.static.get("schedule_type") == "trigger"
            entry.ampln = row.pipeline_path.lower().endswith(".ampln")

    def _render_listing(self, listing: JobListing, next_runs: Mapping[str, float | None]) -> str:
        names: dict[str, str] | None = None
        parts = []
        has_ampln = False
        for _, job_id in listing.order:
            e = listing.jobs[job_id]
            if e.static is None:  # deleted before its definition was read
                continue
            has_ampln = has_ampln or e.ampln
            nxt = next_runs.get(job_id)
            if (
                e.fragment is None
                or e.next_run != nxt
                or e.ampln
                or (e.trigger and e.names_version != listing.names_version)
            ):
                if e.trigger:  # its description names other jobs
                    if names is None:
                        names = {k: v.head.name for k, v in listing.jobs.items()}
                    e.fragment = json.dumps(self._live_answer(e.static, e.tz, e.head, nxt, names))
                else:
                    if e.prefix is None:
                        e.prefix = json.dumps(e.static)[:-1]
                    moving = json.dumps(self._moving_fields(e.static, e.tz, e.head, nxt))
                    e.fragment = f"{e.prefix}, {moving[1:]}"
                e.next_run, e.names_version = nxt, listing.names_version
            parts.append(e.fragment)
        listing.answer = '{"jobs": [' + ", ".join(parts) + "]}"
        listing.next_runs = dict(next_runs)
        listing.has_ampln = has_ampln
        return listing.answer

    async def get_job(self, job_id: str) -> dict[str, Any]:
        row = await self._get_row(job_id)
        next_runs = await self._db(self._store.next_run_times, [job_id])
        names: dict[str, str] = {}
        if row.spec.get("schedule_type") == "trigger":
            names = await self._db(self._store.job_names)
        return await self._fs(self._job_answer, row, next_runs.get(job_id), names, with_code=True)

    async def create_job(self, body: Any) -> tuple[dict[str, Any], bool]:
        """Create a job, or replace one when ``id`` names an existing job.

        Answers (job, created)."""
        spec = parse_job_spec(body)
        assert self._job_lock is not None
        async with self._job_lock:
            existing = None
            job_id = spec.id
            if job_id is not None:
                if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
                    raise InvalidRequestError(
                        "id: use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit."
                    )
                existing = await self._db(self._store.get_job, job_id)
            else:
                job_id = f"job_{uuid.uuid4().hex[:16]}"
            fields = spec.model_dump(exclude_unset=True, exclude={"id"})
            row, trigger = await self._prepare(job_id, fields, existing, schedule_changed=True)
            write = self._store.insert_job if existing is None else self._store.replace_job
            revision, next_run = await self._db(
                in_order, lambda: write(row), lambda: self._schedule(row, trigger)
            )
            self._note_revision(revision)
            self._index_dependent(row.id, row.spec)
            names: dict[str, str] = {}
            if row.spec.get("schedule_type") == "trigger":
                names = await self._db(self._store.job_names)
            if row.pipeline_path.lower().endswith(".ampln"):  # reads the file's hash
                answer = await self._fs(self._job_answer, row, next_run, names, with_code=True)
            else:
                answer = self._job_answer(row, next_run, names, with_code=True)
        return answer, existing is None

    async def update_job(self, job_id: str, body: Any) -> dict[str, Any]:
        spec = parse_job_spec(body)
        assert self._job_lock is not None
        async with self._job_lock:
            existing = await self._get_row(job_id)
            patch = spec.model_dump(exclude_unset=True, exclude={"id"})
            merged = {k: v for k, v in existing.spec.items() if not k.startswith("_")}
            merged["name"] = existing.name
            merged["pipeline_path"] = existing.pipeline_path
            merged["paused"] = existing.paused
            schedule_changed = any(k in patch for k in ("schedule_type", "timezone", *ALL_SCHEDULE_FIELDS))
            if "schedule_type" in patch and patch["schedule_type"] != merged.get("schedule_type"):
                for key in ALL_SCHEDULE_FIELDS:
                    if key not in patch:
                        merged.pop(key, None)
            merged.update(patch)
            if "secret_env" not in patch and existing.spec.get("_secret_env"):
                merged["secret_env"] = existing.spec["_secret_env"]
            row, trigger = await self._prepare(job_id, merged, existing, schedule_changed)

            def reschedule() -> None:
                if schedule_changed:
                    self._schedule(row, trigger)
                else:
                    # Re-adding the job would restart an interval's countdown: change it in place.
                    self._update_scheduled(row, pause_changed=existing.paused != row.paused)

            revision, _ = await self._db(in_order, lambda: self._store.replace_job(row), reschedule)
            self._note_revision(revision)
            self._index_dependent(row.id, row.spec)
        return await self.get_job(job_id)

    async def _prepare(
        self,
        job_id: str,
        fields: dict[str, Any],
        existing: JobRow | None,
        schedule_changed: bool,
    ) -> tuple[JobRow, Any]:
        """Validate a complete specification; answer the row to store and its trigger."""
        s = self.settings
        name = fields.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("name: required; give the job a name.")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequestError(f"name: at most {MAX_NAME_LENGTH} characters.")
        description = fields.get("description")
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidRequestError(f"description: at most {MAX_DESCRIPTION_LENGTH} characters.")
        rel, target = await self._fs(
            resolve_pipeline, s.root_dir, fields.get("pipeline_path"), s.allowed_extensions
        )
        kind = _schedule_kind(fields)
        # (build_trigger also checks the time zone, trigger-only jobs included.)
        trigger = schedules.build_trigger(fields, s.timezone, require_future=schedule_changed)
        if kind == "trigger":
            await self._check_conditions(job_id, fields)

        await self._check_execution_options(fields)
        python_code, code_hash = None, None
        if rel.lower().endswith(".ampln"):
            new_code = fields.get("python_code")
            if new_code is not None:
                if not s.allow_inline_code:
                    raise InvalidRequestError(
                        "python_code: this server does not accept generated code "
                        "(allow_inline_code is off), so .ampln pipelines cannot be scheduled."
                    )
                if len(new_code.encode("utf-8", errors="replace")) > s.max_code_bytes:
                    raise PayloadTooLargeError(
                        f"python_code: larger than the {s.max_code_bytes:,} bytes allowed."
                    )
                if not new_code.strip():
                    new_code = None
            if new_code is not None:
                python_code = new_code
                code_hash = await self._fs(self._hashes.get, target)
            elif existing is not None and existing.pipeline_path == rel and existing.python_code:
                python_code, code_hash = existing.python_code, existing.code_hash
            else:
                raise InvalidRequestError(
                    "python_code: an .ampln pipeline needs its generated Python code; open it "
                    "in Amphi ETL's pipeline editor (or schedule it from the Scheduler panel, "
                    "which generates it)."
                )

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
        spec["timezone"] = fields.get("timezone") or s.timezone
        if fields.get("secret_env"):
            spec["_secret_env"] = fields["secret_env"]
        spec["_trigger"] = str(trigger) if trigger is not None else "trigger"
        spec["_description"] = schedules.describe(spec, s.timezone)
        now = time.time()
        row = JobRow(
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
        return row, trigger

    async def _check_execution_options(self, fields: dict[str, Any]) -> None:
        """Working folder, interpreter, kernel and webhook of a job (normalised in place)."""
        if fields.get("working_dir"):
            fields["working_dir"] = await self._fs(
                workspace.resolve_working_dir, self.settings.root_dir, fields["working_dir"]
            )
        if fields.get("python_executable"):
            fields["python_executable"] = await self._fs(
                workspace.check_interpreter, fields["python_executable"]
            )
        kernel = fields.get("kernel_name")
        if kernel and not _KERNEL_NAME.fullmatch(kernel):
            raise InvalidRequestError(
                f"kernel_name: {kernel!r} is not a kernel name (see `jupyter kernelspec list`)."
            )
        if fields.get("webhook_url"):
            alerts.check_webhook_url(fields["webhook_url"])
        for key in ("env", "parameters"):
            if fields.get(key) == {}:
                fields[key] = None

    async def _check_conditions(self, job_id: str, fields: dict[str, Any]) -> None:
        conditions = fields.get("trigger_conditions") or []
        if not conditions:
            raise InvalidScheduleError(
                "trigger_conditions: give at least one condition, e.g. "
                '[{"job_id": "<another job>", "on": "success"}].'
            )
        if len(conditions) > MAX_TRIGGER_CONDITIONS:
            raise InvalidScheduleError(f"trigger_conditions: at most {MAX_TRIGGER_CONDITIONS} conditions.")
        names = await self._db(self._store.job_names)
        for cond in conditions:
            if cond["job_id"] == job_id:
                raise InvalidScheduleError("trigger_conditions: a job cannot trigger itself.")
            if cond["job_id"] not in names:
                raise InvalidScheduleError(f"trigger_conditions: no job with id {cond['job_id']!r}.")
        # A cycle exists when this job is upstream of one of its own conditions.
        upstream_of: dict[str, set[str]] = {}
        for upstream, deps in self._dependents.items():
            for dep in deps:
                upstream_of.setdefault(dep, set()).add(upstream)
        upstream_of[job_id] = {c["job_id"] for c in conditions}
        seen: set[str] = set()
        stack = list(upstream_of[job_id])
        while stack:
            current = stack.pop()
            if current == job_id:
                raise InvalidScheduleError(
                    "trigger_conditions: these conditions would form a cycle "
                    f"('{names.get(job_id, job_id)}' would end up triggering itself)."
                )
            if current in seen:
                continue
            seen.add(current)
            stack.extend(upstream_of.get(current, ()))

    async def delete_job(self, job_id: str) -> None:
        assert self._job_lock is not None
        async with self._job_lock:
            row = await self._get_row(job_id, with_code=False)
            dependents = sorted(self._dependents.get(job_id, set()))
            if dependents:
                names = await self._db(self._store.job_names)
                listed = ", ".join(f"'{names.get(d, d)}'" for d in dependents)
                raise ConflictError(
                    f"'{row.name}' is a trigger condition of {listed}; edit or delete those jobs first."
                )
            _, revision = await self._db(
                in_order, lambda: self._unschedule(job_id), lambda: self._store.delete_job(job_id)
            )
            self._note_revision(revision)
            self._index_dependent(job_id, None)
            self._dependents.pop(job_id, None)
            self._scheduled_versions.pop(job_id, None)
        for active in [a for a in self._runs.values() if a.job_id == job_id]:
            await self.cancel_run(active.run_id)
        await self.clear_runs(job_id=job_id)

    async def set_paused(self, job_id: str, paused: bool) -> dict[str, Any]:
        assert self._job_lock is not None
        async with self._job_lock:
            row = await self._get_row(job_id, with_code=False)
            now = time.time()

            def pause_or_resume() -> None:
                if self.scheduler is None or row.spec.get("schedule_type") == "trigger":
                    return
                self._scheduled_versions[job_id] = now
                try:
                    if paused:
                        self.scheduler.pause_job(job_id)
                    else:
                        self.scheduler.resume_job(job_id)
                except JobLookupError:
                    pass  # a one-off that already fired has nothing to pause

            revision, _ = await self._db(
                in_order,
                lambda: self._store.set_job_fields(job_id, paused=paused, updated_at=now, redefined=True),
                pause_or_resume,
            )
            self._note_revision(revision)
        return await self.get_job(job_id)

    async def preview(self, body: Any) -> dict[str, Any]:
        spec = parse_job_spec(body)
        fields = spec.model_dump(exclude_unset=True)
        kind = _schedule_kind(fields)
        now = datetime.now(timezone.utc)
        trigger = schedules.build_trigger(fields, self.settings.timezone, now=now)
        tz_name = fields.get("timezone") or self.settings.timezone
        names: dict[str, str] = {}
        if kind == "trigger":
            await self._check_conditions(spec.id or "", fields)
            names = await self._db(self._store.job_names)
        tz = schedules.zone(tz_name)
        return {
            "description": schedules.describe(fields, self.settings.timezone, lambda j: names.get(j, j)),
            "trigger": str(trigger) if trigger is not None else "trigger",
            "timezone": tz_name,
            "next_run_times": [
                t.astimezone(tz).isoformat() for t in schedules.next_fire_times(trigger, 5, now)
            ],
        }
