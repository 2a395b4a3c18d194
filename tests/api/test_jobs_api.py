"""Job routes through a real server: jobs, jobs/{id}, pause/resume, schedule/preview,
validation answers and request-body errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from api_support import SchedulerClient, interval_job

JOB_FIELDS = {
    "id",
    "name",
    "pipeline_path",
    "schedule_type",
    "next_run_time",
    "trigger",
    "schedule_description",
    "paused",
    "last_run",
    "created_at",
    "updated_at",
    "timezone",
}


def _parse(ts: str) -> datetime:
    value = datetime.fromisoformat(ts)
    assert value.tzinfo is not None, f"{ts} has no UTC offset"
    return value


async def test_create_list_get_job(api: SchedulerClient) -> None:
    created = await api.create_job(**interval_job("Nightly load", seconds=3600))
    assert JOB_FIELDS <= set(created), set(created)
    assert created["id"].startswith("job_")
    assert created["name"] == "Nightly load"
    assert created["pipeline_path"] == "ok.py"
    assert created["interval_seconds"] == 3600
    assert created["paused"] is False
    assert created["last_run"] is None
    assert created["schedule_description"] == "Every hour"
    assert "interval" in created["trigger"]
    next_run = _parse(created["next_run_time"])
    now = datetime.now(timezone.utc)
    assert now + timedelta(minutes=59) < next_run <= now + timedelta(hours=1, seconds=5)

    jobs = await api.jobs()
    assert [j["id"] for j in jobs] == [created["id"]]
    assert "python_code" not in jobs[0], "the list must stay light (no generated code)"
    assert jobs[0]["next_run_time"] == created["next_run_time"]

    one = await api.get(f"jobs/{created['id']}")
    assert one.status == 200, one
    assert "python_code" in one.body
    assert {k: v for k, v in one.body.items() if k != "python_code"} == jobs[0]


async def test_jobs_are_listed_newest_first(api: SchedulerClient) -> None:
    first = await api.create_job(**interval_job("first"))
    second = await api.create_job(**interval_job("second"))
    assert [j["id"] for j in await api.jobs()] == [second["id"], first["id"]]


async def test_post_with_id_of_existing_job_replaces_it(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("before"))
    reply = await api.post(
        "jobs",
        {
            "id": job["id"],
            "name": "after",
            "pipeline_path": "fail.py",
            "schedule_type": "cron",
            "cron_expression": "*/5 * * * *",
        },
    )
    assert reply.status == 200, reply
    assert reply.body["id"] == job["id"]
    assert reply.body["name"] == "after"
    assert reply.body["pipeline_path"] == "fail.py"
    assert reply.body["schedule_type"] == "cron"
    assert "interval_seconds" not in reply.body
    assert reply.body["created_at"] == job["created_at"]
    next_run = _parse(reply.body["next_run_time"])
    assert next_run.minute % 5 == 0 and next_run.second == 0
    jobs = await api.jobs()
    assert len(jobs) == 1 and jobs[0]["name"] == "after"


async def test_post_with_new_id_creates_job_with_that_id(api: SchedulerClient) -> None:
    reply = await api.post("jobs", {**interval_job("mine"), "id": "job_custom-1"})
    assert reply.status == 201, reply
    assert reply.body["id"] == "job_custom-1"
    assert (await api.get("jobs/job_custom-1")).status == 200


async def test_put_changes_only_the_given_fields(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("old name", seconds=3600))
    renamed = await api.put(f"jobs/{job['id']}", {"name": "new name"})
    assert renamed.status == 200, renamed
    assert renamed.body["name"] == "new name"
    assert renamed.body["interval_seconds"] == 3600
    assert renamed.body["next_run_time"] == job["next_run_time"], "a rename must not reschedule"

    faster = await api.put(f"jobs/{job['id']}", {"interval_seconds": 60})
    assert faster.status == 200, faster
    assert faster.body["interval_seconds"] == 60
    assert faster.body["schedule_description"] == "Every minute"
    assert _parse(faster.body["next_run_time"]) < _parse(job["next_run_time"])

    to_cron = await api.put(
        f"jobs/{job['id']}",
        {"schedule_type": "cron", "cron_expression": "0 6 * * *", "timezone": "Europe/Paris"},
    )
    assert to_cron.status == 200, to_cron
    assert "interval_seconds" not in to_cron.body
    assert to_cron.body["timezone"] == "Europe/Paris"
    local = _parse(to_cron.body["next_run_time"]).astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (6, 0)
    assert (await api.get(f"jobs/{job['id']}")).body["name"] == "new name"


async def test_delete_job_removes_it_and_its_runs(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job())
    keep = await api.create_job(**interval_job("keep"))
    await api.run_now(job["id"])
    await api.run_now(keep["id"])
    reply = await api.delete(f"jobs/{job['id']}")
    assert reply.status == 200 and reply.body == {"success": True}, reply
    assert (await api.get(f"jobs/{job['id']}")).status == 404
    assert [j["id"] for j in await api.jobs()] == [keep["id"]]
    assert [r["job_id"] for r in await api.runs()] == [keep["id"]]


async def test_delete_job_that_triggers_another_is_refused(api: SchedulerClient) -> None:
    upstream = await api.create_job(**interval_job("upstream"))
    await api.create_job(
        name="downstream",
        pipeline_path="ok.py",
        schedule_type="trigger",
        trigger_conditions=[{"job_id": upstream["id"], "on": "success"}],
    )
    reply = await api.delete(f"jobs/{upstream['id']}")
    assert reply.status == 409, reply
    assert "downstream" in reply.body["error"]
    assert len(await api.jobs()) == 2


async def test_pause_and_resume(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job())
    paused = await api.post(f"jobs/{job['id']}/pause")
    assert paused.status == 200, paused
    assert paused.body["paused"] is True
    assert paused.body["next_run_time"] is None
    listed = (await api.jobs())[0]
    assert listed["paused"] is True and listed["next_run_time"] is None

    resumed = await api.post(f"jobs/{job['id']}/resume")
    assert resumed.status == 200, resumed
    assert resumed.body["paused"] is False
    assert _parse(resumed.body["next_run_time"]) > datetime.now(timezone.utc)


async def test_job_created_paused_has_no_next_run(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job(paused=True))
    assert job["paused"] is True and job["next_run_time"] is None
    resumed = await api.post(f"jobs/{job['id']}/resume")
    assert resumed.body["next_run_time"] is not None, resumed


async def test_trigger_job_answers_its_conditions(api: SchedulerClient) -> None:
    upstream = await api.create_job(**interval_job("Extract"))
    job = await api.create_job(
        name="Load",
        pipeline_path="ok.py",
        schedule_type="trigger",
        logical_operator="and",
        trigger_conditions=[{"job_id": upstream["id"], "on": "failure"}],
    )
    assert job["next_run_time"] is None
    assert job["logical_operator"] == "AND"
    assert job["trigger_conditions"] == [{"job_id": upstream["id"], "on": "failure"}]
    assert job["schedule_description"] == "After 'Extract' fails"


# ---------------------------------------------------------------- schedule/preview
async def test_preview_describes_cron_and_gives_five_times(api: SchedulerClient) -> None:
    reply = await api.post(
        "schedule/preview",
        {"schedule_type": "cron", "cron_expression": "30 8 * * 1-5", "timezone": "Europe/Paris"},
    )
    assert reply.status == 200, reply
    body = reply.body
    assert set(body) >= {"description", "trigger", "next_run_times", "timezone"}
    assert "08:30" in body["description"] and "Europe/Paris" in body["description"]
    assert body["timezone"] == "Europe/Paris"
    times = [_parse(t) for t in body["next_run_times"]]
    assert len(times) == 5
    assert times == sorted(set(times))
    paris = ZoneInfo("Europe/Paris")
    for t in times:
        local = t.astimezone(paris)
        assert (local.hour, local.minute) == (8, 30)
        assert local.weekday() < 5, f"{local} is a weekend day"
    assert await api.jobs() == [], "a preview must not create a job"


async def test_preview_interval_is_evenly_spaced(api: SchedulerClient) -> None:
    reply = await api.post("schedule/preview", {"schedule_type": "interval", "interval_seconds": 90})
    assert reply.status == 200, reply
    times = [_parse(t) for t in reply.body["next_run_times"]]
    assert len(times) == 5
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {timedelta(seconds=90)}
    assert reply.body["description"] == "Every 90 seconds"


async def test_preview_daily_uses_wall_clock_of_the_zone(api: SchedulerClient) -> None:
    # 07:15 UTC in January is 08:15 in Paris: the job fires at 08:15 Paris time every day.
    reply = await api.post(
        "schedule/preview",
        {
            "schedule_type": "date",
            "date_type": "daily",
            "run_date": "2030-01-15T07:15:00.000Z",
            "timezone": "Europe/Paris",
        },
    )
    assert reply.status == 200, reply
    assert reply.body["description"] == "Every day at 08:15 (Europe/Paris)"
    locals_ = [_parse(t).astimezone(ZoneInfo("Europe/Paris")) for t in reply.body["next_run_times"]]
    assert len(locals_) == 5
    assert {(t.hour, t.minute) for t in locals_} == {(8, 15)}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"schedule_type": "cron", "cron_expression": "61 * * * *"}, "cron_expression"),
        ({"schedule_type": "cron", "cron_expression": "* * *"}, "cron_expression"),
        ({"schedule_type": "interval", "interval_seconds": 0}, "interval_seconds"),
        ({"schedule_type": "weekly"}, "schedule_type"),
        ({}, "schedule_type"),
        ({"schedule_type": "date", "date_type": "daily", "run_date": "tomorrow"}, "run_date"),
        ({"schedule_type": "cron", "cron_expression": "0 8 * * *", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
async def test_preview_refuses_invalid_schedules(
    api: SchedulerClient, payload: dict[str, Any], field: str
) -> None:
    reply = await api.post("schedule/preview", payload)
    assert reply.status == 400, reply
    assert field in reply.body["error"], reply


# ---------------------------------------------------------------- validation table
ONE_HOUR_AGO = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()

BAD_JOBS: list[tuple[str, dict[str, Any], str]] = [
    ("interval zero", interval_job(seconds=0), "interval_seconds"),
    ("interval negative", interval_job(seconds=-5), "interval_seconds"),
    ("interval fraction", {**interval_job(), "interval_seconds": 1.5}, "interval_seconds"),
    ("interval text", {**interval_job(), "interval_seconds": "soon"}, "interval_seconds"),
    ("interval absurd", interval_job(seconds=10**12), "interval_seconds"),
    ("interval missing", {**interval_job(), "interval_seconds": None}, "interval_seconds"),
    ("path escapes", interval_job(path="../x.py"), "pipeline_path"),
    ("path absolute", interval_job(path="/etc/passwd"), "pipeline_path"),
    ("path missing file", interval_job(path="nope/missing.py"), "pipeline_path"),
    ("path bad extension", interval_job(path="notes.sh"), "pipeline_path"),
    ("path empty", interval_job(path=""), "pipeline_path"),
    ("unknown zone", interval_job(timezone="Europe/Atlantis"), "timezone"),
    (
        "bad cron",
        {"name": "c", "pipeline_path": "ok.py", "schedule_type": "cron", "cron_expression": "*/5 * * *"},
        "cron_expression",
    ),
    (
        "cron out of range",
        {"name": "c", "pipeline_path": "ok.py", "schedule_type": "cron", "cron_expression": "0 25 * * *"},
        "cron_expression",
    ),
    (
        "unknown schedule type",
        {"name": "c", "pipeline_path": "ok.py", "schedule_type": "hourly"},
        "schedule_type",
    ),
    ("no schedule type", {"name": "c", "pipeline_path": "ok.py"}, "schedule_type"),
    (
        "unparseable date",
        {
            "name": "d",
            "pipeline_path": "ok.py",
            "schedule_type": "date",
            "date_type": "once",
            "run_date": "next tuesday",
        },
        "run_date",
    ),
    (
        "once in the past",
        {
            "name": "d",
            "pipeline_path": "ok.py",
            "schedule_type": "date",
            "date_type": "once",
            "run_date": ONE_HOUR_AGO,
        },
        "run_date",
    ),
    (
        "every 0 days",
        {
            "name": "d",
            "pipeline_path": "ok.py",
            "schedule_type": "date",
            "date_type": "every_x_days",
            "interval_days": 0,
        },
        "interval_days",
    ),
    ("empty name", {**interval_job(), "name": ""}, "name"),
    ("name too long", {**interval_job(), "name": "x" * 201}, "name"),
    (
        "trigger unknown job",
        {
            "name": "t",
            "pipeline_path": "ok.py",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": "job_nope", "on": "success"}],
        },
        "trigger_conditions",
    ),
    (
        "trigger no conditions",
        {"name": "t", "pipeline_path": "ok.py", "schedule_type": "trigger", "trigger_conditions": []},
        "trigger_conditions",
    ),
    (
        "trigger bad 'on'",
        {
            "name": "t",
            "pipeline_path": "ok.py",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": "x", "on": "maybe"}],
        },
        "trigger_conditions",
    ),
]


@pytest.mark.parametrize(("payload", "field"), [c[1:] for c in BAD_JOBS], ids=[c[0] for c in BAD_JOBS])
async def test_invalid_job_is_refused_and_nothing_is_stored(
    api: SchedulerClient, payload: dict[str, Any], field: str
) -> None:
    existing = await api.create_job(**interval_job("existing"))
    before = await api.jobs()
    reply = await api.post("jobs", payload)
    assert reply.status == 400, reply
    assert isinstance(reply.body, dict) and set(reply.body) == {"error", "fields"}, reply
    assert field in reply.body["error"], f"error should name {field!r}: {reply.body['error']}"
    assert field in reply.body["fields"], reply.body  # the client places it at the field
    assert await api.jobs() == before

    # The same payload as a replacement of an existing job changes nothing either.
    replaced = await api.post("jobs", {**payload, "id": existing["id"]})
    assert replaced.status == 400, replaced
    assert await api.jobs() == before


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"interval_seconds": 0}, "interval_seconds"),
        ({"pipeline_path": "../x.py"}, "pipeline_path"),
        ({"timezone": "Nowhere/Town"}, "timezone"),
        ({"schedule_type": "cron", "cron_expression": "bad cron"}, "cron_expression"),
        ({"name": ""}, "name"),
    ],
)
async def test_invalid_update_is_refused_and_job_unchanged(
    api: SchedulerClient, patch: dict[str, Any], field: str
) -> None:
    job = await api.create_job(**interval_job())
    reply = await api.put(f"jobs/{job['id']}", patch)
    assert reply.status == 400, reply
    assert field in reply.body["error"], reply
    assert (await api.get(f"jobs/{job['id']}")).body == {**job}


async def test_trigger_cycle_is_refused(api: SchedulerClient) -> None:
    a = await api.create_job(**interval_job("A"))
    b = await api.create_job(
        name="B",
        pipeline_path="ok.py",
        schedule_type="trigger",
        trigger_conditions=[{"job_id": a["id"], "on": "success"}],
    )
    reply = await api.put(
        f"jobs/{a['id']}",
        {"schedule_type": "trigger", "trigger_conditions": [{"job_id": b["id"], "on": "success"}]},
    )
    assert reply.status == 400, reply
    assert "cycle" in reply.body["error"]
    self_ref = await api.put(
        f"jobs/{b['id']}", {"trigger_conditions": [{"job_id": b["id"], "on": "success"}]}
    )
    assert self_ref.status == 400, self_ref
    assert "itself" in self_ref.body["error"]
    assert (await api.get(f"jobs/{a['id']}")).body["schedule_type"] == "interval"


# ---------------------------------------------------------------- unknown ids and routes
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "jobs/job_missing"),
        ("PUT", "jobs/job_missing"),
        ("DELETE", "jobs/job_missing"),
        ("POST", "jobs/job_missing/pause"),
        ("POST", "jobs/job_missing/resume"),
        ("POST", "run/job_missing"),
        ("GET", "runs/999999"),
        ("DELETE", "runs/999999"),
        ("GET", "runs/999999/log"),
        ("POST", "runs/999999/cancel"),
        ("GET", "runs/abc"),
        ("DELETE", "runs/abc"),
        ("GET", "runs/abc/log"),
        ("POST", "runs/-1/cancel"),
        ("GET", "no-such-route"),
    ],
)
async def test_unknown_ids_answer_404_json(api: SchedulerClient, method: str, path: str) -> None:
    await api.create_job(**interval_job())
    body = {"name": "x"} if method == "PUT" else None
    reply = await api.request(method, path, body)
    assert reply.status == 404, reply
    assert isinstance(reply.body, dict) and reply.body.get("error"), reply


# ---------------------------------------------------------------- malformed bodies
BODY_ROUTES = [
    ("POST", "jobs"),
    ("PUT", "jobs/{job}"),
    ("POST", "schedule/preview"),
    ("POST", "run/{job}"),
    ("POST", "components-config"),
    ("POST", "components-file"),
]
BAD_BODIES: dict[str, str | bytes] = {
    "not json": "{not json",
    "array": "[1, 2, 3]",
    "string": '"just text"',
    "number": "42",
    "null": "null",
    "bad utf-8": b"\xff\xfe{}",
}


@pytest.mark.parametrize(("method", "route"), BODY_ROUTES)
async def test_malformed_bodies_answer_400_json(api: SchedulerClient, method: str, route: str) -> None:
    job = await api.create_job(**interval_job())
    before = await api.jobs()
    path = route.format(job=job["id"])
    for label, raw in BAD_BODIES.items():
        reply = await api.request(method, path, raw=raw)
        assert reply.status == 400, (label, reply)
        assert isinstance(reply.body, dict) and reply.body.get("error"), (label, reply)
    assert await api.jobs() == before
    assert await api.runs() == []


async def test_empty_body_is_refused_where_a_body_is_required(api: SchedulerClient) -> None:
    reply = await api.post("jobs")
    assert reply.status == 400, reply
    assert "empty" in reply.body["error"]


async def test_oversized_body_answers_413(api: SchedulerClient) -> None:
    reply = await api.post("jobs", raw=b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}')
    assert reply.status == 413, reply
    assert "error" in reply.body


async def test_put_paused_keeps_the_interval_countdown(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job(seconds=3600))
    paused = await api.put(f"jobs/{job['id']}", {"paused": True})
    assert paused.status == 200, paused
    assert paused.body["paused"] is True and paused.body["next_run_time"] is None
    assert (await api.jobs())[0]["next_run_time"] is None
    resumed = await api.put(f"jobs/{job['id']}", {"paused": False, "description": "hourly export"})
    assert resumed.status == 200, resumed
    assert resumed.body["paused"] is False
    assert resumed.body["description"] == "hourly export"
    assert resumed.body["next_run_time"] == job["next_run_time"]


async def test_put_options_reach_the_scheduler(api: SchedulerClient, scheduler_app: Any) -> None:
    job = await api.create_job(**interval_job(seconds=3600))
    reply = await api.put(f"jobs/{job['id']}", {"misfire_grace_time": 300, "coalesce": False})
    assert reply.status == 200, reply
    assert reply.body["misfire_grace_time"] == 300 and reply.body["coalesce"] is False
    assert reply.body["next_run_time"] == job["next_run_time"]
    # Not visible in any answer, but it decides whether a late run still starts.
    scheduled = scheduler_app.service.driver.scheduled_job(job["id"])
    assert scheduled.misfire_grace_time == 300
    assert scheduled.coalesce is False
