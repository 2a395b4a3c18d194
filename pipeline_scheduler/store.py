"""Persistence: job definitions and run history in SQL (SQLite by default).

Synchronous SQLAlchemy Core; the service calls it from one dedicated thread so that the
event loop never waits on the database. No web imports here.

Times are stored as POSIX seconds (REAL) and turned into ISO 8601 at the API edge.

Dialects: SQLite (the embedded default: WAL, one host only) and PostgreSQL (through
psycopg 3, ``postgresql+psycopg://``; several hosts sharing one scheduler). The SQL here
is written for both: PRAGMAs only on SQLite, counters bumped by ``UPDATE ... RETURNING``,
conflicts answered by ``ON CONFLICT DO NOTHING`` (both dialects' own ``insert``), the
database's clock (``db_clock_sql``) for the scheduler lease, and the plain SQL of the hot
paths in the common subset. The tests in tests/pg run the store on both.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from .domain import ACTIVE_STATUSES, JobDefinition, RunStatus

SCHEMA_VERSION = 6

# Counters of the meta table, created with the schema: two servers' first bumps of a
# missing counter would otherwise both insert it (PostgreSQL does not serialise them).
COUNTERS = ("run_ids", "runs_finished", "jobs_seq", "jobs_revision")
# The lease row of the active scheduler (leadership.LeaseLeadership).
SCHEDULER_LEASE = "scheduler"
# PostgreSQL: how long a session may sit idle inside a transaction (see make_engine).
PG_IDLE_IN_TRANSACTION_MS = 10_000
# PostgreSQL advisory lock key that serialises schema creation between servers.
_SCHEMA_LOCK_KEY = 7_216_354_190_117

metadata = MetaData()

meta_table = Table(
    "pipeline_scheduler_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

jobs_table = Table(
    "pipeline_scheduler_jobs",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("pipeline_path", Text, nullable=False),
    Column("spec", Text, nullable=False),  # JSON of the schedule and options
    Column("python_code", Text, nullable=True),
    Column("code_hash", String(64), nullable=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_run_id", Integer, nullable=True),
    Column("last_run_status", String(20), nullable=True),
    Column("last_run_finished_at", Float, nullable=True),
    # Trigger jobs: only outcomes of runs with a larger id than this can fire the job again.
    Column("trigger_watermark", Integer, nullable=False, default=0),
    # Change counter: every write to a job row sets it to the next value of the "jobs_seq"
    # counter, so the job list reads only the rows changed since it last looked.
    Column("seq", Integer, nullable=False, default=0, server_default="0"),
    # Schema 6: the job's current definition version (job history); 1 for jobs created before.
    Column("version", Integer, nullable=False, default=1, server_default="1"),
    # sha256 (hex) of the job's inbound webhook token; NULL: the job has no webhook.
    Column("webhook_hash", String(64), nullable=True),
    Index("ix_ps_jobs_seq", "seq"),
)

runs_table = Table(
    "pipeline_scheduler_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(100), nullable=False),
    Column("job_name", String(200), nullable=False),
    Column("pipeline_path", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("triggered_by", String(20), nullable=False),
    Column("attempt", Integer, nullable=False, default=1),
    Column("scheduled_for", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("output_tail", Text, nullable=True),
    Column("error_tail", Text, nullable=True),
    Column("log_path", Text, nullable=True),
    Column("log_size", Integer, nullable=False, default=0),
    Column("log_truncated", Boolean, nullable=False, default=False),
    Column("pipeline_changed", Boolean, nullable=True),
    Column("message", Text, nullable=True),
    # host:pid of the server that runs it, so a restart only interrupts orphaned runs.
    Column("owner", String(300), nullable=True),
    # Process (group) id of a local run, to stop its orphans after a crash of the server.
    Column("pid", Integer, nullable=True),
    # Finish counter (schema 4): the next "runs_finished" value, set in the transaction that
    # records the end. Finishes commit in this order, unlike ids (given at creation), so
    # the finished-runs feed reads "finish_seq > cursor" and misses no long run.
    Column("finish_seq", Integer, nullable=True),
    # Fire key (schema 5): "<job id>@<fire time>" of a scheduled or catch-up run, unique,
    # so that a fire time is recorded once even when two servers briefly both fire
    # (a lost lease, a paused process). Manual, retry and trigger runs have none; runs
    # recorded before schema 5 keep NULL (an old database's history is never rejected).
    Column("fire_key", String(160), nullable=True),
    # Where it runs when not a local subprocess ("ray"; NULL: local), and its id there, so
    # a restarted server reattaches to it instead of marking it interrupted.
    Column("backend", String(20), nullable=True),
    Column("ray_submission_id", String(200), nullable=True),
    # Schema 6. What the run was given for itself only (JSON: parameters, env,
    # timeout_seconds of a "run with" or a webhook call); NULL: the job's own values.
    Column("overrides", Text, nullable=True),
    # What started an event-triggered run (JSON: the files that arrived, the webhook).
    Column("event", Text, nullable=True),
    # The version of the job definition the run ran (job history); NULL before schema 6.
    Column("job_version", Integer, nullable=True),
    # The backfill the run belongs to (backfills table), NULL for any other run.
    Column("backfill_id", Integer, nullable=True),
    Index("ix_ps_runs_job_id_id", "job_id", "id"),
    Index("ix_ps_runs_finish_seq", "finish_seq"),
    Index("ix_ps_runs_status", "status"),
)
# Columns added to tables of older schemas, in the order of their versions; their rows
# keep the column's default (new tables are made by create_all).
_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    runs_table.name: (
        ("backend", "VARCHAR(20)"),  # schema 5: runs on Ray
        ("ray_submission_id", "VARCHAR(200)"),
        ("overrides", "TEXT"),  # schema 6
        ("event", "TEXT"),
        ("job_version", "INTEGER"),
        ("backfill_id", "INTEGER"),
    ),
    jobs_table.name: (
        ("version", "INTEGER NOT NULL DEFAULT 1"),
        ("webhook_hash", "VARCHAR(64)"),
    ),
    "pipeline_scheduler_backfills": (("started", "INTEGER"),),
}
FIRE_KEY_INDEX = Index("ux_ps_runs_fire_key", runs_table.c.fire_key, unique=True)
# A backfill's runs (its counts, the fire times left after a restart).
BACKFILL_INDEX = Index("ix_ps_runs_backfill_id", runs_table.c.backfill_id)

# Job history: one row per version of a job's definition. ``definition`` is the JSON of
# what a restore needs (name, pipeline_path, the public spec fields, the code of an
# .ampln job, the NAMES of its secret variables, never their values); ``changes`` the JSON
# list of the fields that differ from the version before; ``restored_from`` the version a
# restore copied. Version 1 is written with the job; each change of its definition writes
# the next one in the transaction that writes the job row (the key refuses a second
# server's write of the same version).
job_versions_table = Table(
    "pipeline_scheduler_job_versions",
    metadata,
    Column("job_id", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("author", String(200), nullable=False, default=""),
    Column("definition", Text, nullable=False),
    Column("changes", Text, nullable=False),
    Column("restored_from", Integer, nullable=True),
)

# Alerts that must be sent once (deadlines.py, policies.AlertPolicy): a missed deadline
# ("deadline", key: the deadline instant in whole POSIX seconds), a run longer than its
# job's max_duration_minutes ("duration", key: the run id), and the mark that a job's last
# final outcome was a failure ("failing", key ""), so its next success is a recovery. The
# key makes a second server, or a restarted one, claim the same alert at most once.
alerts_table = Table(
    "pipeline_scheduler_alerts",
    metadata,
    Column("job_id", String(100), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
)

# Leadership across hosts (schema 5): one row per role, the holder renews ``expires_at``
# (database clock, POSIX seconds) and each take-over adds one to ``epoch``, the fencing
# token that fired runs are checked against.
leases_table = Table(
    "pipeline_scheduler_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(300), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("renewed_at", Float, nullable=False),
)

# Backfills: a past range of a job's fire times run on request (runs.backfill_id names
# theirs). ``fire_times`` is the JSON list of the range's fire times (POSIX seconds,
# oldest first), so a restarted server runs the ones left without evaluating the schedule
# again (the job may have changed meanwhile); ``status``: queued, running, done, cancelled;
# ``started``: how many of them, oldest first, have had a run started (its progress, which
# deleting its runs never takes back; NULL in rows of before: worked out from its runs).
backfills_table = Table(
    "pipeline_scheduler_backfills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(100), nullable=False),
    Column("start_at", Float, nullable=False),
    Column("end_at", Float, nullable=False),
    Column("max_active", Integer, nullable=False, default=1),
    Column("status", String(20), nullable=False),
    Column("total", Integer, nullable=False),
    Column("fire_times", Text, nullable=False),
    Column("message", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("started", Integer, nullable=True),
    Index("ix_ps_backfills_job_id_id", "job_id", "id"),
    Index("ix_ps_backfills_status", "status"),
)


def _not_of_active_backfill() -> Any:
    """Runs retention may delete: none of a backfill still queued or running (while it
    runs, its runs are what its counts show)."""
    active = select(backfills_table.c.id).where(backfills_table.c.status.in_(["queued", "running"]))
    return or_(runs_table.c.backfill_id.is_(None), runs_table.c.backfill_id.not_in(active.scalar_subquery()))


# File arrival triggers (file_triggers.py): the glob each file job's state was taken for,
# and the files it saw (modification time in ns, size), so that a restart fires for files
# that arrived or changed while no server ran, never for old ones.
file_watches_table = Table(
    "pipeline_scheduler_file_watches",
    metadata,
    Column("job_id", String(100), primary_key=True),
    Column("watch_path", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
file_state_table = Table(
    "pipeline_scheduler_file_state",
    metadata,
    Column("job_id", String(100), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
)
FileState = dict[str, tuple[int, int]]  # workspace-relative path -> (mtime_ns, size)


def db_clock_sql(dialect_name: str) -> str:
    """SQL for the database's clock in POSIX seconds: servers on several hosts compare
    lease times on one clock, never their own."""
    if dialect_name == "postgresql":
        return "EXTRACT(EPOCH FROM now())"
    if dialect_name == "sqlite":
        return "((julianday('now') - 2440587.5) * 86400.0)"
    if dialect_name in ("mysql", "mariadb"):
        return "UNIX_TIMESTAMP(NOW(6))"
    raise NotImplementedError(f"No database clock for the {dialect_name} dialect")


def fire_key(job_id: str, scheduled_for: float) -> str:
    """The identity of one fire time of a job (microseconds: the time APScheduler gave)."""
    return f"{job_id}@{scheduled_for:.6f}"


# Statements of the hot paths, built once (SQLAlchemy then reuses their compiled form).
_BUMP_COUNTER = (
    update(meta_table)
    .where(meta_table.c.key == bindparam("counter"))
    .values(value=cast(cast(meta_table.c.value, Integer) + 1, Text))
)
_INSERT_JOB = jobs_table.insert()
_UPDATE_JOB = jobs_table.update().where(jobs_table.c.id == bindparam("job_id_"))

RUN_SUMMARY_COLUMNS = [c for c in runs_table.c if c.name not in ("output_tail", "error_tail")]
# A run as a strip or timeline draws it.
_COMPACT_RUN_COLUMNS = [
    runs_table.c[name]
    for name in ("id", "job_id", "status", "triggered_by", "created_at", "started_at", "finished_at")
]


@dataclass
class JobListingChanges:
    """What changed in the job list: every head when ``full``, else the heads written since
    the ``seq`` asked about; ``count`` jobs in all (fewer than known means some were deleted)."""

    seq: int
    full: bool
    heads: list[JobHead]
    count: int
    next_runs: dict[str, float | None]
    active_runs: dict[str, ActiveRunHead]


class ActiveRunHead(NamedTuple):
    """A job's newest queued or running run, for its answer's ``active_run``."""

    id: int
    status: str
    started_at: float | None


class JobHead(NamedTuple):
    """The fields of a job that change as it runs, plus what identifies it (a tuple: the
    job list compares 10,000 of them per refresh). ``paused`` may be stored as 0 or 1."""

    id: str
    name: str
    pipeline_path: str
    created_at: float
    updated_at: float
    paused: bool
    last_run_id: int | None
    last_run_status: str | None
    last_run_finished_at: float | None

    @classmethod
    def of(cls, row: JobDefinition) -> JobHead:
        return cls(
            row.id,
            row.name,
            row.pipeline_path,
            row.created_at,
            row.updated_at,
            row.paused,
            row.last_run_id,
            row.last_run_status,
            row.last_run_finished_at,
        )


class _Compiled:
    """A statement compiled once for the engine's dialect and run on the DBAPI cursor of
    the caller's connection (inside its transaction).

    A run's own records (queued, running, finished) are a handful of one-row statements;
    SQLAlchemy's execution of even a cached statement costs several times what SQLite
    spends on it, so these hot paths skip it. Parameters are passed by name; the compiled
    order maps them to a positional driver style (a name may appear twice)."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.names: list[str] | None = list(compiled.positiontup or []) if compiled.positional else None
        # Values the statement carries itself (the 1 of "value + 1").
        self.constants = {k: v for k, v in compiled.params.items() if v is not None}
        self.driver_error: type[Exception] = dialect.loaded_dbapi.Error

    def execute(self, conn: Any, params: dict[str, Any]) -> Any:
        values = {**self.constants, **params} if self.constants else params
        args = [values[n] for n in self.names] if self.names is not None else values
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(self.sql, args)
        except self.driver_error as err:
            cursor.close()
            # As SQLAlchemy raises it (a locked database is its OperationalError: a 503).
            raise DBAPIError.instance(self.sql, args, err, self.driver_error) from err
        return cursor


_BOOLEAN_COLUMNS = {
    table.name: tuple(c.name for c in table.c if isinstance(c.type, Boolean))
    for table in (jobs_table, runs_table)
}


def _fetch_mapping(cursor: Any, table: Table) -> dict[str, Any] | None:
    """The cursor's one row as a dict, booleans as booleans (the driver may give 0/1)."""
    try:
        row = cursor.fetchone()
        if row is None:
            return None
        found = dict(zip([d[0] for d in cursor.description], row, strict=True))
    finally:
        cursor.close()
    for name in _BOOLEAN_COLUMNS[table.name]:
        if found.get(name) is not None:
            found[name] = bool(found[name])
    return found


# Column defaults applied by SQLAlchemy's own inserts, given explicitly on the fast path.
_RUN_DEFAULTS: dict[str, Any] = {
    c.name: c.default.arg  # type: ignore[attr-defined]
    for c in runs_table.c
    if c.default is not None and not callable(getattr(c.default, "arg", None))
}


def raw_rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a parameterless query through the DBAPI cursor: 5x faster than SQLAlchemy's
    rows for the 10,000-row reads of the job list."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql)
        # A statement without rows (BEGIN, SET): psycopg's fetchall would raise.
        return cursor.fetchall() if cursor.description is not None else []  # type: ignore[no-any-return]
    finally:
        cursor.close()


def _job_from_row(row: Any, with_code: bool) -> JobDefinition:
    return _job_from_mapping(row._mapping, with_code)


def _job_from_mapping(m: Any, with_code: bool) -> JobDefinition:
    return JobDefinition(
        id=m["id"],
        name=m["name"],
        pipeline_path=m["pipeline_path"],
        spec=json.loads(m["spec"]),
        python_code=m["python_code"] if with_code else None,
        code_hash=m["code_hash"],
        paused=bool(m["paused"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        last_run_id=m["last_run_id"],
        last_run_status=m["last_run_status"],
        last_run_finished_at=m["last_run_finished_at"],
        trigger_watermark=m["trigger_watermark"] or 0,
        version=m["version"] or 1,
        webhook_hash=m.get("webhook_hash"),
    )


def make_engine(url: str, busy_timeout_seconds: float = 10.0) -> Engine:
    """An engine tuned for concurrent use from the DB thread and the scheduler. SQLite
    writes wait up to ``busy_timeout_seconds`` for another process's lock."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_seconds},
            pool_pre_ping=False,
        )
        busy_ms = int(busy_timeout_seconds * 1000)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        return engine
    if url.startswith("postgresql"):
        # An unreachable database fails a call in seconds rather than at the system's TCP
        # timeout (minutes): the scheduler lease must notice in time.
        engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})

        @event.listens_for(engine, "connect")
        def _session(dbapi_conn: Any, _record: Any) -> None:
            # Every transaction here is a few statements with no waiting between them. A
            # server that dies or is paused inside one (a lost host, a stopped VM) would
            # hold its row locks (the counters, the lease) until TCP keepalive noticed,
            # hours later; the database ends such a session after this long instead.
            cur = dbapi_conn.cursor()
            cur.execute(f"SET idle_in_transaction_session_timeout = {PG_IDLE_IN_TRANSACTION_MS}")
            cur.close()
            dbapi_conn.commit()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._statements: dict[Any, _Compiled] = {}

    # -- schema --------------------------------------------------------------------------
    def create_schema(self) -> int | None:
        """Create or upgrade the tables; answer the schema version found (None: new).

        Servers starting at the same moment on a new database: a CREATE TABLE (or the
        first row of a counter) of one of them fails when another made it between the
        check and the write. On PostgreSQL they take turns (a session advisory lock,
        released when done or when the session ends); elsewhere the loser tries again, and
        finds the tables made."""
        if self.engine.dialect.name != "postgresql":
            for attempt in range(4):
                try:
                    return self._create_schema()
                except DBAPIError:
                    if attempt == 3:
                        raise
                    time.sleep(0.1 * (attempt + 1))
        with self.engine.connect() as guard:
            guard.exec_driver_sql(f"SELECT pg_advisory_lock({_SCHEMA_LOCK_KEY})")
            try:
                return self._create_schema()
            finally:
                guard.exec_driver_sql(f"SELECT pg_advisory_unlock({_SCHEMA_LOCK_KEY})")
                guard.rollback()

    def _create_schema(self) -> int | None:
        with self.engine.begin() as conn:
            # Version 1 had no change counter on jobs: add it before create_all indexes it.
            if inspect(conn).has_table(jobs_table.name) and "seq" not in {
                c["name"] for c in inspect(conn).get_columns(jobs_table.name)
            }:
                conn.exec_driver_sql(
                    f"ALTER TABLE {jobs_table.name} ADD COLUMN seq INTEGER NOT NULL DEFAULT 0"
                )
            # Versions before 4 had no finish counter on runs (their old runs keep NULL:
            # the feed starts at the current counter, so they are never announced).
            if inspect(conn).has_table(runs_table.name) and "finish_seq" not in {
                c["name"] for c in inspect(conn).get_columns(runs_table.name)
            }:
                conn.exec_driver_sql(f"ALTER TABLE {runs_table.name} ADD COLUMN finish_seq INTEGER")
            # Version 5: the fire key of scheduled runs (old runs keep NULL).
            if inspect(conn).has_table(runs_table.name) and "fire_key" not in {
                c["name"] for c in inspect(conn).get_columns(runs_table.name)
            }:
                conn.exec_driver_sql(f"ALTER TABLE {runs_table.name} ADD COLUMN fire_key VARCHAR(160)")
            # Columns added to existing tables since (each added when missing).
            for table, columns in _ADDED_COLUMNS.items():
                if inspect(conn).has_table(table):
                    have = {c["name"] for c in inspect(conn).get_columns(table)}
                    for name, kind in columns:
                        if name not in have:
                            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            FIRE_KEY_INDEX.create(conn, checkfirst=True)  # create_all skips existing tables
            BACKFILL_INDEX.create(conn, checkfirst=True)
        with self.engine.begin() as conn:
            found = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar()
            if found is None:
                conn.execute(insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(found) > SCHEMA_VERSION:
                raise RuntimeError(
                    f"The scheduler database has schema version {found}, newer than this "
                    f"amphi-scheduler understands ({SCHEMA_VERSION}); upgrade the package."
                )
            elif int(found) < SCHEMA_VERSION:
                conn.execute(
                    update(meta_table)
                    .where(meta_table.c.key == "schema_version")
                    .values(value=str(SCHEMA_VERSION))
                )
            # Version 3 hands out run ids from a counter: start it past every id in use.
            if conn.execute(select(meta_table.c.value).where(meta_table.c.key == "run_ids")).scalar() is None:
                highest = conn.execute(select(func.max(runs_table.c.id))).scalar() or 0
                conn.execute(insert(meta_table).values(key="run_ids", value=str(int(highest))))
            self._insert_missing(conn, meta_table, [{"key": k, "value": "0"} for k in COUNTERS])
            self._insert_missing(
                conn,
                leases_table,
                [{"name": SCHEDULER_LEASE, "holder": "", "epoch": 0, "expires_at": 0.0, "renewed_at": 0.0}],
            )
        return int(found) if found is not None else None

    def _dialect_insert(self, table: Table) -> Any:
        """The dialect's own INSERT, which can answer a conflict with DO NOTHING."""
        name = self.engine.dialect.name
        if name == "postgresql":
            return pg_dialect.insert(table)
        if name == "sqlite":
            return sqlite_dialect.insert(table)
        raise NotImplementedError(f"No INSERT ... ON CONFLICT for the {name} dialect")

    def _insert_missing(self, conn: Any, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert the rows whose key is not there yet (a second server starting at the
        same moment inserts nothing)."""
        for row in rows:
            conn.execute(self._dialect_insert(table).values(row).on_conflict_do_nothing())

    def _bump(self, conn: Any, *keys: str) -> dict[str, int]:
        """Add one to each counter in ``keys`` (meta table), in the caller's transaction;
        answer the new values.

        Each is one write that answers its new value, so the transaction holds the write
        lock before any value is read (two servers never hand out the same number)."""
        bump = self._compiled("bump", lambda: _BUMP_COUNTER.returning(meta_table.c.value))
        values: dict[str, int] = {}
        for key in keys:
            cursor = bump.execute(conn, {"counter": key})
            try:
                row = cursor.fetchone()
            finally:
                cursor.close()
            if row is None:
                conn.execute(insert(meta_table).values(key=key, value="1"))
                values[key] = 1
            else:
                values[key] = int(row[0])
        return values

    def _compiled(self, key: Any, build: Callable[[], Any]) -> _Compiled:
        """The hot-path statement ``key``, compiled on first use."""
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = _Compiled(build(), self.engine.dialect)
        return found

    # -- jobs ----------------------------------------------------------------------------
    # Every write to a job row sets its ``seq`` to the next "jobs_seq" (for the job list);
    # writes that change a definition also answer the next "jobs_revision", which tells
    # other servers to apply the definitions again.
    def insert_job(self, row: JobDefinition, versions: Sequence[dict[str, Any]] = ()) -> int:
        """Insert a job (with its first version rows, in the same transaction)."""
        with self.engine.begin() as conn:
            counters = self._bump(conn, "jobs_seq", "jobs_revision")
            conn.execute(_INSERT_JOB, {**self._job_values(row), "id": row.id, "seq": counters["jobs_seq"]})
            self._insert_versions(conn, versions)
            return counters["jobs_revision"]

    def replace_job(self, row: JobDefinition, versions: Sequence[dict[str, Any]] = ()) -> int:
        """Write a job's definition; with ``versions``, its new version rows in the same
        transaction (without, the stored version number is left as it is)."""
        values = self._job_values(row)
        if not versions:
            del values["version"]
        revision = self.set_job_fields(row.id, redefined=True, versions=versions, **values)
        assert revision is not None
        return revision

    def _insert_versions(self, conn: Any, versions: Sequence[dict[str, Any]]) -> None:
        """Version rows; one marked ``backfill`` (the definition of a job stored before job
        history, recorded at its first change) is skipped when the row exists."""
        for version in versions:
            values = {k: v for k, v in version.items() if k != "backfill"}
            if version.get("backfill"):
                conn.execute(self._dialect_insert(job_versions_table).values(values).on_conflict_do_nothing())
            else:
                conn.execute(insert(job_versions_table).values(values))

    def job_versions(self, job_id: str) -> list[dict[str, Any]]:
        """A job's version rows, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(job_versions_table)
                .where(job_versions_table.c.job_id == job_id)
                .order_by(job_versions_table.c.version.desc())
            ).all()
        return [dict(r._mapping) for r in rows]

    def job_version(self, job_id: str, version: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(job_versions_table).where(
                    job_versions_table.c.job_id == job_id, job_versions_table.c.version == version
                )
            ).first()
        return dict(row._mapping) if row is not None else None

    @staticmethod
    def _job_values(row: JobDefinition) -> dict[str, Any]:
        return {
            "name": row.name,
            "pipeline_path": row.pipeline_path,
            "spec": json.dumps(row.spec),
            "python_code": row.python_code,
            "code_hash": row.code_hash,
            "paused": row.paused,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "last_run_id": row.last_run_id,
            "last_run_status": row.last_run_status,
            "last_run_finished_at": row.last_run_finished_at,
            "trigger_watermark": row.trigger_watermark,
            "version": row.version,
        }

    def set_job_fields(
        self,
        job_id: str,
        *,
        redefined: bool = False,
        versions: Sequence[dict[str, Any]] = (),
        **values: Any,
    ) -> int | None:
        """Update some columns of a job (and insert its new version rows); with
        ``redefined``, answer the new revision."""
        with self.engine.begin() as conn:
            counters = self._bump(conn, "jobs_seq", *(["jobs_revision"] if redefined else []))
            conn.execute(_UPDATE_JOB, {**values, "seq": counters["jobs_seq"], "job_id_": job_id})
            self._insert_versions(conn, versions)
            return counters.get("jobs_revision")

    def get_job(self, job_id: str, with_code: bool = True) -> JobDefinition | None:
        query = self._compiled(
            "get_job", lambda: select(jobs_table).where(jobs_table.c.id == bindparam("id"))
        )
        with self.engine.connect() as conn:
            row = _fetch_mapping(query.execute(conn, {"id": job_id}), jobs_table)
        return _job_from_mapping(row, with_code) if row else None

    def list_jobs(self, with_code: bool = False) -> list[JobDefinition]:
        cols = [c for c in jobs_table.c if with_code or c.name != "python_code"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).order_by(jobs_table.c.created_at.desc(), jobs_table.c.id)).all()
        return [_job_from_row(r, with_code) for r in rows]

    def get_jobs(self, job_ids: Sequence[str]) -> list[JobDefinition]:
        cols = [c for c in jobs_table.c if c.name != "python_code"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(jobs_table.c.id.in_(list(job_ids)))).all()
        return [_job_from_row(r, False) for r in rows]

    def job_names(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(jobs_table.c.id, jobs_table.c.name)).all())

    def delete_job(self, job_id: str) -> int:
        with self.engine.begin() as conn:
            conn.execute(delete(jobs_table).where(jobs_table.c.id == job_id))
            conn.execute(delete(job_versions_table).where(job_versions_table.c.job_id == job_id))
            return self._bump(conn, "jobs_revision")["jobs_revision"]

    def job_listing(
        self, seq: int | None, read_next_runs: Callable[[Any], dict[str, float | None]]
    ) -> JobListingChanges:
        """The heads of the jobs written since ``seq`` (all of them when ``seq`` is None),
        how many jobs there are, every next fire time (``read_next_runs(connection)``: the
        schedule driver owns APScheduler's table) and every active run, from one snapshot.

        Plain SQL through the DBAPI cursor: this runs on every refresh of the job list."""
        heads_sql = (
            "SELECT id, name, pipeline_path, created_at, updated_at, paused, last_run_id,"
            " last_run_status, last_run_finished_at FROM pipeline_scheduler_jobs"
        )
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.connect() as conn:
            if sqlite:
                raw_rows(conn, "BEGIN")  # one read snapshot for the queries below
            elif self.engine.dialect.name == "postgresql":
                # The driver's transaction has begun; one snapshot for all its statements.
                raw_rows(conn, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            found = raw_rows(conn, "SELECT value FROM pipeline_scheduler_meta WHERE key = 'jobs_seq'")
            now_seq = int(found[0][0]) if found else 0
            count = int(raw_rows(conn, "SELECT COUNT(*) FROM pipeline_scheduler_jobs")[0][0])
            if seq is None:
                rows = raw_rows(conn, heads_sql + " ORDER BY created_at DESC, id")
            elif now_seq != seq:
                rows = raw_rows(conn, f"{heads_sql} WHERE seq > {int(seq)}")
            else:
                rows = []
            next_runs = read_next_runs(conn)
            active = self._active_runs(conn)
            if sqlite:
                raw_rows(conn, "ROLLBACK")
        return JobListingChanges(
            now_seq, seq is None, list(map(JobHead._make, rows)), count, next_runs, active
        )

    def active_runs(self, job_ids: Sequence[str] | None = None) -> dict[str, ActiveRunHead]:
        with self.engine.connect() as conn:
            return self._active_runs(conn, job_ids)

    @staticmethod
    def _active_runs(conn: Any, job_ids: Sequence[str] | None = None) -> dict[str, ActiveRunHead]:
        """Each job's newest queued or running run (the status index makes this cheap)."""
        query = (
            select(runs_table.c.job_id, runs_table.c.id, runs_table.c.status, runs_table.c.started_at)
            .where(runs_table.c.status.in_([s.value for s in ACTIVE_STATUSES]))
            .order_by(runs_table.c.id)
        )
        if job_ids is not None:
            query = query.where(runs_table.c.job_id.in_(list(job_ids)))
        return {r[0]: ActiveRunHead(int(r[1]), str(r[2]), r[3]) for r in conn.execute(query).all()}

    # -- runs ----------------------------------------------------------------------------
    def insert_run(self, **values: Any) -> int:
        """Record a new run; its id comes from the "run_ids" counter, which survives
        deletes, so an id is never given twice (a stale log tab can never show, or delete,
        another job's run)."""
        values.setdefault("created_at", time.time())
        is_final = values.get("status") not in (None, *(s.value for s in ACTIVE_STATUSES))
        with self.engine.begin() as conn:
            counters = self._bump(conn, "run_ids", *(["runs_finished"] if is_final else []))
            if is_final:  # recorded already ended (a skipped fire time)
                values["finish_seq"] = counters["runs_finished"]
            run_id = counters["run_ids"]
            row = {**_RUN_DEFAULTS, **values, "id": run_id}
            names = tuple(sorted(row))
            self._compiled(
                ("insert_run", names), lambda: insert(runs_table).values({n: bindparam(n) for n in names})
            ).execute(conn, row).close()
            return run_id

    def insert_fired_run(self, fencing_epoch: int | None = None, **values: Any) -> int | None:
        """Record a run of a fire time (scheduled or catch-up: ``scheduled_for`` set) once:
        answer None when that fire time of the job is recorded already, or when
        ``fencing_epoch`` is given and is no longer the epoch of a live scheduler lease
        (this server lost the scheduler role), so a brief split brain cannot start one
        fire time twice.

        On PostgreSQL the lease row is read ``FOR SHARE``: a take-over waits until this
        insert has committed, so a deposed leader cannot slip a run in after it."""
        values.setdefault("created_at", time.time())
        values["fire_key"] = fire_key(values["job_id"], float(values["scheduled_for"]))
        is_final = values.get("status") not in (None, *(s.value for s in ACTIVE_STATUSES))
        with self.engine.begin() as conn:
            if fencing_epoch is not None and not self._holds_lease(conn, fencing_epoch):
                return None
            counters = self._bump(conn, "run_ids", *(["runs_finished"] if is_final else []))
            if is_final:
                values["finish_seq"] = counters["runs_finished"]
            run_id = counters["run_ids"]
            row = {**_RUN_DEFAULTS, **values, "id": run_id}
            names = tuple(sorted(row))
            cursor = self._compiled(
                ("insert_fired_run", names),
                lambda: (
                    self._dialect_insert(runs_table)
                    .values({n: bindparam(n) for n in names})
                    .on_conflict_do_nothing(index_elements=["fire_key"])
                ),
            ).execute(conn, row)
            try:
                inserted = cursor.rowcount == 1
            finally:
                cursor.close()
            return run_id if inserted else None

    def _holds_lease(self, conn: Any, epoch: int) -> bool:
        """Whether ``epoch`` is the scheduler lease's epoch and the lease is live."""
        clock = db_clock_sql(self.engine.dialect.name)
        lock = " FOR SHARE" if self.engine.dialect.name == "postgresql" else ""
        check = self._compiled(
            "holds_lease",
            lambda: text(
                f"SELECT epoch FROM {leases_table.name} WHERE name = :name AND epoch = :epoch"  # noqa: S608
                f" AND expires_at > {clock}{lock}"
            ),
        )
        cursor = check.execute(conn, {"name": SCHEDULER_LEASE, "epoch": epoch})
        try:
            return cursor.fetchone() is not None
        finally:
            cursor.close()

    def _update_run(self, conn: Any, run_id: int, values: dict[str, Any]) -> None:
        names = tuple(sorted(values))
        self._compiled(
            ("update_run", names),
            lambda: (
                update(runs_table)
                .where(runs_table.c.id == bindparam("run_id_"))
                .values({n: bindparam(n) for n in names})
            ),
        ).execute(conn, {**values, "run_id_": run_id}).close()

    def _get_run(self, conn: Any, run_id: int) -> dict[str, Any] | None:
        query = self._compiled(
            "get_run", lambda: select(runs_table).where(runs_table.c.id == bindparam("id"))
        )
        return _fetch_mapping(query.execute(conn, {"id": run_id}), runs_table)

    def update_run(self, run_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            self._update_run(conn, run_id, values)

    def finish_run(self, run_id: int, job_id: str, **values: Any) -> dict[str, Any] | None:
        """Record a run's outcome and the job's last run in one transaction; answer the
        run's row as recorded."""
        last_run = self._compiled(
            "finish_job",
            lambda: (
                update(jobs_table)
                .where(jobs_table.c.id == bindparam("job_id_"))
                .where(func.coalesce(jobs_table.c.last_run_id, 0) <= bindparam("run_id_"))
                .values(
                    last_run_id=bindparam("run_id_"),
                    last_run_status=bindparam("status_"),
                    last_run_finished_at=bindparam("finished_at_"),
                    seq=bindparam("seq_"),
                )
            ),
        )
        with self.engine.begin() as conn:
            counters = self._bump(conn, "runs_finished", "jobs_seq")
            self._update_run(conn, run_id, {**values, "finish_seq": counters["runs_finished"]})
            last_run.execute(
                conn,
                {
                    "job_id_": job_id,
                    "run_id_": run_id,
                    "status_": values.get("status"),
                    "finished_at_": values.get("finished_at"),
                    "seq_": counters["jobs_seq"],
                },
            ).close()
            return self._get_run(conn, run_id)

    def get_run(self, run_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return self._get_run(conn, run_id)

    def list_runs(
        self,
        *,
        job_id: str | None = None,
        statuses: Sequence[str] | None = None,
        before: int | None = None,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        query = select(*RUN_SUMMARY_COLUMNS).order_by(runs_table.c.id.desc()).limit(limit)
        if job_id is not None:
            query = query.where(runs_table.c.job_id == job_id)
        if statuses:
            query = query.where(runs_table.c.status.in_(list(statuses)))
        if before is not None:
            query = query.where(runs_table.c.id < before)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]

    def recent_runs_by_job(self, job_ids: Sequence[str], per_job: int) -> dict[str, list[dict[str, Any]]]:
        """The newest ``per_job`` runs of each job (compact columns), newest first: one
        range read of the (job_id, id) index per job, in one read snapshot. Through the
        DBAPI cursor (one statement the driver prepares once): 5x faster than SQLAlchemy's
        execute per job, for the run strips of every screen of the jobs table."""
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        names = [c.name for c in _COMPACT_RUN_COLUMNS]
        sql = (
            f"SELECT {', '.join(names)} FROM {runs_table.name}"  # noqa: S608 (constants)
            f" WHERE job_id = {mark} ORDER BY id DESC LIMIT {mark}"
        )
        found: dict[str, list[dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            cursor = driver.cursor()
            try:
                for job_id in job_ids:
                    cursor.execute(sql, (job_id, per_job))
                    found[job_id] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            finally:
                cursor.close()
        return found

    def runs_overlapping(self, since: float, until: float, limit: int) -> list[dict[str, Any]]:
        """Runs whose span (created, to finished or still going) overlaps [since, until],
        compact columns, newest first, at most ``limit``."""
        query = (
            select(*_COMPACT_RUN_COLUMNS)
            .where(runs_table.c.created_at <= until)
            .where((runs_table.c.finished_at.is_(None)) | (runs_table.c.finished_at >= since))
            .order_by(runs_table.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]

    def finished_runs(self, after: int | None, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Runs whose end was recorded after the finish counter ``after``, in the order
        they ended, and the cursor to ask with next. ``after`` None (or past the counter:
        a new database) answers no run and the counter now.

        The counter is read before the rows: every finish up to it has committed (the
        counter is bumped first in each finish's transaction, which serialises them), so
        no finish can fall between this answer's cursor and the next call's rows."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "runs_finished")
            ).scalar()
            now = int(found) if found is not None else 0
            if after is None or after >= now:
                return [], now
            rows = conn.execute(
                select(*RUN_SUMMARY_COLUMNS)
                .where(runs_table.c.finish_seq > after)
                .where(runs_table.c.finish_seq <= now)
                .order_by(runs_table.c.finish_seq)
                .limit(limit)
            ).all()
        runs = [dict(r._mapping) for r in rows]
        cursor = int(runs[-1]["finish_seq"]) if len(runs) == limit else now
        return runs, cursor

    def latest_final_runs(self, job_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Each job's last finished run (id, status), for evaluating trigger conditions."""
        ids = list(job_ids)
        if not ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(jobs_table.c.id, jobs_table.c.last_run_id, jobs_table.c.last_run_status).where(
                    jobs_table.c.id.in_(ids)
                )
            ).all()
        return {r[0]: (r[1], r[2]) for r in rows if r[1] is not None}

    def delete_run(self, run_id: int) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(delete(runs_table).where(runs_table.c.id == run_id)).rowcount > 0

    def delete_runs(
        self, *, job_id: str | None = None, exclude_statuses: Sequence[str] = ()
    ) -> list[tuple[int, str | None]]:
        """Delete runs (not those in ``exclude_statuses``); answer (id, log_path) of each."""
        with self.engine.begin() as conn:
            query = select(runs_table.c.id, runs_table.c.log_path)
            if job_id is not None:
                query = query.where(runs_table.c.job_id == job_id)
            if exclude_statuses:
                query = query.where(runs_table.c.status.not_in(list(exclude_statuses)))
            victims = [(r[0], r[1]) for r in conn.execute(query).all()]
            ids = [v[0] for v in victims]
            for start in range(0, len(ids), 500):
                conn.execute(delete(runs_table).where(runs_table.c.id.in_(ids[start : start + 500])))
        return victims

    def mark_interrupted(
        self, now: float, is_alive: Callable[[str | None], bool] = lambda _owner: False
    ) -> list[int]:
        """Runs left 'running' or 'queued' by a server that died: mark them interrupted.

        ``is_alive(owner)`` spares runs whose server process is still alive (a standby
        server's manual runs)."""
        with self.engine.begin() as conn:
            found = conn.execute(
                select(runs_table.c.id, runs_table.c.job_id, runs_table.c.owner).where(
                    runs_table.c.status.in_(["running", "queued"])
                )
            ).all()
            rows = [(r[0], r[1]) for r in found if not is_alive(r[2])]
            for run_id, job_id in rows:
                conn.execute(
                    update(runs_table)
                    .where(runs_table.c.id == run_id)
                    .values(
                        status="interrupted",
                        finished_at=now,
                        message="The server stopped while this run was active.",
                        finish_seq=self._bump(conn, "runs_finished")["runs_finished"],
                    )
                )
                conn.execute(
                    update(jobs_table)
                    .where(jobs_table.c.id == job_id)
                    .where(func.coalesce(jobs_table.c.last_run_id, 0) <= run_id)
                    .values(
                        last_run_id=run_id,
                        last_run_status="interrupted",
                        last_run_finished_at=now,
                        seq=self._bump(conn, "jobs_seq")["jobs_seq"],
                    )
                )
        return [r[0] for r in rows]

    def claim_orphaned_runs(
        self, backends: Sequence[str], new_owner: str, is_alive: Callable[[str | None], bool]
    ) -> list[dict[str, Any]]:
        """Active runs on ``backends`` (engines whose runs outlive the server) left by a
        server that died: make them ``new_owner``'s, so that it follows them to their end
        (the owner check in the UPDATE lets only one server claim each)."""
        claimed: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            found = conn.execute(
                select(runs_table)
                .where(runs_table.c.status.in_(["running", "queued"]))
                .where(runs_table.c.backend.in_(list(backends)))
            ).all()
            for row in found:
                m = dict(row._mapping)
                if is_alive(m["owner"]):
                    continue
                same_owner = (
                    runs_table.c.owner.is_(None) if m["owner"] is None else runs_table.c.owner == m["owner"]
                )
                claim = update(runs_table).where(runs_table.c.id == m["id"]).where(same_owner)
                done = conn.execute(claim.values(owner=new_owner))
                if done.rowcount == 1:
                    claimed.append({**m, "owner": new_owner})
        return claimed

    def run_pids(self, run_ids: Sequence[int]) -> dict[int, int]:
        if not run_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(runs_table.c.id, runs_table.c.pid)
                .where(runs_table.c.id.in_(list(run_ids)))
                .where(runs_table.c.pid.is_not(None))
            ).all()
        return {int(r[0]): int(r[1]) for r in rows}

    def prune_job_runs(self, job_id: str, keep: int) -> tuple[list[int], int]:
        """Retention of one job after its run: delete its finished runs beyond the newest
        ``keep``; answer their ids and how many finished runs it keeps. Index range reads
        on (job_id, id): cheap after a run. Runs of a backfill still active are kept."""
        final = runs_table.c.status.not_in([s.value for s in ACTIVE_STATUSES]) & _not_of_active_backfill()
        with self.engine.begin() as conn:
            boundary = conn.execute(
                select(runs_table.c.id)
                .where(runs_table.c.job_id == job_id)
                .where(final)
                .order_by(runs_table.c.id.desc())
                .offset(keep)
                .limit(1)
            ).scalar()
            if boundary is None:
                newest = select(runs_table.c.id).where(runs_table.c.job_id == job_id).where(final).limit(keep)
                return [], int(
                    conn.execute(select(func.count()).select_from(newest.subquery())).scalar() or 0
                )
            doomed = (
                select(runs_table.c.id)
                .where(runs_table.c.job_id == job_id)
                .where(final)
                .where(runs_table.c.id <= boundary)
            )
            ids = [int(r[0]) for r in conn.execute(doomed).all()]
            for start in range(0, len(ids), 500):
                conn.execute(delete(runs_table).where(runs_table.c.id.in_(ids[start : start + 500])))
        return ids, keep

    def prune_runs(self, *, keep_per_job: int, older_than: float | None) -> list[tuple[int, str | None]]:
        """Retention: delete finished runs beyond the newest ``keep_per_job`` of each job,
        and finished runs created before ``older_than``. Answers (id, log_path) of each.
        Runs of a backfill still active are kept (they are pruned once it ends)."""
        final = runs_table.c.status.not_in(["running", "queued"]) & _not_of_active_backfill()
        with self.engine.begin() as conn:
            victims: list[tuple[int, str | None]] = []
            if keep_per_job > 0:
                ranked = (
                    select(
                        runs_table.c.id,
                        runs_table.c.log_path,
                        func.row_number()
                        .over(partition_by=runs_table.c.job_id, order_by=runs_table.c.id.desc())
                        .label("rank"),
                    )
                    .where(final)
                    .subquery()
                )
                victims += [
                    (r[0], r[1])
                    for r in conn.execute(
                        select(ranked.c.id, ranked.c.log_path).where(ranked.c.rank > keep_per_job)
                    ).all()
                ]
            if older_than is not None:
                victims += [
                    (r[0], r[1])
                    for r in conn.execute(
                        select(runs_table.c.id, runs_table.c.log_path)
                        .where(final)
                        .where(runs_table.c.created_at < older_than)
                    ).all()
                ]
            unique = dict(victims)
            ids = list(unique)
            for start in range(0, len(ids), 500):
                conn.execute(delete(runs_table).where(runs_table.c.id.in_(ids[start : start + 500])))
        return list(unique.items())

    # -- backfills ------------------------------------------------------------------------
    def insert_backfill(self, **values: Any) -> int:
        with self.engine.begin() as conn:
            key = conn.execute(insert(backfills_table).values(**values)).inserted_primary_key
            if key is None:  # every dialect this store supports answers it
                raise RuntimeError("The database did not answer the new backfill's id")
            return int(key[0])

    def get_backfill(self, backfill_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(backfills_table).where(backfills_table.c.id == backfill_id)).first()
            return dict(row._mapping) if row is not None else None

    def list_backfills(
        self, job_id: str | None = None, statuses: Sequence[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Newest first: of one job, or of every job in ``statuses``."""
        query = select(backfills_table).order_by(backfills_table.c.id.desc()).limit(limit)
        if job_id is not None:
            query = query.where(backfills_table.c.job_id == job_id)
        if statuses:
            query = query.where(backfills_table.c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]

    def update_backfill(self, backfill_id: int, *, only_active: bool = False, **values: Any) -> bool:
        """Set columns of a backfill (``only_active``: only while it is queued or running,
        so a finish never overwrites a cancel); answer whether a row changed."""
        query = update(backfills_table).where(backfills_table.c.id == backfill_id).values(**values)
        if only_active:
            query = query.where(backfills_table.c.status.in_(["queued", "running"]))
        with self.engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def backfill_runs(
        self, backfill_ids: Sequence[int]
    ) -> dict[int, list[tuple[float | None, str, str | None]]]:
        """Each backfill's runs as (scheduled_for, status, message)."""
        c = runs_table.c
        query = select(c.backfill_id, c.scheduled_for, c.status, c.message).where(
            c.backfill_id.in_(list(backfill_ids))
        )
        found: dict[int, list[tuple[float | None, str, str | None]]] = {int(i): [] for i in backfill_ids}
        with self.engine.connect() as conn:
            for backfill_id, scheduled_for, status, message in conn.execute(query).all():
                found[int(backfill_id)].append((scheduled_for, str(status), message))
        return found

    def list_trigger_jobs(self) -> list[JobDefinition]:
        """The trigger-only jobs (the dependency graph needs no other definition)."""
        cols = [c for c in jobs_table.c if c.name != "python_code"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*cols).where(jobs_table.c.spec.like('%"schedule_type": "trigger"%'))
            ).all()
        return [job for job in (_job_from_row(r, False) for r in rows) if job.is_trigger_only]

    def list_file_jobs(self) -> list[JobDefinition]:
        """The jobs fired by arriving files (the file triggers watch their globs)."""
        cols = [c for c in jobs_table.c if c.name != "python_code"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*cols).where(jobs_table.c.spec.like('%"schedule_type": "file"%'))
            ).all()
        return [job for job in (_job_from_row(r, False) for r in rows) if job.schedule_type == "file"]

    # -- file arrival state --------------------------------------------------------------
    def file_watch(self, job_id: str) -> tuple[str, FileState] | None:
        """The glob a file job's state was taken for and the files seen; None: never taken."""
        with self.engine.connect() as conn:
            watch = conn.execute(
                select(file_watches_table.c.watch_path).where(file_watches_table.c.job_id == job_id)
            ).first()
            if watch is None:
                return None
            rows = conn.execute(
                select(file_state_table.c.path, file_state_table.c.mtime_ns, file_state_table.c.size).where(
                    file_state_table.c.job_id == job_id
                )
            ).all()
        return str(watch[0]), {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def set_file_watch(self, job_id: str, watch_path: str, files: FileState) -> None:
        """Take a file job's state anew (a new job, or its glob changed): these files are old."""
        with self.engine.begin() as conn:
            conn.execute(delete(file_watches_table).where(file_watches_table.c.job_id == job_id))
            conn.execute(delete(file_state_table).where(file_state_table.c.job_id == job_id))
            conn.execute(
                insert(file_watches_table).values(
                    job_id=job_id, watch_path=watch_path, updated_at=time.time()
                )
            )
            self._insert_file_state(conn, job_id, files)

    def update_file_state(self, job_id: str, changed: FileState, removed: Iterable[str]) -> None:
        gone = list(removed) + list(changed)
        with self.engine.begin() as conn:
            for start in range(0, len(gone), 500):
                conn.execute(
                    delete(file_state_table).where(
                        file_state_table.c.job_id == job_id,
                        file_state_table.c.path.in_(gone[start : start + 500]),
                    )
                )
            self._insert_file_state(conn, job_id, changed)

    @staticmethod
    def _insert_file_state(conn: Any, job_id: str, files: FileState) -> None:
        rows = [{"job_id": job_id, "path": p, "mtime_ns": m, "size": n} for p, (m, n) in files.items()]
        for start in range(0, len(rows), 500):
            conn.execute(insert(file_state_table), rows[start : start + 500])

    def drop_file_watches(self, keep: Iterable[str]) -> list[str]:
        """Forget the file state of every job but ``keep`` (the file jobs): those deleted or
        changed to another schedule; answer their ids."""
        keep = set(keep)
        with self.engine.begin() as conn:
            known = {r[0] for r in conn.execute(select(file_watches_table.c.job_id)).all()}
            return self._forget_file_watches(conn, known - keep)

    def forget_file_watches(self, job_ids: Iterable[str]) -> list[str]:
        """Forget the file state of these jobs; answer those that had one."""
        wanted = list(job_ids)
        t = file_watches_table.c
        with self.engine.begin() as conn:
            known = {r[0] for r in conn.execute(select(t.job_id).where(t.job_id.in_(wanted))).all()}
            return self._forget_file_watches(conn, known)

    @staticmethod
    def _forget_file_watches(conn: Any, job_ids: Iterable[str]) -> list[str]:
        stale = sorted(job_ids)
        for start in range(0, len(stale), 500):
            chunk = stale[start : start + 500]
            conn.execute(delete(file_watches_table).where(file_watches_table.c.job_id.in_(chunk)))
            conn.execute(delete(file_state_table).where(file_state_table.c.job_id.in_(chunk)))
        return stale

    def job_state_counts(self) -> dict[str, int]:
        """How many jobs are scheduled, paused and trigger-only (for the metrics)."""
        trigger_only = jobs_table.c.spec.like('%"schedule_type": "trigger"%')
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(jobs_table.c.paused, trigger_only.label("trigger_only"), func.count()).group_by(
                    jobs_table.c.paused, "trigger_only"
                )
            ).all()
        counts = {"scheduled": 0, "paused": 0, "trigger": 0}
        for paused, is_trigger, count in rows:
            state = "paused" if paused else "trigger" if is_trigger else "scheduled"
            counts[state] += int(count)
        return counts

    def instance_key(self) -> str:
        """A random key of this database, made once: what it names elsewhere (Ray submission
        ids) can never be taken for another database's, even one at the same URL."""
        with self.engine.begin() as conn:
            self._insert_missing(conn, meta_table, [{"key": "instance_key", "value": secrets.token_hex(5)}])
            found = select(meta_table.c.value).where(meta_table.c.key == "instance_key")
            return str(conn.execute(found).scalar())

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta_table.c.value).where(meta_table.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(update(meta_table).where(meta_table.c.key == key).values(value=value))
            if changed.rowcount == 0:
                conn.execute(insert(meta_table).values(key=key, value=value))

    # -- alerts --------------------------------------------------------------------------
    def claim_alert(self, job_id: str, kind: str, key: str) -> bool:
        """Record an alert; True when this call recorded it (then send it), False when it
        was recorded before (by this server before a restart, or by another one)."""
        with self.engine.begin() as conn:
            row = {"job_id": job_id, "kind": kind, "key": key, "created_at": time.time()}
            # RETURNING, not rowcount: with DO NOTHING psycopg counts the row either way.
            claim = self._dialect_insert(alerts_table).values(row).on_conflict_do_nothing()
            return conn.execute(claim.returning(alerts_table.c.job_id)).first() is not None

    def clear_alert(self, job_id: str, kind: str, key: str = "") -> bool:
        """Remove an alert record; True when there was one."""
        t = alerts_table.c
        with self.engine.begin() as conn:
            done = conn.execute(delete(alerts_table).where(t.job_id == job_id, t.kind == kind, t.key == key))
            return bool(done.rowcount)

    def jobs_with_spec_key(self, key: str) -> list[JobDefinition]:
        """The jobs whose specification sets ``key`` to a text value (without their code)."""
        cols = [c for c in jobs_table.c if c.name != "python_code"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(jobs_table.c.spec.like(f'%"{key}": "%'))).all()
        return [job for job in (_job_from_row(r, False) for r in rows) if isinstance(job.spec.get(key), str)]

    def succeeded_between(self, job_id: str, since: float, until: float) -> bool:
        """Whether a run of the job ended in success with ``since < finished_at <= until``."""
        t = runs_table.c
        found = (
            select(t.id)
            .where(
                t.job_id == job_id,
                t.status == RunStatus.SUCCESS.value,
                t.finished_at > since,
                t.finished_at <= until,
            )
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(found).first() is not None
