"""What the job form relies on, through a real server: a one-off job that already fired
can be renamed (with or without its schedule sent again) and rescheduled; the field
messages of an error answer are whole (a '; ' inside one message does not cut it)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from api_support import FINAL_STATUSES, SchedulerClient


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


async def _fired_once_job(api: SchedulerClient) -> tuple[dict[str, Any], str]:
    """A one-off job whose run_date has passed and whose run happened."""
    when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    run_date = _iso(when)
    job = await api.create_job(
        name="One-off",
        pipeline_path="ok.py",
        schedule_type="date",
        date_type="once",
        run_date=run_date,
        timezone="Europe/Paris",
    )
    deadline = time.monotonic() + 30
    while True:
        runs = [r for r in await api.runs(job_id=job["id"]) if r["status"] in FINAL_STATUSES]
        if runs:
            break
        assert time.monotonic() < deadline, "the one-off job never ran"
        await asyncio.sleep(0.1)
    fired = (await api.get(f"jobs/{job['id']}")).body
    assert fired["next_run_time"] is None, fired
    return fired, run_date


async def test_a_fired_one_off_job_can_be_renamed(api: SchedulerClient) -> None:
    job, run_date = await _fired_once_job(api)

    # What the form sends now: only what changed.
    reply = await api.put(f"jobs/{job['id']}", {"name": "Renamed", "description": "kept"})
    assert reply.status == 200, reply
    assert reply.body["name"] == "Renamed"
    assert reply.body["next_run_time"] is None

    # An older client resends the whole form, the past date included: still a rename.
    full = {
        "name": "Renamed again",
        "pipeline_path": "ok.py",
        "schedule_type": "date",
        "date_type": "once",
        # The same instant, written another way.
        "run_date": run_date.replace("Z", "+00:00"),
        "timezone": "Europe/Paris",
    }
    reply = await api.put(f"jobs/{job['id']}", full)
    assert reply.status == 200, reply
    stored = (await api.get(f"jobs/{job['id']}")).body
    assert stored["name"] == "Renamed again"
    assert stored["next_run_time"] is None
    assert len(await api.runs(job_id=job["id"])) == 1, "a rename must not run it again"


async def test_a_fired_one_off_job_can_be_rescheduled_but_not_into_the_past(api: SchedulerClient) -> None:
    job, _ = await _fired_once_job(api)
    before = (await api.get(f"jobs/{job['id']}")).body

    past = _iso(datetime.now(timezone.utc) - timedelta(days=1))
    reply = await api.put(
        f"jobs/{job['id']}", {"schedule_type": "date", "date_type": "once", "run_date": past}
    )
    assert reply.status == 400, reply
    assert set(reply.body["fields"]) == {"run_date"}, reply
    after = (await api.get(f"jobs/{job['id']}")).body
    assert after["run_date"] == before["run_date"] and after["updated_at"] == before["updated_at"]

    future = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    reply = await api.put(f"jobs/{job['id']}", {"run_date": _iso(future)})
    assert reply.status == 200, reply
    assert datetime.fromisoformat(reply.body["next_run_time"]) == future


async def test_field_messages_are_whole(api: SchedulerClient) -> None:
    reply = await api.post("schedule/preview", {"schedule_type": "cron", "cron_expression": "61 * * * *"})
    assert reply.status == 400, reply
    # The hint after the '; ' belongs to the same field's message.
    assert reply.body["fields"] == {"cron_expression": "minute 61 is out of range; use 0-59."}, reply

    reply = await api.post(
        "jobs",
        {
            "name": "x",
            "pipeline_path": "ok.py",
            "schedule_type": "interval",
            "interval_seconds": 400 * 86400 * 10,
            "timeout_seconds": 0,
        },
    )
    assert reply.status == 400, reply
    assert set(reply.body["fields"]) == {"interval_seconds", "timeout_seconds"}, reply
    assert reply.body["fields"]["interval_seconds"].startswith("must be from 1 to 316224000"), reply
    assert await api.jobs() == []


async def test_duplicate_trigger_conditions_are_refused_at_their_field(api: SchedulerClient) -> None:
    upstream = await api.create_job(
        name="Upstream", pipeline_path="ok.py", schedule_type="interval", interval_seconds=3600
    )
    condition = {"job_id": upstream["id"], "on": "success"}
    reply = await api.post(
        "jobs",
        {
            "name": "Twice",
            "pipeline_path": "ok.py",
            "schedule_type": "trigger",
            "trigger_conditions": [condition, condition],
        },
    )
    assert reply.status == 400, reply
    assert "given twice" in reply.body["fields"]["trigger_conditions"], reply
    assert [j["name"] for j in await api.jobs()] == ["Upstream"]
