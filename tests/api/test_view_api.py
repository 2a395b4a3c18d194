"""Routes of the Scheduler view through a real server: run strips (``runs/recent``), a
job's next fire times (``jobs/{id}/next_runs``) and the runs timeline (``runs/timeline``).
Answers are validated against the strict answer models."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from api_support import SchedulerClient, interval_job
from pydantic import BaseModel
from sqlalchemy import insert

from pipeline_scheduler import api_models
from pipeline_scheduler.store import runs_table

NO_CREDENTIALS = {"Authorization": ""}


def check(model: type[BaseModel], body: Any) -> Any:
    model.model_validate_json(json.dumps(body))
    return body


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def iso_z(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


async def insert_runs(api: SchedulerClient, scheduler_app: Any, rows: list[dict[str, Any]]) -> None:
    """History written straight into the store (a real SQLite file), for ranges and scale."""
    assert (await api.get("config")).status == 200  # the service starts with its first request
    with scheduler_app.service.store.engine.begin() as conn:
        conn.execute(insert(runs_table), rows)


def run_row(run_id: int, job_id: str, created: float, seconds: float, status: str = "success") -> dict:
    return {
        "id": run_id,
        "job_id": job_id,
        "job_name": job_id,
        "pipeline_path": "ok.py",
        "status": status,
        "triggered_by": "schedule",
        "attempt": 1,
        "created_at": created,
        "started_at": created + 0.5 if status != "queued" else None,
        "finished_at": created + seconds if status not in ("queued", "running") else None,
        "log_size": 0,
        "log_truncated": False,
    }


# -- run strips ---------------------------------------------------------------------------


async def test_recent_runs_answers_each_jobs_newest_runs_first(api: SchedulerClient) -> None:
    ok = await api.create_job(**interval_job("ok"))
    failing = await api.create_job(**interval_job("failing", path="fail.py"))
    idle = await api.create_job(**interval_job("idle"))
    ok_runs = [(await api.run_now(ok["id"]))["run_id"] for _ in range(3)]
    fail_run = (await api.run_now(failing["id"]))["run_id"]

    ids = f"{ok['id']},{failing['id']},{idle['id']},job_unknown"
    reply = await api.get("runs/recent", params={"job_ids": ids, "per_job": "2"})
    assert reply.status == 200, reply
    body = check(api_models.RecentRuns, reply.body)["runs_by_job"]
    assert set(body) == {ok["id"], failing["id"], idle["id"], "job_unknown"}
    assert [r["id"] for r in body[ok["id"]]] == sorted(ok_runs, reverse=True)[:2]
    assert [(r["id"], r["status"]) for r in body[failing["id"]]] == [(fail_run, "failure")]
    assert body[idle["id"]] == [] and body["job_unknown"] == []
    newest = body[ok["id"]][0]
    assert newest["status"] == "success" and newest["triggered_by"] == "manual"
    assert newest["duration_seconds"] is not None and newest["duration_seconds"] >= 0
    assert instant(newest["created_at"]) <= instant(newest["started_at"]) <= instant(newest["finished_at"])

    # per_job defaults to 20: all three runs of "ok".
    reply = await api.get("runs/recent", params={"job_ids": ok["id"]})
    assert [r["id"] for r in reply.body["runs_by_job"][ok["id"]]] == sorted(ok_runs, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "job_ids"),
        ({"job_ids": ",,"}, "job_ids"),
        ({"job_ids": ",".join(f"job_{i}" for i in range(201))}, "job_ids"),
        ({"job_ids": "job_a", "per_job": "0"}, "per_job"),
        ({"job_ids": "job_a", "per_job": "101"}, "per_job"),
        ({"job_ids": "job_a", "per_job": "many"}, "per_job"),
    ],
)
async def test_recent_runs_refuses_bad_input(
    api: SchedulerClient, params: dict[str, str], field: str
) -> None:
    reply = await api.get("runs/recent", params=params)
    assert reply.status == 400, reply
    check(api_models.Error, reply.body)
    assert field in reply.body["fields"], reply


async def test_recent_runs_of_50_jobs_among_100000_runs(
    api: SchedulerClient, scheduler_app: Any, figure: Any
) -> None:
    """The (job_id, id) index keeps the strips of one screen cheap at any history size."""
    jobs = [f"job_bulk{j:03d}" for j in range(500)]
    start = time.time() - 200 * 3600
    rows = [run_row(i + 1, jobs[i % 500], start + i * 7, 3) for i in range(100_000)]
    await insert_runs(api, scheduler_app, rows)
    asked = jobs[100:150]
    store = scheduler_app.service.store
    store.recent_runs_by_job(asked, 20)  # warm the page cache, as a scrolling table does
    took = []
    for _ in range(5):
        t0 = time.perf_counter()
        found = store.recent_runs_by_job(asked, 20)
        took.append(time.perf_counter() - t0)
    figure("runs/recent store read, 50 jobs x 20 of 100,000 runs", f"{min(took) * 1000:.1f} ms")
    expected = {j: [r["id"] for r in reversed(rows) if r["job_id"] == j][:20] for j in asked}
    assert {j: [r["id"] for r in found[j]] for j in asked} == expected

    t0 = time.perf_counter()
    day = store.runs_overlapping(time.time() - 86400, time.time(), 2001)
    took_ms = (time.perf_counter() - t0) * 1000
    figure("runs/timeline store read, last 24 h of 100,000 runs", f"{took_ms:.1f} ms")
    assert len(day) == 2001  # a run every 7 s: the limit (and truncated) bound the answer

    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        reply = await api.get("runs/recent", params={"job_ids": ",".join(asked)})
        timings.append((time.perf_counter() - t0) * 1000)
    figure("GET runs/recent, 50 jobs of 100,000 runs (3 calls)", ", ".join(f"{t:.1f} ms" for t in timings))
    assert reply.status == 200, reply
    assert {j: [r["id"] for r in reply.body["runs_by_job"][j]] for j in asked} == expected


# -- next fire times ----------------------------------------------------------------------


async def test_next_runs_of_an_interval_job_keep_its_countdown(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("hourly", seconds=3600))
    reply = await api.get(f"jobs/{job['id']}/next_runs", params={"count": "10"})
    assert reply.status == 200, reply
    body = check(api_models.JobNextRuns, reply.body)
    times = [instant(t) for t in body["next_run_times"]]
    assert len(times) == 10
    assert times[0] == instant(job["next_run_time"])
    assert all(b - a == timedelta(hours=1) for a, b in zip(times, times[1:], strict=False))
    assert body["paused"] is False and body["description"] == job["schedule_description"]

    default = await api.get(f"jobs/{job['id']}/next_runs")
    assert len(default.body["next_run_times"]) == 10


async def test_next_runs_of_a_daily_job_in_its_zone(api: SchedulerClient) -> None:
    job = await api.create_job(
        name="daily",
        pipeline_path="ok.py",
        schedule_type="date",
        date_type="daily",
        run_date="2030-01-15T07:30:00.000Z",
        timezone="Europe/Paris",
    )
    reply = await api.get(f"jobs/{job['id']}/next_runs", params={"count": "5"})
    times = [instant(t) for t in reply.body["next_run_times"]]
    assert len(times) == 5 and reply.body["timezone"] == "Europe/Paris"
    assert all((t.hour, t.minute) == (8, 30) for t in times)  # 07:30 UTC is 08:30 in Paris (winter)
    assert [t.date() for t in times] == [times[0].date() + timedelta(days=k) for k in range(5)]


async def test_next_runs_of_paused_and_trigger_jobs(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("paused", seconds=600))
    await api.post(f"jobs/{job['id']}/pause")
    reply = await api.get(f"jobs/{job['id']}/next_runs", params={"count": "3"})
    assert reply.status == 200 and reply.body["paused"] is True
    times = [instant(t) for t in reply.body["next_run_times"]]
    assert len(times) == 3 and times[0] > datetime.now(timezone.utc)

    chained = await api.create_job(
        name="after",
        pipeline_path="ok.py",
        schedule_type="trigger",
        trigger_conditions=[{"job_id": job["id"], "on": "success"}],
    )
    reply = await api.get(f"jobs/{chained['id']}/next_runs")
    assert reply.status == 200 and reply.body["next_run_times"] == []


@pytest.mark.parametrize("count", ["0", "51", "ten", "-1"])
async def test_next_runs_refuses_a_bad_count(api: SchedulerClient, count: str) -> None:
    job = await api.create_job(**interval_job("hourly"))
    reply = await api.get(f"jobs/{job['id']}/next_runs", params={"count": count})
    assert reply.status == 400, reply
    assert "count" in check(api_models.Error, reply.body)["fields"]


async def test_next_runs_of_an_unknown_job(api: SchedulerClient) -> None:
    reply = await api.get("jobs/job_nope/next_runs")
    assert reply.status == 404, reply
    assert "job_nope" in reply.body["error"]


# -- timeline -----------------------------------------------------------------------------


async def test_timeline_answers_runs_overlapping_the_range(api: SchedulerClient, scheduler_app: Any) -> None:
    now = time.time()
    hour = 3600.0
    await insert_runs(
        api,
        scheduler_app,
        [
            run_row(1, "job_a", now - 30 * hour, 60),  # long before the range
            run_row(2, "job_a", now - 25 * hour, 2 * hour),  # starts before, ends inside
            run_row(3, "job_b", now - 3 * hour, 600, "failure"),  # inside
            run_row(4, "job_b", now - 60, 0, "running"),  # still going
            run_row(5, "job_c", now - 10, 0, "queued"),  # waiting
        ],
    )
    reply = await api.get("runs/timeline", params={"since": iso_z(datetime.fromtimestamp(now - 24 * hour))})
    assert reply.status == 200, reply
    body = check(api_models.RunTimeline, reply.body)
    assert [r["id"] for r in body["runs"]] == [5, 4, 3, 2]
    assert body["truncated"] is False
    running = body["runs"][1]
    assert running["status"] == "running" and running["finished_at"] is None
    queued = body["runs"][0]
    assert queued["started_at"] is None

    # A range in the past holds only what overlapped it; the limit truncates.
    reply = await api.get(
        "runs/timeline",
        params={
            "since": iso_z(datetime.fromtimestamp(now - 31 * hour)),
            "until": iso_z(datetime.fromtimestamp(now - 24.5 * hour)),
        },
    )
    assert [r["id"] for r in reply.body["runs"]] == [2, 1]
    since = iso_z(datetime.fromtimestamp(now - 100 * 86400))
    reply = await api.get("runs/timeline", params={"since": since, "limit": "2"})
    assert [r["id"] for r in reply.body["runs"]] == [5, 4] and reply.body["truncated"] is True

    # Default: the last 24 hours.
    reply = await api.get("runs/timeline")
    assert [r["id"] for r in reply.body["runs"]] == [5, 4, 3, 2]
    assert instant(reply.body["until"]) - instant(reply.body["since"]) == timedelta(hours=24)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2030-01-01T00:00:00"}, "since"),  # no offset
        ({"until": "2030-13-01T00:00:00Z"}, "until"),
        ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, "since"),
        ({"since": "2000-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, "since"),  # too long
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
    ],
)
async def test_timeline_refuses_bad_input(api: SchedulerClient, params: dict[str, str], field: str) -> None:
    reply = await api.get("runs/timeline", params=params)
    assert reply.status == 400, reply
    assert field in check(api_models.Error, reply.body)["fields"], reply


# -- authentication -----------------------------------------------------------------------


async def test_view_routes_refuse_requests_without_credentials(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("secret"))
    run_id = (await api.run_now(job["id"]))["run_id"]
    for path, params in [
        ("runs/recent", {"job_ids": job["id"]}),
        (f"jobs/{job['id']}/next_runs", None),
        ("runs/timeline", None),
    ]:
        reply = await api.get(path, params=params, headers=dict(NO_CREDENTIALS))
        assert reply.status == 403, (path, reply)
        assert reply.body["error"], reply
        assert str(run_id) not in json.dumps(reply.body)
