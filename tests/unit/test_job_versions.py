"""Job history in the service and the store: version rows written with the job row, the
changes between two definitions, a job stored before job history recorded at its first
change, a second server's write of the same version refused, restore of an .ampln job's
code with the hash it came from."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete, select
from unit_helpers import with_service

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.errors import ConflictError
from pipeline_scheduler.settings import SchedulerSettings
from pipeline_scheduler.store import job_versions_table

CODE_1 = "print('first code')\n"
CODE_2 = "print('second code')\n"


def interval(name: str, seconds: int = 3600, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_path": "ok.py",
        "schedule_type": "interval",
        "interval_seconds": seconds,
        **extra,
    }


def test_versions_follow_the_definition_in_the_store(settings: SchedulerSettings) -> None:
    async def body(svc: SchedulerService) -> None:
        job, _ = await svc.jobs.create(interval("v", env={"A": "1"}), author="ada")
        job_id = job["id"]
        await svc.jobs.update(job_id, {"env": {"A": "2"}}, author="bob")
        await svc.jobs.set_paused(job_id, True)  # not a version
        await svc.jobs.update(job_id, {"env": {"A": "2"}})  # the same again: not a version
        await svc.jobs.update(job_id, {"description": ""})  # as a form sends "no description"
        rows = await svc.workers.db(svc.store.job_versions, job_id)
        assert [(r["version"], r["author"], json.loads(r["changes"])) for r in rows] == [
            (2, "bob", ["env"]),
            (1, "ada", []),
        ]
        assert json.loads(rows[1]["definition"])["env"] == {"A": "1"}
        assert (await svc.jobs.get(job_id))["version"] == 2

        # Stored before job history: no rows; the first change records the definition it had.
        await svc.workers.db(_delete_versions, svc, job_id)
        await svc.jobs.update(job_id, {"interval_seconds": 60}, author="cy")
        rows = await svc.workers.db(svc.store.job_versions, job_id)
        assert [(r["version"], r["author"]) for r in rows] == [(3, "cy"), (2, "")]
        assert json.loads(rows[1]["definition"])["interval_seconds"] == 3600

        # Another server's change made version 4 after this one read the job (its row is
        # there, the job row this server reads is not yet): the write is refused, whole.
        await svc.workers.db(_insert_version, svc, job_id, 4)
        with pytest.raises(ConflictError):
            await svc.jobs.update(job_id, {"interval_seconds": 90})
        assert (await svc.jobs.get(job_id))["interval_seconds"] == 60

        await svc.jobs.delete(job_id)
        assert await svc.workers.db(svc.store.job_versions, job_id) == []

    with_service(settings, body)


def _delete_versions(svc: SchedulerService, job_id: str) -> None:
    with svc.store.engine.begin() as conn:
        conn.execute(delete(job_versions_table).where(job_versions_table.c.job_id == job_id))


def _insert_version(svc: SchedulerService, job_id: str, version: int) -> None:
    with svc.store.engine.begin() as conn:
        row = conn.execute(select(job_versions_table).where(job_versions_table.c.job_id == job_id)).first()
        assert row is not None
        conn.execute(job_versions_table.insert().values({**row._mapping, "version": version}))


def test_restoring_an_ampln_version_brings_back_its_code_and_hash(settings: SchedulerSettings) -> None:
    flow = settings.root_dir / "flow.ampln"
    flow.write_text('{"doc": 1}')

    async def body(svc: SchedulerService) -> None:
        job, _ = await svc.jobs.create(
            {**interval("flow"), "pipeline_path": "flow.ampln", "python_code": CODE_1}
        )
        first_hash = job["code_hash"]
        flow.write_text('{"doc": 2}')
        changed = await svc.jobs.update(job["id"], {"python_code": CODE_2})
        assert changed["version"] == 2 and changed["code_hash"] != first_hash
        listed = (await svc.jobs.versions(job["id"]))["versions"]
        assert listed[0]["changes"] == ["python_code"]
        assert "python_code" not in listed[0]["definition"]
        assert (await svc.jobs.version(job["id"], 1))["definition"]["python_code"] == CODE_1

        restored = await svc.jobs.restore(job["id"], 1, author="ada")
        assert restored["version"] == 3 and restored["python_code"] == CODE_1
        assert restored["code_hash"] == first_hash and restored["pipeline_changed"] is True
        # Run now with fresh code refreshes the snapshot: not a new version.
        await svc.runs.run_now(job["id"], python_code=CODE_2)
        assert (await svc.jobs.get(job["id"]))["version"] == 3

    with_service(settings, body)
