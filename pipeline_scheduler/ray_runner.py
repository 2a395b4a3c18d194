"""Running pipelines on a Ray cluster, as Ray jobs (Ray's Job Submission API).

Each run is one Ray job: its command is the entrypoint, the pipeline's folder is shipped as
the job's ``runtime_env.working_dir`` (Ray zips it, honouring ``.gitignore`` and
``.rayignore``, at most 512 MiB zipped; ``.amphi``, ``.git``, ``__pycache__`` and
``.ipynb_checkpoints`` are left out), and the job's own variables, parameters and secrets
are its ``runtime_env.env_vars`` (never this server's environment). The submission id is
derived from the run id (``amphi-<database hash>-run-<id>``), so a submission that is
sent again can never start a second copy: Ray refuses a second job with the same id.

``JobSubmissionClient`` speaks synchronous HTTP: every call to it runs on this backend's
own threads; the log follows through its ``tail_job_logs`` websocket (an async iterator)
on the event loop, chunk by chunk into the run's log file (``LogWriter``), keeping only
bounded tails in memory. Ray merges stdout and stderr: the output tail holds both. The
entrypoint prints a last line after the pipeline (``end_line``): the log is whole once it
came through, seconds before Ray's server closes the stream.

- Status: polled with ``get_job_info``; SUCCEEDED -> success, FAILED with the entrypoint's
  exit code -> failure, STOPPED -> cancelled / timeout (``stop_job`` ends the whole process
  tree on the node), the job's supervisor or node lost -> interrupted (never re-run by Ray:
  retries are the scheduler's own policy).
- Resources: a job's ``num_cpus``, ``num_gpus``, ``memory`` and ``resources`` become the
  entrypoint's reservations. A run asking for what no node of the cluster has fails at once
  (``ray_refuse_unfit_resources``); one that waits for resources longer than
  ``ray_pending_timeout_seconds`` is stopped and fails.
- The cluster unreachable: a run fails at submission with a message naming the address; a
  running one that loses contact for ``ray_lost_contact_seconds`` is recorded interrupted.
- A server that dies while Ray runs a job: the next one claims the run and ``reattach``es
  to it by its submission id (its log is read again from the start).

Importing this module does not import ray: the server starts as fast without it, and a
missing extra is reported by ``RAY_EXTRA_MESSAGE`` only where Ray is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shlex
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import logranges
from .runner import (
    LogWriter,
    RunnerBackend,
    RunOutcome,
    RunRequest,
    TailBuffer,
    _partial_secret,
    _Redactor,
    stop_log_thread,
)
from .settings import SchedulerSettings

T = TypeVar("T")

RAY_EXTRA_MESSAGE = (
    "This run asks for a Ray cluster (runner 'ray'), but Ray is not installed on the Jupyter "
    'server: install the extra with pip install "amphi-scheduler[ray]" (it brings '
    "ray[default]), or choose runner 'local'."
)
# Folders of a working_dir that are never shipped to the cluster.
EXCLUDES = [".amphi", ".git", "__pycache__", ".ipynb_checkpoints"]
# Generated code (.ampln) or a script outside the shipped folder travels in a variable;
# Linux caps one environment string at 128 KiB.
MAX_INLINE_CODE_BYTES = 100 * 1024
_BOOTSTRAP = (
    "import os,sys;c=os.environ.pop('AMPHI_PIPELINE_CODE');sys.argv=['pipeline.py'];"
    "exec(compile(c,'pipeline.py','exec'),{'__name__':'__main__'})"
)
SIDECAR = "ray.json"
# How long the log stream may still deliver after the job ended (see RayJobsRunner._drain).
TAIL_GRACE_SECONDS = 20.0
_FINAL = ("SUCCEEDED", "FAILED", "STOPPED")
_NODE_LOST_ERRORS = ("JOB_SUPERVISOR_ACTOR_DIED", "JOB_SUPERVISOR_ACTOR_UNKNOWN_FAILURE")


@functools.cache
def ray_available() -> bool:
    """Whether Ray's job SDK can be imported (``ray[default]``), without importing it."""
    return all(importlib.util.find_spec(name) is not None for name in ("ray", "aiohttp", "requests"))


def dashboard_address(settings: SchedulerSettings) -> str:
    """The Job Submission API's address: the Ray dashboard (http://<head>:8265)."""
    address = str(settings.ray_address or os.environ.get("RAY_ADDRESS") or "http://127.0.0.1:8265")
    if "://" not in address:
        address = f"http://{address}"
    return address.rstrip("/")


def database_key(settings: SchedulerSettings) -> str:
    """Ten hex digits naming this scheduler's database until the service binds the
    database's own random key (``Store.instance_key``): run ids are unique in one database,
    so submission ids of two databases sharing a cluster never collide (not even a new
    database at an old one's path), while servers sharing one database share them."""
    return hashlib.sha256(settings.database_url.encode()).hexdigest()[:10]


def entrypoint_resources(spec: dict[str, Any]) -> dict[str, Any]:
    """A job's Ray reservations as ``submit_job`` arguments (CPU, GPU and memory given in
    ``resources`` go to their own arguments, as Ray requires)."""
    custom = {str(k): float(v) for k, v in (spec.get("resources") or {}).items()}
    cpus = spec.get("num_cpus", custom.pop("CPU", None))
    gpus = spec.get("num_gpus", custom.pop("GPU", None))
    memory = spec.get("memory", custom.pop("memory", None))
    args: dict[str, Any] = {}
    if cpus is not None:
        args["entrypoint_num_cpus"] = float(cpus)
    if gpus is not None:
        args["entrypoint_num_gpus"] = float(gpus)
    if memory is not None:
        args["entrypoint_memory"] = int(memory)
    if custom:
        args["entrypoint_resources"] = custom
    return args


def _wanted(resources: dict[str, Any]) -> dict[str, float]:
    """The reservations by Ray resource name, without zeros."""
    wanted = {
        "CPU": resources.get("entrypoint_num_cpus") or 0,
        "GPU": resources.get("entrypoint_num_gpus") or 0,
        "memory": resources.get("entrypoint_memory") or 0,
        **(resources.get("entrypoint_resources") or {}),
    }
    return {k: float(v) for k, v in wanted.items() if v}


def _amounts(values: dict[str, float]) -> str:
    return ", ".join(f"{k}: {v:g}" for k, v in sorted(values.items()) if not k.startswith("node:"))


class RayUnavailableError(Exception):
    """The cluster cannot be used for this run (unreachable, or it refused the job)."""


@dataclass
class _RayRun:
    submission_id: str
    stop_reason: str | None = None  # "cancelled" | "timeout" | "pending"
    lost: str | None = None
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    # The line its entrypoint prints once the pipeline ended (``end_line``); None for a job
    # submitted without one (by an older version).
    end_line: str | None = None


def end_line(submission_id: str, token: str) -> str:
    """The line a run's entrypoint prints after the pipeline ended, whatever its exit code.
    Ray's server closes a job's log stream only seconds after the job ended (it reads the
    log file again every second until it has seen its end twice); once this line has come
    through, the log is whole and the run can be recorded. Its token (``secrets``) makes it
    a line no pipeline prints by chance; it never reaches the run's log."""
    return f"\n[amphi-scheduler] end of Ray job {submission_id} {token}\n"


def _end_command(submission_id: str, token: str) -> str:
    """The shell command that prints ``end_line``: ``printf`` renders it, so the command
    itself (which Ray writes into the log, before the pipeline's output) does not hold it."""
    form = "\\n[amphi-scheduler] end of Ray job %s %s\\n"
    return f"printf '{form}' {shlex.quote(submission_id)} {shlex.quote(token)}"


class RayJobsRunner(RunnerBackend):
    """Runs each pipeline as a Ray job on the cluster at ``ray_address``."""

    outlives_server = True

    def __init__(self, settings: SchedulerSettings, log: logging.Logger | None = None) -> None:
        self.settings = settings
        self.address = dashboard_address(settings)
        self.key = database_key(settings)
        self.log = log or logging.getLogger("pipeline_scheduler")
        self.poll_seconds = 0.25
        self._client: Any = None
        self._active: dict[int, _RayRun] = {}
        # HTTP calls may wait on a slow cluster: their own threads, never the database's.
        self._calls = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pipeline-scheduler-ray")
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-scheduler-ray-log")

    def submission_id(self, run_id: int) -> str:
        return f"amphi-{self.key}-run-{run_id}"

    def bind_database(self, key: str) -> None:
        self.key = key

    # -- calls on the threads ------------------------------------------------------------
    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._calls, functools.partial(fn, *args, **kwargs))

    def _unreachable(self, err: BaseException) -> str:
        detail = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
        return (
            f"Cannot reach the Ray cluster at {self.address} ({detail}). Check that the cluster's "
            "head node is running, that ray_address is its dashboard address (http://<head>:8265; "
            "on Kubernetes with KubeRay the head service, http://<cluster>-head-svc.<namespace>.svc"
            ".cluster.local:8265) and that this server can reach that port."
        )

    def _connect(self) -> Any:
        """The client (made once: its constructor checks the cluster's version over HTTP)."""
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            try:
                self._client = JobSubmissionClient(self.address)
            except Exception as err:
                raise RayUnavailableError(self._unreachable(err)) from None
        return self._client

    def _unfit(self, wanted: dict[str, float]) -> str | None:
        """Why no node of the cluster can ever run a job asking for ``wanted`` (None: some
        node has it, or the nodes could not be listed; Ray then says more)."""
        if not wanted:
            return None
        import requests

        try:
            answer = requests.get(f"{self.address}/api/v0/nodes", params={"detail": "1"}, timeout=10)
            nodes = answer.json()["data"]["result"]["result"]
        except Exception as err:
            self.log.info("amphi-scheduler: could not list the Ray nodes at %s: %s", self.address, err)
            return None
        alive = [n for n in nodes if n.get("state") == "ALIVE"]
        for node in alive:
            total = node.get("resources_total") or {}
            if all(float(total.get(k, 0)) >= v for k, v in wanted.items()):
                return None
        have = "; ".join(
            f"{n.get('node_ip', '?')}: {_amounts(n.get('resources_total') or {})}" for n in alive
        )
        return (
            f"No node of the Ray cluster at {self.address} has the resources this run asks for "
            f"({_amounts(wanted)}); the nodes have {have or 'nothing (no node is alive)'}. Ask for "
            "less (num_cpus, num_gpus, memory, resources), or add such a node (on an autoscaling "
            "cluster, set ray_refuse_unfit_resources to False)."
        )

    def _entrypoint(self, request: RunRequest, submission_id: str, token: str) -> tuple[str, dict[str, str]]:
        """The job's shell command (the pipeline, then its ``end_line``, keeping the
        pipeline's exit code) and variables (reads a script that is not shipped)."""
        command, env = self._command(request)
        ending = f"amphi_code=$?; {_end_command(submission_id, token)}; exit $amphi_code"
        return f"{command}; {ending}", env

    def _command(self, request: RunRequest) -> tuple[str, dict[str, str]]:
        python = str(request.spec.get("python_executable") or self.settings.ray_python or "python")
        env = dict(request.own_env)
        script = request.script or Path(request.argv[-1])
        try:
            relative = script.resolve().relative_to(request.cwd.resolve())
        except ValueError:
            code = script.read_bytes()
            if len(code) > MAX_INLINE_CODE_BYTES:
                raise RayUnavailableError(
                    f"The pipeline's code ({len(code):,} bytes) is outside its folder and too large "
                    f"to send to Ray in a variable (at most {MAX_INLINE_CODE_BYTES:,}); put the "
                    "script in the folder that is shipped (its working_dir)."
                ) from None
            env["AMPHI_PIPELINE_CODE"] = code.decode("utf-8", errors="replace")
            return shlex.join([python, "-u", "-c", _BOOTSTRAP]), env
        return shlex.join([python, "-u", relative.as_posix()]), env

    def _submit(self, submission_id: str, request: RunRequest, entrypoint: str, env: dict[str, str]) -> None:
        client = self._connect()
        try:
            client.submit_job(
                entrypoint=entrypoint,
                submission_id=submission_id,
                runtime_env={"working_dir": str(request.cwd), "env_vars": env, "excludes": EXCLUDES},
                metadata={"amphi_run_id": str(request.run_id)},
                **entrypoint_resources(request.spec),
            )
        except RayUnavailableError:
            raise
        except (OSError, ConnectionError) as err:
            raise RayUnavailableError(self._unreachable(err)) from None
        except Exception as err:
            if "already exists" in str(err):
                return  # an earlier send of this same submission got through: follow it
            text = str(err).strip().splitlines()
            raise RayUnavailableError(
                f"The Ray cluster at {self.address} refused the job: {text[-1] if text else err}"
            ) from None

    def _info(self, submission_id: str) -> Any:
        return self._connect().get_job_info(submission_id)

    def _stop_job(self, submission_id: str) -> None:
        with contextlib.suppress(Exception):  # gone already, or the cluster is unreachable
            self._connect().stop_job(submission_id)

    # -- the backend ---------------------------------------------------------------------
    async def _open_log(self, request: RunRequest, header: str, fresh: bool) -> LogWriter:
        log = LogWriter(request.log_path, request.max_log_bytes, self._io)
        if fresh:  # reattached: the log is written again from the job's start

            def remove() -> None:
                for path in (request.log_path, logranges.ranges_path(request.log_path)):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()

            await asyncio.get_running_loop().run_in_executor(self._io, remove)
        log.open(header)
        try:
            await log.settle()
        except BaseException:  # cancelled while the file was being created
            log.close()
            raise
        return log

    async def run(self, request: RunRequest, on_started: Callable[[], Awaitable[None]]) -> RunOutcome:
        submission_id = self.submission_id(request.run_id)
        state = _RayRun(submission_id)
        self._active[request.run_id] = state
        try:
            log = await self._open_log(request, request.header, fresh=False)
            if log.is_lost:
                log.close()
                reason = log.error or "The run log could not be created."
                return RunOutcome("failure", None, "", reason, 0, False, reason)
            tail = TailBuffer(request.tail_bytes)
            try:
                await self._submit_run(request, submission_id, state)
            except RayUnavailableError as err:
                return await self._fail(log, tail, str(err))
            except asyncio.CancelledError:
                await self._call(self._stop_job, submission_id)
                log.close()
                raise
            if state.stop_reason == "cancelled":  # before it was submitted
                log.close()
                return RunOutcome("cancelled", None, "", "", log.size, log.truncated, "Cancelled.")
            return await self._follow(request, state, log, tail, on_started, is_running=False)
        finally:
            self._active.pop(request.run_id, None)

    async def _submit_run(self, request: RunRequest, submission_id: str, state: _RayRun) -> None:
        await self._call(self._connect)
        resources = entrypoint_resources(request.spec)
        if self.settings.ray_refuse_unfit_resources:
            unfit = await self._call(self._unfit, _wanted(resources))
            if unfit:
                raise RayUnavailableError(unfit)
        token = secrets.token_hex(8)
        state.end_line = end_line(submission_id, token)
        entrypoint, env = await self._call(self._entrypoint, request, submission_id, token)
        sidecar = request.log_path.parent / SIDECAR
        record = json.dumps(
            {"submission_id": submission_id, "header": request.header, "end_line": state.end_line}
        )
        await asyncio.get_running_loop().run_in_executor(self._io, sidecar.write_text, record)
        if state.stop_reason is None:  # not cancelled meanwhile
            await self._call(self._submit, submission_id, request, entrypoint, env)

    async def _fail(self, log: LogWriter, tail: TailBuffer, reason: str) -> RunOutcome:
        await log.write(f"[amphi-scheduler] {reason}\n".encode())
        log.close()
        return RunOutcome("failure", None, tail.text(), reason, log.size, log.truncated, reason)

    async def reattach(
        self, request: RunRequest, is_running: bool, on_started: Callable[[], Awaitable[None]]
    ) -> RunOutcome:
        submission_id = self.submission_id(request.run_id)
        state = _RayRun(submission_id)
        self._active[request.run_id] = state
        try:
            sidecar = request.log_path.parent / SIDECAR
            try:
                text = await asyncio.get_running_loop().run_in_executor(self._io, sidecar.read_text)
                recorded = json.loads(text)
                header = str(recorded.get("header") or "")
                state.end_line = recorded.get("end_line") or None
            except (OSError, ValueError, AttributeError):
                header = ""
            header += (
                f"[amphi-scheduler] reattached to Ray job {submission_id} after a server restart; "
                "its log follows from its start.\n"
            )
            log = await self._open_log(request, header, fresh=True)
            tail = TailBuffer(request.tail_bytes)
            try:
                await self._call(self._info, submission_id)
            except Exception as err:
                if "404" in str(err) or "does not exist" in str(err):
                    reason = "The server stopped before this run reached the Ray cluster."
                    await log.write(f"[amphi-scheduler] {reason}\n".encode())
                    log.close()
                    return RunOutcome("interrupted", None, "", "", log.size, log.truncated, reason)
                # Unreachable for now: following it keeps trying until the contact limit.
            return await self._follow(request, state, log, tail, on_started, is_running=is_running)
        finally:
            self._active.pop(request.run_id, None)

    async def _follow(
        self,
        request: RunRequest,
        state: _RayRun,
        log: LogWriter,
        tail: TailBuffer,
        on_started: Callable[[], Awaitable[None]],
        *,
        is_running: bool,
    ) -> RunOutcome:
        """Follow a submitted job to its end: its log, its status, its limits."""
        loop = asyncio.get_running_loop()
        s = self.settings
        sid = state.submission_id
        redactor = _Redactor([v.encode() for v in request.redact if v])
        tailing = asyncio.ensure_future(self._tail(sid, log, tail, redactor, state))
        submitted = loop.time()
        started: float | None = loop.time() if is_running else None
        lost_since: float | None = None
        stop_sent: float | None = None
        info: Any = None
        try:
            while True:
                try:
                    info = await self._call(self._info, sid)
                    lost_since = None
                except Exception as err:
                    lost_since = lost_since or loop.time()
                    if loop.time() - lost_since >= s.ray_lost_contact_seconds:
                        state.lost = (
                            f"Lost contact with the Ray cluster at {self.address} for "
                            f"{s.ray_lost_contact_seconds:g} s while this run was active ({err}); "
                            "its head node may have died. The job may still be running there: see "
                            f"`ray job status {sid}`."
                        )
                        break
                    await self._pause(state)
                    continue
                status = str(getattr(info.status, "value", info.status))
                if started is None and (status == "RUNNING" or _has_run(info)):
                    started = loop.time()
                    await on_started()
                if status in _FINAL:
                    break
                if state.stop_reason == "pending" and stop_sent and loop.time() - stop_sent > 5:
                    # Ray queues the stop on a job supervisor that cannot be placed: the job
                    # stays PENDING until Ray's own start timeout, and is stopped at once
                    # should it ever be placed. The run ends here.
                    break
                if state.stop_reason is None:
                    pending = s.ray_pending_timeout_seconds
                    if started is None and pending and loop.time() - submitted > pending:
                        state.stop_reason = "pending"
                        stop_sent = loop.time()
                        await self._call(self._stop_job, sid)
                    elif (
                        started is not None
                        and request.timeout_seconds
                        and loop.time() - started > request.timeout_seconds
                    ):
                        state.stop_reason = "timeout"
                        await self._call(self._stop_job, sid)
                await self._pause(state)
        except BaseException:
            # This task was cancelled (or a hook failed): nothing may keep running.
            tailing.cancel()
            await self._call(self._stop_job, sid)
            log.close()
            raise
        if state.stop_reason != "pending" or started is not None:
            await self._drain(tailing, state, request.pipe_grace_seconds)
        tailing.cancel()
        if rest := redactor.rest():
            tail.append(rest)
            await log.write(rest)
        status, code, message = self._result(info, state, request)
        if log.error:
            message = f"{message} {log.error}" if message else log.error
        if message:
            await log.write(f"\n[amphi-scheduler] {message}\n".encode())
        log.close()
        error = message if status not in ("success", "cancelled") and message else ""
        return RunOutcome(status, code, tail.text(), error, log.size, log.truncated, message, sid)

    async def _pause(self, state: _RayRun) -> None:
        """Until the next poll, or a cancel."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(state.woken.wait(), self.poll_seconds)
        state.woken.clear()

    async def _drain(self, tailing: asyncio.Future[None], state: _RayRun, grace: float) -> None:
        """Let the log stream deliver what the job wrote before it ended. It is done once
        the entrypoint's last line (``end_line``) came through; without that line (a
        stopped job, or one submitted without it) it is done when Ray's server closes it,
        seconds after the end, so it gets at least TAIL_GRACE_SECONDS."""
        await asyncio.wait([tailing], timeout=max(grace, TAIL_GRACE_SECONDS))

    async def _tail(
        self, sid: str, log: LogWriter, tail: TailBuffer, redactor: _Redactor, state: _RayRun
    ) -> None:
        async def take(data: bytes) -> None:
            data = redactor.feed(data)
            tail.append(data)
            await log.write(data)

        last = state.end_line.encode() if state.end_line else None
        held = b""  # the end of the last chunk, when it may be the start of the last line
        try:
            client = await self._call(self._connect)
            async with contextlib.aclosing(client.tail_job_logs(sid)) as chunks:
                async for chunk in chunks:
                    data = held + chunk.encode("utf-8", errors="replace")
                    if last is None:
                        await take(data)
                        continue
                    at = data.find(last)
                    if at >= 0:  # the whole log came through (what follows is not the run's)
                        await take(data[:at])
                        return
                    keep = _partial_secret(data, [last])
                    held = data[len(data) - keep :]
                    await take(data[: len(data) - keep])
            if held:
                await take(held)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the cluster went away: the status poll says what happened
            self.log.info("amphi-scheduler: the log of Ray job %s stopped: %s", sid, err)

    def _result(self, info: Any, state: _RayRun, request: RunRequest) -> tuple[str, int | None, str | None]:
        """(status, exit code, message) of a job that ended or was lost."""
        if state.lost or info is None:
            return "interrupted", None, state.lost or "Lost contact with the Ray cluster."
        status = str(getattr(info.status, "value", info.status))
        code = info.driver_exit_code
        ray_message = (info.message or "").strip().splitlines()
        first_line = ray_message[0][:500] if ray_message else ""
        if status == "SUCCEEDED":
            return "success", code if code is not None else 0, None
        if state.stop_reason == "pending":
            wanted = _amounts(_wanted(entrypoint_resources(request.spec))) or "no reservation"
            return (
                "failure",
                None,
                (
                    f"Stopped: still waiting for resources on the Ray cluster at {self.address} after "
                    f"{self.settings.ray_pending_timeout_seconds:g} s (it asks for {wanted}); "
                    "ray_pending_timeout_seconds sets how long a run may wait."
                ),
            )
        if status == "STOPPED":
            if state.stop_reason == "timeout":
                return "timeout", code, f"Stopped after the {request.timeout_seconds:g} s timeout."
            if state.stop_reason == "cancelled":
                return "cancelled", code, "Cancelled."
            return "cancelled", code, "Stopped on the Ray cluster (not by the scheduler)."
        error_type = str(getattr(info.error_type, "value", info.error_type) or "")
        if error_type in _NODE_LOST_ERRORS:
            return (
                "interrupted",
                None,
                (
                    f"The Ray node that ran this job died or was lost ({first_line or error_type}); "
                    "Ray does not run it again."
                ),
            )
        if code is not None:
            return "failure", code, f"Exited with code {code}."
        return "failure", None, f"Ray could not run it ({error_type or 'FAILED'}): {first_line}"

    async def cancel(self, run_id: int) -> bool:
        state = self._active.get(run_id)
        if state is None:
            return False
        state.stop_reason = state.stop_reason or "cancelled"
        await self._call(self._stop_job, state.submission_id)
        state.woken.set()
        return True

    def running_ids(self) -> list[int]:
        return list(self._active)

    async def shutdown(self) -> None:
        self._calls.shutdown(wait=False)
        await stop_log_thread(self._io)


def _has_run(info: Any) -> bool:
    """A job seen only after it ended (between two polls) had started when its entrypoint
    gave an exit code."""
    status = str(getattr(info.status, "value", info.status))
    return status == "SUCCEEDED" or (status in ("FAILED", "STOPPED") and info.driver_exit_code is not None)


def ray_backends(settings: SchedulerSettings, log: logging.Logger) -> dict[str, RunnerBackend]:
    """The Ray backend by name when the extra is installed (else runs asking for Ray fail
    with ``RAY_EXTRA_MESSAGE``, and jobs asking for it are refused)."""
    if not ray_available():
        if settings.runner == "ray":
            log.error("amphi-scheduler: runner is 'ray' but %s", RAY_EXTRA_MESSAGE)
        return {}
    return {"ray": RayJobsRunner(settings, log)}
