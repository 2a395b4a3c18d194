"""Less travelled paths through the real server: trigger chains, queued runs, deleting a
job while it runs, a pipeline file that vanished, the original ``dbPath`` setting."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from api_support import FINAL_STATUSES, SchedulerClient, interval_job


async def _runs_of(
    api: SchedulerClient, job_id: str, count: int, timeout: float = 15
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        runs = [r for r in await api.runs(job_id=job_id) if r["status"] in FINAL_STATUSES]
        if len(runs) >= count:
            return runs
        assert time.monotonic() < deadline, f"job {job_id}: {len(runs)} of {count} runs finished"
        await asyncio.sleep(0.05)


async def test_trigger_chain_follows_failure_and_success_at_any_depth(api: SchedulerClient) -> None:
    extract = await api.create_job(**interval_job("extract", path="fail.py"))

    def trigger(name: str, upstream: str, on: str) -> dict[str, Any]:
        return {
            "name": name,
            "pipeline_path": "ok.py",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": upstream, "on": on}],
        }

    on_failure = await api.create_job(**trigger("alert", extract["id"], "failure"))
    on_success = await api.create_job(**trigger("load", extract["id"], "success"))
    second_level = await api.create_job(**trigger("report", on_failure["id"], "success"))
    third_level = await api.create_job(**trigger("archive", second_level["id"], "success"))

    result = await api.run_now(extract["id"])
    assert result["success"] is False and result["exit_code"] == 3
    archive_runs = await _runs_of(api, third_level["id"], 1)
    assert archive_runs[0]["triggered_by"] == "trigger"
    for job in (on_failure, second_level):
        runs = await _runs_of(api, job["id"], 1)
        assert [(r["status"], r["triggered_by"]) for r in runs] == [("success", "trigger")]
    await asyncio.sleep(0.3)
    assert await api.runs(job_id=on_success["id"]) == [], "a failure must never fire 'on success'"


async def test_and_trigger_waits_for_every_condition(api: SchedulerClient) -> None:
    a = await api.create_job(**interval_job("a"))
    b = await api.create_job(**interval_job("b"))
    both = await api.create_job(
        name="both",
        pipeline_path="ok.py",
        schedule_type="trigger",
        logical_operator="AND",
        trigger_conditions=[{"job_id": a["id"], "on": "success"}, {"job_id": b["id"], "on": "success"}],
    )
    await api.run_now(a["id"])
    await asyncio.sleep(0.4)
    assert await api.runs(job_id=both["id"]) == [], "only one of two AND conditions is met"
    await api.run_now(b["id"])
    runs = await _runs_of(api, both["id"], 1)
    assert runs[0]["triggered_by"] == "trigger"


async def test_deleting_a_job_stops_its_running_pipeline(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("sleeper", path="forever.py"))
    run = await api.start_run(job["id"])
    deadline = time.monotonic() + 15
    while (await api.get(f"runs/{run['id']}")).body["status"] != "running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    started = time.monotonic()
    reply = await api.delete(f"jobs/{job['id']}")
    assert reply.status == 200, reply
    assert time.monotonic() - started < 8
    assert (await api.get(f"runs/{run['id']}")).status == 404
    assert await api.jobs() == []


async def test_pipeline_file_removed_after_scheduling_fails_cleanly(
    api: SchedulerClient, workspace: Path
) -> None:
    job = await api.create_job(**interval_job("vanishing", path="etl/read_local.py"))
    (workspace / "etl" / "read_local.py").unlink()
    result = await api.run_now(job["id"])
    assert result["success"] is False
    assert "read_local.py" in result["error"] and "does not exist" in result["error"]
    listed = (await api.jobs())[0]
    assert listed["last_run"]["status"] == "failure"


@pytest.mark.parametrize("bad_id", ["../etc", "a/b", "-starts-with-dash", "x" * 101, "with space"])
async def test_job_ids_are_checked(api: SchedulerClient, bad_id: str) -> None:
    reply = await api.post("jobs", {**interval_job(), "id": bad_id})
    assert reply.status == 400, reply
    assert reply.body["error"].startswith("id:"), reply
    assert await api.jobs() == []


class TestOneRunAtATime:
    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}", "max_concurrent_runs": 1}

    async def test_second_run_queues_and_can_be_cancelled_while_queued(self, api: SchedulerClient) -> None:
        job = await api.create_job(**interval_job("sleeper", path="forever.py"))
        quick = await api.create_job(**interval_job("quick"))
        first = await api.start_run(job["id"])
        second = await api.start_run(quick["id"])
        deadline = time.monotonic() + 15
        while (await api.get(f"runs/{first['id']}")).body["status"] != "running":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        queued = (await api.get(f"runs/{second['id']}")).body
        assert queued["status"] == "queued", queued
        assert queued["started_at"] is None

        cancelled = await api.post(f"runs/{second['id']}/cancel")
        assert cancelled.status == 200, cancelled
        assert cancelled.body["status"] == "cancelled"
        assert cancelled.body["started_at"] is None, "a queued run never started"

        third = await api.start_run(quick["id"])
        stopped = await api.post(f"runs/{first['id']}/cancel")
        assert stopped.body["status"] == "cancelled", stopped
        done = await api.wait_run(third["id"])
        assert done["status"] == "success", "the freed slot goes to the next queued run"


class TestOriginalDbPathSetting:
    @pytest.fixture
    def extension_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"timezone": "UTC", "dbPath": str(tmp_path / "legacy" / "scheduler.db")}

    async def test_db_path_is_honoured(self, api: SchedulerClient, tmp_path: Path, workspace: Path) -> None:
        await api.create_job(**interval_job())
        legacy = tmp_path / "legacy" / "scheduler.db"
        assert legacy.is_file() and legacy.stat().st_size > 0
        assert not (workspace / ".amphi" / "scheduler.sqlite").exists()


async def test_symlink_out_of_the_workspace_is_refused(api: SchedulerClient, workspace: Path) -> None:
    outside = workspace.parent / "outside.py"
    outside.write_text("print('outside')\n")
    (workspace / "sneaky.py").symlink_to(outside)
    reply = await api.post("jobs", interval_job(path="sneaky.py"))
    assert reply.status == 400, reply
    assert "pipeline_path" in reply.body["error"] and "outside" in reply.body["error"]
    assert await api.jobs() == []


async def test_preview_of_a_trigger_schedule(api: SchedulerClient) -> None:
    upstream = await api.create_job(**interval_job("Extract"))
    reply = await api.post(
        "schedule/preview",
        {"schedule_type": "trigger", "trigger_conditions": [{"job_id": upstream["id"], "on": "success"}]},
    )
    assert reply.status == 200, reply
    assert reply.body["description"] == "After 'Extract' succeeds"
    assert reply.body["next_run_times"] == []
    unknown = await api.post(
        "schedule/preview",
        {"schedule_type": "trigger", "trigger_conditions": [{"job_id": "job_nope", "on": "success"}]},
    )
    assert unknown.status == 400 and "trigger_conditions" in unknown.body["error"], unknown


class TestServerZoneIsNotUTC:
    """Without a job timezone, daily/weekly/monthly use the wall-clock time of run_date in the
    configured zone (the original took the UTC hour and fired it in the server's zone)."""

    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return {"timezone": "Europe/Paris", "db_url": f"sqlite:///{db_file}"}

    async def test_daily_and_weekly_follow_the_configured_zone(self, api: SchedulerClient) -> None:
        paris = ZoneInfo("Europe/Paris")
        # 07:30 UTC on Wednesday 15 January 2030 is 08:30 in Paris.
        daily = await api.create_job(
            name="daily",
            pipeline_path="ok.py",
            schedule_type="date",
            date_type="daily",
            run_date="2030-01-15T07:30:00.000Z",
        )
        assert daily["timezone"] == "Europe/Paris"
        assert daily["schedule_description"] == "Every day at 08:30 (Europe/Paris)"
        local = datetime.fromisoformat(daily["next_run_time"]).astimezone(paris)
        assert (local.hour, local.minute) == (8, 30)

        weekly = await api.create_job(
            name="weekly",
            pipeline_path="ok.py",
            schedule_type="date",
            date_type="weekly",
            run_date="2030-01-15T23:30:00.000Z",  # already Wednesday 00:30 in Paris
        )
        local = datetime.fromisoformat(weekly["next_run_time"]).astimezone(paris)
        assert (local.weekday(), local.hour, local.minute) == (2, 0, 30)
        assert weekly["schedule_description"] == "Every Wednesday at 00:30 (Europe/Paris)"
