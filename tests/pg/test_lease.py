"""The scheduler lease and fire-time idempotence on SQLite and PostgreSQL, in-process:
the lease row's take / renew / release rules on the database's clock, the epoch as a
fencing token for fired runs, one run per (job, fire time) even under concurrent
inserts, the service choosing its leadership, a clean hand-over between two services on
one PostgreSQL database, and an SQLite database of schema 4 opening as schema 5."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from unit_helpers import wait_until

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.leadership import FileLockLeadership, LeaseLeadership, LeaseTable
from pipeline_scheduler.settings import SchedulerSettings
from pipeline_scheduler.store import SCHEMA_VERSION, Store, make_engine

LOG = logging.getLogger("test-lease")


def run_row(
    job_id: str = "job_a", scheduled_for: float | None = 1_700_000_000.0, **extra: Any
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "job_name": job_id,
        "pipeline_path": "ok.py",
        "status": "queued",
        "triggered_by": "schedule",
        "scheduled_for": scheduled_for,
        **extra,
    }


@pytest.fixture
def store(db_url: str) -> Any:
    s = Store(make_engine(db_url))
    s.create_schema()
    yield s
    s.engine.dispose()


def wait_expired(table: LeaseTable, timeout: float = 10.0) -> None:
    """Until the lease has expired on the database's clock."""
    deadline = time.monotonic() + timeout
    while True:
        row = table.read()
        assert row is not None
        if row["expires_at"] <= row["now"]:
            return
        assert time.monotonic() < deadline, row
        time.sleep(0.05)


def test_lease_take_renew_expire_and_fence(store: Store) -> None:
    table = LeaseTable(store.engine)
    assert table.take("hostA:1:aa", 0.5) == (1, "")
    assert table.take("hostB:2:bb", 0.5) is None  # held: a standby waits
    assert table.renew("hostA:1:aa", 1, 0.5)
    assert not table.renew("hostB:2:bb", 1, 0.5)  # only the holder renews
    # The leader's fired runs are recorded under its epoch, a stale epoch is refused.
    assert store.insert_fired_run(1, **run_row(scheduled_for=100.0)) is not None
    assert store.insert_fired_run(0, **run_row(scheduled_for=101.0)) is None

    wait_expired(table)
    assert not table.renew("hostA:1:aa", 1, 0.5)  # an expired lease is taken anew, never renewed
    assert store.insert_fired_run(1, **run_row(scheduled_for=102.0)) is None  # expired: fenced
    assert table.take("hostB:2:bb", 5.0) == (2, "hostA:1:aa")
    assert store.insert_fired_run(1, **run_row(scheduled_for=103.0)) is None  # deposed leader
    assert store.insert_fired_run(2, **run_row(scheduled_for=103.0)) is not None
    assert not table.renew("hostA:1:aa", 1, 5.0)

    table.release("hostA:1:aa", 1)  # not the holder: changes nothing
    assert table.take("hostC:3:cc", 5.0) is None
    table.release("hostB:2:bb", 2)
    assert table.take("hostC:3:cc", 5.0) == (3, "hostB:2:bb")


def test_one_run_per_job_and_fire_time(store: Store) -> None:
    first = store.insert_fired_run(None, **run_row(scheduled_for=200.5))
    assert first is not None
    assert store.insert_fired_run(None, **run_row(scheduled_for=200.5)) is None
    assert store.insert_fired_run(None, **run_row(scheduled_for=200.5, triggered_by="catchup")) is None
    # A skipped record of that fire time is the same fire time.
    assert (
        store.insert_fired_run(None, **run_row(scheduled_for=200.5, status="skipped", finished_at=1.0))
        is None
    )
    # Another job, another fire time: recorded.
    assert store.insert_fired_run(None, **run_row("job_b", scheduled_for=200.5)) is not None
    assert store.insert_fired_run(None, **run_row(scheduled_for=201.5)) is not None
    # Manual and retry runs have no fire key: any number of them, with any scheduled_for.
    for _ in range(2):
        store.insert_run(**run_row(scheduled_for=200.5, triggered_by="retry"))
        store.insert_run(**run_row(scheduled_for=None, triggered_by="manual"))
    runs = store.list_runs(job_id="job_a", limit=100)
    fired = [r for r in runs if r["triggered_by"] in ("schedule", "catchup")]
    assert sorted(r["scheduled_for"] for r in fired) == [200.5, 201.5]
    assert len(runs) == 6


def test_concurrent_inserts_of_one_fire_time_record_it_once(db_url: str) -> None:
    """Eight connections insert the same fire time at once (two servers' split brain)."""
    stores = [Store(make_engine(db_url)) for _ in range(8)]
    stores[0].create_schema()
    barrier = threading.Barrier(len(stores))
    answers: list[int | None] = []
    errors: list[BaseException] = []

    def insert(s: Store) -> None:
        barrier.wait()
        try:
            answers.append(s.insert_fired_run(None, **run_row(scheduled_for=300.0)))
        except BaseException as err:  # sqlite: the busy timeout may be hit; count it
            errors.append(err)

    threads = [threading.Thread(target=insert, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len([a for a in answers if a is not None]) == 1, answers
    assert len(stores[0].list_runs(job_id="job_a")) == 1
    for s in stores:
        s.engine.dispose()


def test_service_chooses_its_leadership(tmp_path: Path, workspace: Path, pg_url: str) -> None:
    base = SchedulerSettings(workspace_dir=str(workspace), timezone="UTC", log_dir=str(tmp_path / "logs"))
    assert isinstance(SchedulerService(base).leadership, FileLockLeadership)
    assert isinstance(SchedulerService(base.replace(db_url=pg_url)).leadership, LeaseLeadership)
    forced = base.replace(db_url=f"sqlite:///{tmp_path}/x.sqlite", leadership="lease")
    assert isinstance(SchedulerService(forced).leadership, LeaseLeadership)
    assert isinstance(
        SchedulerService(base.replace(db_url=pg_url, leadership="file")).leadership, FileLockLeadership
    )


def test_two_services_on_one_database_hand_over_on_a_clean_stop(
    tmp_path: Path, workspace: Path, pg_url: str
) -> None:
    """Two services on separate workspaces (two hosts) share one PostgreSQL database: one
    is active; when it stops it releases the lease and the other takes over at its next
    poll, well within the lease; jobs made through either are seen by both."""

    def settings(name: str) -> SchedulerSettings:
        return SchedulerSettings(
            workspace_dir=str(workspace),
            db_url=pg_url,
            timezone="UTC",
            log_dir=str(tmp_path / name),
            lease_seconds=3.0,
            lock_poll_seconds=0.5,
        )

    async def main() -> None:
        a, b = SchedulerService(settings("a")), SchedulerService(settings("b"))
        await a.start()
        await b.start()
        try:
            assert a.is_active and not b.is_active
            assert isinstance(a.leadership, LeaseLeadership) and a.leadership.epoch is not None
            first_epoch = a.leadership.epoch
            job, _ = await b.jobs.create(
                {
                    "name": "Tick",
                    "pipeline_path": "ok.py",
                    "schedule_type": "interval",
                    "interval_seconds": 3600,
                }
            )
            # The active one applies the standby's new job (it follows the revision).
            await wait_until(lambda: asyncio.sleep(0, a.driver.scheduled_job(job["id"]) is not None), 10)
            stopped = time.monotonic()
            await a.stop()
            await wait_until(lambda: asyncio.sleep(0, b.is_active), 5)
            assert time.monotonic() - stopped < 2.0
            assert isinstance(b.leadership, LeaseLeadership)
            assert b.leadership.epoch == first_epoch + 1
            assert b.driver.scheduled_job(job["id"]) is not None
        finally:
            await b.stop()
            if a.is_started:
                await a.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_schema_4_sqlite_database_opens_as_the_current_schema(tmp_path: Path) -> None:
    """A database written before fire keys and leases: it opens, gains both, and keeps
    its history, even two scheduled runs of one fire time (recorded before the key)."""
    path = tmp_path / "old.sqlite"
    store = Store(make_engine(f"sqlite:///{path}"))
    store.create_schema()
    store.engine.dispose()
    with sqlite3.connect(path) as conn:  # back to schema 4's tables
        conn.execute("DROP INDEX ux_ps_runs_fire_key")
        conn.execute("ALTER TABLE pipeline_scheduler_runs DROP COLUMN fire_key")
        conn.execute("DROP TABLE pipeline_scheduler_leases")
        conn.execute("DROP INDEX ix_ps_runs_backfill_id")
        for column in ("overrides", "event", "job_version", "backfill_id"):  # schema 6's
            conn.execute(f"ALTER TABLE pipeline_scheduler_runs DROP COLUMN {column}")
        conn.execute("ALTER TABLE pipeline_scheduler_jobs DROP COLUMN version")
        conn.execute(
            "INSERT INTO pipeline_scheduler_jobs (id, name, pipeline_path, spec, paused, created_at, "
            "updated_at, trigger_watermark, seq) VALUES ('old', 'old', 'ok.py', '{}', 0, 1.0, 1.0, 0, 0)"
        )
        conn.execute("UPDATE pipeline_scheduler_meta SET value = '4' WHERE key = 'schema_version'")
        conn.execute("UPDATE pipeline_scheduler_meta SET value = '2' WHERE key = 'run_ids'")
        for run_id in (1, 2):
            conn.execute(
                "INSERT INTO pipeline_scheduler_runs (id, job_id, job_name, pipeline_path, status, "
                "triggered_by, attempt, scheduled_for, created_at, log_size, log_truncated) "
                "VALUES (?, 'old', 'old', 'ok.py', 'success', 'schedule', 1, 500.0, 1.0, 0, 0)",
                (run_id,),
            )
    store = Store(make_engine(f"sqlite:///{path}"))
    assert store.create_schema() == 4
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION) == "6"
    assert [r["id"] for r in store.list_runs(job_id="old")] == [2, 1]
    assert [r["job_version"] for r in store.list_runs(job_id="old")] == [None, None]
    with store.engine.connect() as conn:  # the job made before versions is version 1
        assert conn.exec_driver_sql("SELECT version FROM pipeline_scheduler_jobs").scalar() == 1
        indexes = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"ux_ps_runs_fire_key", "ix_ps_runs_backfill_id"} <= indexes
    assert store.insert_fired_run(None, **run_row("old", scheduled_for=600.0)) is not None
    assert store.insert_fired_run(None, **run_row("old", scheduled_for=600.0)) is None
    assert LeaseTable(store.engine).take("h:1:x", 1.0) == (1, "")
    store.engine.dispose()


def test_servers_starting_at_once_on_a_new_database_all_start(db_url: str) -> None:
    """Four servers creating the schema of an empty database at the same moment (hosts
    booting together): every one starts, and the database has one lease row and one of
    each counter."""
    stores = [Store(make_engine(db_url)) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    found: list[int | None] = []
    errors: list[BaseException] = []

    def start(s: Store) -> None:
        barrier.wait()
        try:
            found.append(s.create_schema())
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(found) == 4 and found.count(None) >= 1  # at least the first found it new
    assert LeaseTable(stores[0].engine).read() is not None
    assert stores[0].get_meta("run_ids") == "0"
    for s in stores:
        s.engine.dispose()


def test_postgres_sessions_end_a_transaction_left_idle(pg_url: str) -> None:
    """A server that dies or is paused inside a transaction must not hold its row locks
    (counters, the lease) for hours: the database ends such a session after 10 s."""
    store = Store(make_engine(pg_url))
    with store.engine.connect() as conn:
        value = conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar()
    assert value == "10s"
    store.engine.dispose()
