"""Thin Tornado handlers: parse the request, await the service, serialise the answer.

Errors are raised as typed exceptions and turned into JSON answers in ONE place:
``SchedulerAPIHandler.write_error``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .app import SchedulerService
from .backfills import BackfillNotFoundError
from .domain import RUN_STATUS_VALUES
from .errors import (
    InvalidRequestError,
    JobNotFoundError,
    PayloadTooLargeError,
    RunNotFoundError,
    SchedulerError,
    TooManyRequestsError,
)
from .models import parse_instant, parse_json_object, parse_run_now

try:
    from jupyter_server.auth.decorator import allow_unauthenticated
except ImportError:  # jupyter_server < 2.13 lets any method through when not @authenticated

    def allow_unauthenticated(method: Any) -> Any:  # type: ignore[misc]
        return method


AUTH_RESOURCE = "pipeline-scheduler"
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_STRIP_JOBS = 200
MAX_TIMELINE_SECONDS = 366 * 86400


class SchedulerAPIHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> SchedulerService:
        return self.settings["pipeline_scheduler_service"]  # type: ignore[no-any-return]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        length = self.request.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise PayloadTooLargeError(
                f"The request body is larger than the {MAX_BODY_BYTES:,} bytes allowed."
            )
        await self.service.ensure_started()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message: str | None
        fields: dict[str, str] = {}
        if isinstance(exc, SchedulerError):
            status, message, fields = exc.status_code, exc.message, exc.fields
            if isinstance(exc, TooManyRequestsError):
                self.set_header("Retry-After", str(exc.retry_after))
        elif isinstance(exc, web.HTTPError):
            status = exc.status_code
            message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            if status == 403 and not message:
                message = (
                    "Forbidden: this route needs Jupyter authentication (a token, or a "
                    "logged-in browser session with its XSRF token)."
                )
            message = message or exc.reason or self._reason
        else:
            status = 500
            message = f"Internal error ({type(exc).__name__ if exc else 'unknown'}); see the server log."
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        answer: dict[str, Any] = {"error": message or "Error"}
        if fields:
            answer["fields"] = fields
        self.finish(json.dumps(answer))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, SchedulerError):
            self.log.info(
                "%s %s -> %s: %s", self.request.method, self.request.path, value.status_code, value.message
            )
            return
        super().log_exception(typ, value, tb)

    @property
    def author(self) -> str:
        """Who makes a change, for job history: the Jupyter user's name. With one shared
        token the user is an anonymous one made up per session; a client that says who
        runs it (the CLI sends ``<OS user> (cli)`` in AUTHOR_HEADER) is then named by
        that; a named user keeps their name, with the client's "(cli)" added."""
        user = self.current_user
        name = str(getattr(user, "name", "") or getattr(user, "username", "") or "")
        claimed = _CONTROL_CHARACTERS.sub(" ", self.request.headers.get(AUTHOR_HEADER, "")).strip()[:200]
        anonymous = bool(_ANONYMOUS_ID.fullmatch(str(getattr(user, "username", "")))) or not name
        if not claimed:
            return name
        if anonymous:
            return claimed
        client = _CLIENT_SUFFIX.search(claimed)
        return f"{name} ({client.group(1)})" if client else name

    def body(self, *, allow_empty: bool = False) -> dict[str, Any]:
        return parse_json_object(self.request.body, allow_empty=allow_empty)

    def reply(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def text_argument(self, name: str) -> str | None:
        """A query argument as sent. (Tornado's own getter turns control characters into
        spaces and strips them, so 'a.json%00' would silently name 'a.json': refuse.)"""
        values = self.request.query_arguments.get(name)
        if not values:
            return None
        try:
            value = values[-1].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError(f"{name}: not valid UTF-8.") from None
        if _CONTROL_CHARACTERS.search(value):
            raise InvalidRequestError(f"{name}: contains control characters (such as NUL).")
        return value

    def int_argument(self, name: str, default: int | None, low: int, high: int) -> int | None:
        raw = self.text_argument(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequestError(f"{name}: must be a whole number, not {raw!r}.") from None
        if not low <= value <= high:
            raise InvalidRequestError(f"{name}: must be from {low} to {high}, not {value}.")
        return value

    def instant_argument(self, name: str, default: float) -> float:
        """An ISO 8601 instant with its offset (or Z) as POSIX seconds."""
        raw = self.text_argument(name)
        if raw is None or raw == "":
            return default
        # A '+' of the offset sent unescaped in a query reads as a space.
        return parse_instant(name, raw[:11] + raw[11:].replace(" ", "+")).timestamp()


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# The header a client names its user with (job history's author), and what it looks like.
AUTHOR_HEADER = "X-Pipeline-Scheduler-Author"
_CLIENT_SUFFIX = re.compile(r"\(([^()]{1,40})\)$")
# jupyter_server's anonymous users (one shared token) have a random uuid4 hex username.
_ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")


def _run_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise RunNotFoundError(f"No run with id {raw!r}; run ids are whole numbers.")
    return int(raw)


class JobsHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(await self.service.jobs.list_json())

    @web.authenticated
    @authorized
    async def post(self) -> None:
        job, created = await self.service.jobs.create(self.body(), author=self.author)
        self.reply(job, 201 if created else 200)


class JobHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.reply(await self.service.jobs.get(job_id))

    @web.authenticated
    @authorized
    async def put(self, job_id: str) -> None:
        self.reply(await self.service.jobs.update(job_id, self.body(), author=self.author))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        await self.service.jobs.delete(job_id)
        self.reply({"success": True})


class JobPauseHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, job_id: str, action: str) -> None:
        self.reply(await self.service.jobs.set_paused(job_id, action == "pause"))


class JobNextRunsHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        count = self.int_argument("count", 10, 1, 50) or 10
        self.reply(await self.service.jobs.next_runs(job_id, count))


def _version(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise JobNotFoundError(f"No version {raw!r}; versions are whole numbers from 1.")
    return int(raw)


class JobVersionsHandler(SchedulerAPIHandler):
    """A job's versions (job history), newest first."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.reply(await self.service.jobs.versions(job_id))


class JobVersionHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str, version: str) -> None:
        self.reply(await self.service.jobs.version(job_id, _version(version)))


class JobRestoreHandler(SchedulerAPIHandler):
    """Make a job's definition what one of its versions was (recorded as a new version)."""

    @web.authenticated
    @authorized
    async def post(self, job_id: str, version: str) -> None:
        self.reply(await self.service.jobs.restore(job_id, _version(version), author=self.author))


class PreviewHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self.service.jobs.preview(self.body()))


class RunNowHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        body = self.body(allow_empty=True)
        wait = body.get("wait", True)
        if not isinstance(wait, bool):
            raise InvalidRequestError("wait: must be true or false.")
        if "python_code" in body and not isinstance(body["python_code"], str | None):
            raise InvalidRequestError("python_code: must be text.")
        request = parse_run_now(body)
        answer, finished = await self.service.runs.run_now(
            job_id, wait=wait, python_code=request.python_code, overrides=request.overrides()
        )
        self.reply(answer, 200 if finished else 202)


class JobBackfillHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        self.reply(await self.service.backfills.create(job_id, self.body()), 202)


class JobBackfillsHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        await self.service.jobs.definition(job_id, with_code=False)  # 404 for an unknown job
        self.reply(await self.service.backfills.of_job(job_id))


class BackfillHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, backfill_id: str) -> None:
        self.reply(await self.service.backfills.get(_backfill_id(backfill_id)))


class BackfillCancelHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, backfill_id: str) -> None:
        self.reply(await self.service.backfills.cancel(_backfill_id(backfill_id)))


def _backfill_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise BackfillNotFoundError(f"No backfill with id {raw!r}; backfill ids are whole numbers.")
    return int(raw)


class RunRerunHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        self.reply(await self.service.runs.rerun(_run_id(run_id)), 202)


class JobWebhookHandler(SchedulerAPIHandler):
    """A job's inbound webhook: POST creates or rotates its token (shown in this answer
    only), DELETE disables it."""

    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        created = await self.service.webhooks.enable(job_id)
        public = self.service.settings.public_url
        if public:
            base = public.rstrip("/") + "/"
        else:
            base = f"{self.request.protocol}://{self.request.host}{self.base_url}"
        self.reply({**created, "url": base + created["path"]})

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        await self.service.webhooks.disable(job_id)
        self.reply({"success": True})


_HOOK_TOKEN = re.compile(r"(/hooks/[^/]+/)[^/]+(/?)$")


class WebhookCallHandler(SchedulerAPIHandler):
    """``POST hooks/{job_id}/{token}``: called by external systems, so authenticated by the
    token in its URL instead of Jupyter's login. The XSRF check is for requests a browser
    sends with Jupyter's cookies; this route does not look at cookies, and a page on another
    site cannot call it without knowing the token."""

    def initialize(self) -> None:
        # The token is in the path: every log line about this request (Jupyter's request
        # log, which names the URI of a 4xx, and log_exception) shows "[secret]" instead.
        # Routing has already taken the token from the path by now.
        request = self.request
        request.path = _HOOK_TOKEN.sub(r"\1[secret]\2", request.path)
        request.uri = request.path + (f"?{request.query}" if request.query else "")

    def check_xsrf_cookie(self) -> None:
        return None

    @allow_unauthenticated
    async def post(self, job_id: str, token: str) -> None:
        job = await self.service.webhooks.verify(job_id, token)
        body = self.body(allow_empty=True)
        event = {
            "remote_addr": self.request.remote_ip,
            "content_length": len(self.request.body or b""),
            "user_agent": (self.request.headers.get("User-Agent") or "")[:200],
        }
        active = await self.service.webhooks.start(job, body, event)
        self.reply(await self.service.runs.get(active.run_id), 202)


class RunsHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        status = self.text_argument("status")
        statuses = [s for s in status.split(",") if s] if status else None
        for s in statuses or []:
            if s not in RUN_STATUS_VALUES:
                raise InvalidRequestError(
                    f"status: unknown status {s!r}; use one of {', '.join(RUN_STATUS_VALUES)}."
                )
        self.reply(
            await self.service.runs.list(
                job_id=self.text_argument("job_id") or None,
                statuses=statuses,
                before=self.int_argument("before", None, 1, 2**62),
                limit=self.int_argument("limit", 200, 1, 1000) or 200,
            )
        )

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        deleted = await self.service.runs.clear(self.text_argument("job_id") or None)
        self.reply({"success": True, "deleted": deleted})


class RecentRunsHandler(SchedulerAPIHandler):
    """The run strips of the Scheduler view: the newest runs of each job asked about."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        raw = self.text_argument("job_ids")
        job_ids = list(dict.fromkeys(j for j in (raw or "").split(",") if j))
        if not job_ids:
            raise InvalidRequestError("job_ids: required; one job id or several, comma-separated.")
        if len(job_ids) > MAX_STRIP_JOBS:
            raise InvalidRequestError(
                f"job_ids: at most {MAX_STRIP_JOBS} jobs per request, not {len(job_ids)}."
            )
        per_job = self.int_argument("per_job", 20, 1, 100) or 20
        self.reply(await self.service.runs.recent_by_job(job_ids, per_job))


class RunsTimelineHandler(SchedulerAPIHandler):
    """The runs timeline: runs whose span overlaps a time range."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        now = time.time()
        until = self.instant_argument("until", now)
        since = self.instant_argument("since", until - 86400)
        if since >= until:
            raise InvalidRequestError("since: must be before until.")
        if until - since > MAX_TIMELINE_SECONDS:
            raise InvalidRequestError(
                f"since: the range may span at most {MAX_TIMELINE_SECONDS // 86400} days."
            )
        limit = self.int_argument("limit", 2000, 1, 10000) or 2000
        self.reply(await self.service.runs.timeline(since, until, limit))


class RunHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.reply(await self.service.runs.get(_run_id(run_id)))

    @web.authenticated
    @authorized
    async def delete(self, run_id: str) -> None:
        await self.service.runs.delete(_run_id(run_id))
        self.reply({"success": True})


class RunCancelHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        self.reply(await self.service.runs.cancel(_run_id(run_id)))


class RunLogHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        offset = self.int_argument("offset", 0, 0, 2**62) or 0
        max_bytes = self.int_argument("max_bytes", 65536, 1, 1024 * 1024) or 65536
        self.reply(await self.service.runs.read_log(_run_id(run_id), offset, max_bytes))


class RunLogDownloadHandler(SchedulerAPIHandler):
    """The whole log as a file, streamed from the disk chunk by chunk."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        name, chunks = await self.service.runs.log_download(_run_id(run_id))
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Content-Disposition", _attachment(name))
        async for chunk in chunks:
            self.write(chunk)
            await self.flush()  # waits for the client: a slow reader slows the reads
        self.finish()


class FinishedRunsHandler(SchedulerAPIHandler):
    """The runs that ended since a cursor, in the order they ended (for notifications)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        after = self.int_argument("after", None, 0, 2**62)
        limit = self.int_argument("limit", 200, 1, 1000) or 200
        self.reply(await self.service.runs.finished(after, limit))


def _attachment(name: str) -> str:
    """A Content-Disposition for ``name``: an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


class RunNotebookHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        name, content = await self.service.runs.notebook_file(_run_id(run_id))
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(content)


class ConfigHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(self.service.describe_config())


class ComponentsConfigHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"content": await self.service.components.read_config()})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        await self.service.components.write_config(self.body().get("content"))
        self.reply({"success": True})


class ComponentsFileHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        name = await self.service.components.save(body.get("filename"), body.get("content"))
        self.reply({"success": True, "filename": name})

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        name = await self.service.components.delete(self.text_argument("filename"))
        self.reply({"success": True, "filename": name})


class OpenAPIHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        from .openapi import build_spec

        self.reply(build_spec())


class NotFoundHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        raise web.HTTPError(404, f"No such route: pipeline-scheduler/{path}")

    post = put = delete = get


def route_table() -> list[tuple[str, type[SchedulerAPIHandler]]]:
    p = "pipeline-scheduler"
    return [
        (rf"/{p}/jobs/?", JobsHandler),
        (rf"/{p}/jobs/([^/]+)/(pause|resume)/?", JobPauseHandler),
        (rf"/{p}/jobs/([^/]+)/next_runs/?", JobNextRunsHandler),
        (rf"/{p}/jobs/([^/]+)/backfill/?", JobBackfillHandler),
        (rf"/{p}/jobs/([^/]+)/backfills/?", JobBackfillsHandler),
        (rf"/{p}/backfills/([^/]+)/cancel/?", BackfillCancelHandler),
        (rf"/{p}/backfills/([^/]+)/?", BackfillHandler),
        (rf"/{p}/jobs/([^/]+)/versions/?", JobVersionsHandler),
        (rf"/{p}/jobs/([^/]+)/versions/([^/]+)/restore/?", JobRestoreHandler),
        (rf"/{p}/jobs/([^/]+)/versions/([^/]+)/?", JobVersionHandler),
        (rf"/{p}/jobs/([^/]+)/webhook/?", JobWebhookHandler),
        (rf"/{p}/hooks/([^/]+)/([^/]+)/?", WebhookCallHandler),
        (rf"/{p}/jobs/([^/]+)/?", JobHandler),
        (rf"/{p}/schedule/preview/?", PreviewHandler),
        (rf"/{p}/run/([^/]+)/?", RunNowHandler),
        (rf"/{p}/runs/?", RunsHandler),
        (rf"/{p}/runs/recent/?", RecentRunsHandler),
        (rf"/{p}/runs/timeline/?", RunsTimelineHandler),
        (rf"/{p}/runs/([^/]+)/cancel/?", RunCancelHandler),
        (rf"/{p}/runs/([^/]+)/rerun/?", RunRerunHandler),
        (rf"/{p}/runs/finished/?", FinishedRunsHandler),
        (rf"/{p}/runs/([^/]+)/log/download/?", RunLogDownloadHandler),
        (rf"/{p}/runs/([^/]+)/log/?", RunLogHandler),
        (rf"/{p}/runs/([^/]+)/notebook/?", RunNotebookHandler),
        (rf"/{p}/runs/([^/]+)/?", RunHandler),
        (rf"/{p}/config/?", ConfigHandler),
        (rf"/{p}/components-config/?", ComponentsConfigHandler),
        (rf"/{p}/components-file/?", ComponentsFileHandler),
        (rf"/{p}/openapi.json", OpenAPIHandler),
        (rf"/{p}/(.*)", NotFoundHandler),
    ]
