"""Thin Tornado handlers: parse the request, await the service, serialise the answer.

Errors are raised as typed exceptions and turned into JSON answers in ONE place:
``SchedulerAPIHandler.write_error``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from datetime import datetime
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .app import SchedulerService
from .domain import RUN_STATUS_VALUES
from .errors import InvalidRequestError, PayloadTooLargeError, RunNotFoundError, SchedulerError
from .models import parse_json_object, parse_run_now

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
        try:
            value = datetime.fromisoformat((raw[:11] + raw[11:].replace(" ", "+")).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError(
                f"{name}: not an ISO 8601 date and time, such as 2030-01-15T08:30:00Z: {raw!r}."
            ) from None
        if value.tzinfo is None:
            raise InvalidRequestError(f"{name}: needs its UTC offset (or Z), such as 2030-01-15T08:30:00Z.")
        return value.timestamp()


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


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
        job, created = await self.service.jobs.create(self.body())
        self.reply(job, 201 if created else 200)


class JobHandler(SchedulerAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.reply(await self.service.jobs.get(job_id))

    @web.authenticated
    @authorized
    async def put(self, job_id: str) -> None:
        self.reply(await self.service.jobs.update(job_id, self.body()))

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
        (rf"/{p}/jobs/([^/]+)/?", JobHandler),
        (rf"/{p}/schedule/preview/?", PreviewHandler),
        (rf"/{p}/run/([^/]+)/?", RunNowHandler),
        (rf"/{p}/runs/?", RunsHandler),
        (rf"/{p}/runs/recent/?", RecentRunsHandler),
        (rf"/{p}/runs/timeline/?", RunsTimelineHandler),
        (rf"/{p}/runs/([^/]+)/cancel/?", RunCancelHandler),
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
