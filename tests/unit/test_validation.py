"""Validation through SchedulerService.create_job / update_job on a real workspace and a real
SQLite file: every bad payload is refused with a 4xx error naming the field, and nothing is
stored, neither in the job table nor in APScheduler's job store."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from unit_helpers import with_service

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.errors import (
    InvalidRequestError,
    InvalidScheduleError,
    JobNotFoundError,
    PathNotAllowedError,
    PayloadTooLargeError,
    SchedulerError,
)
from pipeline_scheduler.settings import SchedulerSettings

VALID = {"name": "Job", "pipeline_path": "ok.py", "schedule_type": "interval", "interval_seconds": 60}
CODE = "print('generated')\n"
_DROP = object()  # with_(field=_DROP) leaves the field out


def with_(**changes: Any) -> dict[str, Any]:
    body = dict(VALID)
    for key, value in changes.items():
        if value is _DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


DAILY = {"schedule_type": "date", "date_type": "daily", "run_date": "2026-01-15T07:30:00.000Z"}


def trig(*conds: tuple[str, str], op: str = "OR", **extra: Any) -> dict[str, Any]:
    return with_(
        schedule_type="trigger",
        interval_seconds=_DROP,
        logical_operator=op,
        trigger_conditions=[{"job_id": j, "on": on} for j, on in conds],
        **extra,
    )


REQ, SCHED, PATH, BIG = InvalidRequestError, InvalidScheduleError, PathNotAllowedError, PayloadTooLargeError


def bad(case_id: str, field: str, error: type[SchedulerError], body: Any, op: str = "create") -> Any:
    """One row: ``op`` is "create" (POST jobs) or "update:<A|B|C>" (PUT jobs/<id>)."""
    return pytest.param(op, body, field, error, id=case_id)


def cron(expression: str) -> dict[str, Any]:
    return with_(schedule_type="cron", cron_expression=expression)


def path(value: Any) -> dict[str, Any]:
    return with_(pipeline_path=value)


def every_days(days: Any = _DROP) -> dict[str, Any]:
    return with_(schedule_type="date", date_type="every_x_days", interval_days=days)


# "$A", "$B" and "$C" stand for the ids of the jobs every test starts with:
# A (interval), B (after A succeeds), C (after B succeeds).
BAD = [
    # bodies that are not objects
    bad("body-list", "body", REQ, []),
    bad("body-text", "body", REQ, "name=x"),
    bad("body-null", "body", REQ, None),
    bad("body-number", "body", REQ, 42),
    # schedule type
    bad("unknown-schedule-type", "schedule_type", REQ, with_(schedule_type="weekly")),
    bad("missing-schedule-type", "schedule_type", SCHED, with_(schedule_type=_DROP)),
    bad("unknown-date-type", "date_type", REQ, with_(schedule_type="date", date_type="yearly")),
    # cron
    bad("cron-bad-minute", "cron_expression", SCHED, cron("61 * * * *")),
    bad("cron-bad-weekday", "cron_expression", SCHED, cron("* * * * 9")),
    bad("cron-bad-token", "cron_expression", SCHED, cron("every day")),
    bad("cron-3-fields", "cron_expression", SCHED, cron("* * *")),
    bad("cron-7-fields", "cron_expression", SCHED, cron("0 0 0 * * * *")),
    bad("cron-never-fires", "cron_expression", SCHED, cron("0 0 30 2 *")),
    bad("cron-missing", "cron_expression", SCHED, with_(schedule_type="cron")),
    # dates
    bad("date-unparseable", "run_date", SCHED, with_(**{**DAILY, "run_date": "tomorrow at 8"})),
    bad("date-no-such-day", "run_date", SCHED, with_(**{**DAILY, "run_date": "2030-02-30T08:00:00Z"})),
    bad("once-in-the-past", "run_date", SCHED, with_(schedule_type="date", run_date="2001-01-01T00:00:00Z")),
    bad("weekly-without-date", "run_date", SCHED, with_(schedule_type="date", date_type="weekly")),
    # time zones
    bad("zone-unknown", "timezone", SCHED, with_(**DAILY, timezone="Mars/Olympus")),
    bad("zone-typo-on-interval", "timezone", SCHED, with_(timezone="Europe/Pariss")),
    # interval_seconds
    bad("seconds-0", "interval_seconds", REQ, with_(interval_seconds=0)),
    bad("seconds-negative", "interval_seconds", REQ, with_(interval_seconds=-5)),
    bad("seconds-fraction", "interval_seconds", REQ, with_(interval_seconds=1.5)),
    bad("seconds-text", "interval_seconds", REQ, with_(interval_seconds="abc")),
    bad("seconds-bool", "interval_seconds", REQ, with_(interval_seconds=True)),
    bad("seconds-huge", "interval_seconds", REQ, with_(interval_seconds=10**12)),
    bad("seconds-nan", "interval_seconds", REQ, with_(interval_seconds=float("nan"))),
    bad("seconds-missing", "interval_seconds", SCHED, with_(interval_seconds=_DROP)),
    # interval_days
    bad("days-0", "interval_days", REQ, every_days(0)),
    bad("days-negative", "interval_days", REQ, every_days(-2)),
    bad("days-huge", "interval_days", REQ, every_days(10**6)),
    bad("days-missing", "interval_days", SCHED, every_days()),
    # names and other fields
    bad("name-empty", "name", REQ, with_(name="")),
    bad("name-blank", "name", REQ, with_(name="   ")),
    bad("name-201", "name", REQ, with_(name="n" * 201)),
    bad("name-missing", "name", REQ, with_(name=_DROP)),
    bad("name-number", "name", REQ, with_(name=12)),
    bad("description-too-long", "description", REQ, with_(description="d" * 2001)),
    bad("max-instances-0", "max_instances", REQ, with_(max_instances=0)),
    bad("misfire-negative", "misfire_grace_time", REQ, with_(misfire_grace_time=-1)),
    bad("id-not-a-name", "id", REQ, with_(id="../../etc")),
    # pipeline paths
    bad("path-absolute-existing", "pipeline_path", PATH, path("$ABS_OK")),
    bad("path-absolute", "pipeline_path", PATH, path("/tmp/x.py")),
    bad("path-home", "pipeline_path", PATH, path("~/x.py")),
    bad("path-windows", "pipeline_path", PATH, path("C:\\x.py")),
    bad("path-dotdot", "pipeline_path", PATH, path("../x.py")),
    bad("path-nested-dotdot", "pipeline_path", PATH, path("a/../../x.py")),
    bad("path-symlink-out", "pipeline_path", PATH, path("evil.py")),
    bad("path-symlinked-dir-out", "pipeline_path", PATH, path("outdir/x.py")),
    bad("path-missing", "pipeline_path", PATH, path("missing.py")),
    bad("path-directory", "pipeline_path", PATH, path("etl")),
    bad("path-directory-named-py", "pipeline_path", PATH, path("folder.py")),
    bad("path-wrong-extension", "pipeline_path", PATH, path("notes.sh")),
    bad("path-nul-byte", "pipeline_path", PATH, path("ok\x00.py")),
    bad("path-scheduler-data", "pipeline_path", PATH, path(".amphi/x.py")),
    bad("path-empty", "pipeline_path", PATH, path("")),
    bad("path-not-text", "pipeline_path", REQ, path(["ok.py"])),
    bad("path-missing-field", "pipeline_path", PATH, with_(pipeline_path=_DROP)),
    # .ampln code
    bad("ampln-without-code", "python_code", REQ, path("flow.ampln")),
    bad("ampln-blank-code", "python_code", REQ, with_(pipeline_path="flow.ampln", python_code="  \n")),
    bad(
        "ampln-code-too-large", "python_code", BIG, with_(pipeline_path="flow.ampln", python_code="#" * 1025)
    ),
    # trigger conditions
    bad("trigger-unknown-job", "trigger_conditions", SCHED, trig(("job_nope", "success"))),
    bad("trigger-no-conditions", "trigger_conditions", SCHED, trig()),
    bad("trigger-bad-on", "trigger_conditions", REQ, trig(("$A", "maybe"))),
    bad("trigger-bad-operator", "logical_operator", REQ, trig(("$A", "success"), op="XOR")),
    bad("trigger-itself-on-replace", "trigger_conditions", SCHED, trig(("$B", "success"), id="$B")),
    bad("trigger-cycle-on-replace", "trigger_conditions", SCHED, trig(("$B", "success"), id="$A")),
    bad(
        "trigger-cycle-on-update",
        "trigger_conditions",
        SCHED,
        {"schedule_type": "trigger", "trigger_conditions": [{"job_id": "$B", "on": "success"}]},
        op="update:A",
    ),
    bad(
        "trigger-cycle-depth-3",
        "trigger_conditions",
        SCHED,
        {"schedule_type": "trigger", "trigger_conditions": [{"job_id": "$C", "on": "failure"}]},
        op="update:A",
    ),
    bad(
        "trigger-itself-on-update",
        "trigger_conditions",
        SCHED,
        {"trigger_conditions": [{"job_id": "$B", "on": "success"}]},
        op="update:B",
    ),
    # partial updates are checked like creations
    bad("update-seconds-0", "interval_seconds", REQ, {"interval_seconds": 0}, op="update:A"),
    bad("update-empty-name", "name", REQ, {"name": ""}, op="update:A"),
    bad("update-path-escape", "pipeline_path", PATH, {"pipeline_path": "../x.py"}, op="update:A"),
    bad("update-type-without-fields", "cron_expression", SCHED, {"schedule_type": "cron"}, op="update:A"),
    bad("update-zone", "timezone", SCHED, {"timezone": "Nowhere/City"}, op="update:A"),
    bad("update-body-list", "body", REQ, ["interval_seconds", 5], op="update:A"),
]


@pytest.fixture
def hostile_workspace(workspace: Path, tmp_path: Path) -> Path:
    """Files outside the workspace, and links inside it that point at them."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("x.py", "evil.py"):
        (outside / name).write_text("print('I must never run')\n")
    (tmp_path / "x.py").write_text("print('I must never run')\n")
    os.symlink(outside / "evil.py", workspace / "evil.py")
    os.symlink(outside, workspace / "outdir", target_is_directory=True)
    (workspace / "folder.py").mkdir()
    return workspace


def substitute(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value[1:] in ids:
        return ids[value[1:]]
    if isinstance(value, dict):
        return {k: substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    return value


async def make_base_jobs(svc: SchedulerService) -> dict[str, str]:
    a, _ = await svc.jobs.create({**VALID, "name": "A"})
    b, _ = await svc.jobs.create(
        {
            "name": "B",
            "pipeline_path": "ok.py",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": a["id"], "on": "success"}],
        }
    )
    c, _ = await svc.jobs.create(
        {
            "name": "C",
            "pipeline_path": "ok.py",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": b["id"], "on": "success"}],
        }
    )
    return {"A": a["id"], "B": b["id"], "C": c["id"]}


def aps_state(svc: SchedulerService) -> list[tuple[str, str, str]]:
    assert svc.is_active
    return sorted((j.id, str(j.trigger), str(j.next_run_time)) for j in svc.driver.scheduled_jobs())


@pytest.mark.parametrize(("operation", "body", "field", "error_type"), BAD)
def test_bad_payload_is_refused_and_nothing_is_stored(
    settings: SchedulerSettings, hostile_workspace: Path, operation, body, field, error_type
) -> None:
    async def body_fn(svc: SchedulerService) -> None:
        ids = await make_base_jobs(svc)
        ids["ABS_OK"] = str(hostile_workspace / "ok.py")
        payload = substitute(body, ids)
        jobs_before = await svc.jobs.list()
        details_before = {j: await svc.jobs.get(j) for j in ids.values() if j.startswith("job_")}
        aps_before = aps_state(svc)

        with pytest.raises(SchedulerError) as info:
            if operation == "create":
                await svc.jobs.create(payload)
            else:
                await svc.jobs.update(ids[operation.split(":")[1]], payload)

        err = info.value
        assert isinstance(err, error_type), f"{type(err).__name__}: {err.message}"
        assert 400 <= err.status_code < 500
        assert err.message.strip() and field in err.message, err.message
        assert await svc.jobs.list() == jobs_before
        assert {j: await svc.jobs.get(j) for j in details_before} == details_before
        assert aps_state(svc) == aps_before
        runs = await svc.runs.list()
        assert runs["runs"] == []

    with_service(settings, body_fn, max_code_bytes=1024)


def test_status_codes_of_the_error_families(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        with pytest.raises(InvalidRequestError) as bad:
            await svc.jobs.create(with_(interval_seconds=0))
        assert bad.value.status_code == 400
        with pytest.raises(PayloadTooLargeError) as large:
            await svc.jobs.create(with_(pipeline_path="flow.ampln", python_code="x" * 2048))
        assert large.value.status_code == 413
        with pytest.raises(JobNotFoundError) as missing:
            await svc.jobs.update("job_does_not_exist", {"name": "x"})
        assert missing.value.status_code == 404
        assert await svc.jobs.list() == []

    with_service(settings, body, max_code_bytes=1024)


def test_inline_code_can_be_switched_off(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        with pytest.raises(InvalidRequestError, match="python_code.*allow_inline_code"):
            await svc.jobs.create(with_(pipeline_path="flow.ampln", python_code=CODE))
        assert await svc.jobs.list() == []
        # .py pipelines are still accepted.
        job, created = await svc.jobs.create(VALID)
        assert created and job["pipeline_path"] == "ok.py"

    with_service(settings, body, allow_inline_code=False)


def test_only_configured_extensions_are_accepted(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        with pytest.raises(PathNotAllowedError, match="pipeline_path.*extension"):
            await svc.jobs.create(with_(pipeline_path="flow.ampln", python_code=CODE))
        job, _ = await svc.jobs.create(VALID)
        assert job["pipeline_path"] == "ok.py"

    with_service(settings, body, allowed_extensions=(".py",))


# --------------------------------------------------------------------------- accepted
GOOD = [
    pytest.param(
        {"schedule_type": "date", "date_type": "once", "run_date": "2030-01-15T08:30:00.000Z"},
        "2030-01-15T08:30:00+00:00",
        id="once",
    ),
    pytest.param(
        {
            "schedule_type": "date",
            "date_type": "daily",
            "run_date": "2026-01-15T07:30:00.000Z",
            "timezone": "Europe/Paris",
        },
        None,
        id="daily",
    ),
    pytest.param(
        {
            "schedule_type": "date",
            "date_type": "weekly",
            "run_date": "2026-01-15T20:00:00.000Z",
            "timezone": "Pacific/Auckland",
        },
        None,
        id="weekly",
    ),
    pytest.param(
        {"schedule_type": "date", "date_type": "monthly", "run_date": "2026-01-31T09:00:00.000Z"},
        None,
        id="monthly",
    ),
    pytest.param(
        {"schedule_type": "date", "date_type": "every_x_days", "interval_days": 3}, None, id="every_x_days"
    ),
    pytest.param({"schedule_type": "interval", "interval_seconds": 3600}, None, id="interval"),
    pytest.param({"schedule_type": "cron", "cron_expression": "*/5 * * * *"}, None, id="cron-5"),
    pytest.param({"schedule_type": "cron", "cron_expression": "0 30 8 * * 1-5"}, None, id="cron-6"),
    pytest.param(
        {
            "schedule_type": "trigger",
            "logical_operator": "AND",
            "trigger_conditions": [{"job_id": "$A", "on": "success"}, {"job_id": "$B", "on": "failure"}],
        },
        None,
        id="trigger",
    ),
]


@pytest.mark.parametrize(("schedule", "expected_next"), GOOD)
def test_valid_payload_of_each_type_is_accepted(settings: SchedulerSettings, schedule, expected_next) -> None:
    async def body(svc: SchedulerService) -> None:
        ids = await make_base_jobs(svc)
        payload = substitute(
            {
                "name": "New",
                "pipeline_path": "flow.ampln",
                "python_code": CODE,
                "max_instances": 2,
                "coalesce": True,
                "misfire_grace_time": 60,
                **schedule,
            },
            ids,
        )
        job, created = await svc.jobs.create(payload)
        assert created and job["id"].startswith("job_")
        # Every field sent comes back (the original frontend's field names are kept).
        for key, value in payload.items():
            assert job[key] == value, key
        assert job["schedule_description"] and job["schedule_description"] != "Unknown schedule"
        assert job["paused"] is False and job["last_run"] is None
        assert job["code_hash"] and job["pipeline_changed"] is False
        assert job["id"] in {j["id"] for j in await svc.jobs.list()}
        scheduled = {j.id: j for j in svc.driver.scheduled_jobs()}
        if schedule["schedule_type"] == "trigger":
            assert job["next_run_time"] is None and job["id"] not in scheduled
            assert job["schedule_description"] == "After 'A' succeeds AND 'B' fails"
        else:
            assert job["id"] in scheduled
            assert datetime.fromisoformat(job["next_run_time"]) == scheduled[job["id"]].next_run_time
            if expected_next:
                assert job["next_run_time"] == expected_next
        if schedule.get("timezone"):
            assert job["timezone"] == schedule["timezone"]
            assert job["next_run_time"].endswith(("+01:00", "+02:00", "+12:00", "+13:00"))

    with_service(settings, body)


def test_limits_are_inclusive(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        job, _ = await svc.jobs.create(with_(name="n" * 200, interval_seconds="3600"))
        assert len(job["name"]) == 200 and job["interval_seconds"] == 3600
        job, _ = await svc.jobs.create(with_(interval_seconds=1.0))
        assert job["interval_seconds"] == 1
        job, _ = await svc.jobs.create(with_(pipeline_path="./etl//load.py"))
        assert job["pipeline_path"] == "etl/load.py"
        assert len(await svc.jobs.list()) == 3

    with_service(settings, body)
