"""Jobs, next fire times and run history survive a restart of the extension on the same
SQLite file: the server's own stop path (``stop_extension``) stops the first service, and
a new service built from the same configuration takes over the same server."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from api_support import SchedulerClient, interval_job

from pipeline_scheduler.app import SchedulerService


def _every_schedule_type(upstream_id: str) -> list[dict[str, Any]]:
    in_two_days = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    common = {"pipeline_path": "ok.py"}
    return [
        {
            **common,
            "name": "once",
            "schedule_type": "date",
            "date_type": "once",
            "run_date": in_two_days.isoformat().replace("+00:00", ".000Z"),
        },
        {
            **common,
            "name": "daily",
            "schedule_type": "date",
            "date_type": "daily",
            "run_date": "2030-01-15T07:30:00.000Z",
            "timezone": "Europe/Paris",
        },
        {
            **common,
            "name": "weekly",
            "schedule_type": "date",
            "date_type": "weekly",
            "run_date": "2030-01-16T18:00:00.000Z",
            "timezone": "America/New_York",
        },
        {
            **common,
            "name": "monthly",
            "schedule_type": "date",
            "date_type": "monthly",
            "run_date": "2030-01-05T06:45:00.000Z",
        },
        {
            **common,
            "name": "every 3 days",
            "schedule_type": "date",
            "date_type": "every_x_days",
            "interval_days": 3,
            "run_date": "2026-01-01T05:00:00.000Z",
        },
        {**common, "name": "interval", "schedule_type": "interval", "interval_seconds": 7200},
        {
            **common,
            "name": "cron 5 fields",
            "schedule_type": "cron",
            "cron_expression": "15 4 * * 1-5",
            "timezone": "Asia/Tokyo",
        },
        {**common, "name": "cron 6 fields", "schedule_type": "cron", "cron_expression": "30 0 */6 * * *"},
        {
            **common,
            "name": "trigger",
            "schedule_type": "trigger",
            "logical_operator": "OR",
            "trigger_conditions": [{"job_id": upstream_id, "on": "success"}],
        },
        {**common, "name": "paused", "schedule_type": "interval", "interval_seconds": 600, "paused": True},
    ]


async def _restart(jp_serverapp: Any, scheduler_app: Any) -> SchedulerService:
    """Stop the extension the way the server does, then start a new service in its place."""
    old: SchedulerService = scheduler_app.service
    await jp_serverapp.extension_manager.stop_extension("pipeline_scheduler", [scheduler_app])
    assert old.is_started is False
    assert not old.is_active  # stopped: it no longer fires

    new = SchedulerService(scheduler_app.scheduler_settings(), log=scheduler_app.log)
    assert new.settings.database_url == old.settings.database_url
    scheduler_app.service = new
    jp_serverapp.web_app.settings["pipeline_scheduler_service"] = new
    await scheduler_app._start_jupyter_server_extension(jp_serverapp)
    assert new.is_started and new.is_active
    return new


async def test_jobs_next_times_and_history_survive_a_restart(
    api: SchedulerClient, jp_serverapp: Any, scheduler_app: Any, db_file: Path
) -> None:
    upstream = await api.create_job(**interval_job("upstream", seconds=3600))
    for spec in _every_schedule_type(upstream["id"]):
        await api.create_job(**spec)
    ok = await api.run_now(upstream["id"])
    failing = await api.create_job(**interval_job("failing", path="fail.py"))
    failed = await api.run_now(failing["id"])
    assert ok["success"] and not failed["success"]
    # The trigger job ran after 'upstream' succeeded; wait for it so the history is final.
    deadline = time.monotonic() + 15
    while len(await api.runs(status="success")) < 2:
        assert time.monotonic() < deadline, await api.runs()
        await asyncio.sleep(0.05)

    jobs_before = await api.jobs()
    details_before = {j["id"]: (await api.get(f"jobs/{j['id']}")).body for j in jobs_before}
    runs_before = await api.runs()
    run_details_before = [(await api.get(f"runs/{r['id']}")).body for r in runs_before]
    log_before = (await api.get(f"runs/{ok['run_id']}/log")).body
    assert len(jobs_before) == 12
    assert len(runs_before) == 3
    by_name = {j["name"]: j for j in jobs_before}
    for name, job in by_name.items():
        if name in ("trigger", "paused"):
            assert job["next_run_time"] is None, job
        else:
            assert datetime.fromisoformat(job["next_run_time"]) > datetime.now(timezone.utc), job

    assert db_file.is_file(), "the configured db_url is the database used"
    with sqlite3.connect(db_file) as conn:
        stored = conn.execute("SELECT count(*) FROM pipeline_scheduler_jobs").fetchone()[0]
    assert stored == 12

    await _restart(jp_serverapp, scheduler_app)

    assert await api.jobs() == jobs_before
    for job_id, detail in details_before.items():
        assert (await api.get(f"jobs/{job_id}")).body == detail
    assert await api.runs() == runs_before
    assert [(await api.get(f"runs/{r['id']}")).body for r in runs_before] == run_details_before
    assert (await api.get(f"runs/{ok['run_id']}/log")).body == log_before
    assert by_name["upstream"]["last_run"]["status"] == "success"
    assert by_name["failing"]["last_run"]["status"] == "failure"
    assert by_name["trigger"]["last_run"]["status"] == "success"

    # The restarted service works: trigger conditions were rebuilt from the database, so
    # running 'upstream' again fires the trigger job again.
    again = await api.run_now(upstream["id"])
    assert again["success"] and again["run_id"] > max(r["id"] for r in runs_before)
    deadline = time.monotonic() + 15
    while not [r for r in await api.runs(job_id=by_name["trigger"]["id"]) if r["id"] > again["run_id"]]:
        assert time.monotonic() < deadline, "the trigger job did not fire after the restart"
        await asyncio.sleep(0.05)
    fired = (await api.runs(job_id=by_name["trigger"]["id"]))[0]
    assert fired["triggered_by"] == "trigger"

    resumed = await api.post(f"jobs/{by_name['paused']['id']}/resume")
    assert resumed.status == 200 and resumed.body["next_run_time"] is not None, resumed


async def test_a_run_active_at_stop_is_not_left_running(
    api: SchedulerClient, jp_serverapp: Any, scheduler_app: Any
) -> None:
    job = await api.create_job(**interval_job("sleeper", path="forever.py"))
    run = await api.start_run(job["id"])
    deadline = time.monotonic() + 15
    while (await api.get(f"runs/{run['id']}")).body["status"] != "running":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)

    started = time.monotonic()
    await _restart(jp_serverapp, scheduler_app)
    assert time.monotonic() - started < 10, "stopping must not wait for the pipeline to end"

    after = (await api.get(f"runs/{run['id']}")).body
    assert after["status"] in ("cancelled", "interrupted"), after
    assert after["finished_at"] is not None
    assert (await api.jobs())[0]["last_run"]["status"] == after["status"]
