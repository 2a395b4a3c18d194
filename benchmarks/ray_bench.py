"""``make bench`` figure: what the scheduler adds to a run on Ray, against Ray's own bare
``submit_job`` of the same no-op command on the same cluster, in the same run.

A throw-away local cluster (one head node on 127.0.0.1, tests/ray/cluster_support.py)
runs both, interleaved so that both see the same load: the scheduler's runs go through
``SchedulerService`` with ``runner = "ray"`` (record, working_dir upload, submit, status
polls, live log, record the end: ``run_now(wait=True)``); the bare ones are
``submit_job`` then ``get_job_status`` every 0.1 s until the job ended. The figure is the
ratio of the medians, and the per-run difference. The difference is mostly Ray's log
stream: a run's log is complete once the entrypoint's last line (``ray_runner.end_line``)
has come through ``tail_job_logs``, a second or two after the job ended (Ray's server
reads the log file every second); the bare baseline reads no log at all. For a pipeline
that runs minutes that is noise; for a no-op it is most of the figure, hence its budget.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .figures import Figure

ROOT = Path(__file__).resolve().parent.parent
NOOP = "pass\n"


def bench_ray_overhead(client: Any, ws: Path, server: Any, quick: bool) -> list[Figure]:
    name = "run on Ray: scheduler vs bare submit_job (no-op, medians)"
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        return [Figure(name, 'Ray not installed (pip install ".[ray]")', "", None)]
    folder = ROOT / "tests" / "ray"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    import cluster_support as cs  # type: ignore[import-not-found]

    rounds = 3 if quick else 6
    temp_dir = Path(tempfile.mkdtemp(prefix="amphi-bench-ray-"))
    port, dashboard = cs.free_port(), cs.free_port()
    cluster = cs.RayCluster(f"http://127.0.0.1:{dashboard}", f"127.0.0.1:{port}", temp_dir, cs.node_env())
    args = [
        cs.RAY,
        "start",
        "--head",
        "--block",
        "--num-cpus=1",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={cs.free_port()}",
        "--include-dashboard=true",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        *cs.node_ports(),
    ]
    try:
        head = cluster.start_node(args, temp_dir / "head.log", {"CPU": 1}, cluster.alive_nodes, 180)
        cs.wait_for(lambda: cs.answers(f"{cluster.address}/api/jobs/"), 60, "the Ray job API", head)
        workspace = ws / "ray"
        workspace.mkdir(parents=True, exist_ok=True)
        (workspace / "noop.py").write_text(NOOP)
        bare_client = JobSubmissionClient(cluster.address)
        scheduled, bare = asyncio.run(_measure(workspace, cluster.address, bare_client, rounds))
    finally:
        cluster.stop()
    ours, theirs = statistics.median(scheduled), statistics.median(bare)
    ratio = ours / theirs
    value = (
        f"{ratio:.2f}x ({ours:.2f} s vs {theirs:.2f} s per run, +{ours - theirs:.2f} s; {rounds} runs each)"
    )
    return [Figure(name, value, "< 2.5x", ratio < 2.5)]


async def _measure(
    workspace: Path, address: str, bare_client: Any, rounds: int
) -> tuple[list[float], list[float]]:
    from pipeline_scheduler.app import SchedulerService
    from pipeline_scheduler.settings import SchedulerSettings

    settings = SchedulerSettings(
        workspace_dir=str(workspace),
        db_url=f"sqlite:///{workspace.parent}/bench-ray.sqlite",
        log_dir=str(workspace.parent / "logs"),
        timezone="UTC",
        runner="ray",
        ray_address=address,
    )
    svc = SchedulerService(settings)
    await svc.start()
    loop = asyncio.get_running_loop()
    scheduled: list[float] = []
    bare: list[float] = []
    try:
        body = {
            "name": "noop",
            "pipeline_path": "noop.py",
            "schedule_type": "cron",
            "cron_expression": "0 3 * * *",
        }
        job, _ = await svc.jobs.create(body)
        await svc.runs.run_now(job["id"], wait=True)  # warm: the first upload of the folder
        await loop.run_in_executor(None, _bare_run, bare_client, workspace)
        for _ in range(rounds):
            started = time.perf_counter()
            result, _ = await svc.runs.run_now(job["id"], wait=True)
            scheduled.append(time.perf_counter() - started)
            if not result["success"]:
                raise RuntimeError(f"the scheduler's Ray run failed: {result['error']}")
            bare.append(await loop.run_in_executor(None, _bare_run, bare_client, workspace))
    finally:
        await svc.stop()
    return scheduled, bare


def _bare_run(client: Any, workspace: Path) -> float:
    started = time.perf_counter()
    sid = client.submit_job(entrypoint="python -u noop.py", runtime_env={"working_dir": str(workspace)})
    while str(client.get_job_status(sid)) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    if str(client.get_job_status(sid)) != "SUCCEEDED":
        raise RuntimeError(f"the bare Ray job {sid} did not succeed")
    return elapsed
