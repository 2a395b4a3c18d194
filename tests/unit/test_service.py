"""SchedulerService on a real temporary workspace and SQLite file, with real pipelines: jobs,
runs, trigger chains, persistence across a restart, logs, .ampln snapshots, the scheduler."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from unit_helpers import FINAL, finished_runs, wait_until, with_service

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.errors import ConflictError, InvalidScheduleError, JobNotFoundError, RunNotFoundError
from pipeline_scheduler.settings import SchedulerSettings

CODE = "import os\nprint('from stored code')\nprint(os.getcwd())\n"


def spec(name: str, path: str = "ok.py", **schedule: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "pipeline_path": path}
    body.update(schedule or {"schedule_type": "cron", "cron_expression": "0 3 * * *"})
    return body


def after(name: str, *conds: tuple[str, str], op: str = "OR", path: str = "ok.py") -> dict[str, Any]:
    return spec(
        name,
        path,
        schedule_type="trigger",
        logical_operator=op,
        trigger_conditions=[{"job_id": j, "on": on} for j, on in conds],
    )


async def create(svc: SchedulerService, body: dict[str, Any]) -> str:
    job, created = await svc.jobs.create(body)
    assert created
    return job["id"]


async def wait_runs(
    svc: SchedulerService, job_id: str, count: int, timeout: float = 15
) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        runs = await finished_runs(svc, job_id)
        return runs if len(runs) >= count else None

    return await wait_until(enough, timeout)


async def settle(svc: SchedulerService, timeout: float = 15) -> None:
    """Wait until no run is queued or running, twice in a row a little apart (a finished run
    fires its dependents a few database calls after it is recorded)."""

    async def idle() -> bool:
        for _ in range(2):
            runs = (await svc.runs.list(statuses=["queued", "running"]))["runs"]
            if runs:
                return False
            await asyncio.sleep(0.25)
        return True

    await wait_until(idle, timeout)


async def run_count(svc: SchedulerService, job_id: str) -> int:
    return len((await svc.runs.list(job_id=job_id))["runs"])


# --------------------------------------------------------------------------- jobs
def test_create_get_list_update_replace_pause_resume_delete(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        job, created = await svc.jobs.create(
            spec("Hourly", schedule_type="interval", interval_seconds=3600, description="load")
        )
        assert created
        job_id = job["id"]
        got = await svc.jobs.get(job_id)
        assert got == job
        assert got["python_code"] is None  # .py jobs have no stored code
        assert got["trigger"] == "interval[1:00:00]" and got["schedule_description"] == "Every hour"
        first_next = got["next_run_time"]
        assert first_next is not None

        other_id = await create(
            svc,
            spec(
                "Daily",
                schedule_type="date",
                date_type="daily",
                run_date="2026-01-15T07:30:00Z",
                timezone="Europe/Paris",
            ),
        )
        listed = await svc.jobs.list()
        assert [j["id"] for j in listed] == [other_id, job_id]  # newest first
        assert all("python_code" not in j for j in listed)
        assert listed[1]["next_run_time"] == first_next

        # PUT, partial: only the name changes; the schedule and its next fire time stay.
        renamed = await svc.jobs.update(job_id, {"name": "Hourly load"})
        assert renamed["name"] == "Hourly load"
        assert renamed["interval_seconds"] == 3600 and renamed["description"] == "load"
        assert renamed["next_run_time"] == first_next
        assert renamed["created_at"] == job["created_at"]
        assert svc.driver.scheduled_job(job_id).name == "Hourly load"

        # PUT with a schedule field reschedules.
        faster = await svc.jobs.update(job_id, {"interval_seconds": 60})
        assert faster["trigger"] == "interval[0:01:00]" and faster["name"] == "Hourly load"
        assert faster["next_run_time"] < first_next

        # PUT changing the schedule type drops the fields of the old type.
        as_cron = await svc.jobs.update(job_id, {"schedule_type": "cron", "cron_expression": "0 6 * * 1-5"})
        assert as_cron["cron_expression"] == "0 6 * * 1-5"
        assert "interval_seconds" not in as_cron
        assert "0 6 * * 1-5" in str(svc.driver.scheduled_job(job_id).trigger)

        # POST with the id of an existing job replaces it (created is False, same id).
        replaced, created = await svc.jobs.create(
            {**spec("Replaced", "etl/load.py", schedule_type="interval", interval_seconds=7200), "id": job_id}
        )
        assert not created and replaced["id"] == job_id
        assert replaced["name"] == "Replaced" and replaced["pipeline_path"] == "etl/load.py"
        assert replaced["interval_seconds"] == 7200 and "cron_expression" not in replaced
        assert "description" not in replaced  # a replacement is a whole new specification
        assert replaced["created_at"] == job["created_at"]
        assert len(await svc.jobs.list()) == 2

        # Pause and resume.
        paused = await svc.jobs.set_paused(job_id, True)
        assert paused["paused"] is True and paused["next_run_time"] is None
        assert svc.driver.scheduled_job(job_id).next_run_time is None
        resumed = await svc.jobs.set_paused(job_id, False)
        assert resumed["paused"] is False and resumed["next_run_time"] is not None
        assert svc.driver.scheduled_job(job_id).next_run_time is not None

        # A job created paused is stored paused and does not fire.
        idle = await create(
            svc, {**spec("Idle", schedule_type="interval", interval_seconds=5), "paused": True}
        )
        assert (await svc.jobs.get(idle))["next_run_time"] is None
        assert svc.driver.scheduled_job(idle).next_run_time is None

        # Delete.
        await svc.jobs.delete(job_id)
        with pytest.raises(JobNotFoundError) as missing:
            await svc.jobs.get(job_id)
        assert missing.value.status_code == 404 and job_id in missing.value.message
        assert svc.driver.scheduled_job(job_id) is None
        assert {j["id"] for j in await svc.jobs.list()} == {other_id, idle}
        with pytest.raises(JobNotFoundError):
            await svc.jobs.delete(job_id)
        with pytest.raises(JobNotFoundError):
            await svc.jobs.set_paused(job_id, True)

    with_service(settings, body)


def test_a_job_that_others_depend_on_cannot_be_deleted(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        a = await create(svc, spec("Upstream"))
        b = await create(svc, after("Downstream", (a, "success")))
        with pytest.raises(ConflictError) as info:
            await svc.jobs.delete(a)
        assert info.value.status_code == 409 and "'Downstream'" in info.value.message
        assert {j["id"] for j in await svc.jobs.list()} == {a, b}
        await svc.jobs.delete(b)
        await svc.jobs.delete(a)
        assert await svc.jobs.list() == []

    with_service(settings, body)


def test_trigger_jobs_describe_their_upstream_by_name(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        a = await create(svc, spec("Extract"))
        b = await create(svc, spec("Clean"))
        c = await create(svc, after("Report", (a, "success"), (b, "failure"), op="and"))
        job = await svc.jobs.get(c)
        assert job["logical_operator"] == "AND"
        assert job["schedule_description"] == "After 'Extract' succeeds AND 'Clean' fails"
        assert job["next_run_time"] is None and job["trigger"] == "trigger"
        assert svc.driver.scheduled_job(c) is None
        await svc.jobs.update(a, {"name": "Extract v2"})
        assert "'Extract v2' succeeds" in (await svc.jobs.get(c))["schedule_description"]

    with_service(settings, body)


# --------------------------------------------------------------------------- running
def test_pipeline_reads_its_relative_data_file(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> dict[str, Any]:
        job_id = await create(svc, spec("Load", "etl/load.py"))
        result, finished = await svc.runs.run_now(job_id)
        assert finished
        return result

    result = with_service(settings, body)
    assert result["success"] is True, result["error"]
    assert result["output"] == "loaded 3 customers\n"


def test_run_now_waits_and_answers_the_original_shape(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        ok = await create(svc, spec("OK"))
        t0 = time.monotonic()
        result, finished = await svc.runs.run_now(ok)
        assert finished and time.monotonic() - t0 < 10
        assert set(result) == {"success", "output", "error", "exit_code", "run_id"}
        assert result["success"] is True and result["exit_code"] == 0
        assert result["output"] == "hello from ok\n" and result["error"] == ""
        run = await svc.runs.get(result["run_id"])
        assert run["status"] == "success" and run["triggered_by"] == "manual"
        assert run["job_id"] == ok and run["job_name"] == "OK" and run["pipeline_path"] == "ok.py"
        assert run["started_at"] and run["finished_at"] and run["duration_seconds"] is not None
        assert run["output"] == "hello from ok\n" and run["log_size"] > 0
        job = await svc.jobs.get(ok)
        assert job["last_run"]["id"] == result["run_id"] and job["last_run"]["status"] == "success"

        bad = await create(svc, spec("Bad", "fail.py"))
        result, _ = await svc.runs.run_now(bad)
        assert result == {
            "success": False,
            "output": "about to fail\n",
            "error": "boom\n",
            "exit_code": 3,
            "run_id": result["run_id"],
        }
        assert (await svc.runs.get(result["run_id"]))["status"] == "failure"
        assert (await svc.jobs.get(bad))["last_run"]["status"] == "failure"

        with pytest.raises(JobNotFoundError):
            await svc.runs.run_now("job_missing")

    with_service(settings, body)


def test_run_now_without_waiting_answers_the_run_at_once(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        slow = await create(svc, spec("Slow", "slow.py"))
        t0 = time.monotonic()
        run, finished = await svc.runs.run_now(slow, wait=False)
        assert not finished and time.monotonic() - t0 < 2
        assert run["status"] in ("queued", "running") and run["triggered_by"] == "manual"
        await wait_until(lambda: _status_is(svc, run["id"], "running"))
        with pytest.raises(ConflictError):
            await svc.runs.delete(run["id"])
        cancelled = await svc.runs.cancel(run["id"])
        assert cancelled["status"] == "cancelled"
        assert time.monotonic() - t0 < 10
        with pytest.raises(ConflictError):
            await svc.runs.cancel(run["id"])
        await svc.runs.delete(run["id"])

    with_service(settings, body)


async def _status_is(svc: SchedulerService, run_id: int, status: str) -> bool:
    return (await svc.runs.get(run_id))["status"] == status


def test_non_zero_exit_fires_on_failure_dependents_and_not_on_success_ones(
    settings: SchedulerSettings,
) -> None:
    async def body(svc: SchedulerService) -> None:
        failing = await create(svc, spec("Failing", "fail.py"))
        on_success = await create(svc, after("On success", (failing, "success")))
        on_failure = await create(svc, after("On failure", (failing, "failure")))
        result, _ = await svc.runs.run_now(failing)
        assert result["success"] is False and result["exit_code"] == 3
        runs = await wait_runs(svc, on_failure, 1)
        await settle(svc)
        assert [r["triggered_by"] for r in runs] == ["trigger"]
        assert runs[0]["status"] == "success"
        assert await run_count(svc, on_success) == 0
        assert await run_count(svc, on_failure) == 1

        passing = await create(svc, spec("Passing"))
        ok_dep = await create(svc, after("After pass", (passing, "success")))
        fail_dep = await create(svc, after("After pass fails", (passing, "failure")))
        await svc.runs.run_now(passing)
        await wait_runs(svc, ok_dep, 1)
        await settle(svc)
        assert await run_count(svc, fail_dep) == 0

    with_service(settings, body)


def test_a_timeout_counts_as_a_failure_for_dependents(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        slow = await create(svc, spec("Slow", "slow.py"))
        on_failure = await create(svc, after("Alert", (slow, "failure")))
        on_success = await create(svc, after("Next", (slow, "success")))
        result, _ = await svc.runs.run_now(slow)
        assert result["success"] is False
        assert (await svc.runs.get(result["run_id"]))["status"] == "timeout"
        await wait_runs(svc, on_failure, 1)
        await settle(svc)
        assert await run_count(svc, on_success) == 0

    with_service(settings, body, default_timeout_seconds=0.5, kill_grace_seconds=0.5)


def test_dependents_fire_at_any_depth(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        a = await create(svc, spec("A"))
        b = await create(svc, after("B", (a, "success")))
        c = await create(svc, after("C", (b, "success")))
        d = await create(svc, after("D", (c, "success"), path="fail.py"))
        e = await create(svc, after("E", (d, "failure")))
        await svc.runs.run_now(a)
        runs = await wait_runs(svc, e, 1)
        assert runs[0]["triggered_by"] == "trigger" and runs[0]["status"] == "success"
        await settle(svc)
        for job_id, status in ((b, "success"), (c, "success"), (d, "failure")):
            got = await finished_runs(svc, job_id)
            assert [(r["status"], r["triggered_by"]) for r in got] == [(status, "trigger")]
        # Chains run in order: each run starts after its upstream finished.
        order = [(await finished_runs(svc, j))[0] for j in (a, b, c, d, e)]
        assert all(x["finished_at"] <= y["started_at"] for x, y in pairwise(order))

    with_service(settings, body)


def test_or_and_and_operators(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        a = await create(svc, spec("A"))
        f = await create(svc, spec("F", "fail.py"))
        either = await create(svc, after("Either", (a, "success"), (f, "failure"), op="OR"))
        both = await create(svc, after("Both", (a, "success"), (f, "failure"), op="AND"))

        await svc.runs.run_now(a)
        await wait_runs(svc, either, 1)
        await settle(svc)
        assert await run_count(svc, both) == 0  # only one of its two conditions holds

        await svc.runs.run_now(f)
        await wait_runs(svc, either, 2)
        await wait_runs(svc, both, 1)
        await settle(svc)

        # The AND job consumed both outcomes: a new success of A alone is not enough...
        await svc.runs.run_now(a)
        await wait_runs(svc, either, 3)
        await settle(svc)
        assert await run_count(svc, both) == 1
        # ...until F fails again.
        await svc.runs.run_now(f)
        await wait_runs(svc, both, 2)
        await settle(svc)
        assert await run_count(svc, either) == 4

    with_service(settings, body)


def test_a_paused_trigger_job_does_not_fire(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        a = await create(svc, spec("A"))
        b = await create(svc, after("B", (a, "success")))
        c = await create(svc, after("C", (a, "success")))
        await svc.jobs.set_paused(b, True)
        await svc.runs.run_now(a)
        await wait_runs(svc, c, 1)
        await settle(svc)
        assert await run_count(svc, b) == 0

    with_service(settings, body)


# --------------------------------------------------------------------------- persistence
def test_jobs_runs_and_trigger_state_survive_a_restart(settings: SchedulerSettings) -> None:
    schedules = [
        dict(schedule_type="date", date_type="once", run_date="2030-01-15T08:30:00.000Z"),
        dict(
            schedule_type="date",
            date_type="daily",
            run_date="2026-01-15T07:30:00.000Z",
            timezone="Europe/Paris",
        ),
        dict(
            schedule_type="date",
            date_type="weekly",
            run_date="2026-01-15T20:00:00.000Z",
            timezone="Pacific/Auckland",
        ),
        dict(schedule_type="date", date_type="monthly", run_date="2026-01-31T09:00:00.000Z"),
        dict(schedule_type="date", date_type="every_x_days", interval_days=3),
        dict(schedule_type="interval", interval_seconds=3600),
        dict(schedule_type="cron", cron_expression="30 0 9 * * 1-5"),
    ]
    state: dict[str, Any] = {}

    async def first(svc: SchedulerService) -> None:
        for i, sched in enumerate(schedules):
            await create(svc, spec(f"Job {i}", **sched))
        a = await create(svc, spec("A"))
        b = await create(svc, spec("B"))
        c = await create(svc, after("C", (a, "success"), (b, "success"), op="AND"))
        paused = await create(svc, spec("Paused"))
        await svc.jobs.set_paused(paused, True)
        result, _ = await svc.runs.run_now(a)
        await settle(svc)
        assert await run_count(svc, c) == 0
        state.update(a=a, b=b, c=c, paused=paused, run_a=result["run_id"])
        state["jobs"] = await svc.jobs.list()
        state["runs"] = await svc.runs.list()

    async def second(svc: SchedulerService) -> None:
        jobs = await svc.jobs.list()
        assert jobs == state["jobs"]  # definitions, next fire times, paused, last_run
        assert all(j["next_run_time"] for j in jobs if j["schedule_type"] != "trigger" and not j["paused"])
        assert (await svc.runs.list()) == state["runs"]
        scheduled = {j.id for j in svc.driver.scheduled_jobs()}
        assert scheduled == {j["id"] for j in jobs if j["schedule_type"] != "trigger"}
        assert svc.driver.scheduled_job(state["paused"]).next_run_time is None
        last_a = (await svc.jobs.get(state["a"]))["last_run"]
        assert last_a["id"] == state["run_a"] and last_a["status"] == "success"
        # A's success before the restart still counts: B's success now completes the AND.
        await svc.runs.run_now(state["b"])
        runs = await wait_runs(svc, state["c"], 1)
        assert runs[0]["triggered_by"] == "trigger"

    with_service(settings, first)
    with_service(settings, second)


def test_runs_left_active_by_a_dead_server_are_marked_interrupted(settings: SchedulerSettings) -> None:
    ids: dict[str, Any] = {}

    async def first(svc: SchedulerService) -> None:
        ids["job"] = await create(svc, spec("Job"))
        # What a server killed mid-run leaves behind: a row still 'running'.
        ids["run"] = await svc.workers.db(
            svc.store.insert_run,
            job_id=ids["job"],
            job_name="Job",
            pipeline_path="ok.py",
            status="running",
            triggered_by="schedule",
            started_at=time.time(),
        )

    async def second(svc: SchedulerService) -> None:
        run = await svc.runs.get(ids["run"])
        assert run["status"] == "interrupted" and run["finished_at"]
        assert (await svc.jobs.get(ids["job"]))["last_run"]["status"] == "interrupted"

    with_service(settings, first)
    with_service(settings, second)


# --------------------------------------------------------------------------- run history
def test_runs_are_listed_newest_first_with_filters_and_cursor_paging(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        ok = await create(svc, spec("OK"))
        bad = await create(svc, spec("Bad", "fail.py"))
        for job_id in (ok, bad, ok, bad, ok):
            await svc.runs.run_now(job_id)
        await settle(svc)
        everything = (await svc.runs.list())["runs"]
        ids = [r["id"] for r in everything]
        assert len(ids) == 5 and ids == sorted(ids, reverse=True)
        assert [r["job_id"] for r in everything] == [ok, bad, ok, bad, ok]
        assert all("output" not in r for r in everything)  # summaries carry no tails

        assert [r["id"] for r in (await svc.runs.list(job_id=ok))["runs"]] == [ids[0], ids[2], ids[4]]
        failures = (await svc.runs.list(statuses=["failure"]))["runs"]
        assert [r["id"] for r in failures] == [ids[1], ids[3]]
        assert (await svc.runs.list(job_id=ok, statuses=["failure"]))["runs"] == []

        pages, cursor = [], None
        while True:
            page = await svc.runs.list(limit=2, before=cursor)
            pages.append([r["id"] for r in page["runs"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == [ids[0:2], ids[2:4], ids[4:5]]
        exact = await svc.runs.list(limit=5)
        assert exact["next_cursor"] is None and len(exact["runs"]) == 5

    with_service(settings, body)


def test_read_log_by_offsets(settings: SchedulerSettings, workspace: Path) -> None:
    (workspace / "talk.py").write_text(
        "for i in range(100):\n    print(f'line {i:03d}')\nprint('\\u00e9' * 40)\n", encoding="utf-8"
    )

    async def body(svc: SchedulerService) -> None:
        job_id = await create(svc, spec("Talk", "talk.py"))
        result, _ = await svc.runs.run_now(job_id)
        run_id = result["run_id"]
        whole = await svc.runs.read_log(run_id, 0, 1 << 20)
        raw = whole["data"].encode()
        run = await svc.runs.get(run_id)
        assert whole["finished"] is True and whole["status"] == "success"
        assert whole["offset"] == 0 and whole["next_offset"] == whole["size"] == len(raw) == run["log_size"]
        assert whole["data"].startswith(f"[amphi-scheduler] run {run_id} of 'Talk' (talk.py), manual")
        assert "line 000\n" in whole["data"] and "line 099\n" in whole["data"]
        assert (svc.settings.runs_dir / str(run_id) / "output.log").read_bytes() == raw

        # Reading in small pieces gives back exactly the same bytes.
        pieces, offset = [], 0
        while True:
            part = await svc.runs.read_log(run_id, offset, 100)
            assert part["offset"] == offset and part["next_offset"] - offset <= 100
            pieces.append(part["data"].encode())
            if part["next_offset"] == offset:
                break
            assert part["finished"] is (part["next_offset"] == len(raw))
            offset = part["next_offset"]
        assert b"".join(pieces) == raw

        middle = await svc.runs.read_log(run_id, 10, 20)
        assert middle["data"].encode() == raw[10:30] and middle["next_offset"] == 30
        assert middle["finished"] is False

        # A piece never ends inside a UTF-8 character.
        start = raw.index("é".encode())
        cut = await svc.runs.read_log(run_id, start, 3)
        assert cut["data"] == "é" and cut["next_offset"] == start + 2

        past = await svc.runs.read_log(run_id, len(raw) + 50, 100)
        assert past["data"] == "" and past["finished"] is True

        with pytest.raises(RunNotFoundError) as missing:
            await svc.runs.read_log(9999, 0, 10)
        assert missing.value.status_code == 404

    with_service(settings, body)


def test_delete_run_and_clear_runs_remove_their_log_folders(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        a = await create(svc, spec("A"))
        b = await create(svc, spec("B", "fail.py"))
        run_ids = [(await svc.runs.run_now(j))[0]["run_id"] for j in (a, a, b, a, b)]
        await settle(svc)
        log_dir = svc.settings.runs_dir
        assert all((log_dir / str(r) / "output.log").is_file() for r in run_ids)

        await svc.runs.delete(run_ids[0])
        assert not (log_dir / str(run_ids[0])).exists()
        with pytest.raises(RunNotFoundError):
            await svc.runs.get(run_ids[0])
        with pytest.raises(RunNotFoundError):
            await svc.runs.delete(run_ids[0])

        assert await svc.runs.clear(job_id=b) == 2
        assert not (log_dir / str(run_ids[2])).exists() and not (log_dir / str(run_ids[4])).exists()
        assert (log_dir / str(run_ids[1])).exists()
        assert [r["id"] for r in (await svc.runs.list())["runs"]] == [run_ids[3], run_ids[1]]

        assert await svc.runs.clear() == 2
        assert (await svc.runs.list())["runs"] == []
        assert not any((log_dir / str(r)).exists() for r in run_ids)

    with_service(settings, body)


def test_deleting_a_job_removes_its_runs_and_logs(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        a = await create(svc, spec("A"))
        keep = await create(svc, spec("Keep"))
        gone = (await svc.runs.run_now(a))[0]["run_id"]
        kept = (await svc.runs.run_now(keep))[0]["run_id"]
        await svc.jobs.delete(a)
        assert [r["id"] for r in (await svc.runs.list())["runs"]] == [kept]
        assert not (svc.settings.runs_dir / str(gone)).exists()

    with_service(settings, body)


# --------------------------------------------------------------------------- .ampln
def test_ampln_job_runs_its_stored_code_and_notices_a_changed_pipeline(
    settings: SchedulerSettings, workspace: Path
) -> None:
    ampln = workspace / "flow.ampln"

    async def body(svc: SchedulerService) -> None:
        job, _ = await svc.jobs.create({**spec("Flow", "flow.ampln"), "python_code": CODE})
        job_id = job["id"]
        assert job["code_hash"] == hashlib.sha256(ampln.read_bytes()).hexdigest()
        assert job["pipeline_changed"] is False and job["python_code"] == CODE

        result, _ = await svc.runs.run_now(job_id)
        assert result["success"], result["error"]
        lines = result["output"].splitlines()
        assert lines[0] == "from stored code"
        assert Path(lines[1]).resolve() == workspace.resolve()  # cwd: the .ampln's folder
        assert (await svc.runs.get(result["run_id"]))["pipeline_changed"] is False

        # Editing the pipeline after its code was generated is noticed, and the run still
        # uses the stored code (with a warning at the top of its log).
        ampln.write_text(ampln.read_text() + '{"edited": true}\n')
        assert (await svc.jobs.get(job_id))["pipeline_changed"] is True
        assert (await svc.jobs.list())[0]["pipeline_changed"] is True
        result, _ = await svc.runs.run_now(job_id)
        assert result["output"].startswith("from stored code\n")
        run = await svc.runs.get(result["run_id"])
        assert run["pipeline_changed"] is True
        log = await svc.runs.read_log(result["run_id"], 0, 65536)
        assert log["data"].startswith("[amphi-scheduler] WARNING: the pipeline file changed")

        # Run-now with fresh code refreshes the snapshot and its hash.
        result, _ = await svc.runs.run_now(job_id, python_code="print('regenerated')\n")
        assert result["output"] == "regenerated\n"
        refreshed = await svc.jobs.get(job_id)
        assert refreshed["python_code"] == "print('regenerated')\n"
        assert refreshed["code_hash"] == hashlib.sha256(ampln.read_bytes()).hexdigest()
        assert refreshed["pipeline_changed"] is False
        assert (await svc.runs.get(result["run_id"]))["pipeline_changed"] is False

        # A PUT that does not send code keeps the stored snapshot.
        renamed = await svc.jobs.update(job_id, {"name": "Flow v2"})
        assert renamed["python_code"] == "print('regenerated')\n"

    with_service(settings, body)


# --------------------------------------------------------------------------- the scheduler
def test_an_interval_job_really_fires_repeatedly(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> list[dict[str, Any]]:
        t0 = time.time()
        job_id = await create(svc, spec("Tick", schedule_type="interval", interval_seconds=1))
        await wait_runs(svc, job_id, 3, timeout=8)
        elapsed = time.time() - t0
        await svc.jobs.set_paused(job_id, True)
        await settle(svc)
        assert elapsed < 8
        job = await svc.jobs.get(job_id)
        assert job["last_run"] is not None and job["last_run"]["status"] == "success"
        return (await svc.runs.list(job_id=job_id))["runs"]

    runs = with_service(settings, body)
    assert len(runs) >= 3
    assert all(r["triggered_by"] == "schedule" for r in runs)
    assert all(r["status"] == "success" and r["exit_code"] == 0 for r in runs)
    assert all(r["scheduled_for"] is not None for r in runs)
    fire_times = sorted(r["scheduled_for"] for r in runs)
    assert len(set(fire_times)) == len(fire_times)  # each run is a distinct fire time


def test_stop_cancels_running_pipelines(settings: SchedulerSettings) -> None:
    ids: dict[str, Any] = {}

    async def first(svc: SchedulerService) -> None:
        job_id = await create(svc, spec("Slow", "slow.py"))
        run, _ = await svc.runs.run_now(job_id, wait=False)
        await wait_until(lambda: _status_is(svc, run["id"], "running"))
        ids["run"] = run["id"]

    async def second(svc: SchedulerService) -> None:
        run = await svc.runs.get(ids["run"])
        assert run["status"] in FINAL - {"success", "failure"}

    t0 = time.monotonic()
    with_service(settings, first)
    assert time.monotonic() - t0 < 15
    with_service(settings, second)


def test_scheduled_runs_beyond_max_instances_are_recorded_as_skipped(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        job_id = await create(
            svc, spec("Slow tick", "slow.py", schedule_type="interval", interval_seconds=1, max_instances=1)
        )

        async def skipped() -> list[dict[str, Any]]:
            return (await svc.runs.list(job_id=job_id, statuses=["skipped"]))["runs"]

        runs = await wait_until(skipped, timeout=8)
        await svc.jobs.set_paused(job_id, True)
        assert runs[0]["triggered_by"] == "schedule"
        assert "max_instances is 1" in runs[0]["message"]
        running = (await svc.runs.list(job_id=job_id, statuses=["running"]))["runs"]
        assert len(running) == 1  # never more than max_instances at once
        # A manual run is what a person asked for: it is not limited.
        manual, _ = await svc.runs.run_now(job_id, wait=False)
        assert manual["status"] in ("queued", "running")
        for run in running + [manual]:
            await svc.runs.cancel(run["id"])

    with_service(settings, body)


def test_a_queued_run_can_be_cancelled_before_it_starts(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        job_id = await create(svc, spec("Slow", "slow.py"))
        first, _ = await svc.runs.run_now(job_id, wait=False)
        second, _ = await svc.runs.run_now(job_id, wait=False)
        await wait_until(lambda: _status_is(svc, first["id"], "running"))
        assert (await svc.runs.get(second["id"]))["status"] == "queued"  # one slot only
        cancelled = await svc.runs.cancel(second["id"])
        assert cancelled["status"] == "cancelled" and cancelled["started_at"] is None
        assert (await svc.runs.get(first["id"]))["status"] == "running"
        assert (await svc.runs.cancel(first["id"]))["status"] == "cancelled"

    with_service(settings, body, max_concurrent_runs=1)


def test_a_pipeline_file_removed_after_scheduling_fails_the_run_clearly(
    settings: SchedulerSettings, workspace: Path
) -> None:
    async def body(svc: SchedulerService) -> None:
        job_id = await create(svc, spec("Vanishing", "etl/load.py"))
        (workspace / "etl" / "load.py").unlink()
        result, _ = await svc.runs.run_now(job_id)
        assert result["success"] is False and result["exit_code"] is None
        assert "pipeline_path" in result["error"] and "does not exist" in result["error"]
        assert (await svc.runs.get(result["run_id"]))["status"] == "failure"

    with_service(settings, body)


def test_preview_validates_without_creating_anything(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        daily = await svc.jobs.preview(
            {
                "schedule_type": "date",
                "date_type": "daily",
                "run_date": "2026-01-15T07:30:00.000Z",
                "timezone": "Europe/Paris",
            }
        )
        assert daily["description"] == "Every day at 08:30 (Europe/Paris)"
        assert daily["timezone"] == "Europe/Paris" and len(daily["next_run_times"]) == 5
        assert all("T08:30:00+0" in t for t in daily["next_run_times"])

        every = await svc.jobs.preview(
            {"schedule_type": "date", "date_type": "every_x_days", "interval_days": 3}
        )
        first = datetime.fromisoformat(every["next_run_times"][0])
        assert first > datetime.now(timezone.utc) + timedelta(days=2, hours=23)

        with pytest.raises(InvalidScheduleError, match="^cron_expression:"):
            await svc.jobs.preview({"schedule_type": "cron", "cron_expression": "0 0 30 2 *"})
        assert await svc.jobs.list() == [] and svc.driver.scheduled_jobs() == []

    with_service(settings, body)


def test_a_one_off_job_fires_once_and_can_be_edited_afterwards(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        when = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
        job_id = await create(svc, spec("Once", schedule_type="date", date_type="once", run_date=when))
        assert (await svc.jobs.get(job_id))["next_run_time"] is not None
        runs = await wait_runs(svc, job_id, 1, timeout=8)
        assert runs[0]["triggered_by"] == "schedule" and runs[0]["status"] == "success"
        job = await svc.jobs.get(job_id)
        assert job["next_run_time"] is None and job["last_run"]["id"] == runs[0]["id"]
        # Its date is now in the past, yet a rename (no schedule change) is accepted...
        renamed = await svc.jobs.update(job_id, {"name": "Once, done", "paused": True})
        assert renamed["name"] == "Once, done" and renamed["run_date"] == when
        await svc.jobs.update(job_id, {"paused": False})
        await asyncio.sleep(1.0)
        # ...and does not make it fire a second time.
        assert await run_count(svc, job_id) == 1
        # Its stored date sent back unchanged is no reschedule; moving it to another past
        # time is, and is refused.
        await svc.jobs.update(job_id, {"run_date": when})
        earlier = (datetime.fromisoformat(when) - timedelta(hours=1)).isoformat()
        with pytest.raises(InvalidScheduleError, match="^run_date:.*past"):
            await svc.jobs.update(job_id, {"run_date": earlier})
        assert (await svc.jobs.get(job_id))["run_date"] == when

    with_service(settings, body)
