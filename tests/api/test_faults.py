"""Faults around a running server: the database locked by another process, a log folder
that cannot be written, a log file deleted while its run goes on. Each gets a clear answer,
the server keeps serving, and no run is silently lost."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_support import SchedulerClient, interval_job, write_pipelines


@pytest.fixture
def extension_config(db_file: Path, tmp_path: Path) -> dict[str, Any]:
    return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}", "log_dir": str(tmp_path / "logs")}


async def test_database_locked_by_another_process(
    api: SchedulerClient, db_file: Path, figure: Callable[[str, str], None]
) -> None:
    job = await api.create_job(**interval_job("locked"))
    before = await api.jobs()
    holder = sqlite3.connect(db_file, timeout=1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # nobody else may read or write now
    try:
        started = time.monotonic()
        post = asyncio.ensure_future(api.post("jobs", interval_job("while locked")))
        await asyncio.sleep(0.5)
        # While the write waits for the lock, the server answers other requests.
        polled = time.monotonic()
        status = await api.request("GET", "status", prefix="api")
        assert status.status == 200
        status_ms = (time.monotonic() - polled) * 1000
        reply = await post
        waited = time.monotonic() - started
        assert reply.status == 503, reply
        assert "database" in reply.body["error"] and "locked" in reply.body["error"], reply
        figure(
            "database locked by another process",
            f"POST jobs answered 503 after {waited:.1f} s (the SQLite busy timeout); "
            f"GET /api/status meanwhile in {status_ms:.0f} ms",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [j["id"] for j in await api.jobs()] == [j["id"] for j in before]
    assert (await api.run_now(job["id"]))["success"]


@pytest.mark.parametrize("started_first", [True, False])
async def test_log_folder_not_writable(
    api: SchedulerClient, tmp_path: Path, started_first: bool, figure: Callable[[str, str], None]
) -> None:
    if started_first:
        assert (await api.get("config")).status == 200
    if os.geteuid() == 0:
        # root ignores permission bits: make the log folder a file instead, which nobody
        # can create folders in.
        logs = tmp_path / "logs"
        if logs.exists():
            for p in sorted(logs.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            logs.rmdir()
        logs.write_text("not a folder")
    else:
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / "logs").chmod(stat.S_IRUSR | stat.S_IXUSR)
    job = await api.create_job(**interval_job("unloggable"))
    result = await api.run_now(job["id"])
    assert result["success"] is False
    run = (await api.get(f"runs/{result['run_id']}")).body
    assert run["status"] == "failure"
    assert "log" in run["message"] and "writable" in run["message"], run
    assert (await api.get("jobs")).status == 200
    figure(
        f"log folder not writable ({'after' if started_first else 'before'} start-up)",
        f"run recorded as failure with message {run['message']!r}; the API kept serving",
    )


async def test_log_file_deleted_mid_run(
    api: SchedulerClient, workspace: Path, tmp_path: Path, figure: Callable[[str, str], None]
) -> None:
    write_pipelines(
        workspace,
        {
            "chatty.py": "import time\nfor i in range(30):\n    print('line', i, flush=True)\n    time.sleep(0.05)\n"  # noqa: E501
        },
    )
    job = await api.create_job(**interval_job("chatty", path="chatty.py"))
    run = await api.start_run(job["id"])
    log = tmp_path / "logs" / str(run["id"]) / "output.log"
    for _ in range(200):
        if log.exists() and log.stat().st_size > 0:
            break
        await asyncio.sleep(0.02)
    log.unlink()
    final = await api.wait_run(run["id"])
    assert final["status"] == "success"
    assert "line 29" in final["output"]  # the tail is kept even without the file
    chunk = (await api.get(f"runs/{run['id']}/log")).body
    assert chunk["finished"] is True and chunk["data"] == ""
    figure(
        "log file deleted mid-run",
        f"run ended '{final['status']}', last lines kept in its tail ({len(final['output'])} chars); "
        "the log route answers an empty, finished log",
    )
