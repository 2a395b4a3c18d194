"""Two real ``jupyter server`` processes share one PostgreSQL database, each on its own
workspace folder (as on two hosts: no lock file in common), with a 3 s scheduler lease,
and one job firing every second. In one sequence (one pair of servers, to keep the
suite short):

1. SIGSTOP of the active server A (a paused VM, a long GC: the split brain a lease must
   survive): B takes over once A's lease expired; when A wakes up it records no fire
   time after its lease could have expired and steps down to standby;
2. kill -9 of B, now active: A takes over within the lease (plus its poll);
3. over the 50 fire times of the whole sequence no fire time runs twice, and each server
   fired while it led.

The runs are counted in the database itself (per job and ``scheduled_for``)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from engine_support import EngineServer, sync_poll

LEASE = 3.0
POLL = 0.5


class Host:
    """A workspace folder and a server on it, sharing ``db_url`` with the others."""

    def __init__(self, base: Path, name: str, db_url: str) -> None:
        root = base / name / "workspace"
        root.mkdir(parents=True)
        (root / "tick.py").write_text("print('tick')\n")
        self.server = EngineServer(
            root,
            base / name / "home",
            {"db_url": db_url, "lease_seconds": LEASE, "lock_poll_seconds": POLL},
        )

    def log(self) -> str:
        return self.server.log_path.read_text(errors="replace")


@pytest.fixture
def hosts(tmp_path: Path, pg_url: str) -> Iterator[tuple[Host, Host, str]]:
    a, b = Host(tmp_path, "a", pg_url), Host(tmp_path, "b", pg_url)
    try:
        yield a, b, pg_url
    finally:
        for host in (a, b):
            if host.server.process is not None and host.server.process.poll() is None:
                os.kill(host.server.pid, signal.SIGCONT)
            host.server.cleanup()


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


def fired(url: str, job_id: str) -> list[tuple[float, str, float]]:
    """(scheduled_for, owner, created_at) of each scheduled or catch-up run of the job."""
    return query(  # type: ignore[return-value]
        url,
        "SELECT scheduled_for, owner, created_at FROM pipeline_scheduler_runs"
        " WHERE job_id = %s AND triggered_by IN ('schedule', 'catchup') AND status <> 'skipped'"
        " ORDER BY scheduled_for",
        job_id,
    )


def duplicates(url: str, job_id: str) -> list[tuple[Any, ...]]:
    return query(
        url,
        "SELECT scheduled_for, count(*) FROM pipeline_scheduler_runs WHERE job_id = %s"
        " AND triggered_by IN ('schedule', 'catchup') GROUP BY scheduled_for HAVING count(*) > 1",
        job_id,
    )


def lease(url: str) -> tuple[str, int]:
    rows = query(url, "SELECT holder, epoch FROM pipeline_scheduler_leases WHERE name = 'scheduler'")
    return rows[0][0], int(rows[0][1])


def every_second(server: EngineServer) -> str:
    job = server.ok(
        "POST",
        "jobs",
        {"name": "Tick", "pipeline_path": "tick.py", "schedule_type": "interval", "interval_seconds": 1},
    )
    return str(job["id"])


def owned_by(runs: list[tuple[float, str, float]], server: EngineServer) -> list[float]:
    return sorted(s for s, owner, _ in runs if owner.endswith(f":{server.pid}"))


def test_pause_then_kill_of_the_leader_standby_takes_over_no_fire_time_twice(
    hosts: tuple[Host, Host, str],
) -> None:
    a, b, url = hosts
    a.server.start()
    sync_poll(lambda: a.server.state() == "active", timeout=15, what="first server active")
    b.server.start()
    assert b.server.state() == "standby"
    job_id = every_second(b.server)  # made through the standby: the leader picks it up
    sync_poll(lambda: len(fired(url, job_id)) >= 5, timeout=30, what="5 fires by A")
    holder, epoch = lease(url)
    assert f":{a.server.pid}:" in holder

    # 1. A paused: B takes over when A's lease expired; A wakes up and steps down.
    os.kill(a.server.pid, signal.SIGSTOP)
    paused_at = time.time()
    sync_poll(lambda: b.server.state() == "active", timeout=LEASE + 10, interval=0.05, what="B takes over")
    assert lease(url) == (lease(url)[0], epoch + 1) and f":{b.server.pid}:" in lease(url)[0]
    sync_poll(lambda: len(owned_by(fired(url, job_id), b.server)) >= 3, timeout=20, what="3 fires by B")
    os.kill(a.server.pid, signal.SIGCONT)
    sync_poll(lambda: "lost the scheduler lease" in a.log(), timeout=15, what="A steps down")
    assert a.server.state() == "standby" and b.server.state() == "active"
    late = [
        (s, created)
        for s, owner, created in fired(url, job_id)
        if owner.endswith(f":{a.server.pid}") and created > paused_at + LEASE
    ]
    assert late == [], late  # nothing recorded by A after its lease could have expired

    # 2. B killed: A takes over within the lease.
    sync_poll(lambda: len(fired(url, job_id)) >= 25, timeout=30, what="25 fires")
    b.server.kill9()
    killed = time.monotonic()
    sync_poll(lambda: a.server.state() == "active", timeout=LEASE + 10, interval=0.05, what="A takes over")
    takeover = time.monotonic() - killed
    assert takeover <= LEASE + POLL + 1.5, takeover
    assert lease(url)[1] == epoch + 2

    # 3. 50 fire times in all, none twice; the fires go on about every second.
    sync_poll(lambda: len(fired(url, job_id)) >= 50, timeout=40, what="50 fires in all")
    runs = fired(url, job_id)
    assert duplicates(url, job_id) == []
    by_b = owned_by(runs, b.server)
    after = [s for s in owned_by(runs, a.server) if s > by_b[-1]]
    assert len(by_b) >= 3 and len(after) >= 3
    assert after[0] - by_b[-1] <= LEASE + POLL + 2.5, (by_b[-1], after[0])  # no long gap
    assert all(0.5 < t2 - t1 < 2.5 for t1, t2 in zip(after[1:], after[2:], strict=False)), after
    print(f"take-over after kill -9: {takeover:.2f} s (lease {LEASE} s, poll {POLL} s); {len(runs)} fires")
    a.server.stop()
