"""GET jobs is built from cached JSON of each job's static part: it must answer exactly
what the plain list does, and follow every change (edit, pause, run, delete)."""

from __future__ import annotations

import json
from pathlib import Path

from unit_helpers import with_service

from pipeline_scheduler.service import SchedulerService, SchedulerSettings


def test_cached_json_list_equals_the_plain_list(settings: SchedulerSettings, workspace: Path) -> None:
    async def body(svc: SchedulerService) -> None:
        async def same() -> list[dict]:
            plain = await svc.list_jobs()
            fast = json.loads(await svc.list_jobs_json())["jobs"]
            assert fast == plain
            return plain

        cron, _ = await svc.create_job(
            {
                "name": "cron",
                "pipeline_path": "ok.py",
                "schedule_type": "cron",
                "cron_expression": "0 3 * * *",
                "timezone": "Europe/Paris",
                "env": {"A": "1"},
            }
        )
        interval, _ = await svc.create_job(
            {
                "name": "interval",
                "pipeline_path": "fail.py",
                "schedule_type": "interval",
                "interval_seconds": 3600,
            }
        )
        await svc.create_job(
            {
                "name": "after",
                "pipeline_path": "ok.py",
                "schedule_type": "trigger",
                "trigger_conditions": [{"job_id": cron["id"], "on": "success"}],
            }
        )
        await svc.create_job(
            {
                "name": "amphi",
                "pipeline_path": "flow.ampln",
                "python_code": "print(1)",
                "schedule_type": "date",
                "date_type": "daily",
                "run_date": "2030-01-01T08:00:00Z",
            }
        )
        first = await same()
        assert len(first) == 4
        await same()  # from the cache this time
        await svc.update_job(cron["id"], {"name": "cron renamed", "cron_expression": "5 4 * * *"})
        await svc.set_paused(interval["id"], True)
        await svc.run_now(interval["id"])
        (workspace / "flow.ampln").write_text('{"changed": true}\n')
        after = {j["name"]: j for j in await same()}
        assert after["cron renamed"]["schedule_description"].startswith("At 04:05")
        assert after["interval"]["paused"] is True and after["interval"]["next_run_time"] is None
        assert after["interval"]["last_run"]["status"] == "failure"
        assert after["after"]["schedule_description"] == "After 'cron renamed' succeeds"
        assert after["amphi"]["pipeline_changed"] is True
        await svc.set_paused(interval["id"], False)
        await svc.delete_job(interval["id"])
        assert {j["name"] for j in await same()} == {"cron renamed", "after", "amphi"}

    with_service(settings, body)
