"""Leadership: one active scheduler per workspace (or per shared database).

APScheduler 3 must not share a job store between two scheduler processes, so exactly one
server fires jobs; the others serve the API only (standby) and take over when it stops or
dies. Two ways, behind one interface (``SchedulerLeadership``) that the service uses:

- ``FileLockLeadership`` (SQLite, the default: one host). The first server takes an
  exclusive ``flock`` on ``.amphi/scheduler.lock``; the kernel drops the lock of a killed
  process, so a standby (retrying every ``lock_poll_seconds``) takes over at its next try.
  ``flock`` locks belong to an open file, so two services in one process exclude each
  other too. A file lock only protects servers on one host, which is also all SQLite
  supports: an SQLite database on NFS or shared between hosts is not supported.
- ``LeaseLeadership`` (PostgreSQL, several hosts). A lease row in the database (holder,
  epoch, expires_at) that the leader renews every third of ``lease_seconds``, on the
  database's clock (``now()``), so hosts never compare their own clocks. A standby takes
  the lease once it has expired (``lease_seconds`` at most after the leader died, plus its
  poll), adding one to the epoch: the fencing token. The leader stops firing at a local
  deadline taken from the moment it *sent* its last successful renewal, a safety margin
  before the lease can expire on the database's clock, so two servers never fire in the
  same window; and every fired run is inserted only while its epoch is the live lease's
  (``Store.insert_fired_run``, one row per job and fire time), so even a leader that is
  paused past its deadline (a stopped VM, a long GC) cannot start a fire time twice.

Advisory locks of PostgreSQL would be simpler, but they are released with the session
(a pooled or recycled connection drops leadership silently) and carry no fencing token;
the lease is modelled on APScheduler 4's data store leases (``acquired_by`` /
``acquired_until``) and Airflow's HA scheduler.
"""

from __future__ import annotations

import abc
import asyncio
import fcntl
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from .store import SCHEDULER_LEASE, db_clock_sql, leases_table


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
    """``host:pid`` of this process (kept: a run records it at each start)."""
    global _this_process
    pid = os.getpid()
    if _this_process[0] != pid:  # first call, or a forked child
        _this_process = (pid, f"{socket.gethostname()}:{pid}")
    return _this_process[1]


_this_process: tuple[int, str] = (-1, "")


Callback = Callable[[], Awaitable[None]]


class SchedulerLeadership(abc.ABC):
    """Whether this server is the one that fires jobs.

    The service calls ``try_take`` at start; when it wins it becomes active and runs
    ``hold(on_lost)`` in the background, else it runs ``stand_by(on_elected)``. ``hold``
    calls ``on_lost`` (stop firing at once, then stand by again) if the role is lost, and
    ``release`` gives it up on a clean stop."""

    def __init__(self, poll_seconds: float, log: logging.Logger) -> None:
        self.poll_seconds = poll_seconds
        self.log = log
        # "host:pid" of the server whose expired role this one took (its runs are orphans).
        self.superseded: str | None = None

    @property
    @abc.abstractmethod
    def is_leader(self) -> bool: ...

    @abc.abstractmethod
    async def try_take(self) -> bool:
        """Take the role if it is free (never waits for it)."""

    @abc.abstractmethod
    async def holder(self) -> str:
        """Who holds the role, for the log."""

    @abc.abstractmethod
    async def hold(self, on_lost: Callback) -> None:
        """While this server leads: keep the role; call ``on_lost`` when it is lost."""

    @abc.abstractmethod
    async def release(self) -> None: ...

    def fencing_epoch(self) -> int | None:
        """The fencing token that fired runs are recorded under (None: no fencing)."""
        return None

    async def stand_by(self, on_elected: Callback) -> None:
        """Retry until the role is free, then take it (run as a background task)."""
        self.log.info(
            "amphi-scheduler: another server (%s) runs the scheduler of this workspace; "
            "this one serves the API and takes over if it stops",
            await self.holder(),
        )
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                taken = await self.try_take()
            except Exception as err:  # the database may be briefly away: try again
                self.log.warning("amphi-scheduler: could not check the scheduler role: %s", err)
                continue
            if taken:
                self.log.info("amphi-scheduler: the active server stopped; taking over the scheduler")
                await on_elected()
                return


class FileLockLeadership(SchedulerLeadership):
    """Takes the scheduler role when its file lock is free (one host: SQLite)."""

    def __init__(self, lock: SchedulerLock, poll_seconds: float, log: logging.Logger) -> None:
        super().__init__(poll_seconds, log)
        self.lock = lock

    @property
    def is_leader(self) -> bool:
        return self.lock.held

    async def try_take(self) -> bool:
        return await asyncio.to_thread(self.lock.try_acquire)

    async def holder(self) -> str:
        return await asyncio.to_thread(self.lock.holder)

    async def hold(self, on_lost: Callback) -> None:
        """A held flock cannot be lost while the process lives."""

    async def release(self) -> None:
        await asyncio.to_thread(self.lock.release)


Leadership = FileLockLeadership  # the name of earlier versions


class LeaseTable:
    """The scheduler lease row (``pipeline_scheduler_leases``): blocking SQL, each call one
    short transaction; times on the database's clock."""

    def __init__(self, engine: Engine, name: str = SCHEDULER_LEASE) -> None:
        self.engine = engine
        self.name = name
        clock = db_clock_sql(engine.dialect.name)
        table = leases_table.name
        is_pg = engine.dialect.name == "postgresql"
        # A standby that finds the row locked (the leader renewing, another standby
        # taking it) moves on instead of waiting: SKIP LOCKED, as APScheduler 4 does.
        self._read = text(
            f"SELECT holder, epoch, expires_at, {clock} AS now FROM {table} WHERE name = :name"  # noqa: S608
            + (" FOR UPDATE SKIP LOCKED" if is_pg else "")
        )
        self._take = text(
            f"UPDATE {table} SET holder = :holder, epoch = epoch + 1,"  # noqa: S608
            f" expires_at = {clock} + :ttl, renewed_at = {clock}"
            f" WHERE name = :name AND epoch = :epoch AND (expires_at <= {clock} OR holder = :holder)"
            " RETURNING epoch"
        )
        self._renew = text(
            f"UPDATE {table} SET expires_at = {clock} + :ttl, renewed_at = {clock}"  # noqa: S608
            f" WHERE name = :name AND holder = :holder AND epoch = :epoch AND expires_at > {clock}"
            " RETURNING epoch"
        )
        self._release = text(
            f"UPDATE {table} SET expires_at = {clock} - 1"  # noqa: S608
            " WHERE name = :name AND holder = :holder AND epoch = :epoch"
        )

    def read(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._read.bindparams(name=self.name)).first()
        return dict(row._mapping) if row is not None else None

    def take(self, holder: str, ttl: float) -> tuple[int, str] | None:
        """Take the lease if it expired (or was released); answer (the new epoch, the
        previous holder), or None when someone holds it."""
        with self.engine.begin() as conn:
            row = conn.execute(self._read.bindparams(name=self.name)).first()
            if row is None or (row.expires_at > row.now and row.holder != holder):
                return None
            epoch = conn.execute(
                self._take, {"name": self.name, "holder": holder, "ttl": ttl, "epoch": row.epoch}
            ).scalar()
            return (int(epoch), str(row.holder)) if epoch is not None else None

    def renew(self, holder: str, epoch: int, ttl: float) -> bool:
        """Extend the lease by ``ttl`` from now; False when it is no longer ours (or it
        expired: an expired lease is taken again, with a new epoch, never renewed)."""
        with self.engine.begin() as conn:
            found = conn.execute(
                self._renew, {"name": self.name, "holder": holder, "epoch": epoch, "ttl": ttl}
            ).scalar()
        return found is not None

    def release(self, holder: str, epoch: int) -> None:
        """Let the lease expire now, so a standby takes over at its next poll."""
        with self.engine.begin() as conn:
            conn.execute(self._release, {"name": self.name, "holder": holder, "epoch": epoch})


class LeaseLeadership(SchedulerLeadership):
    """Takes the scheduler role through the lease row of a database shared by several
    hosts (see the module docstring).

    The lease's SQL runs on a thread of its own, not the service's database thread: a
    renewal must never wait behind a long query of the API, or a busy leader would lose
    its role for nothing. Each call is one short transaction on the store's engine."""

    def __init__(
        self,
        engine: Engine,
        lease_seconds: float,
        poll_seconds: float,
        log: logging.Logger,
        *,
        holder: str | None = None,
    ) -> None:
        super().__init__(poll_seconds, log)
        self.table = LeaseTable(engine)
        self.lease_seconds = float(lease_seconds)
        # A renewal every third of the lease: two can fail before the leader steps down.
        self.renew_seconds = self.lease_seconds / 3
        # The leader stops firing this long before its lease can expire.
        self.margin_seconds = min(1.0, self.lease_seconds / 5)
        # Unique per service: a restarted server (same host, maybe the same pid) is new.
        self.holder_id = holder or f"{this_process()}:{uuid.uuid4().hex[:8]}"
        self.epoch: int | None = None
        self._deadline = 0.0  # time.monotonic() after which this server must not fire
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-scheduler-lease")

    @property
    def is_leader(self) -> bool:
        return self.epoch is not None and time.monotonic() < self._deadline

    def fencing_epoch(self) -> int | None:
        # Past the local deadline (or after a loss) an epoch no lease has: refused.
        return self.epoch if self.epoch is not None and self.is_leader else -1

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def try_take(self) -> bool:
        sent = time.monotonic()
        taken = await self._call(self.table.take, self.holder_id, self.lease_seconds)
        if taken is None:
            return False
        self.epoch, previous = taken
        self._deadline = sent + self.lease_seconds - self.margin_seconds
        # "host:pid:token" of an expired holder: its process is gone (or cut off).
        self.superseded = previous.rsplit(":", 1)[0] if previous.count(":") >= 2 else None
        self.log.info("amphi-scheduler: took the scheduler lease (epoch %s)", self.epoch)
        return True

    async def holder(self) -> str:
        row = await self._call(self.table.read)
        if not row or not row["holder"]:
            return "none"
        left = float(row["expires_at"]) - float(row["now"])
        state = f"expires in {left:.1f} s" if left > 0 else "expired"
        return f"{row['holder']}, epoch {row['epoch']}, lease {state}"

    async def hold(self, on_lost: Callback) -> None:
        """Renew the lease every ``renew_seconds``; when the local deadline comes without
        a successful renewal (the database unreachable, a slow answer) or the lease turns
        out to be someone else's, call ``on_lost``."""
        while self.epoch is not None:
            await asyncio.sleep(max(0.0, min(self.renew_seconds, self._deadline - time.monotonic())))
            epoch = self.epoch
            if epoch is None:
                return
            sent = time.monotonic()
            left = self._deadline - sent
            renewed: bool | None = None
            if left > 0:
                try:
                    renewed = await asyncio.wait_for(
                        self._call(self.table.renew, self.holder_id, epoch, self.lease_seconds), left
                    )
                except asyncio.TimeoutError:
                    renewed = None
                except Exception as err:
                    self.log.warning("amphi-scheduler: could not renew the scheduler lease: %s", err)
                    renewed = None
            if renewed:
                self._deadline = sent + self.lease_seconds - self.margin_seconds
                continue
            if renewed is False or time.monotonic() >= self._deadline:
                self.log.warning(
                    "amphi-scheduler: lost the scheduler lease (epoch %s); this server stops "
                    "firing and stands by",
                    epoch,
                )
                self.epoch = None
                self._deadline = 0.0
                await on_lost()
                return

    async def release(self) -> None:
        epoch, self.epoch = self.epoch, None
        self._deadline = 0.0
        try:
            if epoch is not None:
                await self._call(self.table.release, self.holder_id, epoch)
        finally:
            self._thread.shutdown(wait=False)
