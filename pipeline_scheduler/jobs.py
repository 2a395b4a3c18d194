"""The job service (``service.jobs``): create, replace, update, delete, pause, preview and
list job definitions.

Each change writes the job's row and tells the schedule driver in ONE hop to the
database thread (APScheduler's job-store writes are synchronous), keeps the dependency
graph current, and is serialised by one lock so two requests never interleave their
checks and writes. A second server creating the same id at the same moment gets a 409.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.exc import IntegrityError

from . import file_triggers, schedules, versions
from .answers import JobAnswers
from .domain import ACTIVE_STATUSES, JobDefinition
from .errors import ConflictError, InvalidRequestError, JobNotFoundError
from .execution import RunExecutor
from .graph import DependencyGraph
from .history import remove_run_dirs
from .listing import JobListing
from .models import ALL_SCHEDULE_FIELDS, parse_job_spec
from .scheduling import ScheduleDriver
from .settings import SchedulerSettings
from .store import Store
from .validation import JobValidator, check_job_id, schedule_kind
from .workers import Workers
from .workspace import HashCache, resolve_pipeline

# Version rows of job history (``versions.version_row``); a name of its own because
# JobService.list shadows the builtin inside the class.
VersionRows = list[dict[str, Any]]


def _differs(key: str, new: Any, stored: dict[str, Any]) -> bool:
    """Whether a schedule field of a PUT differs from the stored definition's (a run_date
    is compared as the instant it names, so '...Z' and '...+00:00' are the same)."""
    old = stored.get(key)
    if key == "run_date" and isinstance(new, str) and isinstance(old, str):
        try:
            zone = schedules.zone(stored.get("timezone") or "UTC")
            return schedules.parse_run_date(new, zone) != schedules.parse_run_date(old, zone)
        except (ValueError, LookupError):
            return True
    if key == "date_type" and new == "once" and old is None:
        return False
    return bool(new != old)


class JobService:
    def __init__(
        self,
        settings: SchedulerSettings,
        store: Store,
        workers: Workers,
        driver: ScheduleDriver,
        graph: DependencyGraph,
        validator: JobValidator,
        executor: RunExecutor,
        hashes: HashCache,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.driver = driver
        self.graph = graph
        self.validator = validator
        self.executor = executor
        self.hashes = hashes
        self.answers = JobAnswers(settings, hashes)
        self.listing = JobListing(self.answers)
        self._lock = asyncio.Lock()
        # The last change of job definitions this server made or applied ("jobs_revision").
        self._seen_revision: int | None = None
        self._listeners: list[Callable[[str | None], None]] = []

    # -- reading -------------------------------------------------------------------------
    async def definition(self, job_id: str, *, with_code: bool = True) -> JobDefinition:
        job = await self.workers.db(self.store.get_job, job_id, with_code)
        if job is None:
            raise JobNotFoundError(f"No job with id {job_id!r}; it may have been deleted.")
        return job

    async def get(self, job_id: str) -> dict[str, Any]:
        job = await self.definition(job_id)
        next_runs, active = await self.workers.db(self._moving_state, [job_id])
        names = await self.workers.db(self.store.job_names) if job.is_trigger_only else {}
        return await self.workers.fs(
            self.answers.of, job, next_runs.get(job_id), active.get(job_id), names, with_code=True
        )

    def _moving_state(self, job_ids: list[str]) -> tuple[dict[str, float | None], dict[str, Any]]:
        return self.driver.next_run_times(job_ids), self.store.active_runs(job_ids)

    async def list(self) -> list[dict[str, Any]]:
        """Every job's answer, newest first."""
        return json.loads(await self.list_json())["jobs"]  # type: ignore[no-any-return]

    async def list_json(self) -> str:
        """``{"jobs": [...]}`` as JSON text, newest first: the answer to ``GET jobs``."""
        listing = self.listing
        async with listing.lock:
            # (Taking in 10,000 heads is work for a thread, not for the event loop.)
            changes = await self.workers.db(self.store.job_listing, listing.seq, self.driver.read_next_runs)
            if not await self.workers.fs(listing.apply, changes):
                changes = await self.workers.db(self.store.job_listing, None, self.driver.read_next_runs)
                await self.workers.fs(listing.apply, changes)
            stale = await self.workers.fs(listing.stale)
            for start in range(0, len(stale), 500):
                jobs = await self.workers.db(self.store.get_jobs, stale[start : start + 500])
                await self.workers.fs(listing.take_definitions, jobs)
            answer = listing.reusable(changes)
            if answer is None:
                answer = await self.workers.fs(listing.render, changes.next_runs, changes.active_runs)
            return answer

    async def _answer(self, job: JobDefinition, next_run: float | None) -> dict[str, Any]:
        names = await self.workers.db(self.store.job_names) if job.is_trigger_only else {}
        if job.is_ampln:  # reads the file's hash
            return await self.workers.fs(self.answers.of, job, next_run, None, names, with_code=True)
        return self.answers.of(job, next_run, None, names, with_code=True)

    # -- changing ------------------------------------------------------------------------
    @staticmethod
    def _new_versions(
        existing: JobDefinition | None,
        job: JobDefinition,
        author: str,
        *,
        restored_from: int | None = None,
    ) -> VersionRows:
        """The version rows a write of ``job`` adds (and its ``version`` set): version 1 for
        a new job, the next one for a change of the definition, none when nothing changed
        (a form resent as it was, a pause sent through PUT)."""
        if existing is None:
            job.version = 1
            return [versions.version_row(job, created_at=job.updated_at, author=author, changes=[])]
        changes = versions.changed_fields(existing, job)
        job.version = existing.version
        if not changes:
            return []
        job.version = existing.version + 1
        # A job stored before job history gets its definition before this change recorded.
        return [
            versions.current_row(existing),
            versions.version_row(
                job, created_at=job.updated_at, author=author, changes=changes, restored_from=restored_from
            ),
        ]

    @staticmethod
    def _conflict(job_id: str) -> ConflictError:
        return ConflictError(
            f"The job {job_id!r} was just changed by another request; reload it and make the change again."
        )

    async def create(self, body: Any, *, author: str = "") -> tuple[dict[str, Any], bool]:
        """Create a job, or replace one when ``id`` names an existing job. Answers (job, created)."""
        spec = parse_job_spec(body)
        async with self._lock:
            existing = None
            if spec.id is not None:
                job_id = check_job_id(spec.id)
                existing = await self.workers.db(self.store.get_job, job_id)
            else:
                job_id = f"job_{uuid.uuid4().hex[:16]}"
            fields = spec.model_dump(exclude_unset=True, exclude={"id"})
            job, trigger = await self.validator.prepare(job_id, fields, existing, schedule_changed=True)
            write = self.store.insert_job if existing is None else self.store.replace_job
            new_versions = self._new_versions(existing, job, author)

            def write_and_schedule() -> tuple[int, float | None]:
                try:
                    revision = write(job, new_versions)
                except IntegrityError:
                    if existing is not None:
                        raise self._conflict(job_id) from None
                    raise ConflictError(
                        f"A job with id {job_id!r} was just created by another request; "
                        "reload and edit that job instead."
                    ) from None
                return revision, self.driver.put(job, trigger)

            revision, next_run = await self.workers.db(write_and_schedule)
            self._note_revision(revision)
            self.graph.set_job(job.id, job.spec)
            self._announce(job.id)
            answer = await self._answer(job, next_run)
        return answer, existing is None

    async def update(self, job_id: str, body: Any, *, author: str = "") -> dict[str, Any]:
        """Change some fields of a job; the others keep their values."""
        spec = parse_job_spec(body)
        async with self._lock:
            existing = await self.definition(job_id)
            patch = spec.model_dump(exclude_unset=True, exclude={"id"})
            merged = {k: v for k, v in existing.spec.items() if not k.startswith("_")}
            merged.update(name=existing.name, pipeline_path=existing.pipeline_path, paused=existing.paused)
            # A field sent again with its stored value changes nothing: a client that resends
            # the whole form (a rename of a one-off job that already fired) must not have its
            # past run_date judged as a new schedule.
            schedule_changed = any(
                k in patch and _differs(k, patch[k], existing.spec)
                for k in ("schedule_type", "timezone", *ALL_SCHEDULE_FIELDS)
            )
            if "schedule_type" in patch and patch["schedule_type"] != merged.get("schedule_type"):
                for key in ALL_SCHEDULE_FIELDS:
                    if key not in patch:
                        merged.pop(key, None)
            merged.update(patch)
            if "secret_env" not in patch and existing.secret_env:
                merged["secret_env"] = existing.secret_env
            job, trigger = await self.validator.prepare(
                job_id, merged, existing, schedule_changed=schedule_changed
            )
            await self._redefine(
                existing, job, trigger, schedule_changed, self._new_versions(existing, job, author)
            )
        return await self.get(job_id)

    async def _redefine(
        self,
        existing: JobDefinition,
        job: JobDefinition,
        trigger: Any,
        schedule_changed: bool,
        new_versions: VersionRows,
    ) -> None:
        """Write a changed definition with its version rows and tell the schedule driver
        (re-adding the job only when its schedule changed). Under the service's lock."""

        def write_and_schedule() -> int:
            try:
                revision = self.store.replace_job(job, new_versions)
            except IntegrityError:
                raise self._conflict(job.id) from None
            if schedule_changed:
                self.driver.put(job, trigger)
            else:
                self.driver.update(job, pause_changed=existing.paused != job.paused)
            return revision

        self._note_revision(await self.workers.db(write_and_schedule))
        self.graph.set_job(job.id, job.spec)
        self._announce(job.id)

    # -- history -------------------------------------------------------------------------
    async def _version_rows(self, job: JobDefinition) -> VersionRows:
        rows = await self.workers.db(self.store.job_versions, job.id)
        if not rows:  # stored before job history: its definition now is its only version
            rows = [versions.current_row(job)]
        return rows

    async def _version_row(self, job: JobDefinition, version: int) -> dict[str, Any]:
        row = await self.workers.db(self.store.job_version, job.id, version)
        if row is None and version == job.version:
            row = next((r for r in await self._version_rows(job) if r["version"] == version), None)
        if row is None:
            raise JobNotFoundError(
                f"Job {job.name!r} has no version {version}; its versions are 1 to {job.version}."
            )
        return row

    async def versions(self, job_id: str) -> dict[str, Any]:
        """``{"versions": [...]}``: a job's versions, newest first (without .ampln code)."""
        job = await self.definition(job_id)
        rows = await self._version_rows(job)
        return {"versions": [versions.answer(r, with_code=False) for r in rows]}

    async def version(self, job_id: str, version: int) -> dict[str, Any]:
        job = await self.definition(job_id)
        return versions.answer(await self._version_row(job, version), with_code=True)

    async def restore(self, job_id: str, version: int, *, author: str = "") -> dict[str, Any]:
        """Make a job's definition what version ``version`` was, as a new version (its
        secrets and paused state stay as they are now). Checked as any edit is: a version
        whose file is gone or whose condition job was deleted is refused, naming the field."""
        async with self._lock:
            existing = await self.definition(job_id)
            row = await self._version_row(existing, version)
            # Checked as a request body is (the rules may have changed since it was stored).
            fields = parse_job_spec(versions.restore_fields(row, existing)).model_dump(
                exclude_unset=True, exclude={"id"}
            )
            schedule_changed = any(
                _differs(k, fields.get(k), existing.spec)
                for k in ("schedule_type", "timezone", *ALL_SCHEDULE_FIELDS)
            )
            job, trigger = await self.validator.prepare(
                job_id, fields, existing, schedule_changed=schedule_changed
            )
            if job.is_ampln and fields.get("python_code"):
                job.code_hash = versions.restored_code_hash(row)
            new_versions = self._new_versions(existing, job, author, restored_from=version)
            if new_versions:
                await self._redefine(existing, job, trigger, schedule_changed, new_versions)
        return await self.get(job_id)

    async def set_paused(self, job_id: str, paused: bool) -> dict[str, Any]:
        async with self._lock:
            job = await self.definition(job_id, with_code=False)

            def write_and_schedule() -> int | None:
                revision = self.store.set_job_fields(
                    job_id, paused=paused, updated_at=time.time(), redefined=True
                )
                if not job.is_trigger_only:
                    self.driver.set_paused(job_id, paused)
                return revision

            self._note_revision(await self.workers.db(write_and_schedule))
            self._announce(job_id)
        return await self.get(job_id)

    async def delete(self, job_id: str) -> None:
        """Delete a job with its history (refused while other jobs have conditions on it)."""
        async with self._lock:
            job = await self.definition(job_id, with_code=False)
            dependents = sorted(self.graph.dependents_of(job_id))
            if dependents:
                names = await self.workers.db(self.store.job_names)
                listed = ", ".join(f"'{names.get(d, d)}'" for d in dependents)
                raise ConflictError(
                    f"'{job.name}' is a trigger condition of {listed}; edit or delete those jobs first."
                )

            def unschedule_and_delete() -> int:
                self.driver.remove(job_id)
                return self.store.delete_job(job_id)

            self._note_revision(await self.workers.db(unschedule_and_delete))
            self.graph.set_job(job_id, None)
            self._announce(job_id)
        for active in self.executor.active_of_job(job_id):
            await self.executor.cancel(active.run_id)
        victims = await self.workers.db(
            self.store.delete_runs, job_id=job_id, exclude_statuses=[s.value for s in ACTIVE_STATUSES]
        )
        await self.workers.fs(remove_run_dirs, self.settings.runs_dir, [run_id for run_id, _ in victims])

    async def refresh_code(self, job: JobDefinition, python_code: str) -> JobDefinition:
        """Store newly generated code for an .ampln job (run now with fresh code). The
        schedule is untouched, so the driver is not told (an interval keeps its countdown)."""
        if not python_code.strip():
            raise InvalidRequestError("python_code: empty; generate the pipeline's code again.")
        self.validator.check_code(python_code)
        s = self.settings
        _, target = await self.workers.fs(resolve_pipeline, s.root_dir, job.pipeline_path, s.extensions)
        code_hash = await self.workers.fs(self.hashes.get, target)
        await self.workers.db(
            self.store.set_job_fields,
            job.id,
            python_code=python_code,
            code_hash=code_hash,
            updated_at=time.time(),
        )
        job.python_code, job.code_hash = python_code, code_hash
        return job

    # -- preview -------------------------------------------------------------------------
    async def preview(self, body: Any) -> dict[str, Any]:
        """Validate a schedule: its description and next 5 fire times, from the same trigger
        that would fire it."""
        spec = parse_job_spec(body)
        fields = spec.model_dump(exclude_unset=True)
        kind = schedule_kind(fields)
        now = datetime.now(timezone.utc)
        names: dict[str, str] = {}
        if kind == "trigger":
            await self.validator.check_conditions(spec.id or "", fields)
            names = await self.workers.db(self.store.job_names)
        if kind == "file":  # the glob as a save checks it (a 400 at watch_path)
            watch = await self.workers.fs(
                file_triggers.resolve_watch, self.settings.root_dir, fields.get("watch_path")
            )
            fields["watch_path"] = watch.glob
        schedule = schedules.parse_schedule(
            fields, self.settings.zone_name, now=now, job_name=lambda j: names.get(j, j)
        )
        tz = schedules.zone(schedule.timezone)
        return {
            "description": schedule.description,
            "trigger": str(schedule.trigger) if schedule.trigger is not None else "trigger",
            "timezone": schedule.timezone,
            "next_run_times": [t.astimezone(tz).isoformat() for t in schedule.next_fire_times(5, now)],
        }

    async def next_runs(self, job_id: str, count: int) -> dict[str, Any]:
        """A job's next ``count`` fire times: from the fire time the schedule driver holds
        (so an interval keeps its countdown), else (paused) from now as if it were resumed.
        Empty for trigger-only jobs and fired one-off jobs."""
        job = await self.definition(job_id, with_code=False)
        stored = (await self.workers.db(self.driver.next_run_times, [job_id])).get(job_id)
        schedule = schedules.parse_schedule(job.spec, self.settings.zone_name, require_future=False)
        tz = schedules.zone(schedule.timezone)
        times: list[datetime] = []
        if schedule.trigger is not None:
            if stored is not None and not job.paused:
                first = datetime.fromtimestamp(stored, timezone.utc)
                times = [first]
                if isinstance(job.spec.get("interval_seconds"), int) and schedule.kind == "interval":
                    step = timedelta(seconds=job.spec["interval_seconds"])
                    times += [first + step * k for k in range(1, count)]
                else:
                    later = schedules.next_fire_times(schedule.trigger, count, first + timedelta(seconds=1))
                    times += [t for t in later if t > first][: count - 1]
            elif job.paused or not job.is_one_off:
                times = schedule.next_fire_times(count, datetime.now(timezone.utc))
        return {
            "job_id": job_id,
            "timezone": schedule.timezone,
            "description": schedule.description,
            "paused": job.paused,
            "next_run_times": [t.astimezone(tz).isoformat() for t in times[:count]],
        }

    # -- changes made through other servers ---------------------------------------------
    def on_change(self, listener: Callable[[str | None], None]) -> None:
        """``listener(job_id)`` after each change of a definition (created, edited, paused or
        resumed, restored, deleted); ``listener(None)`` after changes made through another
        server were applied (any job may have changed). Called on the event loop: a
        listener only notes the change."""
        self._listeners.append(listener)

    def _announce(self, job_id: str | None) -> None:
        for listener in self._listeners:
            listener(job_id)

    def _note_revision(self, revision: int | None) -> None:
        """Our own change made ``revision``: when it directly follows the last one applied,
        nothing else changed and the watch loop need not reload."""
        if revision is not None and self._seen_revision is not None and revision == self._seen_revision + 1:
            self._seen_revision = revision

    async def load(self) -> None:
        """At start-up: the dependency graph from the stored definitions."""
        self._seen_revision = int(await self.workers.db(self.store.get_meta, "jobs_revision") or 0)
        self.graph.rebuild(await self.workers.db(self.store.list_trigger_jobs))

    async def reconcile(self, *, full: bool, rebuild: bool = False) -> None:
        """Give the schedule driver every definition (start-up, or after another server's change)."""

        def read_and_reconcile() -> None:
            self.driver.reconcile(self.store.list_jobs(), full=full, rebuild=rebuild)

        await self.workers.db(read_and_reconcile)

    async def follow_other_servers(self) -> int:
        """Apply job changes made through another server on the same database; answer the
        definitions' current revision (it moves with every change, ours included)."""
        revision = int(await self.workers.db(self.store.get_meta, "jobs_revision") or 0)
        if revision != self._seen_revision:
            self._seen_revision = revision
            self.graph.rebuild(await self.workers.db(self.store.list_trigger_jobs))
            await self.reconcile(full=True)
            self._announce(None)
        return revision
