"""File arrival triggers: jobs with ``schedule_type: "file"`` run when files matching their
``watch_path`` glob appear or change inside the workspace.

Why it is built this way:

- One ``watchfiles.awatch`` for all file jobs (the folders of their globs), not one per
  job: each watcher holds a thread while it waits, and a thread per job would not scale.
  When the set of folders changes the watcher is started again; the first thing it
  reports after a (re)start makes every job look again at its files, so a file written
  while the watcher was starting is not missed.
- Events only say *that* something changed. What counts is the job's files, listed on a
  file thread once no matching change came for the job's settle time
  (``watch_debounce_seconds``): a file written in chunks fires once, after its last chunk.
  A file fires when its (modification time, size) differs from what the job last saw, so
  one settled change fires at most one run, whatever the events were.
- What each job saw is kept in the database (``pipeline_scheduler_file_state``), written
  before the run starts. A job seen for the first time (new, or its glob changed) takes
  the files last modified before its definition was saved as old: they never fire, while
  a file that arrived in the moment between the save and the watch does. After a restart
  the files that appeared or changed while no server ran fire once, together in one run;
  unchanged files never do.
- The watches follow job changes (``JobService.on_change``: a listener that asks for a
  look at the changed job); while a job's folder is missing, every file job is looked at
  again every ``_RETRY_SECONDS``. A
  watch dropped while it is inside ``executor.start`` is not cancelled there (that could
  leave the run's row inserted with no run behind it): it ends once the start answers.
- A paused job takes in its changes without firing, so resuming it fires no backlog.
  Runs honour the job's ``max_instances`` like scheduled fires: a change that comes while
  the job already has that many active runs is recorded as a ``skipped`` run listing the
  files (the run executor's rule), and those files count as seen.
- Only the active scheduler watches (``SchedulerService._become_active``); a glob is
  checked to stay inside the workspace (no absolute paths, no ``..``, no folder reached
  through a symbolic link that leads outside, no ``.amphi/``), and files reached through a
  symbolic link to outside the workspace are ignored. Like ``*``, ``**`` never crosses a
  name starting with '.', and nothing under ``.amphi/`` matches any glob: the runs' own
  log writes never make a job look again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .domain import JobDefinition, TriggeredBy
from .errors import PathNotAllowedError, SchedulerError
from .execution import RunExecutor
from .settings import DATA_DIR_NAME, SchedulerSettings
from .store import FileState, Store
from .workers import Workers

DEFAULT_DEBOUNCE_SECONDS = 3
# At most this many paths are listed in a run's event (and its trigger_files.json,
# launch.event_environment); ``count`` says how many files fired it.
MAX_EVENT_PATHS = 1000
# How long the watcher waits for changes before it reports that it is running.
_WATCH_TIMEOUT_MS = 500
_RESTART_DELAY_SECONDS = 5.0
_RETRY_SECONDS = 10.0
_WILDCARDS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class WatchPattern:
    """A checked ``watch_path``: the glob as stored, the folder to watch and its matcher."""

    glob: str
    folder: Path  # absolute, real: the glob's folder part before its first wildcard
    regex: re.Pattern[str]  # matches workspace-relative POSIX paths
    max_depth: int | None  # folders below ``folder`` a match can be in (None: any, '**')

    def matches(self, rel: str) -> bool:
        return self.regex.fullmatch(rel) is not None


def _segment_regex(part: str) -> str:
    """One folder or file name of a glob: '*' and '?' stay within it and do not match a
    leading '.' (as in a shell), '[...]' is a character class."""
    out = ["(?!\\.)"] if part[:1] in ("*", "?") else []
    i = 0
    while i < len(part):
        char = part[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = part.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = part[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                for special in ("\\", "[", "&", "~", "|"):  # literal inside a class
                    body = body.replace(special, "\\" + special)
                out.append("[" + body.replace("/", "") + "]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


# A name '**' crosses: like '*', never one starting with '.' (so '**/*.log' never reaches
# '.amphi/runs/<id>/output.log', '.git/' or '.ipynb_checkpoints/').
_DEEP_NAME = "(?!\\.)[^/]+"


def _glob_regex(parts: tuple[str, ...]) -> re.Pattern[str]:
    """The matcher of a glob's parts (re.error: a '[...]' that is not a valid class)."""
    # Nothing under the scheduler's own folder ever matches, whatever the glob.
    out = f"(?!{re.escape(DATA_DIR_NAME)}/)"
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out += f"{_DEEP_NAME}(?:/{_DEEP_NAME})*" if last else f"(?:{_DEEP_NAME}/)*"
        else:
            out += _segment_regex(part) + ("" if last else "/")
    return re.compile(out)


def resolve_watch(root: Path, pattern: object, field_name: str = "watch_path") -> WatchPattern:
    """Check a glob of workspace files and find the folder to watch (blocking: it reads the
    disk). Every refusal names the field."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise PathNotAllowedError(f"{field_name}: required; give a glob such as 'data/incoming/*.csv'.")
    text = pattern.strip()
    if "\x00" in text or len(text) > 1024 or any(ord(c) < 32 for c in text):
        raise PathNotAllowedError(f"{field_name}: contains characters that are not allowed.")
    if "\\" in text or text.startswith(("/", "~")) or (len(text) > 1 and text[1] == ":"):
        raise PathNotAllowedError(
            f"{field_name}: {text!r} is an absolute path; give a glob relative to the workspace, "
            "e.g. 'data/incoming/*.csv'."
        )
    parts = tuple(p for p in PurePosixPath(text).parts if p not in ("", "."))
    if any(part == ".." for part in parts):
        raise PathNotAllowedError(
            f"{field_name}: {text!r} leaves the workspace ('..'); only files inside it can be watched."
        )
    if not parts:
        raise PathNotAllowedError(f"{field_name}: {text!r} names no files.")
    if parts[0] == DATA_DIR_NAME or (parts[0] in ("*", "**") and len(parts) == 1):
        # '*' or '**' alone would watch the scheduler's own logs and database.
        raise PathNotAllowedError(
            f"{field_name}: {text!r} would watch the scheduler's own files under '{DATA_DIR_NAME}/'; "
            "give a folder, e.g. 'data/incoming/*.csv'."
        )
    fixed: list[str] = []
    for part in parts:
        if _WILDCARDS.search(part):
            break
        fixed.append(part)
    folder_parts = fixed if len(fixed) < len(parts) else fixed[:-1]
    rest = parts[len(folder_parts) :]
    root_real = Path(os.path.realpath(root))
    folder = Path(os.path.realpath(root_real.joinpath(*folder_parts)))
    shown = "/".join(folder_parts) or "."
    if folder != root_real and root_real not in folder.parents:
        raise PathNotAllowedError(
            f"{field_name}: the folder {shown!r} points outside the workspace (through a symbolic link)."
        )
    if not folder.is_dir():
        raise PathNotAllowedError(
            f"{field_name}: the folder {shown!r} does not exist in the workspace; create it first."
        )
    max_depth = None if "**" in rest else len(rest) - 1
    try:
        regex = _glob_regex(parts)
    except re.error as err:
        raise PathNotAllowedError(
            f"{field_name}: {text!r} has a character class '[...]' that is not valid ({err.msg}); "
            "write e.g. '[a-z]' or '[!0-9]', or '[[]' for a literal '['."
        ) from None
    return WatchPattern("/".join(parts), folder, regex, max_depth)


def scan(root: Path, watch: WatchPattern) -> FileState:
    """The files matching a glob now, with their modification time and size (blocking).
    Symbolic links are not followed into folders; a file that is a link to outside the
    workspace is left out."""
    root_real = Path(os.path.realpath(root))
    found: FileState = {}
    base_depth = len(watch.folder.parts)
    for dirpath, dirnames, filenames in os.walk(watch.folder, followlinks=False):
        here = Path(dirpath)
        depth = len(here.parts) - base_depth
        if watch.max_depth is not None and depth >= watch.max_depth:
            dirnames.clear()
        if here == root_real:
            dirnames[:] = [d for d in dirnames if d != DATA_DIR_NAME]
        try:
            rel_dir = here.relative_to(root_real).as_posix()
        except ValueError:
            continue
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not watch.matches(rel):
                continue
            full = here / name
            try:
                st = full.stat()
                if full.is_symlink():
                    target = Path(os.path.realpath(full))
                    if root_real not in target.parents:
                        continue
            except OSError:
                continue  # gone meanwhile
            if stat.S_ISREG(st.st_mode):
                found[rel] = (st.st_mtime_ns, st.st_size)
    return found


@dataclass
class _Watch:
    job_id: str
    pattern: WatchPattern
    debounce: float
    key: tuple[str, float]
    state: FileState
    last_change: float = 0.0
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    # Inside ``executor.start``: a drop waits for it instead of cancelling (a cancel there
    # could leave the run's row inserted with no run to execute it, queued until a restart).
    is_starting: bool = False
    is_dropped: bool = False


class FileTriggers:
    """Watches the globs of file jobs while this server is the active scheduler."""

    def __init__(
        self,
        settings: SchedulerSettings,
        store: Store,
        workers: Workers,
        executor: RunExecutor,
        log: logging.Logger,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.executor = executor
        self.log = log
        self._watches: dict[str, _Watch] = {}
        self._missing: dict[str, str] = {}  # job id -> why it is not watched (its folder is gone)
        self._lock = asyncio.Lock()
        self._active = False
        self._watcher: asyncio.Task[None] | None = None
        self._watcher_folders: tuple[Path, ...] = ()
        self._stop_watcher: asyncio.Event | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._sync_again = False
        # Jobs changed since the last look; ``None`` in it: look at every file job.
        self._changed: set[str | None] = set()
        # The next look at every file job, while a glob could not be watched.
        self._retry: asyncio.TimerHandle | None = None
        self._rewatch = False  # the watcher failed: check every glob again

    @property
    def is_active(self) -> bool:
        return self._active

    @property
    def has_missing(self) -> bool:
        """Some file job could not be watched (its folder is missing): try again later."""
        return bool(self._missing)

    def watched_jobs(self) -> list[str]:
        return sorted(self._watches)

    # -- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """This server became the active scheduler: watch every file job."""
        self._active = True
        await self.sync()
        if self._missing:
            self._retry_later()

    def job_changed(self, job_id: str | None) -> None:
        """A job definition changed (``JobService.on_change``; ``None``: any job): look at
        its watch soon (at every watch for ``None``)."""
        if self._active:
            self._changed.add(job_id)
            self._sync_soon()

    def _sync_soon(self) -> None:
        """Look now: at the jobs noted changed, or at every file job when that was asked
        for, nothing is noted, or the watcher failed. While a glob cannot be watched (its
        folder is missing), or after a look failed, every file job is looked at again in
        ``_RETRY_SECONDS``."""
        if self._sync_task is not None and not self._sync_task.done():
            self._sync_again = True
            return

        async def run() -> None:
            failed = False
            while True:
                self._sync_again = False
                changed, self._changed = self._changed, set()
                try:
                    if not changed or None in changed or self._rewatch:
                        await self.sync()
                    else:
                        await self.sync_jobs({j for j in changed if j is not None})
                    failed = False
                except Exception:
                    self.log.exception("amphi-scheduler: could not update the file watches")
                    failed = True
                if not self._sync_again:
                    break
            if failed or self._missing:
                self._retry_later()

        self._sync_task = asyncio.create_task(run(), name="file-triggers-sync")

    def _retry_later(self) -> None:
        if self._retry is None and self._active:
            self._retry = asyncio.get_running_loop().call_later(_RETRY_SECONDS, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        if self._active:
            self._changed.add(None)
            self._sync_soon()

    async def stop(self) -> None:
        """Stop watching (the role was lost, or the server stops)."""
        self._active = False
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        sync, self._sync_task = self._sync_task, None
        if sync is not None and not sync.done():
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sync
        async with self._lock:
            for job_id in list(self._watches):
                await self._drop(job_id)
            await self._stop_watching()
            self._missing.clear()

    async def sync(self) -> None:
        """Make the watches agree with the file jobs (after a change, or now and then)."""
        if not self._active:
            return
        async with self._lock:
            if not self._active:
                return
            jobs = {job.id: job for job in await self.workers.db(self.store.list_file_jobs)}
            if self._rewatch:  # a folder may be gone: set every watch up again
                self._rewatch = False
                for job_id in list(self._watches):
                    await self._drop(job_id)
            await self._apply(set(self._watches) | set(self._missing) | set(jobs), jobs)
            self._forgot(await self.workers.db(self.store.drop_file_watches, list(jobs)))
            await self._restart_watcher_if_needed()

    async def sync_jobs(self, job_ids: set[str]) -> None:
        """Make the watches of these jobs agree with their definitions (after they changed):
        a job that is not a file job, and was not one, costs one read by id."""
        if not self._active:
            return
        async with self._lock:
            if not self._active:
                return
            jobs = await self.workers.db(self._file_jobs, job_ids)
            known = {j for j in job_ids if j in self._watches or j in self._missing}
            await self._apply(job_ids, jobs)
            if forget := sorted(known - set(jobs)):
                self._forgot(await self.workers.db(self.store.forget_file_watches, forget))
            await self._restart_watcher_if_needed()

    async def _apply(self, job_ids: set[str], jobs: dict[str, JobDefinition]) -> None:
        """Make the watches of ``job_ids`` agree with ``jobs`` (the file jobs among them, by
        id): a watch whose job is gone or whose glob changed is dropped, a file job not
        watched is watched (or noted missing)."""
        for job_id in sorted(job_ids):
            job, watch = jobs.get(job_id), self._watches.get(job_id)
            if watch is not None and (job is None or self._watch_key(job) != watch.key):
                await self._drop(job_id)
            if job is None:
                self._missing.pop(job_id, None)
            elif job_id not in self._watches:
                await self._add(job)

    def _forgot(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.log.info("amphi-scheduler: forgot the watched files of job %s", job_id)

    def _file_jobs(self, job_ids: set[str]) -> dict[str, JobDefinition]:
        """On the database thread: those of the jobs that are file jobs, by id."""
        jobs = (self.store.get_job(job_id, False) for job_id in sorted(job_ids))
        return {job.id: job for job in jobs if job is not None and job.schedule_type == "file"}

    # -- watches -------------------------------------------------------------------------
    def _watch_key(self, job: JobDefinition) -> tuple[str, float]:
        return (str(job.spec.get("watch_path") or ""), self._debounce(job))

    @staticmethod
    def _debounce(job: JobDefinition) -> float:
        return float(job.spec.get("watch_debounce_seconds") or DEFAULT_DEBOUNCE_SECONDS)

    async def _add(self, job: JobDefinition) -> None:
        root = self.settings.root_dir
        try:
            pattern = await self.workers.fs(resolve_watch, root, job.spec.get("watch_path"))
        except SchedulerError as err:
            if self._missing.get(job.id) != err.message:
                self.log.warning("amphi-scheduler: job %s is not watching files: %s", job.id, err.message)
            self._missing[job.id] = err.message
            return
        self._missing.pop(job.id, None)
        stored = await self.workers.db(self.store.file_watch, job.id)
        if stored is None or stored[0] != pattern.glob:
            # First seen (or a new glob): files modified before the definition was saved are
            # old, they never fire; one that came after it fires at the first look below.
            saved_ns = int(job.updated_at * 1e9)
            found = await self.workers.fs(scan, root, pattern)
            state = {path: seen for path, seen in found.items() if seen[0] < saved_ns}
            await self.workers.db(self.store.set_file_watch, job.id, pattern.glob, state)
        else:
            state = stored[1]
        watch = _Watch(job.id, pattern, self._debounce(job), self._watch_key(job), state)
        self._watches[job.id] = watch
        watch.task = asyncio.create_task(self._settle_loop(watch), name=f"file-trigger-{job.id}")
        # Look once the watcher runs: files that arrived while no server ran (or while this
        # watch was being set up) fire once.
        self._mark(watch)

    async def _drop(self, job_id: str) -> None:
        watch = self._watches.pop(job_id, None)
        if watch is not None and watch.task is not None:
            watch.is_dropped = True
            if not watch.is_starting:  # else its loop ends once the run it starts is made
                watch.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch.task

    def _mark(self, watch: _Watch) -> None:
        watch.last_change = time.monotonic()
        watch.dirty.set()

    # -- the one watcher -----------------------------------------------------------------
    def _folders(self) -> tuple[Path, ...]:
        """The folders to watch: each glob's folder, without those inside another one."""
        folders = sorted({w.pattern.folder for w in self._watches.values()}, key=lambda p: len(p.parts))
        kept: list[Path] = []
        for folder in folders:
            if not any(folder == k or k in folder.parents for k in kept):
                kept.append(folder)
        return tuple(sorted(kept))

    async def _restart_watcher_if_needed(self) -> None:
        folders = self._folders()
        if folders == self._watcher_folders and (self._watcher is not None or not folders):
            return
        await self._stop_watching()
        self._watcher_folders = folders
        if folders:
            self._stop_watcher = asyncio.Event()
            self._watcher = asyncio.create_task(
                self._watch(folders, self._stop_watcher), name="file-triggers-watcher"
            )

    async def _stop_watching(self) -> None:
        if self._stop_watcher is not None:
            self._stop_watcher.set()
        task, self._watcher, self._watcher_folders = self._watcher, None, ()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _watch(self, folders: tuple[Path, ...], stop: asyncio.Event) -> None:
        from watchfiles import awatch

        root_real = Path(os.path.realpath(self.settings.root_dir))
        while not stop.is_set():
            first = True
            try:
                async for changes in awatch(
                    *folders,
                    watch_filter=None,
                    debounce=200,
                    step=50,
                    stop_event=stop,
                    rust_timeout=_WATCH_TIMEOUT_MS,
                    yield_on_timeout=True,
                    ignore_permission_denied=True,
                ):
                    if first:  # the watcher runs: look at every job's files once
                        first = False
                        for watch in list(self._watches.values()):
                            self._mark(watch)
                    self._route(root_real, {path for _, path in changes})
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a watched folder removed, too many watches, ...
                self.log.warning("amphi-scheduler: watching files failed (%s); trying again", err)
                await asyncio.sleep(_RESTART_DELAY_SECONDS)
                # Check every glob again (a folder may be gone), then watch anew.
                if self._watcher is asyncio.current_task():
                    self._watcher, self._watcher_folders = None, ()
                self._rewatch = True
                self._sync_soon()
                return

    def _route(self, root_real: Path, paths: set[str]) -> None:
        """Changed paths -> the watches whose glob they match."""
        for path in paths:
            try:
                rel = Path(path).relative_to(root_real).as_posix()
            except ValueError:
                continue
            for watch in self._watches.values():
                if watch.pattern.matches(rel):
                    self._mark(watch)

    # -- settling and firing -------------------------------------------------------------
    async def _settle_loop(self, watch: _Watch) -> None:
        while not watch.is_dropped:
            await watch.dirty.wait()
            while (wait := watch.last_change + watch.debounce - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            watch.dirty.clear()
            try:
                await self._check(watch)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("amphi-scheduler: could not check the files of job %s", watch.job_id)

    async def _check(self, watch: _Watch) -> None:
        current = await self.workers.fs(scan, self.settings.root_dir, watch.pattern)
        changed = {p: v for p, v in current.items() if watch.state.get(p) != v}
        removed = [p for p in watch.state if p not in current]
        if not changed and not removed:
            return
        await self.workers.db(self.store.update_file_state, watch.job_id, changed, removed)
        watch.state = current
        if not changed:
            return
        job = await self.workers.db(self.store.get_job, watch.job_id)
        if job is None or job.schedule_type != "file":
            return
        if job.paused:
            self.log.info(
                "amphi-scheduler: job %s is paused; %d changed file(s) not run", job.id, len(changed)
            )
            return
        paths = sorted(changed)
        event = {"kind": "file", "paths": paths[:MAX_EVENT_PATHS], "count": len(paths)}
        if watch.is_dropped:
            return
        watch.is_starting = True
        try:
            await self.executor.start(job.id, TriggeredBy.FILE, job=job, event=event)
        except SchedulerError as err:
            self.log.warning("amphi-scheduler: files arrived for job %s but no run started: %s", job.id, err)
        finally:
            watch.is_starting = False
