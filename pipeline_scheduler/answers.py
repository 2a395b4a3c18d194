"""The Job answer: built from a stored definition, its next fire time and its runs.

Split in two because the job list renders 10,000 of them: the *static* part changes only
when the job is edited (cached by ``listing.JobListing`` as JSON text), the *moving*
fields change as it runs (paused, next fire time, last and active run, whether an
.ampln pipeline changed since its code was generated).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone
from typing import Any
from zoneinfo import ZoneInfo

from . import schedules
from .domain import JobDefinition, iso
from .models import SPEC_FIELDS
from .settings import SchedulerSettings
from .store import ActiveRunHead, JobHead
from .workspace import HashCache


class JobAnswers:
    def __init__(self, settings: SchedulerSettings, hashes: HashCache) -> None:
        self.settings = settings
        self.hashes = hashes

    def static(self, job: JobDefinition) -> tuple[dict[str, Any], Any]:
        """The parts of a job's answer that change only when the job is edited, and its zone."""
        spec = job.spec
        tz_name = spec.get("timezone") or self.settings.zone_name
        try:
            tz: Any = ZoneInfo(tz_name)
        except Exception:
            tz = timezone.utc
        answer: dict[str, Any] = {"id": job.id}
        for key in SPEC_FIELDS:
            if key in spec:
                answer[key] = spec[key]
        answer["name"] = job.name
        answer["pipeline_path"] = job.pipeline_path
        answer["timezone"] = tz_name
        answer["schedule_description"] = spec.get("_description", "")
        answer["trigger"] = spec.get("_trigger", "")
        answer["created_at"] = iso(job.created_at)
        answer["updated_at"] = iso(job.updated_at)
        answer["code_hash"] = job.code_hash
        answer["secret_env_keys"] = sorted(spec.get("_secret_env") or {})
        answer["version"] = job.version
        answer["webhook_enabled"] = job.webhook_hash is not None
        return answer, tz

    def moving(
        self,
        static: Mapping[str, Any],
        tz: Any,
        head: JobHead,
        next_run: float | None,
        active: ActiveRunHead | None,
    ) -> dict[str, Any]:
        """The fields of a job's answer that change as it runs (reads an .ampln's hash:
        call from a file thread for .ampln jobs)."""
        changed = None
        if head.pipeline_path.lower().endswith(".ampln"):
            current = self.hashes.get(self.settings.root_dir / head.pipeline_path)
            changed = current is not None and current != static.get("code_hash")
        return {
            "paused": bool(head.paused),
            "next_run_time": None if head.paused else iso(next_run, tz),
            "last_run": (
                {
                    "id": head.last_run_id,
                    "status": head.last_run_status,
                    "finished_at": iso(head.last_run_finished_at),
                }
                if head.last_run_id is not None
                else None
            ),
            "active_run": (
                {"id": active.id, "status": active.status, "started_at": iso(active.started_at)}
                if active is not None
                else None
            ),
            "pipeline_changed": changed,
        }

    def live(
        self,
        static: dict[str, Any],
        tz: Any,
        head: JobHead,
        next_run: float | None,
        active: ActiveRunHead | None,
        names: Mapping[str, str],
    ) -> dict[str, Any]:
        """A job's whole answer: its static part plus what changes as it runs."""
        answer = dict(static)
        if answer.get("schedule_type") == "trigger":  # its description names other jobs
            answer["schedule_description"] = schedules.describe(
                answer, self.settings.zone_name, lambda j: names.get(j, j)
            )
        answer.update(self.moving(static, tz, head, next_run, active))
        return answer

    def of(
        self,
        job: JobDefinition,
        next_run: float | None,
        active: ActiveRunHead | None,
        names: Mapping[str, str],
        *,
        with_code: bool,
    ) -> dict[str, Any]:
        static, tz = self.static(job)
        answer = self.live(static, tz, JobHead.of(job), next_run, active, names)
        if with_code:
            answer["python_code"] = job.python_code
        return answer
