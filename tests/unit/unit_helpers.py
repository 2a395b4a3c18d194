"""Helpers shared by the unit tests (imported by name: tests/unit is on sys.path)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.settings import SchedulerSettings

T = TypeVar("T")


def with_service(
    settings: SchedulerSettings,
    body: Callable[[SchedulerService], Awaitable[T]],
    *,
    timeout: float = 60.0,
    **overrides: Any,
) -> T:
    """Start a service on ``settings``, await ``body(service)``, always stop it."""

    async def main() -> T:
        svc = SchedulerService(settings.replace(**overrides) if overrides else settings)
        await svc.start()
        try:
            return await asyncio.wait_for(body(svc), timeout)
        finally:
            await svc.stop()

    return asyncio.run(main())


async def wait_until(
    predicate: Callable[[], Awaitable[Any]], timeout: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll an async predicate until it answers something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(interval)


FINAL = {"success", "failure", "cancelled", "timeout", "interrupted", "skipped"}


async def finished_runs(svc: SchedulerService, job_id: str) -> list[dict[str, Any]]:
    runs = (await svc.runs.list(job_id=job_id, limit=1000))["runs"]
    return [r for r in runs if r["status"] in FINAL]


def pid_gone(pid: int) -> bool:
    """True when the process no longer runs (a zombie waiting for its reaper counts as gone:
    in a container, PID 1 may never reap re-parented orphans)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_pid_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_gone(pid):
            return True
        time.sleep(0.05)
    return pid_gone(pid)


def read_pid(path: Path) -> int:
    return int(path.read_text().strip())


def kill_if_alive(pid: int) -> None:
    """Clean-up for a failed test, so a stray process never outlives it."""
    try:
        os.kill(pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
