"""Leadership: one active scheduler per workspace.

APScheduler 3 must not share a job store between two scheduler processes, so the first
server on a workspace takes an exclusive ``flock`` on ``.amphi/scheduler.lock`` and fires
jobs; any other server serves the API only (standby) and retries the lock every few
seconds, taking over when the first one stops or dies (the kernel drops the lock of a
killed process). ``flock`` locks belong to an open file, so two services in one process
exclude each other too.

The lock is a file lock: it protects servers on one host (or on a shared file system with
working ``flock``). Servers on several hosts sharing one database need the workspace
folder shared between them.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO


class SchedulerLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free (never blocks). Blocking I/O: call from a thread."""
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(f"{socket.gethostname()} {os.getpid()}\n")
        f.flush()
        self._file = f
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def release(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            finally:
                f.close()


def process_is_alive(owner: str | None) -> bool:
    """Whether ``host:pid`` names a live process on this host (other hosts: unknown, so
    assumed alive only when the host differs)."""
    if not owner or ":" not in owner:
        return False
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_orphan(pid: int, run_id: int) -> bool:
    """Kill the process group of a run whose server died, if ``pid`` is still that run's
    pipeline (its environment names the run, so a reused pid is left alone)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    if f"AMPHI_SCHEDULER_RUN_ID={run_id}".encode() not in environ.split(b"\0"):
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """Takes the scheduler role when it is free, else stands by and retries every
    ``poll_seconds``; ``on_elected`` runs once this server holds it."""

    def __init__(self, lock: SchedulerLock, poll_seconds: float, log: logging.Logger) -> None:
        self.lock = lock
        self.poll_seconds = poll_seconds
        self.log = log

    @property
    def is_leader(self) -> bool:
        return self.lock.held

    async def try_take(self) -> bool:
        return await asyncio.to_thread(self.lock.try_acquire)

    async def stand_by(self, on_elected: Callable[[], Awaitable[None]]) -> None:
        """Retry until the lock is free, then take the role (run as a background task)."""
        self.log.info(
            "amphi-scheduler: another server (%s) runs the scheduler of this workspace; "
            "this one serves the API and takes over if it stops",
            await asyncio.to_thread(self.lock.holder),
        )
        while True:
            await asyncio.sleep(self.poll_seconds)
            if await self.try_take():
                self.log.info("amphi-scheduler: the active server stopped; taking over the scheduler")
                await on_elected()
                return

    async def release(self) -> None:
        await asyncio.to_thread(self.lock.release)
