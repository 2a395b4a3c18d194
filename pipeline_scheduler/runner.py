"""Running one pipeline: a subprocess in its own process group, its output streamed to a
size-capped log file, bounded tails kept for the API, timeout and cancel.

``RunnerBackend`` is the contract other backends (e.g. a Ray cluster) implement.

Why the local backend does not use ``asyncio.create_subprocess_exec``: measured on a
2-core machine, it took 1.1-3.4 ms from the call to a usable process (a transport, a
protocol, two pipe transports connected one loop iteration at a time, and with Python 3.11's
default child watcher a new thread per child that blocks in ``waitpid``), against 0.4 ms for
the ``subprocess.Popen`` it makes inside. So the runner starts the process with that same
``Popen`` call (a vfork and exec, on the loop, as asyncio does), learns of its exit from a
pidfd the loop watches (Linux 5.3+; elsewhere it polls), and reads the two pipes with
``add_reader`` and ``os.read``: no thread and no extra task per run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import signal
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import logranges

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
    # After the main process exited: how long children holding its pipes may still write.
    pipe_grace_seconds: float = 5.0
    header: str = ""
    # Set by a local backend once the process started (its process group id too).
    pid: int | None = None
    # Values (secrets) replaced by '***' in the log and tails, chunk by chunk.
    redact: list[str] = field(default_factory=list)
    # For backends that run elsewhere (Ray): the variables the job itself sets (not the
    # server's own environment), the script the argv runs, and the job's specification.
    own_env: dict[str, str] = field(default_factory=dict)
    script: Path | None = None
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunOutcome:
    status: str  # success | failure | timeout | cancelled
    exit_code: int | None
    output_tail: str
    error_tail: str
    log_size: int
    log_truncated: bool
    message: str | None = None
    # The engine's id of a run it accepted (Ray's submission id; None for a local process).
    submission_id: str | None = None


class RunnerBackend(ABC):
    """Runs pipelines. Implementations must:

    - call ``on_started`` once the pipeline is actually running (not while it waits for
      resources), so the run can switch from ``queued`` to ``running``, and await it before
      ``run`` returns (the caller records the start before the end); if it raises, stop the
      pipeline and let the error through;
    - write the pipeline's stdout and stderr to ``request.log_path`` as they come, never
      more than ``request.max_log_bytes`` plus a truncation marker, and never hold more
      than the tails (``request.tail_bytes`` per stream) in memory;
    - enforce ``request.timeout_seconds`` (status ``timeout``) and honour ``cancel``
      (status ``cancelled``) by stopping the whole process tree; when the task awaiting
      ``run`` is cancelled instead, stop the tree too and let ``CancelledError`` through;
    - mask each value of ``request.redact`` as ``***`` in the log and the tails, also when
      a read cuts it in two;
    - never block the event loop.
    """

    @abstractmethod
    async def run(self, request: RunRequest, on_started: Callable[[], Awaitable[None]]) -> RunOutcome: ...

    @abstractmethod
    async def cancel(self, run_id: int) -> bool:
        """Stop a run this backend is executing; False when it is not running here."""

    #: Its runs outlive the server (a cluster): a restarted server reattaches to them.
    outlives_server = False

    def submission_id(self, run_id: int) -> str | None:
        """The id a run has on the engine, recorded with the run (None: a local process)."""
        return None

    def bind_database(self, key: str) -> None:  # noqa: B027 - optional hook
        """Learn the database's ``Store.instance_key`` (at start-up, before any run)."""

    async def reattach(
        self, request: RunRequest, is_running: bool, on_started: Callable[[], Awaitable[None]]
    ) -> RunOutcome:
        """Follow a run that another (dead) server started, to its end, as ``run`` would
        (``outlives_server`` backends only); ``on_started`` when it was still queued."""
        raise NotImplementedError

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
    """Appends to a run's log file from a worker thread, up to a byte limit.

    Everything that touches the file is handed to ``executor`` (one thread: it stays in
    order, and the file is that thread's alone). Creating the file and closing it are not
    awaited (later calls queue behind them); writes are, so a pipeline cannot write faster
    than its log is written.

    Where each stderr write landed is appended to a sidecar file as it is written
    (``logranges``), so a log view can tell stderr from stdout without any of it in memory."""

    def __init__(self, path: Path, limit: int, executor: ThreadPoolExecutor) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self.truncated = False
        self.error: str | None = None
        self._executor = executor
        self._opening: concurrent.futures.Future[OSError | None] | None = None
        self.is_lost = False  # the file could not be created: nothing goes there
        # The log thread's own.
        self._file: IO[bytes] | None = None
        self._ranges: IO[bytes] | None = None
        self._ranges_failed = False

    def _take(self, chunk: bytes) -> tuple[bytes, int]:
        """What of ``chunk`` goes to the file (all of it, or what fits and the marker), and
        how many of those bytes are the pipeline's own."""
        if self.truncated:
            return b"", 0
        room = self.limit - self.size
        kept = len(chunk)
        if len(chunk) > room:
            kept = max(room, 0)
            chunk = chunk[:kept] + TRUNCATION_MARKER.format(limit=self.limit).encode()
            self.truncated = True
        self.size += len(chunk)
        return chunk, kept

    def _failed(self, err: OSError) -> None:
        # Disk full or the folder went away: keep the run going (its tails still reach the
        # API) but stop writing, and say so where the log ends.
        self.error = f"The run log could not be written further: {err.strerror or err}."
        self.truncated = True

    def open(self, header: str) -> None:
        """Start creating the file, with ``header``, on the log thread (not awaited; see
        ``settle`` for how it went)."""
        data = self._take(header.encode())[0] if header else b""
        self._opening = self._executor.submit(self._open, data)

    def _open(self, data: bytes) -> OSError | None:
        """On the log thread: create the file (OSError when it cannot be) and write
        ``data``; answer the error of that write."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 (closed in _close)
        try:
            if data:
                self._file.write(data)
        except OSError as err:
            return err
        return None

    async def settle(self) -> None:
        """Learn how creating the file went (waiting only while it is still under way): a
        file that could not be created is the log's error, and nothing more is written."""
        opening, self._opening = self._opening, None
        if opening is None:
            return
        if not opening.done():
            await asyncio.wait([asyncio.wrap_future(opening)])
        try:
            error = opening.result()
        except OSError as err:
            self.error = (
                f"Cannot write the run log in {self.path.parent}: {err.strerror or err}; check that "
                "the log folder (log_dir) is writable."
            )
            self.truncated, self.size, self.is_lost = True, 0, True
            return
        if error is not None:
            self._failed(error)

    async def write(self, chunk: bytes, *, is_stderr: bool = False) -> None:
        if self.is_lost:
            return
        offset = self.size
        data, kept = self._take(chunk)
        if not data:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._write, data, offset, kept if is_stderr else 0)
        except OSError as err:
            self._failed(err)

    def _write(self, data: bytes, offset: int, stderr_bytes: int) -> None:
        """On the log thread: the bytes, then (for stderr) the record of where they are."""
        if self._file is None:  # it could not be created
            return
        self._file.write(data)
        if not stderr_bytes or self._ranges_failed:
            return
        try:
            if self._ranges is None:
                self._ranges = open(logranges.ranges_path(self.path), "ab", buffering=0)  # noqa: SIM115
            self._ranges.write(logranges.pack(offset, stderr_bytes))
        except OSError:
            # The log itself is intact; only the stderr marking stops.
            self._ranges_failed = True

    def close(self) -> None:
        """Close the file after the calls handed over before (not awaited)."""
        try:
            self._executor.submit(self._close)
        except RuntimeError:  # the log thread was stopped, after its last calls had run
            self._close()

    def _close(self) -> None:
        for handle in (self._file, self._ranges):
            if handle is not None:
                handle.close()
        self._file = self._ranges = None


async def stop_log_thread(executor: ThreadPoolExecutor, timeout: float = 10.0) -> None:
    """Stop a log thread once the calls handed to it are done (waited for off the loop, at
    most ``timeout`` seconds): a log closed after that closes on the caller's thread, with
    nothing of the log thread still running."""
    waiting = asyncio.get_running_loop().run_in_executor(
        None, functools.partial(executor.shutdown, wait=True)
    )
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(waiting, timeout)


class _Child:
    """A started pipeline process: its exit is watched on the loop, and it is reaped only
    by ``reap()``, after its process group got the final SIGKILL, so that its pid (the
    group's id) cannot be taken by another process in between."""

    def __init__(self, popen: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self.popen = popen
        self.pid = popen.pid
        self._loop = loop
        self.exited: asyncio.Future[None] = loop.create_future()
        self._pidfd: int | None = None
        self._poller: asyncio.Task[None] | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux 5.3+: poll instead
            self._poller = loop.create_task(self._poll())
        else:
            loop.add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        self._release_pidfd()
        if not self.exited.done():
            self.exited.set_result(None)

    async def _poll(self) -> None:
        pause = 0.001  # short runs are noticed within a few ms, long ones within 20 ms
        while self.popen.poll() is None:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)
        if not self.exited.done():
            self.exited.set_result(None)

    def _release_pidfd(self) -> None:
        if self._pidfd is not None:
            fd, self._pidfd = self._pidfd, None
            self._loop.remove_reader(fd)
            os.close(fd)

    async def wait_exit(self, timeout: float | None) -> bool:
        """Wait until the process has exited (its pipes may still be open); False on timeout."""
        if not self.exited.done():
            await asyncio.wait([self.exited], timeout=timeout)
        return self.exited.done()

    def forget(self) -> None:
        """Stop watching the process."""
        self._release_pidfd()
        if self._poller is not None:
            self._poller.cancel()

    def reap(self) -> int:
        """The exit status of a process that has exited (negative: the signal that ended it)."""
        self.forget()
        code = self.popen.poll()
        if code is None:  # only when called before the exit: never block the loop
            raise RuntimeError(f"process {self.pid} has not exited")
        return code


def _start_process(request: RunRequest, loop: asyncio.AbstractEventLoop) -> _Child:
    """Start the pipeline in its own session and process group (a kill reaches its children).

    Runs on the loop, as ``asyncio.create_subprocess_exec`` runs the same call: CPython
    starts the child with vfork, so this returns once the child has exec'd (about 0.4 ms);
    ``close_fds`` costs one ``close_range`` call there."""
    popen = subprocess.Popen(
        request.argv,
        cwd=str(request.cwd),
        env=request.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        start_new_session=True,
    )
    for stream in (popen.stdout, popen.stderr):
        assert stream is not None
        os.set_blocking(stream.fileno(), False)
    return _Child(popen, loop)


async def _readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _pump(loop: asyncio.AbstractEventLoop, fd: int, sink: Callable[[bytes], Awaitable[None]]) -> None:
    """Read ``fd`` (non-blocking) to its end, handing each read to ``sink``. The next read
    waits until ``sink`` is done with this one, so a pipeline that writes faster than its
    log is written waits on a full pipe instead of filling the server's memory."""
    while True:
        try:
            chunk = os.read(fd, CHUNK_SIZE)
        except BlockingIOError:
            await _readable(loop, fd)
            continue
        if not chunk:
            return
        await sink(chunk)


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


class _Redactor:
    """Masks secrets (as ``***``) in a stream that arrives in pieces."""

    def __init__(self, secrets: list[bytes]) -> None:
        self.secrets = secrets
        self.held = b""  # the end of the last read that may be the start of a secret

    def feed(self, chunk: bytes) -> bytes:
        if not self.secrets:
            return chunk
        chunk = self.held + chunk
        for secret in self.secrets:
            chunk = chunk.replace(secret, b"***")
        keep = _partial_secret(chunk, self.secrets)
        self.held = chunk[len(chunk) - keep :]
        return chunk[: len(chunk) - keep]

    def rest(self) -> bytes:
        rest, self.held = self.held, b""
        return rest


@dataclass
class _Active:
    child: _Child
    grace: float
    stop_reason: str | None = None  # "timeout" | "cancelled"
    stopping: asyncio.Task[None] | None = field(default=None)


class LocalSubprocessRunner(RunnerBackend):
    """Runs each pipeline as a local subprocess, watched from the event loop (never blocking)."""

    def __init__(self) -> None:
        self._active: dict[int, _Active] = {}
        # One thread for log file writes keeps their order and keeps them off the loop.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-scheduler-log")

    async def run(self, request: RunRequest, on_started: Callable[[], Awaitable[None]]) -> RunOutcome:
        loop = asyncio.get_running_loop()
        log = LogWriter(request.log_path, request.max_log_bytes, self._io)
        out_tail, err_tail = TailBuffer(request.tail_bytes), TailBuffer(request.tail_bytes)
        # The log file is created on the log thread while the process starts (the run's
        # folder exists already: the executor made it while the run was queued). Should it
        # fail, the run goes on with its tails and its end message says why.
        log.open(request.header)
        child: _Child | None = None
        pumps: asyncio.Future[Any] | None = None
        try:
            try:
                child = _start_process(request, loop)
            except OSError as err:
                reason = f"Could not start the pipeline: {err}"
                await log.write((reason + "\n").encode())
                await log.settle()
                return RunOutcome("failure", None, "", reason, log.size, log.truncated, reason)
            active = _Active(child, request.kill_grace_seconds)
            self._active[request.run_id] = active
            request.pid = child.pid
            await on_started()

            secrets = [v.encode() for v in request.redact if v]

            async def pump(stream: IO[bytes] | None, tail: TailBuffer, is_stderr: bool) -> None:
                assert stream is not None
                redactor = _Redactor(secrets)

                async def take(chunk: bytes) -> None:
                    chunk = redactor.feed(chunk)
                    tail.append(chunk)
                    await log.write(chunk, is_stderr=is_stderr)

                try:
                    await _pump(loop, stream.fileno(), take)
                finally:
                    stream.close()  # here, once its reader is off the loop
                if rest := redactor.rest():
                    tail.append(rest)
                    await log.write(rest, is_stderr=is_stderr)

            popen = child.popen
            pumps = asyncio.gather(pump(popen.stdout, out_tail, False), pump(popen.stderr, err_tail, True))
            try:
                if not await child.wait_exit(request.timeout_seconds):
                    active.stop_reason = active.stop_reason or "timeout"
                    await self._stop(active)
                # The main process has exited; children that keep the pipes open get a
                # short while to finish, then the rest of the group is killed so no orphan
                # lingers.
                try:
                    await asyncio.wait_for(asyncio.shield(pumps), request.pipe_grace_seconds)
                except asyncio.TimeoutError:
                    _signal_group(child.pid, signal.SIGKILL)
                    await pumps
            except BaseException:
                # Interrupted (this task was cancelled): the pumps close their pipes once
                # their readers are off the loop; wait for that before going on.
                pumps.cancel()
                with contextlib.suppress(BaseException):
                    await pumps
                raise
            if active.stopping is not None:
                await active.stopping
            _signal_group(child.pid, signal.SIGKILL)
            await child.wait_exit(None)  # at once, unless a SIGKILL above just ended it
            code = child.reap()
            message: str | None
            if active.stop_reason == "timeout":
                status, message = "timeout", f"Stopped after the {request.timeout_seconds:g} s timeout."
            elif active.stop_reason == "cancelled":
                status, message = "cancelled", "Cancelled."
            elif code == 0:
                status, message = "success", None
            else:
                status, message = "failure", f"Exited with code {code}."
            await log.settle()
            if log.error:
                message = f"{message} {log.error}" if message else log.error
            if message:
                await log.write(f"\n[amphi-scheduler] {message}\n".encode())
            return RunOutcome(
                status, code, out_tail.text(), err_tail.text(), log.size, log.truncated, message
            )
        finally:
            self._active.pop(request.run_id, None)
            if child is not None:
                self._discard(child, pumped=pumps is not None)
            log.close()

    def _discard(self, child: _Child, *, pumped: bool) -> None:
        """Leave nothing behind. On the normal path the child was reaped already; when the
        run was interrupted (its task cancelled, ``on_started`` failed), kill its group and
        reap it on the log thread (a killed process is gone within moments)."""
        popen = child.popen
        if not pumped:
            for stream in (popen.stdout, popen.stderr):
                if stream is not None:
                    stream.close()
        child.forget()
        if popen.returncode is None:
            _signal_group(child.pid, signal.SIGKILL)
            with contextlib.suppress(RuntimeError):  # shut down: subprocess reaps it later
                self._io.submit(popen.wait)

    async def _stop(self, active: _Active) -> None:
        """SIGTERM the process group, then SIGKILL after the grace period."""
        if active.stopping is None:
            active.stopping = asyncio.ensure_future(self._terminate(active))
        await asyncio.shield(active.stopping)

    @staticmethod
    async def _terminate(active: _Active) -> None:
        child = active.child
        _signal_group(child.pid, signal.SIGTERM)
        await child.wait_exit(active.grace)
        _signal_group(child.pid, signal.SIGKILL)

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
        await stop_log_thread(self._io)
