"""GET jobs answers from an in-memory job list refreshed by what changed (the ``seq`` and
``jobs_revision`` counters): it must answer exactly what reading each job afresh does, and
follow every change, including changes written by another server on the same database."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from unit_helpers import with_service

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.settings import SchedulerSettings
from pipeline_scheduler.store import SCHEMA_VERSION, Store, make_engine


async def fresh(svc: SchedulerService) -> list[dict[str, Any]]:
    """The list built without the in-memory list: each job read on its own."""
    listed = json.loads(await svc.jobs.list_json())["jobs"]
    afresh = []
    for job in listed:
        answer = await svc.jobs.get(job["id"])
        answer.pop("python_code", None)
        afresh.append(answer)
    assert listed == afresh
    return listed


def test_list_equals_each_job_read_afresh(settings: SchedulerSettings, workspace: Path) -> None:
    async def body(svc: SchedulerService) -> None:
        cron, _ = await svc.jobs.create(
            {
                "name": "cron",
                "pipeline_path": "ok.py",
                "schedule_type": "cron",
                "cron_expression": "0 3 * * *",
                "timezone": "Europe/Paris",
                "env": {"A": "1"},
            }
        )
        interval, _ = await svc.jobs.create(
            {
                "name": "interval",
                "pipeline_path": "fail.py",
                "schedule_type": "interval",
                "interval_seconds": 3600,
            }
        )
        await svc.jobs.create(
            {
                "name": "after",
                "pipeline_path": "ok.py",
                "schedule_type": "trigger",
                "trigger_conditions": [{"job_id": cron["id"], "on": "success"}],
            }
        )
        await svc.jobs.create(
            {
                "name": "amphi",
                "pipeline_path": "flow.ampln",
                "python_code": "print(1)",
                "schedule_type": "date",
                "date_type": "daily",
                "run_date": "2030-01-01T08:00:00Z",
            }
        )
        first = await fresh(svc)
        assert [j["name"] for j in first] == ["amphi", "after", "interval", "cron"]  # newest first
        await fresh(svc)  # from memory this time
        await svc.jobs.update(cron["id"], {"name": "cron renamed", "cron_expression": "5 4 * * *"})
        await svc.jobs.set_paused(interval["id"], True)
        await svc.runs.run_now(interval["id"])
        (workspace / "flow.ampln").write_text('{"changed": true}\n')
        after = {j["name"]: j for j in await fresh(svc)}
        assert after["cron renamed"]["schedule_description"].startswith("At 04:05")
        assert after["interval"]["paused"] is True and after["interval"]["next_run_time"] is None
        assert after["interval"]["last_run"]["status"] == "failure"
        assert after["after"]["schedule_description"] == "After 'cron renamed' succeeds"
        assert after["amphi"]["pipeline_changed"] is True
        await svc.jobs.set_paused(interval["id"], False)
        resumed = {j["name"]: j for j in await fresh(svc)}
        assert resumed["interval"]["next_run_time"] is not None
        await svc.jobs.delete(interval["id"])
        assert {j["name"] for j in await fresh(svc)} == {"cron renamed", "after", "amphi"}

    with_service(settings, body)


def test_list_follows_writes_of_another_server(settings: SchedulerSettings) -> None:
    """Another server's writes reach this server's list: a run it finished, an edit, a
    new job and a deleted job (a second Store on the same file stands for that server)."""

    async def body(svc: SchedulerService) -> None:
        a, _ = await svc.jobs.create(
            {"name": "a", "pipeline_path": "ok.py", "schedule_type": "cron", "cron_expression": "0 3 * * *"}
        )
        b, _ = await svc.jobs.create(
            {"name": "b", "pipeline_path": "ok.py", "schedule_type": "cron", "cron_expression": "0 4 * * *"}
        )
        await fresh(svc)
        other = Store(make_engine(settings.database_url))
        run_id = other.insert_run(
            job_id=a["id"], job_name="a", pipeline_path="ok.py", status="running", triggered_by="manual"
        )
        other.finish_run(run_id, a["id"], status="success", finished_at=time.time())
        listed = {j["name"]: j for j in await fresh(svc)}
        assert listed["a"]["last_run"]["id"] == run_id
        assert listed["a"]["last_run"]["status"] == "success"

        row = other.get_job(b["id"])
        assert row is not None
        row.name, row.updated_at = "b renamed", time.time()
        other.replace_job(row)
        row.id, row.name, row.created_at = "c", "c", time.time()
        other.insert_job(row)
        other.delete_job(a["id"])
        assert [j["name"] for j in await fresh(svc)] == ["c", "b renamed"]
        other.engine.dispose()

    with_service(settings, body)


def test_schema_1_database_gains_the_change_counter(settings: SchedulerSettings, tmp_path: Path) -> None:
    """A database written by schema version 1 (no ``seq`` column) is upgraded in place."""
    path = tmp_path / "db.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE pipeline_scheduler_meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO pipeline_scheduler_meta VALUES ('schema_version', '1');
        CREATE TABLE pipeline_scheduler_jobs (
            id VARCHAR(100) PRIMARY KEY, name VARCHAR(200) NOT NULL, pipeline_path TEXT NOT NULL,
            spec TEXT NOT NULL, python_code TEXT, code_hash VARCHAR(64), paused BOOLEAN NOT NULL,
            created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL, last_run_id INTEGER,
            last_run_status VARCHAR(20), last_run_finished_at FLOAT,
            trigger_watermark INTEGER NOT NULL);
        INSERT INTO pipeline_scheduler_jobs VALUES ('old', 'from version 1', 'ok.py',
            '{"schedule_type": "cron", "cron_expression": "0 3 * * *", "timezone": "UTC"}',
            NULL, NULL, 0, 1.0, 1.0, NULL, NULL, NULL, 0);
        """
    )
    db.commit()
    db.close()

    async def body(svc: SchedulerService) -> None:
        listed = await fresh(svc)
        assert [j["id"] for j in listed] == ["old"]
        await svc.jobs.set_paused("old", True)
        assert (await fresh(svc))[0]["paused"] is True

    with_service(settings, body)
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM pipeline_scheduler_meta WHERE key='schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    assert db.execute("SELECT seq FROM pipeline_scheduler_jobs WHERE id='old'").fetchone()[0] > 0
    db.close()
