"""A scheduler in a process of its own, for the restart test: it starts one Ray run of
``two_steps.py``, prints its ids once the run's first line is in its log, then waits to be
killed (``kill -9``: no clean stop, as when a host dies)."""

from __future__ import annotations

import asyncio
import json
import sys

from pipeline_scheduler.app import SchedulerService
from pipeline_scheduler.settings import SchedulerSettings


async def main(values: dict[str, object], env: dict[str, str]) -> None:
    svc = SchedulerService(SchedulerSettings(**values))
    await svc.start()
    body = {"name": "survivor", "pipeline_path": "two_steps.py", "schedule_type": "cron"}
    job, _ = await svc.jobs.create({**body, "cron_expression": "0 3 * * *", "env": env})
    run, _ = await svc.runs.run_now(job["id"], wait=False)
    while "first line" not in (await svc.runs.read_log(run["id"], 0, 1 << 16))["data"]:
        await asyncio.sleep(0.1)
    print(json.dumps({"run_id": run["id"], "job_id": job["id"]}), flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1]), json.loads(sys.argv[2])))
