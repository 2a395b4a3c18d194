"""Runs: starting, executing and recording pipeline runs, and their history."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from . import alerts
from .base import ActiveRun, ServiceBase, _iso, _job_matches
from .errors import (
    ConflictError,
    InvalidRequestError,
    JobNotFoundError,
    PathNotAllowedError,
    PayloadTooLargeError,
    RunNotFoundError,
    StoreUnavailableError,
)
from .lock import this_process
from .models import (
    ACTIVE_STATUSES,
    FAILED_STATUSES,
    RunResult,
)
from .runner import RunOutcome, RunRequest
from .store import JobRow
from .workspace import resolve_pipeline


class RunOperations(ServiceBase):
    """Runs: start (queue, limits), execute, record, dependents, cancel, history, logs."""

    def _run_answer(self, row: Mapping[str, Any], *, detail: bool = False) -> dict[str, Any]:
        started, finished = row.get("started_at"), row.get("finished_at")
        answer = {
            "id": row["id"],
            "job_id": row["job_id"],
            "job_name": row["job_name"],
            "pipeline_path": row["pipeline_path"],
            "status": row["status"],
            "triggered_by": row["triggered_by"],
            "attempt": row.get("attempt") or 1,
            "scheduled_for": _iso(row.get("scheduled_for")),
            "created_at": _iso(row.get("created_at")),
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "exit_code": row.get("exit_code"),
            "duration_seconds": round(finished - started, 3) if started and finished else None,
            "log_size": row.get("log_size") or 0,
            "log_truncated": bool(row.get("log_truncated")),
            "pipeline_changed": row.get("pipeline_changed"),
            "message": row.get("message"),
            "has_notebook": str(row["pipeline_path"]).lower().endswith(".ipynb")
            and row["status"] not in ACTIVE_STATUSES
            and row.get("started_at") is not None,
        }
        if detail:
            answer["output"] = row.get("output_tail") or ""
            answer["error"] = row.get("error_tail") or ""
        return answer

    async def start_run(
        self,
        job_id: str,
        triggered_by: str,
        *,
        scheduled_for: float | None = None,
        python_code: str | None = None,
        attempt: int = 1,
    ) -> ActiveRun:
        """Record a run and start it in the background; answer at once."""
        row = await self._get_row(job_id)
        if python_code is not None and row.pipeline_path.lower().endswith(".ampln"):
            row = await self._refresh_code(row, python_code)
        base = {**self._run_fields(row, triggered_by, scheduled_for), "attempt": attempt}
        if triggered_by in ("schedule", "trigger", "catchup"):
            limit = int(row.spec.get("max_instances") or 1000)
            active_count = sum(1 for a in self._runs.values() if a.job_id == job_id)
            if active_count >= limit:
                return await self.record_skipped(
                    base,
                    f"Skipped: {active_count} run(s) of this job were still active "
                    f"(max_instances is {limit}).",
                )
        run_id = await self._db(self._store.insert_run, **base, status="queued", owner=this_process())
        active = ActiveRun(run_id, job_id, asyncio.get_running_loop().create_future(), attempt=attempt)
        self._runs[run_id] = active
        active.task = asyncio.create_task(self._execute(active, row, triggered_by))
        return active

    async def record_skipped(self, base: dict[str, Any], message: str) -> ActiveRun:
        """A fire time that did not run, kept in the history with the reason."""
        run_id = await self._db(
            self._store.insert_run, **base, status="skipped", finished_at=time.time(), message=message
        )
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        record = await self._db(self._store.get_run, run_id)
        done.set_result(record or {})
        return ActiveRun(run_id, base["job_id"], done)

    async def _refresh_code(self, row: JobRow, python_code: str) -> JobRow:
        if not python_code.strip():
            raise InvalidRequestError("python_code: empty; generate the pipeline's code again.")
        if len(python_code.encode("utf-8", errors="replace")) > self.settings.max_code_bytes:
            raise PayloadTooLargeError(
                f"python_code: larger than the {self.settings.max_code_bytes:,} bytes allowed."
            )
        _, target = await self._fs(
            resolve_pipeline, self.settings.root_dir, row.pipeline_path, self.settings.allowed_extensions
        )
        code_hash = await self._fs(self._hashes.get, target)
        await self._db(
            self._store.set_job_fields,
            row.id,
            python_code=python_code,
            code_hash=code_hash,
            updated_at=time.time(),
        )
        row.python_code, row.code_hash = python_code, code_hash
        return row

    def _build_command(
        self, row: JobRow, target: Path, script: Path, run_dir: Path
    ) -> tuple[list[str], Path]:
        """The argv of a run and the notebook it writes (if any)."""
        s = self.settings
        python = row.spec.get("python_executable") or s.python_executable
        if row.pipeline_path.lower().endswith(".ipynb"):
            executed = run_dir / "executed.ipynb"
            # The notebook runner is part of this package, so it runs with the server's
            # Python; the notebook's own code runs in the job's kernel.
            argv = [sys.executable, "-m", "pipeline_scheduler.notebook_runner", str(target), str(executed)]
            if row.spec.get("kernel_name"):
                argv += ["--kernel", row.spec["kernel_name"]]
            return argv, executed
        return [python, "-u", str(script)], run_dir / "executed.ipynb"

    def _build_env(self, row: JobRow, run_id: int) -> tuple[dict[str, str], list[str]]:
        """Environment of a run, and the secret values to keep out of its log."""
        env = dict(os.environ)
        env.pop("JUPYTER_TOKEN", None)
        env.update(
            PYTHONUNBUFFERED="1",
            AMPHI_SCHEDULER_RUN_ID=str(run_id),
            AMPHI_SCHEDULER_JOB_ID=row.id,
            AMPHI_SCHEDULER_WORKSPACE=str(self.settings.root_dir),
        )
        env.update({k: str(v) for k, v in (row.spec.get("env") or {}).items()})
        parameters = row.spec.get("parameters") or {}
        for key, value in parameters.items():
            env[key] = json.dumps(value) if isinstance(value, bool) else str(value)
        if parameters:
            env["AMPHI_PARAMETERS"] = json.dumps(parameters)
        secrets = row.spec.get("_secret_env") or {}
        env.update(secrets)
        return env, [v for v in secrets.values() if len(v) >= 4]

    async def _execute(self, active: ActiveRun, row: JobRow, triggered_by: str) -> None:
        s = self.settings
        store = self._store
        run_dir = s.log_dir / str(active.run_id)
        log_path = run_dir / "output.log"
        outcome: RunOutcome | None = None
        changed: bool | None = None
        try:
            assert self._slots is not None
            async with self._slots:
                if active.cancel_requested:
                    outcome = RunOutcome("cancelled", None, "", "", 0, False, "Cancelled while queued.")
                    return
                rel, target = await self._fs(
                    resolve_pipeline, s.root_dir, row.pipeline_path, s.allowed_extensions
                )
                attempt = f", attempt {active.attempt}" if active.attempt > 1 else ""
                header = (
                    f"[amphi-scheduler] run {active.run_id} of '{row.name}' ({rel}), "
                    f"{triggered_by}{attempt}, started "
                    f"{datetime.now(self.tz).isoformat(timespec='seconds')}\n"
                )
                await self._fs(run_dir.mkdir, parents=True, exist_ok=True)
                if rel.lower().endswith(".ampln"):
                    current = await self._fs(self._hashes.get, target)
                    changed = current != row.code_hash
                    freshness = (
                        "[amphi-scheduler] WARNING: the pipeline file changed after its code was "
                        "generated; this run uses the stored code. Regenerate it from the "
                        "Scheduler panel.\n"
                        if changed
                        else "[amphi-scheduler] the stored code matches the pipeline file.\n"
                    )
                    header = freshness + header
                    script = run_dir / "pipeline.py"
                    await self._fs(script.write_text, row.python_code or "", encoding="utf-8")
                else:
                    script = target
                argv, _ = self._build_command(row, target, script, run_dir)
                env, secrets = self._build_env(row, active.run_id)
                cwd = s.root_dir / row.spec["working_dir"] if row.spec.get("working_dir") else target.parent
                timeout = row.spec.get("timeout_seconds") or s.default_timeout_seconds
                request = RunRequest(
                    run_id=active.run_id,
                    argv=argv,
                    cwd=cwd,
                    env=env,
                    log_path=log_path,
                    max_log_bytes=s.max_log_bytes,
                    tail_bytes=s.tail_bytes,
                    timeout_seconds=timeout,
                    kill_grace_seconds=s.kill_grace_seconds,
                    header=header,
                    redact=secrets,
                )

                async def on_started() -> None:
                    active.started = True
                    await self._db(
                        store.update_run,
                        active.run_id,
                        status="running",
                        started_at=time.time(),
                        log_path=str(log_path),
                        pipeline_changed=changed,
                        pid=request.pid,
                    )

                if active.cancel_requested:
                    outcome = RunOutcome("cancelled", None, "", "", 0, False, active.cancel_reason)
                    return
                outcome = await self.runner.run(request, on_started)
                if outcome.status == "cancelled":
                    outcome.message = active.cancel_reason
        except PathNotAllowedError as err:
            outcome = RunOutcome("failure", None, "", err.message, 0, False, err.message)
        except OSError as err:
            reason = (
                f"Cannot prepare the run in {run_dir}: {err.strerror or err}; check that the "
                "log folder (log_dir) is writable."
            )
            outcome = RunOutcome("failure", None, "", reason, 0, False, reason)
        except asyncio.CancelledError:
            outcome = RunOutcome("cancelled", None, "", "", 0, False, active.cancel_reason)
        except Exception as err:
            self.log.exception("Run %s of job %s failed to run", active.run_id, row.id)
            outcome = RunOutcome("failure", None, "", str(err), 0, False, f"Internal error: {err}")
        finally:
            if outcome is None:
                outcome = RunOutcome("cancelled", None, "", "", 0, False, active.cancel_reason)
            if active.cancel_requested and outcome.status in ("failure", "success") and not active.started:
                outcome.status = "cancelled"
            await self._record(active, row, outcome)

    async def _record(self, active: ActiveRun, row: JobRow, outcome: RunOutcome) -> None:
        store = self._store
        now = time.time()
        values: dict[str, Any] = {
            "status": outcome.status,
            "finished_at": now,
            "exit_code": outcome.exit_code,
            "output_tail": outcome.output_tail,
            "error_tail": outcome.error_tail,
            "log_size": outcome.log_size,
            "log_truncated": outcome.log_truncated,
            "message": outcome.message,
        }
        record = None
        for attempt in range(6):
            try:
                await self._db(store.finish_run, active.run_id, row.id, **values)
                record = await self._db(store.get_run, active.run_id)
                break
            except StoreUnavailableError:
                # Locked by another program: the outcome must not be lost, so try again.
                await asyncio.sleep(2 * (attempt + 1))
            except Exception:
                self.log.exception("Could not record the end of run %s", active.run_id)
                break
        self._runs.pop(active.run_id, None)
        if not active.done.done():
            active.done.set_result(record or {"id": active.run_id, **values})
        if not self.started:
            return
        retries = int(row.spec.get("max_retries") or 0)
        if outcome.status in FAILED_STATUSES and active.attempt <= retries:
            # Not final yet: dependents and alerts wait for the last attempt.
            delay = float(row.spec.get("retry_delay_seconds") or 0) * (2 ** (active.attempt - 1))
            self._spawn(self._retry_later(row.id, active.attempt + 1, delay))
        else:
            if outcome.status in FAILED_STATUSES:
                self._send_alert(row, record or {"id": active.run_id, **values})
            try:
                await self._fire_dependents(row.id, outcome.status, active.run_id)
            except Exception:
                self.log.exception("Could not start the jobs triggered by run %s", active.run_id)
        await self._apply_retention(row.id)

    async def _retry_later(self, job_id: str, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await self.start_run(job_id, "retry", scheduled_for=time.time(), attempt=attempt)
        except JobNotFoundError:
            pass  # deleted while waiting

    def _send_alert(self, row: JobRow, run: Mapping[str, Any]) -> None:
        url = row.spec.get("webhook_url") or self.settings.alert_webhook_url
        if not url:
            return
        payload = {
            "event": "run_failed" if run.get("status") == "failure" else "run_timed_out",
            "job": {"id": row.id, "name": row.name, "pipeline_path": row.pipeline_path},
            "run": self._run_answer(run, detail=False),
            "error_tail": (run.get("error_tail") or "")[-2000:],
        }
        loop = asyncio.get_running_loop()
        self._spawn(loop.run_in_executor(self._alert_thread, alerts.post_json, url, payload, self.log))

    async def _apply_retention(self, job_id: str | None = None) -> int:
        """Prune finished runs beyond the per-job count and older than the age limit."""
        s = self.settings
        cutoff = time.time() - s.retention_max_age_days * 86400 if s.retention_max_age_days > 0 else None
        if s.retention_max_runs_per_job <= 0 and cutoff is None:
            return 0
        try:
            victims = await self._db(
                self._store.prune_runs, keep_per_job=s.retention_max_runs_per_job, older_than=cutoff
            )
        except Exception:
            self.log.exception("Could not apply the run retention")
            return 0
        if victims:
            await self._fs(self._remove_run_dirs, [v[0] for v in victims])
        return len(victims)

    def _remove_run_dirs(self, run_ids: list[int]) -> None:
        for run_id in run_ids:
            shutil.rmtree(self.settings.log_dir / str(run_id), ignore_errors=True)

    async def _fire_dependents(self, job_id: str, status: str, run_id: int) -> None:
        if status != "success" and status not in FAILED_STATUSES:
            return
        for dep_id in sorted(self._dependents.get(job_id, set())):
            dep = await self._db(self._store.get_job, dep_id, False)
            if dep is None or dep.paused or dep.spec.get("schedule_type") != "trigger":
                continue
            conditions = dep.spec.get("trigger_conditions") or []
            if (dep.spec.get("logical_operator") or "OR") == "OR":
                fire = any(c["job_id"] == job_id and _job_matches(status, c["on"]) for c in conditions)
            else:
                latest = await self._db(self._store.latest_final_runs, [c["job_id"] for c in conditions])
                fire = all(
                    c["job_id"] in latest
                    and latest[c["job_id"]][0] > dep.trigger_watermark
                    and _job_matches(latest[c["job_id"]][1], c["on"])
                    for c in conditions
                )
            if fire:
                await self._db(self._store.set_job_fields, dep_id, trigger_watermark=run_id)
                await self.start_run(dep_id, "trigger")

    async def run_now(
        self, job_id: str, *, wait: bool = True, python_code: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Start a manual run. Answers (body, finished)."""
        if python_code is not None and not isinstance(python_code, str):
            raise InvalidRequestError("python_code: must be text.")
        active = await self.start_run(job_id, "manual", python_code=python_code)
        if not wait:
            run = await self._db(self._store.get_run, active.run_id)
            return self._run_answer(run or {}, detail=False), False
        record = await asyncio.shield(active.done)
        result: RunResult = {
            "success": record.get("status") == "success",
            "output": record.get("output_tail") or "",
            "error": record.get("error_tail") or record.get("message") or "",
            "exit_code": record.get("exit_code"),
            "run_id": active.run_id,
        }
        return dict(result), True

    async def wait_for_run(self, run_id: int, timeout: float | None = None) -> dict[str, Any]:
        active = self._runs.get(run_id)
        if active is not None:
            await asyncio.wait_for(asyncio.shield(active.done), timeout)
        return await self.get_run(run_id)

    async def cancel_run(self, run_id: int) -> dict[str, Any]:
        active = self._runs.get(run_id)
        if active is None:
            run = await self.get_run(run_id)
            raise ConflictError(f"Run {run_id} is not active (its status is '{run['status']}').")
        active.cancel_requested = True
        if not active.started:
            active.cancel_reason = "Cancelled while queued."
        if not await self.runner.cancel(run_id) and active.task is not None and not active.started:
            active.task.cancel()
        await asyncio.shield(active.done)
        return await self.get_run(run_id)

    async def list_runs(
        self,
        *,
        job_id: str | None = None,
        statuses: list[str] | None = None,
        before: int | None = None,
        limit: int = 200,
    ) -> dict[str, Any]:
        rows = await self._db(
            self._store.list_runs, job_id=job_id, statuses=statuses, before=before, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "runs": [self._run_answer(r) for r in rows],
            "next_cursor": rows[-1]["id"] if more and rows else None,
        }

    async def get_run(self, run_id: int) -> dict[str, Any]:
        row = await self._db(self._store.get_run, run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
        return self._run_answer(row, detail=True)

    async def read_log(self, run_id: int, offset: int, max_bytes: int) -> dict[str, Any]:
        row = await self._db(self._store.get_run, run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
        path = row.get("log_path")

        def read() -> tuple[bytes, int]:
            if not path:
                return b"", 0
            try:
                with open(path, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    f.seek(min(offset, size))
                    return f.read(max_bytes), size
            except FileNotFoundError:
                return b"", 0

        data, size = await self._fs(read)
        # Never cut a UTF-8 character in two: hand back complete characters only.
        cut = len(data)
        if cut == max_bytes:
            for back in range(1, min(4, cut) + 1):
                byte = data[cut - back]
                if byte & 0xC0 != 0x80:  # start of a character
                    needed = 1 if byte < 0x80 else 2 if byte >> 5 == 6 else 3 if byte >> 4 == 14 else 4
                    if needed > back:
                        cut -= back
                    break
        data = data[:cut]
        finished = row["status"] not in ACTIVE_STATUSES
        return {
            "data": data.decode("utf-8", errors="replace"),
            "offset": offset,
            "next_offset": offset + len(data),
            "size": size,
            "finished": finished and offset + len(data) >= size,
            "status": row["status"],
        }

    async def notebook_file(self, run_id: int) -> tuple[str, bytes]:
        """The executed notebook of a notebook run: (file name, content)."""
        row = await self._db(self._store.get_run, run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
        path = self.settings.log_dir / str(run_id) / "executed.ipynb"
        try:
            content = await self._fs(path.read_bytes)
        except FileNotFoundError:
            raise RunNotFoundError(
                f"Run {run_id} has no executed notebook (it is not a notebook run, or it has not run yet)."
            ) from None
        stem = Path(str(row["pipeline_path"])).stem
        return f"{stem}-run-{run_id}.ipynb", content

    async def delete_run(self, run_id: int) -> None:
        row = await self._db(self._store.get_run, run_id)
        if row is None:
            raise RunNotFoundError(f"No run with id {run_id}; it may have been deleted.")
        if row["status"] in ACTIVE_STATUSES and run_id in self._runs:
            raise ConflictError(f"Run {run_id} is still {row['status']}; cancel it first.")
        await self._db(self._store.delete_run, run_id)
        await self._fs(self._remove_run_dirs, [run_id])

    async def clear_runs(self, job_id: str | None = None) -> int:
        victims = await self._db(
            self._store.delete_runs, job_id=job_id, exclude_statuses=list(ACTIVE_STATUSES)
        )
        await self._fs(self._remove_run_dirs, [run_id for run_id, _ in victims])
        return len(victims)
