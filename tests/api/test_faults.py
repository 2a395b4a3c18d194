"""Faults around a running server: the database locked by another process, a log folder
that cannot be written, a log file deleted while its run goes on. Each gets a clear answer,
the server keeps serving, and no run is silently lost."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from api_support import SchedulerClient, interval_job, write_pipelines


@pytest.fixture
def extension_config(db_file: Path, tmp_path: Path) -> dict[str, Any]:
    return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}", "log_dir": str(tmp_path / "logs")}


async def test_database_locked_by_another_process(api: SchedulerClient, db_file: Path) -> None:
    job = await api.create_job(**interval_job("locked"))
    before = await api.jobs()
    holder = sqlite3.connect(db_file, timeout=1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # nobody else may read or write now
    try:
        reply = await api.post("jobs", interval_job("while locked"))
        assert reply.status == 503, reply
        assert "database" in reply.body["error"] and "locked" in reply.body["error"], reply
        status = await api.request("GET", "status", prefix="api")
        assert status.status == 200  # the server itself still answers
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [j["id"] for j in await api.jobs()] == [j["id"] for j in before]
    assert (await api.run_now(job["id"]))["success"]


@pytest.mark.parametrize("started_first", [True, False])
async def test_log_folder_not_writable(api: SchedulerClient, tmp_path: Path, started_first: bool) -> None:
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


async def test_log_file_deleted_mid_run(api: SchedulerClient, workspace: Path, tmp_path: Path) -> None:
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
