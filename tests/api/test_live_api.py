"""Live state through a real server: the finished-runs feed (a cursor over the order runs
end in), the stderr ranges of a log, the whole-log download, and the schema 4 migration
that the feed's counter needs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import FINAL_STATUSES, SchedulerClient, interval_job, write_pipelines

from pipeline_scheduler.api_models import FinishedRuns, RunLog
from pipeline_scheduler.store import SCHEMA_VERSION, Store, make_engine

NO_CREDENTIALS = {"Authorization": ""}

LIVE_PIPELINES = {
    # Writes to both streams, in an order the test can predict (each line flushed, then a
    # pause so the server reads it before the next one): non-ASCII and a character outside
    # the BMP check that the ranges count JavaScript string indexes.
    "mixed.py": """
        import sys, time
        for i in range(3):
            print(f"out line {i}", flush=True)
            time.sleep(0.15)
            print(f"err line {i} é 😀", file=sys.stderr, flush=True)
            time.sleep(0.15)
        print("out end", flush=True)
    """,
    "big.py": """
        import sys
        line = "x" * 99 + "\\n"
        for i in range(30000):
            sys.stdout.write(line)
        print("big end", file=sys.stderr)
    """,
}
STDERR_LINES = [f"err line {i} é 😀\n" for i in range(3)]


@pytest.fixture
def live_workspace(workspace: Path) -> Path:
    write_pipelines(workspace, {k: textwrap.dedent(v).lstrip() for k, v in LIVE_PIPELINES.items()})
    return workspace


async def _feed(api: SchedulerClient, after: int | None = None) -> dict[str, Any]:
    reply = await api.get("runs/finished", params=None if after is None else {"after": str(after)})
    assert reply.status == 200, reply
    FinishedRuns.model_validate_json(json.dumps(reply.body))
    return reply.body  # type: ignore[no-any-return]


async def _wait_status(api: SchedulerClient, run_id: int, status: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (await api.get(f"runs/{run_id}")).body["status"] != status:
        assert time.monotonic() < deadline, f"run {run_id} never became {status}"
        await asyncio.sleep(0.05)


def _js_slice(text: str, start: int, end: int) -> str:
    """``text[start:end]`` with JavaScript (UTF-16) indexes."""
    units = text.encode("utf-16-le")
    return units[2 * start : 2 * end].decode("utf-16-le")


# -- the finished-runs feed ---------------------------------------------------------------


async def test_feed_answers_each_finished_run_once_in_the_order_they_ended(
    api: SchedulerClient,
) -> None:
    long_job = await api.create_job(**interval_job("long", "sleep3.py"))
    short_job = await api.create_job(**interval_job("short", "ok.py"))
    before = await api.run_now(short_job["id"])  # finished before the feed is opened

    first = await _feed(api)
    assert first["runs"] == [], "the first call must not announce old runs"
    cursor = first["cursor"]
    assert cursor >= 1

    long_run = await api.start_run(long_job["id"])
    await _wait_status(api, long_run["id"], "running")
    short_run = await api.start_run(short_job["id"])
    assert short_run["id"] > long_run["id"]
    await api.wait_run(short_run["id"])

    seen: list[int] = []
    page = await _feed(api, cursor)
    seen += [r["id"] for r in page["runs"]]
    assert seen == [short_run["id"]], page
    assert page["cursor"] > cursor
    cursor = page["cursor"]
    again = await _feed(api, cursor)
    assert again == {"runs": [], "cursor": cursor}

    # The long run has the smaller id and ends later: an id cursor would have skipped it.
    await api.wait_run(long_run["id"])
    page = await _feed(api, cursor)
    assert [r["id"] for r in page["runs"]] == [long_run["id"]]
    assert page["runs"][0]["status"] == "success"
    seen += [r["id"] for r in page["runs"]]
    assert (await _feed(api, page["cursor"]))["runs"] == []
    assert sorted(seen) == sorted({long_run["id"], short_run["id"]})
    assert before["run_id"] not in seen


async def test_feed_pages_with_a_limit_and_skips_deleted_runs(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("quick", "ok.py"))
    cursor = (await _feed(api))["cursor"]
    ids = [(await api.run_now(job["id"]))["run_id"] for _ in range(5)]
    deleted = await api.delete(f"runs/{ids[1]}")
    assert deleted.status == 200, deleted
    seen: list[int] = []
    for _ in range(10):
        reply = await api.get("runs/finished", params={"after": str(cursor), "limit": "2"})
        assert reply.status == 200, reply
        assert len(reply.body["runs"]) <= 2
        seen += [r["id"] for r in reply.body["runs"]]
        if not reply.body["runs"]:
            break
        cursor = reply.body["cursor"]
    assert seen == [ids[0], *ids[2:]]


async def test_feed_first_call_gives_no_old_runs(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("failing", "fail.py"))
    for _ in range(3):
        await api.run_now(job["id"])
    first = await _feed(api)
    assert first["runs"] == []
    assert (await _feed(api, first["cursor"]))["runs"] == []
    # A cursor from a bigger, older database (past the counter) starts again at the counter.
    ahead = await _feed(api, first["cursor"] + 1000)
    assert ahead == {"runs": [], "cursor": first["cursor"]}


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "9" * 30])
async def test_feed_bad_cursor_is_a_400_with_fields(api: SchedulerClient, bad: str) -> None:
    reply = await api.get("runs/finished", params={"after": bad})
    assert reply.status == 400, reply
    assert "after" in reply.body["fields"], reply
    assert reply.body["error"].startswith("after"), reply


async def test_live_routes_need_authentication(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("private", "fail.py"))
    run_id = (await api.run_now(job["id"]))["run_id"]
    for path in ("runs/finished", f"runs/{run_id}/log/download", f"runs/{run_id}/log"):
        reply = await api.get(path, headers=NO_CREDENTIALS)
        assert reply.status == 403, (path, reply)
        assert "error" in reply.body
        assert "boom" not in str(reply.body)


# -- stderr ranges and the download ------------------------------------------------------


async def test_log_answers_which_parts_came_from_stderr(api: SchedulerClient, live_workspace: Path) -> None:
    job = await api.create_job(**interval_job("mixed", "mixed.py"))
    run_id = (await api.run_now(job["id"]))["run_id"]
    reply = await api.get(f"runs/{run_id}/log")
    assert reply.status == 200, reply
    RunLog.model_validate_json(json.dumps(reply.body))
    text, ranges = reply.body["data"], reply.body["stderr_ranges"]
    assert [_js_slice(text, a, b) for a, b in ranges] == STDERR_LINES
    outside = "".join(
        _js_slice(text, b, ranges[i + 1][0] if i + 1 < len(ranges) else len(text.encode("utf-16-le")) // 2)
        for i, (_, b) in enumerate(ranges)
    )
    assert "err line" not in outside and "out line 1" in outside

    # Read in small windows: the ranges are those of each window, and add up to the same.
    pieces: list[str] = []
    offset = 0
    while True:
        chunk = (await api.get(f"runs/{run_id}/log", params={"offset": str(offset), "max_bytes": "9"})).body
        pieces += [_js_slice(chunk["data"], a, b) for a, b in chunk["stderr_ranges"]]
        if chunk["next_offset"] >= chunk["size"]:
            break
        offset = chunk["next_offset"]
    assert "".join(pieces) == "".join(STDERR_LINES)


async def test_a_stdout_only_run_has_no_stderr_ranges(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("ok", "ok.py"))
    run_id = (await api.run_now(job["id"]))["run_id"]
    body = (await api.get(f"runs/{run_id}/log")).body
    assert "hello from ok" in body["data"]
    assert body["stderr_ranges"] == []


async def test_download_streams_the_whole_log(
    api: SchedulerClient, live_workspace: Path, jp_fetch: Any
) -> None:
    job = await api.create_job(**interval_job("big", "big.py"))
    run_id = (await api.run_now(job["id"]))["run_id"]
    run = await api.wait_run(run_id)
    assert run["status"] in FINAL_STATUSES
    response = await jp_fetch("pipeline-scheduler", "runs", str(run_id), "log", "download", method="GET")
    assert response.code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="big-run-')
    assert len(response.body) == run["log_size"] > 3_000_000
    text = response.body.decode()
    assert text.count("x" * 99) == 30000 and text.rstrip().endswith(("big end", "code 0.", "big end\n"))
    missing = await api.get("runs/999999/log/download")
    assert missing.status == 404 and "error" in missing.body


# -- the migration ---------------------------------------------------------------------


def _write_schema_3_database(db_file: Path) -> None:
    """A database as schema 3 wrote it: no finish_seq column, no runs_finished counter,
    one finished run."""
    db_file.parent.mkdir(parents=True, exist_ok=True)
    store = Store(make_engine(f"sqlite:///{db_file}"))
    store.create_schema()
    store.engine.dispose()
    db = sqlite3.connect(db_file)
    db.executescript(
        """
        DROP INDEX ix_ps_runs_finish_seq;
        ALTER TABLE pipeline_scheduler_runs DROP COLUMN finish_seq;
        DELETE FROM pipeline_scheduler_meta WHERE key = 'runs_finished';
        UPDATE pipeline_scheduler_meta SET value = '3' WHERE key = 'schema_version';
        INSERT INTO pipeline_scheduler_jobs (id, name, pipeline_path, spec, paused, created_at,
            updated_at, trigger_watermark, seq)
            VALUES ('old', 'from schema 3', 'ok.py',
            '{"schedule_type": "interval", "interval_seconds": 3600, "timezone": "UTC"}',
            0, 1.0, 1.0, 0, 1);
        INSERT INTO pipeline_scheduler_runs (id, job_id, job_name, pipeline_path, status,
            triggered_by, attempt, created_at, started_at, finished_at, exit_code, log_size,
            log_truncated) VALUES (7, 'old', 'from schema 3', 'ok.py', 'failure', 'schedule',
            1, 1.0, 1.0, 2.0, 1, 0, 0);
        UPDATE pipeline_scheduler_meta SET value = '7' WHERE key = 'run_ids';
        """
    )
    db.commit()
    columns = {row[1] for row in db.execute("PRAGMA table_info(pipeline_scheduler_runs)")}
    db.close()
    assert "finish_seq" not in columns


@pytest.fixture
def extension_config(db_file: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if "schema_3" in request.node.name:
        _write_schema_3_database(db_file)
    return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}"}


async def test_a_schema_3_database_opens_and_feeds(api: SchedulerClient, db_file: Path) -> None:
    runs = await api.runs()
    assert [(r["id"], r["status"]) for r in runs] == [(7, "failure")]
    first = await _feed(api)
    assert first == {"runs": [], "cursor": 0}, "an old run is never announced"
    run_id = (await api.run_now("old"))["run_id"]
    assert run_id == 8
    page = await _feed(api, first["cursor"])
    assert [r["id"] for r in page["runs"]] == [8]
    db = sqlite3.connect(db_file)
    assert db.execute("SELECT value FROM pipeline_scheduler_meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    assert db.execute("SELECT finish_seq FROM pipeline_scheduler_runs ORDER BY id").fetchall() == [
        (None,),
        (1,),
    ]
    db.close()
