"""Running one pipeline: a subprocess in its own process group, its output streamed to a
size-capped log file, bounded tails kept for the API, timeout and cancel.

``RunnerBackend`` is the contract other backends (e.g. a Dask cluster) implement.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

CHUNK_SIZE = 64 * 1024
TRUNCATION_MARKER = "\n[amphi-scheduler] log truncated at {limit} bytes; later output was discarded.\n"


@dataclass
class RunRequest:
    """Everything a backend needs to run one pipeline once."""

    run_id: int
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    max_log_bytes: int
    tail_bytes: int
    timeout_seconds: float | None = None
    kill_grace_seconds: float = 5.0
    header: str = ""
    # Set by a local backend once the process started (its process group id too).
    pid: int | None = None
    # Values (secrets) replaced by '***' in the log and tails, chunk by chunk.
    redact: list[str] = field(default_factory=list)


@dataclass
class RunOutcome:
    status: str  # success | failure | timeout | cancelled
    exit_code: int | None
    output_tail: str
    error_tail: str
    log_size: int
    log_truncated: bool
    message: str | None = None


class RunnerBackend(ABC):
    """Runs pipelines. Implementations must:

    - call ``on_started`` once the pipeline is actually running (not while it waits for
      resources), so the run can switch from ``queued`` to ``running``;
    - write the pipeline's stdout and stderr to ``request.log_path`` as they come, never
      more than ``request.max_log_bytes`` plus a truncation marker, and never hold more
      than the tails (``request.tail_bytes`` per stream) in memory;
    - enforce ``request.timeout_seconds`` (status ``timeout``) and honour ``cancel``
      (status ``cancelled``) by stopping the whole process tree;
    - never block the event loop.
    """

    @abstractmethod
    async def run(self, request: RunRequest, on_started: Callable[[], Awaitable[None]]) -> RunOutcome: ...

    @abstractmethod
    async def cancel(self, run_id: int) -> bool:
        """Stop a run this backend is executing; False when it is not running here."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, connections)."""


class TailBuffer:
    """The last ``limit`` bytes of a stream, in bounded memory."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._buf = bytearray()
        self.dropped = False

    def append(self, chunk: bytes) -> None:
        self._buf += chunk
        if len(self._buf) > 2 * self.limit:
            del self._buf[: len(self._buf) - self.limit]
            self.dropped = True

    def text(self) -> str:
        data = bytes(self._buf[-self.limit :]) if self.limit else b""
        if len(self._buf) > self.limit:
            self.dropped = True
        text = data.decode("utf-8", errors="replace")
        if self.dropped:
            # The cut may fall inside a multi-byte character or a line: start at a line.
            newline = text.find("\n")
            if 0 <= newline < 200:
                text = text[newline + 1 :]
        return text


class LogWriter:
    """Appends to a run's log file from a worker thread, up to a byte limit."""

    def __init__(self, path: Path, limit: int, executor: ThreadPoolExecutor) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self.truncated = False
        self.error: str | None = None
        self._executor = executor
        self._file: IO[bytes] | None = None

    async def open(self, header: str) -> None:
        loop = asyncio.get_running_loop()

        def _open() -> IO[bytes]:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return open(self.path, "ab", buffering=0)  # noqa: SIM115 (closed in close())

        self._file = await loop.run_in_executor(self._executor, _open)
        if header:
            await self.write(header.encode())

    async def write(self, chunk: bytes) -> None:
        if self._file is None or self.truncated:
            return
        room = self.limit - self.size
        marker = b""
        if len(chunk) > room:
            chunk = chunk[: max(room, 0)]
            marker = TRUNCATION_MARKER.format(limit=self.limit).encode()
            self.truncated = True
        data = chunk + marker
        self.size += len(data)
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._file.write, data)
        except OSError as err:
            # Disk full or the folder went away: keep the run going (its tails still reach
            # the API) but stop writing, and say so where the log ends.
            self.error = f"The run log could not be written further: {err.strerror or err}."
            self.truncated = True

    async def close(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            await asyncio.get_running_loop().run_in_executor(self._executor, f.close)


async def _exited(process: asyncio.subprocess.Process) -> int:
    """The exit status, as soon as the process itself has exited.

    ``Process.wait()`` also waits until its pipes are closed (recent CPython releases), and a child
    that inherited stdout can keep them open for ever; ``returncode`` is set at exit.
    """
    pause = 0.001  # short runs are noticed within a few ms, long ones within 20 ms
    while process.returncode is None:
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.02)
    return process.returncode


async def _wait_exit(
    process: asyncio.subprocess.Process, pumps: asyncio.Future[Any], timeout: float | None
) -> bool:
    """Wait until the pipeline process has exited; False on timeout.

    Usually its pipes close as it exits, and ``process.wait()`` answers at once; a child
    that keeps the pipes open is covered by polling ``returncode``.
    """
    waiter = asyncio.ensure_future(process.wait())
    poller = asyncio.ensure_future(_exited(process))
    try:
        done, _ = await asyncio.wait({waiter, poller}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        waiter.cancel()
        poller.cancel()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _partial_secret(data: bytes, secrets: list[bytes]) -> int:
    """Length of the longest end of ``data`` that is the start of a secret: a read may cut
    a secret in two, so that end waits for the next read before being masked."""
    best = 0
    for secret in secrets:
        i = data.find(secret[:1], max(0, len(data) - len(secret) + 1))
        while i != -1 and len(data) - i > best:
            if secret.startswith(data[i:]):
                best = len(data) - i
                break
            i = data.find(secret[:1], i + 1)
    return best


@dataclass
class _Active:
    process: asyncio.subprocess.Process
    grace: float
    stop_reason: str | None = None  # "timeout" | "cancelled"
    stopping: asyncio.Task[None] | None = field(default=None)


class LocalSubprocessRunner(RunnerBackend):
    """Runs each pipeline as a local subprocess started with asyncio (never blocking)."""

    def __init__(self) -> None:
        self._active: dict[int, _Active] = {}
        # One thread for log file writes keeps their order and keeps them off the loop.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-scheduler-log")

    async def run(self, request: RunRequest, on_started: Callable[[], Awaitable[None]]) -> RunOutcome:
        log = LogWriter(request.log_path, request.max_log_bytes, self._io)
        out_tail, err_tail = TailBuffer(request.tail_bytes), TailBuffer(request.tail_bytes)
        try:
            await log.open(request.header)
        except OSError as err:
            reason = (
                f"Cannot write the run log in {request.log_path.parent}: {err.strerror or err}; "
                "check that the log folder (log_dir) is writable."
            )
            return RunOutcome("failure", None, "", reason, 0, False, reason)
        try:
            try:
                spawn = asyncio.ensure_future(
                    asyncio.create_subprocess_exec(
                        *request.argv,
                        cwd=str(request.cwd),
                        env=request.env,
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE,
                        start_new_session=True,  # own process group: a kill reaches its children
                    )
                )
                try:
                    process = await asyncio.shield(spawn)
                except asyncio.CancelledError:
                    # Stopped while starting: the pipeline may already run (and have started
                    # children); asyncio would kill only its main process, so kill its group.
                    with contextlib.suppress(Exception):
                        _signal_group((await spawn).pid, signal.SIGKILL)
                    raise
            except OSError as err:
                reason = f"Could not start the pipeline: {err}"
                await log.write((reason + "\n").encode())
                return RunOutcome("failure", None, "", reason, log.size, log.truncated, reason)
            active = _Active(process, request.kill_grace_seconds)
            self._active[request.run_id] = active
            request.pid = process.pid
            await on_started()

            secrets = [v.encode() for v in request.redact if v]

            async def pump(stream: asyncio.StreamReader | None, tail: TailBuffer) -> None:
                assert stream is not None
                held = b""  # the end of the last read that may be the start of a secret
                while chunk := await stream.read(CHUNK_SIZE):
                    if secrets:
                        chunk = held + chunk
                        for secret in secrets:
                            chunk = chunk.replace(secret, b"***")
                        keep = _partial_secret(chunk, secrets)
                        chunk, held = chunk[: len(chunk) - keep], chunk[len(chunk) - keep :]
                    tail.append(chunk)
                    await log.write(chunk)
                if held:
                    tail.append(held)
                    await log.write(held)

            pumps = asyncio.gather(pump(process.stdout, out_tail), pump(process.stderr, err_tail))
            if not await _wait_exit(process, pumps, request.timeout_seconds):
                active.stop_reason = active.stop_reason or "timeout"
                await self._stop(active)
            # The main process has exited; children that keep the pipes open get a short
            # while to finish, then the rest of the group is killed so no orphan lingers.
            try:
                await asyncio.wait_for(asyncio.shield(pumps), 5.0)
            except asyncio.TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
                await pumps
            _signal_group(process.pid, signal.SIGKILL)
            if active.stopping is not None:
                await active.stopping
            code = await _exited(process)  # set even when SIGKILL just ended it
            message: str | None
            if active.stop_reason == "timeout":
                status, message = "timeout", f"Stopped after the {request.timeout_seconds:g} s timeout."
            elif active.stop_reason == "cancelled":
                status, message = "cancelled", "Cancelled."
            elif code == 0:
                status, message = "success", None
            else:
                status, message = "failure", f"Exited with code {code}."
            if log.error:
                message = f"{message} {log.error}" if message else log.error
            if message:
                await log.write(f"\n[amphi-scheduler] {message}\n".encode())
            return RunOutcome(
                status, code, out_tail.text(), err_tail.text(), log.size, log.truncated, message
            )
        finally:
            self._active.pop(request.run_id, None)
            await log.close()

    async def _stop(self, active: _Active) -> None:
        """SIGTERM the process group, then SIGKILL after the grace period."""
        if active.stopping is None:
            active.stopping = asyncio.ensure_future(self._terminate(active))
        await active.stopping

    @staticmethod
    async def _terminate(active: _Active) -> None:
        pid = active.process.pid
        _signal_group(pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(_exited(active.process), active.grace)
        except asyncio.TimeoutError:
            pass
        _signal_group(pid, signal.SIGKILL)

    async def cancel(self, run_id: int) -> bool:
        active = self._active.get(run_id)
        if active is None:
            return False
        active.stop_reason = active.stop_reason or "cancelled"
        await self._stop(active)
        return True

    def running_ids(self) -> list[int]:
        return list(self._active)

    async def shutdown(self) -> None:
        await asyncio.gather(*(self.cancel(rid) for rid in list(self._active)))
        self._io.shutdown(wait=False)
