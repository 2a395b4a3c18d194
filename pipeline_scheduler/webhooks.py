"""Inbound webhooks: a secret URL per job that starts a run when an external system calls it.

Why it is built this way:

- The token is ``secrets.token_urlsafe(32)`` (256 random bits), shown once in the answer
  of the call that creates or rotates it. The database keeps only its sha256, so a copy
  of the database does not hold a usable URL; a call's token is hashed and compared with
  ``hmac.compare_digest``.
- An unknown job, a wrong token and a disabled webhook get the same 404 with the same
  text, and nothing runs; an unknown job is compared against a stand-in hash, so the
  answer takes as long as for a wrong token.
- Each job's calls pass a token bucket of ``webhook_rate_per_minute`` (refilled
  continuously, kept per server): beyond it, 429 with ``Retry-After``. Only calls with the
  right token count, so a stranger cannot use up a job's calls.
- A call's JSON object gives values to the parameters the job declares (its
  ``parameters``), for that run only (``RunOverrides``). Parameters become environment
  variables of the run, so a name the job does not declare is refused (400 naming it):
  whoever holds the URL must not set ``PATH``, ``LD_PRELOAD``, ``PYTHONPATH`` and the like.
- A paused job answers 409 and runs nothing, as its schedule and file triggers do.
- Enabling, rotating and disabling are not changes of the job's definition: they write
  no version and leave ``updated_at`` (from which a deadline counts) as it is.
- The token is in the route, so this handler's log lines show ``[secret]`` in its place
  (``handlers.WebhookCallHandler``). The run is recorded
  ``triggered_by: "webhook"`` with an ``event`` saying where the call came from (remote
  address, body size), never the token. Like a scheduled fire it honours the job's
  ``max_instances`` (a refused call is recorded ``skipped``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .domain import JobDefinition, RunOverrides, TriggeredBy
from .errors import ConflictError, InvalidRequestError, TooManyRequestsError, WebhookNotFoundError
from .execution import ActiveRun, RunExecutor
from .jobs import JobService
from .models import parse_webhook_parameters
from .settings import SchedulerSettings
from .store import Store
from .workers import Workers

_STAND_IN_HASH = hashlib.sha256(b"no webhook").hexdigest()
NOT_FOUND = "No such webhook."
PAUSED = "The job is paused; resume it to accept webhook calls."


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


def webhook_path(job_id: str, token: str) -> str:
    """The route of a job's webhook, below the server's base URL."""
    return f"pipeline-scheduler/hooks/{job_id}/{token}"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Webhooks:
    """Enables, rotates and disables jobs' webhooks, and starts the runs they are called for."""

    def __init__(
        self,
        settings: SchedulerSettings,
        store: Store,
        workers: Workers,
        jobs: JobService,
        executor: RunExecutor,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.jobs = jobs
        self.executor = executor
        self._buckets: dict[str, _Bucket] = {}

    async def enable(self, job_id: str) -> dict[str, str]:
        """Create the job's webhook, or replace its token (the old one stops working at once).
        Answers the path and the token: the only time the token is shown."""
        await self.jobs.definition(job_id, with_code=False)
        token = secrets.token_urlsafe(32)
        await self.workers.db(self.store.set_job_fields, job_id, webhook_hash=token_hash(token))
        self._buckets.pop(job_id, None)
        return {"job_id": job_id, "path": webhook_path(job_id, token), "token": token}

    async def disable(self, job_id: str) -> None:
        await self.jobs.definition(job_id, with_code=False)
        await self.workers.db(self.store.set_job_fields, job_id, webhook_hash=None)
        self._buckets.pop(job_id, None)

    async def verify(self, job_id: str, token: str) -> JobDefinition:
        """The job a call's token opens (one call taken from its bucket), else the one 404."""
        job = await self.workers.db(self.store.get_job, job_id, True) if len(job_id) <= 100 else None
        expected = job.webhook_hash if job is not None and job.webhook_hash else _STAND_IN_HASH
        matches = hmac.compare_digest(token_hash(token), expected)
        if job is None or not job.webhook_hash or not matches:
            raise WebhookNotFoundError(NOT_FOUND)
        self._take(job_id)
        return job

    async def start(self, job: JobDefinition, body: dict[str, Any], event: dict[str, Any]) -> ActiveRun:
        """Start the run a verified call asks for, its JSON object as values of the job's
        declared parameters; 409 for a paused job, 400 for a name the job does not declare."""
        if job.paused:
            raise ConflictError(PAUSED)
        declared = list(job.spec.get("parameters") or {})
        for key in body:
            if key not in declared:
                problem = (
                    f"not a parameter of this job; it declares {', '.join(declared)}"
                    if declared
                    else "not a parameter of this job; it declares none"
                )
                name = str(key)[:100]
                raise InvalidRequestError(f"{name}: {problem}", fields={name: problem})
        parameters = parse_webhook_parameters(body)
        overrides = RunOverrides(parameters=parameters or None)
        return await self.executor.start(
            job.id, TriggeredBy.WEBHOOK, job=job, overrides=overrides, event={"kind": "webhook", **event}
        )

    def _take(self, job_id: str) -> None:
        """One call from the job's bucket, or 429 saying when the next one is allowed."""
        rate = max(1, int(self.settings.webhook_rate_per_minute))
        now = time.monotonic()
        bucket = self._buckets.get(job_id)
        if bucket is None:
            bucket = self._buckets[job_id] = _Bucket(float(rate), now)
        bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.updated) * rate / 60.0)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait = max(1, int((1.0 - bucket.tokens) * 60.0 / rate + 0.999))
            raise TooManyRequestsError(
                f"Too many calls of this webhook (at most {rate} a minute); try again in {wait} s.", wait
            )
        bucket.tokens -= 1.0
