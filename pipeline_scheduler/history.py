"""Run history: the Run answer, listing with a cursor, one run, its log and executed
notebook, deleting; and the run-now and cancel entry points of the API (``service.runs``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import launch, logranges
from .domain import ACTIVE_STATUSES, RunOverrides, TriggeredBy, iso
from .errors import ConflictError, InvalidRequestError, RunNotFoundError
from .execution import RunExecutor
from .settings import SchedulerSettings
from .store import Store
from .workers import Workers

if TYPE_CHECKING:
    from .jobs import JobService


def run_answer(row: Mapping[str, Any], *, detail: bool = False) -> dict[str, Any]:
    """A run as the API answers it (the detail answer adds the output and error tails)."""
    started, finished = row.get("started_at"), row.get("finished_at")
    status = row["status"]
    answer = {
        "id": row["id"],
        "job_id": row["job_id"],
        "job_name": row["job_name"],
        "pipeline_path": row["pipeline_path"],
        "status": status,
        "triggered_by": row["triggered_by"],
        "attempt": row.get("attempt") or 1,
        "scheduled_for": iso(row.get("scheduled_for")),
        "created_at": iso(row.get("created_at")),
        "started_at": iso(started),
        "finished_at": iso(finished),
        "exit_code": row.get("exit_code"),
        "duration_seconds": round(finished - started, 3) if started and finished else None,
        "log_size": row.get("log_size") or 0,
        "log_truncated": bool(row.get("log_truncated")),
        "pipeline_changed": row.get("pipeline_changed"),
        "message": row.get("message"),
        "has_notebook": str(row["pipeline_path"]).lower().endswith(".ipynb")
        and status not in ACTIVE_STATUSES
        and started is not None,
        "backend": row.get("backend") or "local",
        "ray_submission_id": row.get("ray_submission_id"),
        "overrides": _json_or_none(row.get("overrides")),
        "event": _json_or_none(row.get("event")),
        "job_version": row.get("job_version"),
        "backfill_id": row.get("backfill_id"),
    }
    if detail:
        answer["output"] = row.get("output_tail") or ""
        answer["error"] = row.get("error_tail") or ""
    return answer


def _json_or_none(text: Any) -> Any:
    return None if text is None else json.loads(text)


def compact_run_answer(row: Mapping[str, Any]) -> dict[str, Any]:
    """A run as a run strip or the timeline draws it (no log, no message)."""
    started, finished = row.get("started_at"), row.get("finished_at")
    return {
        "id": row["id"],
        "job_id": row["job_id"],
        "status": row["status"],
        "triggered_by": row["triggered_by"],
        "created_at": iso(row.get("created_at")),
        "started_at": iso(started),
        "finished_at": iso(finished),
        "duration_seconds": round(finished - started, 3) if started and finished else None,
    }


def _whole_characters(data: bytes, limit: int) -> bytes:
    """``data`` cut at ``limit`` bytes never splits a UTF-8 character: the last complete
    character ends it."""
    if len(data) < limit:
        return data
    cut = len(data)
    for back in range(1, min(4, cut) + 1):
        byte = data[cut - back]
        if byte & 0xC0 != 0x80:  # the start of a character
            needed = 1 if byte < 0x80 else 2 if byte >> 5 == 6 else 3 if byte >> 4 == 14 else 4
            if needed > back:
                cut -= back
            break
    return data[:cut]


# At most this many stderr ranges per log answer; a window with more is answered shorter.
MAX_STDERR_RANGES = 4096
LOG_FILE_CHUNK = 256 * 1024


def _read_window(path: str | None, offset: int, max_bytes: int) -> tuple[bytes, int, list[tuple[int, int]]]:
    """Log bytes from ``offset`` (whole UTF-8 characters), the file's size, and the stderr
    byte ranges inside those bytes (blocking: on a file thread)."""
    data, size = _read_from(path, offset, max_bytes)
    data = _whole_characters(data, max_bytes)
    ranges = logranges.read_ranges(path, offset, offset + len(data), MAX_STDERR_RANGES)
    if len(ranges) > MAX_STDERR_RANGES:
        # Too finely interleaved: answer up to where the range past the limit starts.
        cut = ranges[MAX_STDERR_RANGES][0] - offset
        data = _whole_characters(data[:cut], cut)
        ranges = [(a, min(b, offset + len(data))) for a, b in ranges[:MAX_STDERR_RANGES]]
    return data, size, ranges


def read_log_chunks(path: str, start: int, stop: int) -> Generator[bytes, None, None]:
    """A generator of the log's bytes ``[start, stop)`` in chunks (each ``next`` blocks:
    call it on a file thread)."""
    with open(path, "rb") as f:
        f.seek(start)
        left = stop - start
        while left > 0:
            chunk = f.read(min(LOG_FILE_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _read_from(path: str | None, offset: int, max_bytes: int) -> tuple[bytes, int]:
    if not path:
        return b"", 0
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(min(offset, size))
            return f.read(max_bytes), size
    except FileNotFoundError:
        return b"", 0


class RunService:
    def __init__(
        self,
        settings: SchedulerSettings,
        store: Store,
        workers: Workers,
        executor: RunExecutor,
        jobs: JobService,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.executor = executor
        self.jobs = jobs

    async def _row(self, run_id: int) -> dict[str, Any]:
        row = await self.workers.db(self.store.get_run, run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
        return row

    # -- starting and stopping -----------------------------------------------------------
    async def run_now(
        self,
        job_id: str,
        *,
        wait: bool = True,
        python_code: str | None = None,
        overrides: RunOverrides | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Start a manual run, with ``overrides`` for it alone. With ``wait``, answer the
        original system's result when the run ends (the server keeps serving meanwhile);
        else the queued Run at once. Answers (body, finished)."""
        if python_code is not None and not isinstance(python_code, str):
            raise InvalidRequestError("python_code: must be text.")
        job = None  # read in the trip that records the run, unless its code is refreshed first
        if python_code is not None:
            job = await self.jobs.definition(job_id)
            if job.is_ampln:
                job = await self.jobs.refresh_code(job, python_code)
        active = await self.executor.start(job_id, TriggeredBy.MANUAL, job=job, overrides=overrides)
        if not wait:
            return run_answer(active.queued_row or await self._row(active.run_id)), False
        record = await asyncio.shield(active.done)
        return {
            "success": record.get("status") == "success",
            "output": record.get("output_tail") or "",
            "error": record.get("error_tail") or record.get("message") or "",
            "exit_code": record.get("exit_code"),
            "run_id": active.run_id,
        }, True

    async def rerun(self, run_id: int) -> dict[str, Any]:
        """Run a past run again: its job as it is now, the run's logical time (its
        ``scheduled_for``, else when it was asked for) and what it was given (overrides)."""
        row = await self._row(run_id)
        job = await self.workers.db(self.store.get_job, row["job_id"])
        if job is None:
            raise ConflictError(f"Run {run_id} cannot run again: its job {row['job_id']!r} was deleted.")
        logical_time = row.get("scheduled_for") or row.get("created_at")
        overrides = RunOverrides.from_dict(_json_or_none(row.get("overrides")))
        active = await self.executor.start(
            job.id, TriggeredBy.RERUN, job=job, scheduled_for=logical_time, overrides=overrides
        )
        return run_answer(active.queued_row or await self._row(active.run_id))

    async def cancel(self, run_id: int) -> dict[str, Any]:
        await self.executor.cancel(run_id)
        return await self.get(run_id)

    # -- reading -------------------------------------------------------------------------
    async def list(
        self,
        *,
        job_id: str | None = None,
        statuses: list[str] | None = None,
        before: int | None = None,
        limit: int = 200,
    ) -> dict[str, Any]:
        """Newest first; ``next_cursor`` is the ``before`` of the next page (or null)."""
        rows = await self.workers.db(
            self.store.list_runs, job_id=job_id, statuses=statuses, before=before, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "runs": [run_answer(r) for r in rows],
            "next_cursor": rows[-1]["id"] if more and rows else None,
        }

    async def get(self, run_id: int) -> dict[str, Any]:
        return run_answer(await self._row(run_id), detail=True)

    async def recent_by_job(self, job_ids: Sequence[str], per_job: int) -> dict[str, Any]:
        """The newest ``per_job`` runs of each job, compact, newest first (run strips).
        A job id that names no job (or has no runs) answers an empty list."""
        found = await self.workers.db(self.store.recent_runs_by_job, job_ids, per_job)
        by_job = {job_id: [compact_run_answer(r) for r in rows] for job_id, rows in found.items()}
        return {"runs_by_job": by_job}

    async def timeline(self, since: float, until: float, limit: int) -> dict[str, Any]:
        """Runs whose span overlaps [since, until] (a run still going reaches now), compact,
        newest first; ``truncated`` when more than ``limit`` overlap."""
        rows = await self.workers.db(self.store.runs_overlapping, since, until, limit + 1)
        return {
            "since": iso(since),
            "until": iso(until),
            "runs": [compact_run_answer(r) for r in rows[:limit]],
            "truncated": len(rows) > limit,
        }

    async def read_log(self, run_id: int, offset: int, max_bytes: int) -> dict[str, Any]:
        """Log bytes from ``offset`` (whole UTF-8 characters only), for live views."""
        row = await self._row(run_id)
        data, size, ranges = await self.workers.fs(_read_window, row.get("log_path"), offset, max_bytes)
        text, stderr_ranges = logranges.decode_with_ranges(data, offset, ranges)
        is_finished = row["status"] not in ACTIVE_STATUSES
        return {
            "data": text,
            "offset": offset,
            "next_offset": offset + len(data),
            "size": size,
            "finished": is_finished and offset + len(data) >= size,
            "status": row["status"],
            "stderr_ranges": stderr_ranges,
        }

    async def log_download(self, run_id: int) -> tuple[str, AsyncIterator[bytes]]:
        """A run's whole log as it is now, for a download: its file name, and its bytes in
        chunks read on a file thread one at a time (never the whole log in memory)."""
        row = await self._row(run_id)
        path = row.get("log_path")
        size = 0
        if path:
            try:
                size = (await self.workers.fs(os.stat, path)).st_size
            except FileNotFoundError:
                path = None
        stem = Path(str(row["pipeline_path"])).stem or "run"

        async def chunks() -> AsyncIterator[bytes]:
            if not path:
                return
            reader = read_log_chunks(path, 0, size)
            try:
                while (chunk := await self.workers.fs(next, reader, None)) is not None:
                    yield chunk
            finally:
                await self.workers.fs(reader.close)

        return f"{stem}-run-{run_id}.log", chunks()

    async def finished(self, after: int | None, limit: int) -> dict[str, Any]:
        """The finished-runs feed: runs in the order they ended, after the cursor ``after``
        (none and the current cursor when ``after`` is None)."""
        rows, cursor = await self.workers.db(self.store.finished_runs, after, limit)
        return {"runs": [run_answer(r) for r in rows], "cursor": cursor}

    async def notebook_file(self, run_id: int) -> tuple[str, bytes]:
        """The executed notebook of a notebook run: (file name, content)."""
        row = await self._row(run_id)
        path = launch.notebook_path(self.settings.runs_dir / str(run_id))
        try:
            content = await self.workers.fs(path.read_bytes)
        except FileNotFoundError:
            raise RunNotFoundError(
                f"Run {run_id} has no executed notebook (it is not a notebook run, or it has not run yet)."
            ) from None
        stem = Path(str(row["pipeline_path"])).stem
        return f"{stem}-run-{run_id}.ipynb", content

    # -- deleting ------------------------------------------------------------------------
    async def delete(self, run_id: int) -> None:
        row = await self._row(run_id)
        if row["status"] in ACTIVE_STATUSES and self.executor.active(run_id) is not None:
            raise ConflictError(f"Run {run_id} is still {row['status']}; cancel it first.")
        await self.workers.db(self.store.delete_run, run_id)
        await self.workers.fs(remove_run_dirs, self.settings.runs_dir, [run_id])

    async def clear(self, job_id: str | None = None) -> int:
        """Delete finished runs (of one job, or all) with their logs; answer how many."""
        victims = await self.workers.db(
            self.store.delete_runs, job_id=job_id, exclude_statuses=[s.value for s in ACTIVE_STATUSES]
        )
        await self.workers.fs(remove_run_dirs, self.settings.runs_dir, [run_id for run_id, _ in victims])
        return len(victims)


def remove_run_dirs(runs_dir: Path, run_ids: list[int]) -> None:
    """Remove the log folders of runs (blocking: on a file thread)."""
    for run_id in run_ids:
        shutil.rmtree(runs_dir / str(run_id), ignore_errors=True)
