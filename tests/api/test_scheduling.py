"""Real time through the real server: a scheduled interval job fires again and again, and
the server keeps answering while a run-now waits for a slow pipeline."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

from api_support import FINAL_STATUSES, SchedulerClient, interval_job


async def test_interval_job_fires_repeatedly_and_records_each_run(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("every second", seconds=1))
    deadline = time.monotonic() + 8
    while True:
        runs = await api.runs(job_id=job["id"])
        finished = [r for r in runs if r["status"] in FINAL_STATUSES]
        if len(finished) >= 3:
            break
        assert time.monotonic() < deadline, f"only {len(finished)} finished scheduled runs: {runs}"
        await asyncio.sleep(0.1)
    paused = await api.post(f"jobs/{job['id']}/pause")
    assert paused.status == 200, paused

    assert {r["triggered_by"] for r in runs} == {"schedule"}
    assert {r["status"] for r in finished} == {"success"}
    for run in finished:
        assert run["scheduled_for"] is not None
        assert run["exit_code"] == 0
    scheduled = sorted(datetime.fromisoformat(r["scheduled_for"]) for r in finished)
    gaps = [(b - a).total_seconds() for a, b in zip(scheduled, scheduled[1:], strict=False)]
    # Fire times are the schedule's own: whole seconds apart (a loaded machine may coalesce
    # a missed one, which makes a gap of 2 s, never a fraction).
    assert all(round(gap) >= 1 and abs(gap - round(gap)) < 0.01 for gap in gaps), gaps
    assert sum(1 for gap in gaps if round(gap) == 1) >= 1, gaps

    detail = await api.get(f"runs/{finished[0]['id']}")
    assert "hello from ok" in detail.body["output"]
    last_run = (await api.jobs())[0]["last_run"]
    assert last_run is not None
    assert last_run["status"] == "success"
    assert last_run["id"] >= max(r["id"] for r in finished)

    # Paused: no more runs start.
    await asyncio.sleep(0.3)  # a run started just before the pause may still be recorded
    count = len(await api.runs(job_id=job["id"]))
    await asyncio.sleep(1.6)
    assert len(await api.runs(job_id=job["id"])) == count, "a paused job must not fire"


async def test_server_answers_while_run_now_waits(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("slow", path="sleep3.py"))
    started = time.perf_counter()
    waiting = asyncio.ensure_future(api.post(f"run/{job['id']}"))

    deadline = time.monotonic() + 15
    while not await api.runs(status="running"):
        assert time.monotonic() < deadline, "the run never started"
        await asyncio.sleep(0.05)
    assert not waiting.done()

    jobs = await api.get("jobs")
    status = await api.get("api/status", prefix="")
    runs = await api.get("runs")
    print(
        f"\nwhile run-now waits: GET jobs {jobs.elapsed * 1000:.1f} ms, "
        f"GET /api/status {status.elapsed * 1000:.1f} ms, GET runs {runs.elapsed * 1000:.1f} ms"
    )
    assert jobs.status == 200 and status.status == 200 and runs.status == 200
    assert jobs.elapsed < 0.5 and status.elapsed < 0.5 and runs.elapsed < 0.5
    assert not waiting.done(), "the waited answer must come after the pipeline ends"

    reply = await asyncio.wait_for(waiting, 20)
    total = time.perf_counter() - started
    assert reply.status == 200, reply
    assert reply.body["success"] is True
    assert reply.body["exit_code"] == 0
    assert "woke up" in reply.body["output"]
    assert total >= 2.9, f"run-now answered after {total:.2f} s, before the pipeline ended"


async def test_one_off_and_six_field_cron_fire_on_time(api: SchedulerClient) -> None:
    when = (datetime.now(timezone.utc) + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
    once = await api.create_job(
        name="once",
        pipeline_path="ok.py",
        schedule_type="date",
        date_type="once",
        run_date=when.isoformat().replace("+00:00", "Z"),
    )
    assert datetime.fromisoformat(once["next_run_time"]) == when
    every_second = await api.create_job(
        name="every second (cron)",
        pipeline_path="ok.py",
        schedule_type="cron",
        cron_expression="* * * * * *",
    )
    deadline = time.monotonic() + 10
    while True:
        once_runs = [r for r in await api.runs(job_id=once["id"]) if r["status"] in FINAL_STATUSES]
        cron_runs = [r for r in await api.runs(job_id=every_second["id"]) if r["status"] in FINAL_STATUSES]
        if once_runs and len(cron_runs) >= 2:
            break
        assert time.monotonic() < deadline, (once_runs, cron_runs)
        await asyncio.sleep(0.1)
    await api.post(f"jobs/{every_second['id']}/pause")

    assert len(once_runs) == 1
    assert once_runs[0]["triggered_by"] == "schedule"
    assert datetime.fromisoformat(once_runs[0]["scheduled_for"]) == when
    assert datetime.fromisoformat(once_runs[0]["started_at"]) >= when
    fired = (await api.get(f"jobs/{once['id']}")).body
    assert fired["next_run_time"] is None, "a one-off that fired has no next run"
    assert fired["last_run"]["status"] == "success"
    for run in cron_runs:
        scheduled = datetime.fromisoformat(run["scheduled_for"])
        assert scheduled.microsecond == 0, "a seconds cron fires on whole seconds"
        assert run["triggered_by"] == "schedule"
