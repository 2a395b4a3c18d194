"""Helpers of the Ray backend's tests (imported by name: tests/ray is on sys.path)."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.settings import SchedulerSettings

T = TypeVar("T")
FINAL = {"success", "failure", "cancelled", "timeout", "interrupted", "skipped"}

# Pipelines that talk to the test through files named by absolute paths in their
# environment (the node is this machine), never through sleeps of a guessed length.
PIPELINES = {
    "two_steps.py": """
        import os, sys, time
        from pathlib import Path
        print("first line", os.environ["GREETING"], os.environ["TOKEN"], flush=True)
        flag = Path(os.environ["FLAG"])
        deadline = time.time() + 120
        while not flag.exists() and time.time() < deadline:
            time.sleep(0.1)
        print("second line; cwd has", sorted(os.listdir(".")), flush=True)
        sys.exit(3)
    """,
    "tree.py": """
        import os, subprocess, sys, time
        from pathlib import Path
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(os.environ["PIDS"]).write_text(f"{os.getpid()} {child.pid}")
        print("ready", flush=True)
        time.sleep(600)
    """,
    "where.py": """
        import os
        print("ran in", os.getcwd(), flush=True)
    """,
    "data.txt": "shipped with the folder\n",
}


def write_workspace(root: Path) -> Path:
    for rel, text in PIPELINES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def ray_settings(tmp_path: Path, address: str, **overrides: Any) -> SchedulerSettings:
    workspace = write_workspace(tmp_path / "ws")
    values: dict[str, Any] = {
        "workspace_dir": str(workspace),
        "db_url": f"sqlite:///{tmp_path}/db.sqlite",
        "timezone": "UTC",
        "log_dir": str(tmp_path / "logs"),
        "kill_grace_seconds": 1.0,
        "runner": "ray",
        "ray_address": address,
        "ray_lost_contact_seconds": 5.0,
    }
    values.update(overrides)
    return SchedulerSettings(**values)


def with_service(
    settings: SchedulerSettings, body: Callable[[SchedulerService], Awaitable[T]], timeout: float = 150
) -> T:
    async def main() -> T:
        svc = SchedulerService(settings)
        await svc.start()
        try:
            return await asyncio.wait_for(body(svc), timeout)
        finally:
            await svc.stop()

    return asyncio.run(main())


async def wait_until(predicate: Callable[[], Awaitable[Any]], timeout: float = 90, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout} s (last {value!r})")
        await asyncio.sleep(0.1)


async def create(svc: SchedulerService, path: str, **spec: Any) -> str:
    body = {"name": path, "pipeline_path": path, "schedule_type": "cron", "cron_expression": "0 3 * * *"}
    job, _ = await svc.jobs.create({**body, **spec})
    return str(job["id"])


async def start(svc: SchedulerService, job_id: str) -> int:
    run, _ = await svc.runs.run_now(job_id, wait=False)
    return int(run["id"])


async def finished(svc: SchedulerService, run_id: int, timeout: float = 120) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        run = await svc.runs.get(run_id)
        return run if run["status"] in FINAL else None

    return await wait_until(done, timeout, f"run {run_id} ending")  # type: ignore[no-any-return]


async def log_text(svc: SchedulerService, run_id: int) -> str:
    return str((await svc.runs.read_log(run_id, 0, 1 << 20))["data"])
