"""Backfills and re-runs through the real API: the fire times of a past range (across DST
changes) run oldest first with their logical time, at most ``max_active`` at once; a range
with too many fire times is refused with its count; a backfill is cancelled as a whole; a
re-run keeps the logical time and what the run was given; retries keep them too."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from api_support import SchedulerClient, interval_job

from pipeline_scheduler import api_models

SHOW_TIME = """\
import json, os
print("GOT " + json.dumps({k: os.environ.get(k) for k in ("AMPHI_SCHEDULED_FOR", "LIMIT")}))
"""


@pytest.fixture
def extension_config(db_file: Path) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "db_url": f"sqlite:///{db_file}",
        "backfill_max_runs": 30,
        "max_concurrent_runs": 4,
    }


def cron_job(name: str, expression: str, zone: str, path: str = "ok.py", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_path": path,
        "schedule_type": "cron",
        "cron_expression": expression,
        "timezone": zone,
        **extra,
    }


def _got(output: str) -> dict[str, Any]:
    line = next(line for line in output.splitlines() if line.startswith("GOT "))
    return json.loads(line[4:])  # type: ignore[no-any-return]


async def wait_backfill(api: SchedulerClient, backfill_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = await api.get(f"backfills/{backfill_id}")
        assert reply.status == 200, reply
        if reply.body["status"] in ("done", "cancelled"):
            return reply.body  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, reply.body
        await asyncio.sleep(0.1)


async def backfill_runs(api: SchedulerClient, job_id: str) -> list[dict[str, Any]]:
    return sorted(
        (r for r in await api.runs(job_id=job_id) if r["triggered_by"] == "backfill"), key=lambda r: r["id"]
    )


# Daily at 01:30 and at 02:30 in New York across the two DST changes: 01:30 happens twice
# on 2025-11-02 (the first, still EDT, fires), 02:30 does not exist on 2026-03-08 (it fires
# at the jump, 03:00 EDT). Derived by hand from the rules in schedules.py's docstring.
DST_CASES = [
    (
        "30 1 * * *",
        "2025-10-31T00:00:00-04:00",
        "2025-11-04T12:00:00-05:00",
        [
            "2025-10-31T01:30:00-04:00",
            "2025-11-01T01:30:00-04:00",
            "2025-11-02T01:30:00-04:00",
            "2025-11-03T01:30:00-05:00",
            "2025-11-04T01:30:00-05:00",
        ],
    ),
    (
        "30 2 * * *",
        "2026-03-06T00:00:00-05:00",
        "2026-03-10T12:00:00-04:00",
        [
            "2026-03-06T02:30:00-05:00",
            "2026-03-07T02:30:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:30:00-04:00",
            "2026-03-10T02:30:00-04:00",
        ],
    ),
]


@pytest.mark.parametrize(("expression", "start", "end", "expected"), DST_CASES)
async def test_a_backfill_over_a_dst_change_runs_each_fire_time_once_with_its_logical_time(
    api: SchedulerClient, workspace: Path, expression: str, start: str, end: str, expected: list[str]
) -> None:
    (workspace / "show_time.py").write_text(SHOW_TIME)
    job = await api.create_job(**cron_job("nightly", expression, "America/New_York", "show_time.py"))
    reply = await api.post(f"jobs/{job['id']}/backfill", {"start": start, "end": end, "max_active": 2})
    assert reply.status == 202, reply
    assert reply.body["total"] == len(expected) and reply.body["job_id"] == job["id"]
    done = await wait_backfill(api, reply.body["id"])
    assert done["status"] == "done" and done["counts"] == {"success": len(expected)}, done
    assert done["pending"] == 0 and done["finished_at"]

    runs = await backfill_runs(api, job["id"])
    assert [datetime.fromisoformat(r["scheduled_for"]) for r in runs] == [
        datetime.fromisoformat(t) for t in expected
    ]
    for run, want in zip(runs, expected, strict=True):
        assert run["backfill_id"] == done["id"]
        seen = _got((await api.get(f"runs/{run['id']}")).body["output"])["AMPHI_SCHEDULED_FOR"]
        assert seen == want  # the job's zone, with the offset of that day
        assert datetime.fromisoformat(seen) == datetime.fromisoformat(run["scheduled_for"])
    listed = (await api.get(f"jobs/{job['id']}/backfills")).body
    assert [b["id"] for b in listed["backfills"]] == [done["id"]]
    api_models.BackfillList.model_validate_json(json.dumps(listed))  # strict: the documented answer
    api_models.Backfill.model_validate_json(json.dumps(reply.body))


async def test_max_active_is_honoured(api: SchedulerClient, workspace: Path) -> None:
    (workspace / "nap.py").write_text("import time\ntime.sleep(0.6)\n")
    # max_instances 1 limits the job's scheduled runs, not its backfill's.
    job = await api.create_job(**cron_job("hourly", "0 * * * *", "UTC", "nap.py", max_instances=1))
    reply = await api.post(
        f"jobs/{job['id']}/backfill",
        {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T05:00:00Z", "max_active": 2},
    )
    assert reply.status == 202, reply
    done = await wait_backfill(api, reply.body["id"])
    assert done["counts"] == {"success": 6}, done
    runs = await backfill_runs(api, job["id"])
    # Oldest first: runs are recorded in the order of their fire times.
    assert [r["scheduled_for"] for r in runs] == sorted(r["scheduled_for"] for r in runs)
    edges = sorted(
        [(datetime.fromisoformat(r["started_at"]), 1) for r in runs]
        + [(datetime.fromisoformat(r["finished_at"]), -1) for r in runs],
        key=lambda e: (e[0], e[1]),
    )
    active = most = 0
    for _, step in edges:
        active += step
        most = max(most, active)
    assert most == 2


async def test_a_range_with_too_many_fire_times_is_refused_with_the_count(api: SchedulerClient) -> None:
    job = await api.create_job(**cron_job("hourly", "0 * * * *", "UTC"))
    reply = await api.post(
        f"jobs/{job['id']}/backfill", {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T23:59:00Z"}
    )
    assert reply.status == 400, reply
    assert "48" in reply.body["fields"]["end"] and "30" in reply.body["fields"]["end"], reply.body
    assert (await api.get(f"jobs/{job['id']}/backfills")).body["backfills"] == []
    assert await api.runs() == []


async def test_bad_backfills_are_refused_naming_the_field(api: SchedulerClient) -> None:
    hourly = await api.create_job(**cron_job("hourly", "0 * * * *", "UTC"))
    after = await api.create_job(
        name="after",
        pipeline_path="ok.py",
        schedule_type="trigger",
        trigger_conditions=[{"job_id": hourly["id"], "on": "success"}],
    )
    once = await api.create_job(
        name="once",
        pipeline_path="ok.py",
        schedule_type="date",
        date_type="once",
        run_date="2099-01-01T00:00:00Z",
    )
    ok = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T03:00:00Z"}
    for job_id, body, field in (
        (hourly["id"], {**ok, "end": "2026-01-01T00:00:00Z"}, "end"),  # end == start
        (hourly["id"], {**ok, "end": "2099-01-01T00:00:00Z"}, "end"),  # the future
        (hourly["id"], {**ok, "start": "2026-01-01T00:00:00"}, "start"),  # no offset
        (hourly["id"], {**ok, "start": "yesterday"}, "start"),
        (hourly["id"], {**ok, "max_active": 0}, "max_active"),
        (hourly["id"], {**ok, "max_active": 50}, "max_active"),  # beyond max_concurrent_runs
        (hourly["id"], {"end": ok["end"]}, "start"),
        (after["id"], ok, "job_id"),  # no fire times
        (once["id"], ok, "job_id"),  # a one-off
    ):
        reply = await api.post(f"jobs/{job_id}/backfill", body)
        assert reply.status == 400, (body, reply)
        assert set(reply.body["fields"]) == {field}, (body, reply.body)
    assert (await api.post("jobs/nope/backfill", ok)).status == 404
    assert (await api.get("jobs/nope/backfills")).status == 404
    assert (await api.get("backfills/999")).status == 404
    assert (await api.post("backfills/abc/cancel")).status == 404
    assert await api.runs() == []


async def test_cancel_stops_the_whole_backfill(api: SchedulerClient, workspace: Path) -> None:
    job = await api.create_job(**cron_job("hourly", "0 * * * *", "UTC", "forever.py"))
    reply = await api.post(
        f"jobs/{job['id']}/backfill", {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T05:00:00Z"}
    )
    backfill_id = reply.body["id"]
    deadline = time.monotonic() + 30
    while not any(r["status"] == "running" for r in await backfill_runs(api, job["id"])):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    cancelled = await api.post(f"backfills/{backfill_id}/cancel")
    assert cancelled.status == 200, cancelled
    assert cancelled.body["status"] == "cancelled" and cancelled.body["counts"] == {"cancelled": 1}
    assert cancelled.body["pending"] == 0
    runs = await backfill_runs(api, job["id"])
    assert [r["status"] for r in runs] == ["cancelled"]
    assert (await api.post(f"backfills/{backfill_id}/cancel")).status == 409
    # Nothing more starts: the slot freed by the cancel would start the next fire time at
    # once, well before another job's whole run has ended.
    other = await api.create_job(**interval_job("other"))
    assert (await api.run_now(other["id"]))["success"]
    assert len(await backfill_runs(api, job["id"])) == 1


async def test_a_cancel_racing_the_starts_leaves_no_run_queued_or_running(
    api: SchedulerClient, workspace: Path
) -> None:
    """Cancelled while its loop is inside a start: that run is cancelled too, not left
    queued with nothing behind it."""
    job = await api.create_job(**cron_job("hourly", "0 * * * *", "UTC", "forever.py"))
    reply = await api.post(
        f"jobs/{job['id']}/backfill",
        {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T05:00:00Z", "max_active": 4},
    )
    cancelled = await api.post(f"backfills/{reply.body['id']}/cancel")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled", cancelled
    deadline = time.monotonic() + 30
    while True:
        runs = await backfill_runs(api, job["id"])
        if not any(r["status"] in ("queued", "running") for r in runs):
            break
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.05)
    assert len(runs) <= 4 and all(r["status"] == "cancelled" for r in runs), runs
    assert (await api.get(f"backfills/{reply.body['id']}")).body["pending"] == 0


APPEND_TIME = """\
import os, time
with open("fired.txt", "a") as out:
    out.write(os.environ["AMPHI_SCHEDULED_FOR"] + "\\n")
time.sleep(0.2)
"""


async def test_deleted_and_pruned_runs_never_make_a_fire_time_pending_again(
    api: SchedulerClient, workspace: Path, scheduler_app: Any
) -> None:
    """Retention far below the backfill's size, its finished runs deleted as it goes and its
    loop moved (as a step-down and a take-over do): every fire time runs exactly once and
    ``pending`` never grows."""
    service = scheduler_app.service
    service.settings.retention_max_runs_per_job = 3
    (workspace / "append_time.py").write_text(APPEND_TIME)
    fired = workspace / "fired.txt"
    job = await api.create_job(**cron_job("hourly", "0 * * * *", "UTC", "append_time.py"))
    made = await api.post(
        f"jobs/{job['id']}/backfill",
        {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T11:00:00Z", "max_active": 2},
    )
    assert made.status == 202 and made.body["total"] == 12, made
    backfill_id = made.body["id"]
    deadline = time.monotonic() + 60

    async def lines() -> list[str]:
        return fired.read_text().splitlines() if fired.exists() else []

    while len(await lines()) < 5:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    before = (await api.get(f"backfills/{backfill_id}")).body
    await service.retention.prune()  # the runs of a backfill still running are kept
    after = (await api.get(f"backfills/{backfill_id}")).body
    assert sum(after["counts"].values()) >= sum(before["counts"].values()) > 3, (before, after)

    pending = [after["pending"]]
    service.backfills.release()  # its loop ends; the runs it started go on
    while service.backfills.running_ids():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert (await api.delete("runs", params={"job_id": job["id"]})).status == 200
    pending.append((await api.get(f"backfills/{backfill_id}")).body["pending"])
    await service.backfills.resume()
    while (now := (await api.get(f"backfills/{backfill_id}")).body)["status"] == "running":
        pending.append(now["pending"])
        assert (await api.delete("runs", params={"job_id": job["id"]})).status == 200
        await service.retention.prune()
        assert time.monotonic() < deadline, now
        await asyncio.sleep(0.1)
    assert now["status"] == "done" and now["pending"] == 0, now
    assert pending == sorted(pending, reverse=True), pending
    while any(r["status"] in ("queued", "running") for r in await api.runs(job_id=job["id"])):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    expected = [f"2026-01-01T{hour:02d}:00:00+00:00" for hour in range(12)]
    assert sorted(await lines()) == expected  # each fire time exactly once


async def test_a_rerun_keeps_the_logical_time_and_the_overrides(
    api: SchedulerClient, workspace: Path
) -> None:
    (workspace / "show_time.py").write_text(SHOW_TIME)
    job = await api.create_job(**interval_job("env", "show_time.py", parameters={"LIMIT": 1}))
    first = await api.run_now(job["id"], parameters={"LIMIT": 42})
    original = (await api.get(f"runs/{first['run_id']}")).body
    reply = await api.post(f"runs/{original['id']}/rerun")
    assert reply.status == 202, reply
    assert reply.body["triggered_by"] == "rerun" and reply.body["job_id"] == job["id"]
    again = await api.wait_run(reply.body["id"])
    assert again["overrides"] == original["overrides"] == {"parameters": {"LIMIT": 42}}
    got, want = _got(again["output"]), _got(original["output"])
    assert got == want  # the same logical time (AMPHI_SCHEDULED_FOR) and LIMIT=42
    assert datetime.fromisoformat(again["scheduled_for"]) == datetime.fromisoformat(
        want["AMPHI_SCHEDULED_FOR"]
    )

    # A backfill run's re-run stands for its fire time.
    cron = await api.create_job(**cron_job("daily", "0 6 * * *", "Europe/Paris", "show_time.py"))
    made = await api.post(
        f"jobs/{cron['id']}/backfill", {"start": "2026-01-10T00:00:00Z", "end": "2026-01-10T23:00:00Z"}
    )
    await wait_backfill(api, made.body["id"])
    (run,) = await backfill_runs(api, cron["id"])
    rerun = await api.wait_run((await api.post(f"runs/{run['id']}/rerun")).body["id"])
    assert rerun["scheduled_for"] == run["scheduled_for"]
    assert _got(rerun["output"])["AMPHI_SCHEDULED_FOR"] == "2026-01-10T06:00:00+01:00"
    assert rerun["backfill_id"] is None

    assert (await api.post("runs/99999/rerun")).status == 404


async def test_a_rerun_of_a_run_whose_job_is_gone_is_a_conflict(api: SchedulerClient, db_file: Path) -> None:
    job = await api.create_job(**interval_job("gone"))
    result = await api.run_now(job["id"])
    # Deleted by another program (the API deletes a job's runs with it).
    with sqlite3.connect(db_file) as conn:
        conn.execute("DELETE FROM pipeline_scheduler_jobs WHERE id = ?", (job["id"],))
    reply = await api.post(f"runs/{result['run_id']}/rerun")
    assert reply.status == 409, reply
    assert "deleted" in reply.body["error"]


async def test_a_retry_keeps_the_logical_time_and_the_overrides(
    api: SchedulerClient, workspace: Path
) -> None:
    (workspace / "fail_time.py").write_text(SHOW_TIME + "raise SystemExit(1)\n")
    job = await api.create_job(**interval_job("flaky", "fail_time.py", max_retries=1, retry_delay_seconds=0))
    first = await api.run_now(job["id"], parameters={"LIMIT": 7})
    deadline = time.monotonic() + 30
    while True:
        retries = [r for r in await api.runs(job_id=job["id"]) if r["triggered_by"] == "retry"]
        if retries and retries[0]["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    retry = (await api.get(f"runs/{retries[0]['id']}")).body
    original = (await api.get(f"runs/{first['run_id']}")).body
    assert retry["attempt"] == 2 and retry["overrides"] == {"parameters": {"LIMIT": 7}}
    assert _got(retry["output"]) == _got(original["output"])


async def test_deleting_the_job_cancels_its_backfill(api: SchedulerClient) -> None:
    job = await api.create_job(**cron_job("hourly", "0 * * * *", "UTC", "forever.py"))
    made = await api.post(
        f"jobs/{job['id']}/backfill", {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T05:00:00Z"}
    )
    deadline = time.monotonic() + 30
    while (await api.get(f"backfills/{made.body['id']}")).body["counts"].get("running") != 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert (await api.delete(f"jobs/{job['id']}")).status == 200
    ended = await wait_backfill(api, made.body["id"])
    assert ended["status"] == "cancelled" and "deleted" in ended["message"], ended
    assert await api.runs(job_id=job["id"]) == []


async def test_a_backfill_run_beside_a_scheduled_run_of_the_same_fire_time(
    api: SchedulerClient, db_file: Path
) -> None:
    job = await api.create_job(**cron_job("hourly", "0 * * * *", "UTC"))
    fire = datetime.fromisoformat("2026-01-01T01:00:00+00:00").timestamp()
    # The scheduler ran that fire time already (its fire key is taken).
    with sqlite3.connect(db_file) as conn:
        conn.execute(
            "INSERT INTO pipeline_scheduler_runs (id, job_id, job_name, pipeline_path, status, triggered_by,"
            " attempt, scheduled_for, created_at, log_size, log_truncated, fire_key)"
            " VALUES (900000, ?, 'hourly', 'ok.py', 'success', 'schedule', 1, ?, ?, 0, 0, ?)",
            (job["id"], fire, fire, f"{job['id']}@{fire:.6f}"),
        )
    made = await api.post(
        f"jobs/{job['id']}/backfill", {"start": "2026-01-01T01:00:00Z", "end": "2026-01-01T01:00:00+00:00"}
    )
    assert made.status == 400  # end == start: a range, not an instant
    made = await api.post(
        f"jobs/{job['id']}/backfill", {"start": "2026-01-01T00:30:00Z", "end": "2026-01-01T01:30:00Z"}
    )
    done = await wait_backfill(api, made.body["id"])
    assert done["counts"] == {"success": 1}, done
    (run,) = await backfill_runs(api, job["id"])
    assert datetime.fromisoformat(run["scheduled_for"]).timestamp() == fire
