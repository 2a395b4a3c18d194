"""The Ray Jobs backend against a real local cluster (see conftest.py): output, exit code,
live log, cancel and timeout of the whole process tree, resources routing, unfit
resources, the cluster unreachable, a dead node, a server killed while Ray runs a job.
Driven through SchedulerService (the API's answers: test_ray_api.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

pytest.importorskip("ray.job_submission", reason='needs the Ray extra: pip install ".[ray]"')

from cluster_support import RayCluster, free_port, wait_for
from ray.job_submission import JobSubmissionClient
from ray_helpers import create, finished, log_text, ray_settings, start, wait_until, with_service

from pipeline_scheduler.app import SchedulerService


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _pids(path: Path) -> list[int]:
    async def written() -> list[int] | None:
        text = path.read_text() if path.exists() else ""
        return [int(p) for p in text.split()] if len(text.split()) == 2 else None

    return await wait_until(written, 120, f"pids in {path}")  # type: ignore[no-any-return]


def _job_info(cluster: RayCluster, submission_id: str) -> Any:
    return JobSubmissionClient(cluster.address).get_job_info(submission_id)


def test_output_exit_code_env_secret_and_live_log(ray_cluster: RayCluster, tmp_path: Path) -> None:
    flag = tmp_path / "go"

    async def body(svc: SchedulerService) -> None:
        job_id = await create(
            svc,
            "two_steps.py",
            env={"GREETING": "bonjour", "FLAG": str(flag)},
            secret_env={"TOKEN": "s3cr3t-value"},
        )
        run_id = await start(svc, job_id)

        async def first_line_live() -> bool:
            run = await svc.runs.get(run_id)
            return run["status"] == "running" and "first line" in await log_text(svc, run_id)

        await wait_until(first_line_live, 120, "the first line while running")
        live = await log_text(svc, run_id)
        assert "second line" not in live
        flag.write_text("go")
        run = await finished(svc, run_id)
        assert run["status"] == "failure", run
        assert run["exit_code"] == 3
        assert run["message"] == "Exited with code 3."
        assert run["backend"] == "ray"
        assert run["ray_submission_id"] == svc.executor.backends["ray"].submission_id(run_id)
        whole = await log_text(svc, run_id)
        for text in (run["output"], whole):
            assert "first line bonjour ***" in text
            assert "s3cr3t-value" not in text
            # The pipeline's folder was shipped, the server's database folder was not.
            assert "'data.txt'" in text and "'.amphi'" not in text
        assert whole.startswith("[amphi-scheduler] run ")
        # The line that tells the log is whole stays out of the log and the tail (Ray's own
        # line about the entrypoint shows the command that prints it, not the line).
        for text in (whole, run["output"]):
            assert not [line for line in text.splitlines() if line.startswith("[amphi-scheduler] end of")]
        # (exactly: the pipeline's last newline stays, the line's own two go)
        assert whole.endswith("]\n\n[amphi-scheduler] Exited with code 3.\n"), whole[-200:]
        info = _job_info(ray_cluster, run["ray_submission_id"])
        assert info.driver_exit_code == 3
        assert "two_steps.py; amphi_code=$?;" in info.entrypoint

    with_service(ray_settings(tmp_path, ray_cluster.address), body)


def test_cancel_and_timeout_stop_the_process_tree_on_the_node(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    async def body(svc: SchedulerService) -> None:
        cancel_pids, timeout_pids = tmp_path / "cancel.pids", tmp_path / "timeout.pids"
        to_cancel = await create(svc, "tree.py", env={"PIDS": str(cancel_pids)})
        to_time_out = await create(svc, "tree.py", env={"PIDS": str(timeout_pids)}, timeout_seconds=8)
        cancelled_id, timed_out_id = await start(svc, to_cancel), await start(svc, to_time_out)
        pids = await _pids(cancel_pids)
        started = time.monotonic()
        answer = await svc.runs.cancel(cancelled_id)
        assert answer["status"] == "cancelled", answer
        assert answer["message"] == "Cancelled."  # also when no status poll saw it run yet
        for pid in pids:  # the entrypoint and the grandchild it started
            wait_for(lambda pid=pid: _gone(pid), 15, f"process {pid}")
        assert time.monotonic() - started < 20
        timed_out = await finished(svc, timed_out_id)
        assert timed_out["status"] == "timeout", timed_out
        assert "8 s timeout" in timed_out["message"]
        for pid in await _pids(timeout_pids):
            wait_for(lambda pid=pid: _gone(pid), 15, f"process {pid}")
        for run in (answer, timed_out):
            assert str(_job_info(ray_cluster, run["ray_submission_id"]).status) == "STOPPED"

    with_service(ray_settings(tmp_path, ray_cluster.address), body)


def test_custom_resource_routes_to_the_node_that_has_it(ray_cluster: RayCluster, tmp_path: Path) -> None:
    special = ray_cluster.node_with("special")
    assert special is not None

    async def body(svc: SchedulerService) -> None:
        routed = await create(svc, "where.py", resources={"special": 1}, num_cpus=0.5)
        anywhere = await create(svc, "where.py")
        first, second = await start(svc, routed), await start(svc, anywhere)
        runs = [await finished(svc, first), await finished(svc, second)]
        assert [r["status"] for r in runs] == ["success", "success"], runs
        nodes = [_job_info(ray_cluster, r["ray_submission_id"]).driver_node_id for r in runs]
        assert nodes[0] == special["node_id"]
        # Without a reservation the job may run anywhere; with one, only where it fits.
        assert nodes[1] in {n["node_id"] for n in ray_cluster.alive_nodes()}

    with_service(ray_settings(tmp_path, ray_cluster.address), body)


def test_resources_no_node_has_are_refused_or_time_out(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def body(svc: SchedulerService) -> None:
        job_id = await create(svc, "where.py", resources={"special": 5}, num_gpus=1)
        started = time.monotonic()
        run = await finished(svc, await start(svc, job_id))
        assert run["status"] == "failure", run
        assert "No node of the Ray cluster" in run["message"]
        assert "GPU: 1, special: 5" in run["message"]
        assert ray_cluster.address in run["message"]
        assert time.monotonic() - started < 15

    with_service(ray_settings(tmp_path, ray_cluster.address), body)

    async def waiting(svc: SchedulerService) -> None:
        job_id = await create(svc, "where.py", resources={"nowhere": 1})
        run = await finished(svc, await start(svc, job_id))
        assert run["status"] == "failure", run
        assert "still waiting for resources" in run["message"]
        assert "after 3 s" in run["message"]
        assert "nowhere: 1" in run["message"]
        info = _job_info(ray_cluster, run["ray_submission_id"])
        assert info.driver_exit_code is None and str(info.status) != "RUNNING"  # it never ran

    relaxed = ray_settings(
        tmp_path / "relaxed",
        ray_cluster.address,
        ray_refuse_unfit_resources=False,
        ray_pending_timeout_seconds=3,
    )
    with_service(relaxed, waiting)


def test_cluster_unreachable_fails_clearly_and_local_runs_go_on(tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{free_port()}"

    async def body(svc: SchedulerService) -> None:
        on_ray = await create(svc, "where.py")
        local = await create(svc, "where.py", runner="local")
        ray_run, local_run = await start(svc, on_ray), await start(svc, local)
        failed, ran = await finished(svc, ray_run, 60), await finished(svc, local_run, 60)
        assert failed["status"] == "failure"
        assert f"Cannot reach the Ray cluster at {address}" in failed["message"]
        assert "ray_address" in failed["message"] and "head node" in failed["message"]
        assert ran["status"] == "success" and ran["backend"] == "local"
        assert "ran in" in ran["output"]
        assert "runner" not in (await svc.jobs.get(on_ray))

    with_service(ray_settings(tmp_path, address), body)


def test_a_killed_worker_node_gives_interrupted_and_no_second_copy(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    node = ray_cluster.add_node({"doomed": 1})
    pids_file = tmp_path / "doomed.pids"

    async def body(svc: SchedulerService) -> None:
        job_id = await create(
            svc, "tree.py", env={"PIDS": str(pids_file)}, resources={"doomed": 1}, max_retries=0
        )
        run_id = await start(svc, job_id)
        pids = await _pids(pids_file)
        await asyncio.get_running_loop().run_in_executor(None, node.kill)
        run = await finished(svc, run_id, 120)
        assert run["status"] == "interrupted", run
        assert "node" in run["message"]
        for pid in pids:
            wait_for(lambda pid=pid: _gone(pid), 20, f"process {pid}")
        runs = (await svc.runs.list(job_id=job_id))["runs"]
        assert [r["id"] for r in runs] == [run_id]
        jobs = JobSubmissionClient(ray_cluster.address).list_jobs()
        assert [j.submission_id for j in jobs if j.submission_id == run["ray_submission_id"]] == [
            run["ray_submission_id"]
        ]
        assert str(_job_info(ray_cluster, run["ray_submission_id"]).status) == "FAILED"

    with_service(ray_settings(tmp_path, ray_cluster.address), body)


def test_a_server_killed_while_ray_runs_a_job_is_reattached_by_the_next(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    settings = ray_settings(tmp_path, ray_cluster.address)
    flag = tmp_path / "go"
    env = {"GREETING": "again", "FLAG": str(flag), "TOKEN": "t"}
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("crashing_server.py")),
            json.dumps(settings.values()),
            json.dumps(env),
        ],
        stdout=subprocess.PIPE,
        cwd=str(Path(__file__).parents[2]),
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, "the first server did not start its run"
        ids = json.loads(line)
    finally:
        child.kill()
        child.wait()

    async def body(svc: SchedulerService) -> None:
        run_id = ids["run_id"]
        # Not marked interrupted: this server follows it.
        assert run_id in svc.executor.running_ids()
        run = await svc.runs.get(run_id)
        assert run["status"] == "running" and run["backend"] == "ray"
        flag.write_text("go")
        run = await finished(svc, run_id)
        assert run["status"] == "failure" and run["exit_code"] == 3, run
        text = await log_text(svc, run_id)
        assert "reattached to Ray job" in text
        assert text.count("first line again") == 1 and text.count("second line") == 1
        assert "first line again" in run["output"]
        jobs = JobSubmissionClient(ray_cluster.address).list_jobs()
        assert [j.submission_id for j in jobs].count(run["ray_submission_id"]) == 1
        assert len((await svc.runs.list(job_id=ids["job_id"]))["runs"]) == 1

    with_service(settings, body)
