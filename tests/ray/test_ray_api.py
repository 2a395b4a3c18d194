"""The Ray backend through a real Jupyter server (pytest-jupyter) and the REST API: a job
with runner 'ray' and reservations, its run's answer (backend, ray_submission_id), refused
Ray fields, and the clear 400 without the Ray extra."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray.job_submission", reason='needs the Ray extra: pip install ".[ray]"')

from cluster_support import RayCluster
from ray_helpers import write_workspace

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from api_support import SchedulerClient  # noqa: E402

from pipeline_scheduler import ray_runner  # noqa: E402


@pytest.fixture
def jp_server_config(ray_cluster: RayCluster, tmp_path: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"pipeline_scheduler": True}},
        "PipelineSchedulerApp": {
            "timezone": "UTC",
            "db_url": f"sqlite:///{tmp_path / 'state' / 'scheduler.sqlite'}",
            "ray_address": ray_cluster.address,
        },
    }


@pytest.fixture
def api(jp_fetch: Callable[..., Any], jp_root_dir: Path) -> SchedulerClient:
    write_workspace(jp_root_dir)
    (jp_root_dir / "notes.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    return SchedulerClient(jp_fetch)


def job(**extra: Any) -> dict[str, Any]:
    base = {
        "name": "where",
        "pipeline_path": "where.py",
        "schedule_type": "cron",
        "cron_expression": "0 3 * * *",
    }
    return {**base, **extra}


async def test_a_ray_job_runs_on_the_node_with_its_resource_and_says_where(api: SchedulerClient) -> None:
    created = await api.create_job(
        **job(runner="ray", resources={"special": 1}, num_cpus=0.5, memory=10_000_000)
    )
    assert created["runner"] == "ray"
    assert (created["resources"], created["num_cpus"], created["memory"]) == ({"special": 1}, 0.5, 10_000_000)
    started = await api.start_run(created["id"])
    assert started["backend"] == "ray"
    run = await api.wait_run(started["id"], timeout=120)
    assert run["status"] == "success", run
    assert run["backend"] == "ray"
    assert run["ray_submission_id"].startswith("amphi-") and run["ray_submission_id"].endswith(
        f"-run-{run['id']}"
    )
    assert "ran in" in run["output"]
    listed = await api.runs(job_id=created["id"])
    assert [(r["backend"], r["ray_submission_id"]) for r in listed] == [("ray", run["ray_submission_id"])]
    # A local job on the same server says so.
    local = await api.create_job(**job(name="here", runner="local"))
    result = await api.run_now(local["id"])
    assert result["success"] is True
    here = (await api.get(f"runs/{result['run_id']}")).body
    assert (here["backend"], here["ray_submission_id"]) == ("local", None)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"runner": "dask"}, "runner"),
        ({"runner": "ray", "num_cpus": -1}, "num_cpus"),
        ({"runner": "ray", "num_gpus": "many"}, "num_gpus"),
        ({"runner": "ray", "memory": 1.5}, "memory"),
        ({"runner": "ray", "resources": {"bad name!": 1}}, "resources"),
        ({"runner": "ray", "resources": {"GPU": -2}}, "resources"),
        ({"runner": "ray", "pipeline_path": "notes.ipynb"}, "runner"),
    ],
)
async def test_bad_ray_fields_are_refused_and_change_nothing(
    api: SchedulerClient, extra: dict[str, Any], field: str
) -> None:
    reply = await api.post("jobs", job(**extra))
    assert reply.status == 400, reply
    assert field in reply.body["fields"], reply
    assert await api.jobs() == []


async def test_without_the_ray_extra_choosing_ray_names_the_extra(
    api: SchedulerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ray_runner, "ray_available", lambda: False)
    reply = await api.post("jobs", job(runner="ray"))
    assert reply.status == 400, reply
    assert 'pip install "amphi-scheduler[ray]"' in reply.body["error"]
    assert "runner" in reply.body["fields"]
    assert await api.jobs() == []
