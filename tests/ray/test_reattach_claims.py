"""Which runs a starting server reattaches to (no cluster needed: the backend here is a
stand-in that outlives the server; the real one is tested in test_ray_runs.py): active runs
of an outliving backend left by a dead server are claimed once and followed; those of a
deleted job are interrupted; those of a live server and local ones are left alone."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ray_helpers import ray_settings

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.runner import RunnerBackend, RunOutcome, RunRequest


class Outliving(RunnerBackend):
    outlives_server = True

    def __init__(self) -> None:
        self.followed: list[tuple[int, bool]] = []

    def submission_id(self, run_id: int) -> str:
        return f"stand-in-{run_id}"

    async def run(self, request: RunRequest, on_started: Callable[[], Awaitable[None]]) -> RunOutcome:
        raise AssertionError("not started here")

    async def reattach(
        self, request: RunRequest, is_running: bool, on_started: Callable[[], Awaitable[None]]
    ) -> RunOutcome:
        self.followed.append((request.run_id, is_running))
        if not is_running:
            await on_started()
        return RunOutcome("success", 0, "followed\n", "", 9, False, None)

    async def cancel(self, run_id: int) -> bool:
        return False


def _dead_owner() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}"


def test_orphaned_runs_of_an_outliving_backend_are_claimed_and_followed(tmp_path: Path) -> None:
    settings = ray_settings(tmp_path, "http://127.0.0.1:9")

    async def main() -> None:
        first = SchedulerService(settings)
        await first.start()
        body = {"pipeline_path": "where.py", "schedule_type": "cron", "cron_expression": "0 3 * * *"}
        kept, _ = await first.jobs.create({"name": "kept", **body})
        gone, _ = await first.jobs.create({"name": "gone", **body})
        await first.stop()
        store, dead, now = first.store, _dead_owner(), time.time()

        def row(job: dict[str, object], status: str, owner: str, backend: str | None) -> int:
            values = {"job_id": job["id"], "job_name": job["name"], "pipeline_path": "where.py"}
            extra = {"backend": backend} if backend else {}
            return store.insert_run(
                **values, status=status, triggered_by="manual", owner=owner, created_at=now, **extra
            )

        running = row(kept, "running", dead, "ray")
        queued = row(kept, "queued", dead, "ray")
        deleted = row(gone, "running", dead, "ray")
        alive = row(kept, "running", f"{socket.gethostname()}:1", "ray")  # pid 1 lives
        local = row(kept, "running", dead, None)
        store.delete_job(gone["id"])

        second = SchedulerService(settings)
        stand_in = Outliving()
        second.executor.backends["ray"] = stand_in
        await second.start()
        try:
            for run_id in (running, queued):
                for _ in range(100):
                    if (await second.runs.get(run_id))["status"] == "success":
                        break
                    await asyncio.sleep(0.05)
            assert sorted(stand_in.followed) == [(running, True), (queued, False)]
            answers = {r: await second.runs.get(r) for r in (running, queued, deleted, alive, local)}
            assert answers[running]["status"] == answers[queued]["status"] == "success"
            assert answers[running]["output"] == "followed\n"
            assert answers[queued]["ray_submission_id"] == f"stand-in-{queued}"
            assert answers[deleted]["status"] == "interrupted"
            assert "deleted" in answers[deleted]["message"]
            assert answers[alive]["status"] == "running"  # its server still runs
            assert answers[local]["status"] == "interrupted"  # a local process does not outlive it
        finally:
            await second.stop()

    asyncio.run(main())
