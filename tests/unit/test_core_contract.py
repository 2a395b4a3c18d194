"""The core's contract through a real SchedulerService (real workspace, SQLite file and
pipelines): errors carry their fields, job answers carry active_run, the configuration
answer, unreadable component files, and two servers creating the same job id at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from unit_helpers import wait_until, with_service

import pipeline_scheduler
from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.errors import (
    ConflictError,
    InvalidRequestError,
    JobNotFoundError,
    PathNotAllowedError,
    RunNotFoundError,
    SchedulerError,
)
from pipeline_scheduler.settings import SchedulerSettings

# Waits for a file the test creates (the child polls; the test never sleeps). It gives up
# after 30 s so that a failed test never leaves it behind for long.
WAIT_FOR_GO = (
    "import os, pathlib, sys, time\n"
    "go = pathlib.Path(os.environ['GO_FILE'])\n"
    "deadline = time.monotonic() + 30\n"
    "while not go.exists():\n"
    "    if time.monotonic() > deadline:\n"
    "        sys.exit(9)\n"
    "    time.sleep(0.01)\n"
    "print('released')\n"
)


def spec(name: str, path: str = "ok.py", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "pipeline_path": path}
    if "schedule_type" not in fields:
        body.update(schedule_type="cron", cron_expression="0 3 * * *")
    body.update(fields)
    return body


# --------------------------------------------------------------------------- errors
def test_errors_carry_their_fields(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        with pytest.raises(InvalidRequestError) as info:
            await svc.jobs.create(spec("Bad", schedule_type="interval", interval_seconds=0))
        assert info.value.status_code == 400
        assert "interval_seconds" in info.value.fields
        assert info.value.fields["interval_seconds"] in info.value.message

        with pytest.raises(PathNotAllowedError) as info:
            await svc.jobs.create(spec("Missing", "nowhere/missing.py"))
        assert set(info.value.fields) == {"pipeline_path"}

        with pytest.raises(InvalidRequestError) as info:
            await svc.jobs.create(spec("Shell", "notes.sh"))
        assert "pipeline_path" in info.value.fields

        a, _ = await svc.jobs.create(spec("A"))
        b, _ = await svc.jobs.create(
            spec("B", schedule_type="trigger", trigger_conditions=[{"job_id": a["id"], "on": "success"}])
        )
        with pytest.raises(InvalidRequestError) as info:
            await svc.jobs.update(
                a["id"],
                {"schedule_type": "trigger", "trigger_conditions": [{"job_id": b["id"], "on": "success"}]},
            )
        assert "cycle" in info.value.fields["trigger_conditions"]

        with pytest.raises(ConflictError) as conflict:
            await svc.jobs.delete(a["id"])  # B has a condition on it
        assert conflict.value.status_code == 409

        with pytest.raises(JobNotFoundError) as missing:
            await svc.jobs.get("job_nope")
        assert missing.value.status_code == 404 and missing.value.fields == {}
        with pytest.raises(RunNotFoundError) as no_run:
            await svc.runs.get(123456)
        assert no_run.value.status_code == 404

    with_service(settings, body)


# --------------------------------------------------------------------------- active_run
def test_active_run_while_a_run_is_running(settings: SchedulerSettings, tmp_path: Path) -> None:
    (settings.root_dir / "wait_for_go.py").write_text(WAIT_FOR_GO, encoding="utf-8")
    go = tmp_path / "go"

    async def body(svc: SchedulerService) -> None:
        job, _ = await svc.jobs.create(spec("Waits", "wait_for_go.py", env={"GO_FILE": str(go)}))
        job_id = job["id"]
        assert job["active_run"] is None
        assert (await svc.jobs.get(job_id))["active_run"] is None
        (listed,) = await svc.jobs.list()
        assert listed["active_run"] is None

        run, finished = await svc.runs.run_now(job_id, wait=False)
        assert not finished and run["status"] in ("queued", "running")
        run_id = run["id"]

        async def running() -> dict[str, Any] | None:
            active = (await svc.jobs.get(job_id))["active_run"]
            return active if active and active["status"] == "running" else None

        active = await wait_until(running)
        assert set(active) == {"id", "status", "started_at"}
        assert active["id"] == run_id and active["started_at"] is not None
        (listed,) = await svc.jobs.list()
        assert listed["active_run"] == active

        go.write_text("go", encoding="utf-8")
        executing = svc.executor.active(run_id)
        assert executing is not None
        record = await asyncio.shield(executing.done)
        assert record["status"] == "success", record
        assert (await svc.jobs.get(job_id))["active_run"] is None
        (listed,) = await svc.jobs.list()  # the job list's cache follows too
        assert listed["active_run"] is None
        assert listed["last_run"]["id"] == run_id and listed["last_run"]["status"] == "success"

    with_service(settings, body)


# --------------------------------------------------------------------------- config
def test_describe_config_answers_the_package_version(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        config = svc.describe_config()
        assert config["version"] == pipeline_scheduler.__version__
        assert config["max_concurrent_runs"] == svc.settings.concurrency
        assert config["scheduler_state"] == "active"
        assert config["queue_length"] == 0 and config["running_runs"] == 0

    with_service(settings, body)


@pytest.mark.parametrize("kind", ["directory", "not-utf8"])
def test_unreadable_components_config_is_a_409(settings: SchedulerSettings, kind: str) -> None:
    path = settings.amphi_dir / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"name = '\xff\xfe caf\xe9'\n")

    async def body(svc: SchedulerService) -> None:
        with pytest.raises(SchedulerError) as info:
            await svc.components.read_config()
        assert info.value.status_code == 409
        assert 400 <= info.value.status_code < 500
        assert "config.toml" in info.value.message

    with_service(settings, body)


def test_components_config_round_trip(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        assert await svc.components.read_config() == ""  # absent: empty
        await svc.components.write_config("[ui]\ntheme = 'dark'\n")
        assert await svc.components.read_config() == "[ui]\ntheme = 'dark'\n"

    with_service(settings, body)


# --------------------------------------------------------------------------- two servers
def test_two_servers_creating_the_same_id_at_once(settings: SchedulerSettings) -> None:
    """Both servers must see "no such job" before either writes, or there is no race: each
    service's ``validator.prepare`` (which runs after the existence check and before the
    write) is wrapped to wait at a barrier until both got there. Then both insert; the
    database's primary key lets one win and the other must answer 409, not a 500 and not
    a silent replacement."""
    body = {**spec("Same", schedule_type="interval", interval_seconds=3600), "id": "shared_job"}

    async def main() -> None:
        first = SchedulerService(settings)
        second = SchedulerService(settings)  # same workspace and SQLite file: a standby
        await first.start()
        await second.start()
        try:
            assert first.is_active and not second.is_active
            barrier = asyncio.Barrier(2)
            reached: list[str] = []
            for name, svc in (("first", first), ("second", second)):
                original = svc.jobs.validator.prepare

                async def prepare(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
                    assert args[2] is None  # existing: this server saw no such job
                    answer = await _original(*args, **kw)
                    reached.append(_name)
                    await asyncio.wait_for(barrier.wait(), 10)
                    return answer

                svc.jobs.validator.prepare = prepare  # type: ignore[method-assign]

            results = await asyncio.gather(
                first.jobs.create(body), second.jobs.create(body), return_exceptions=True
            )
            assert sorted(reached) == ["first", "second"]
            wins = [r for r in results if not isinstance(r, BaseException)]
            losses = [r for r in results if isinstance(r, BaseException)]
            assert len(wins) == 1 and len(losses) == 1, results
            answer, created = wins[0]
            assert created and answer["id"] == "shared_job"
            assert isinstance(losses[0], ConflictError), repr(losses[0])
            assert losses[0].status_code == 409
            assert "shared_job" in losses[0].message

            for svc in (first, second):
                assert [j["id"] for j in await svc.jobs.list()] == ["shared_job"]
            # The active server schedules the job whichever server won.
            await first.jobs.follow_other_servers()
            assert first.driver.scheduled_job("shared_job") is not None

            # Without a race, creating with an existing id replaces by contract.
            for svc in (first, second):
                del svc.jobs.validator.prepare  # back to the class's method
            replaced, created = await second.jobs.create({**body, "name": "Replaced"})
            assert not created and replaced["name"] == "Replaced"
        finally:
            await second.stop()
            await first.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_retention_prunes_by_count_after_each_run_and_by_age_in_the_sweep(
    settings: SchedulerSettings,
) -> None:
    async def body(svc: SchedulerService) -> None:
        job, _ = await svc.jobs.create(spec("Kept"))
        runs = [(await svc.runs.run_now(job["id"]))[0]["run_id"] for _ in range(3)]

        # After each run (its policies act once its end is recorded, just after a waited run
        # answers): only the newest retention_max_runs_per_job (2) of the job remain.
        async def pruned() -> bool:
            kept = {r["id"] for r in (await svc.runs.list(job_id=job["id"]))["runs"]}
            return kept == set(runs[-2:]) and not (svc.settings.runs_dir / str(runs[0])).exists()

        await wait_until(pruned)

        # A finished run older than retention_max_age_days goes in the sweep, with its folder
        # (one run of the job deleted first, so the count limit keeps out of it).
        await svc.runs.delete(runs[-2])
        old = await svc.workers.db(
            svc.store.insert_run,
            job_id=job["id"],
            job_name="Kept",
            pipeline_path="ok.py",
            status="success",
            triggered_by="manual",
            created_at=0.0,
            finished_at=1.0,
        )
        (svc.settings.runs_dir / str(old)).mkdir(parents=True)
        assert await svc.retention.prune() == 1
        kept = {r["id"] for r in (await svc.runs.list(job_id=job["id"]))["runs"]}
        assert kept == {runs[-1]}
        assert not (svc.settings.runs_dir / str(old)).exists()

    with_service(settings, body, retention_max_runs_per_job=2, retention_max_age_days=30.0)


def test_retention_reads_the_database_only_when_a_job_may_pass_its_limit(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        calls: list[str] = []
        prune = svc.store.prune_job_runs

        def counted(job_id: str, keep: int) -> tuple[list[int], int]:
            calls.append(job_id)
            return prune(job_id, keep)

        svc.store.prune_job_runs = counted  # type: ignore[method-assign]
        job, _ = await svc.jobs.create(spec("Counted"))
        runs: list[int] = []

        async def kept() -> set[int]:
            return {r["id"] for r in (await svc.runs.list(job_id=job["id"]))["runs"]}

        for n in range(1, 7):
            runs.append((await svc.runs.run_now(job["id"]))[0]["run_id"])
            # The first run reads the job's count; the next three fit under the limit of 4
            # without a read; from the fifth on each run's prune deletes the oldest.
            expected_calls = 1 if n <= 4 else n - 3
            await wait_until(lambda want=expected_calls: asyncio.sleep(0, len(calls) == want))
            assert await kept() == set(runs[-4:]), n
        assert len(calls) == 3

    with_service(settings, body, retention_max_runs_per_job=4)
