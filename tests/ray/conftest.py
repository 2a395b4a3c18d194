"""A real local Ray cluster for the Ray backend's tests: a head node and a worker node
with a custom resource ("special"), both on 127.0.0.1, started once per session.

Each node is a ``ray start --block`` process this fixture owns (in its own session, with
its own temp folder and ports), so stopping it ends exactly what it started: the session's
processes, then any job process whose working folder is under that temp folder. ``ray
stop`` is not used: it would stop every Ray cluster of the machine.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_support import RAY, RayCluster, answers, free_port, node_env, node_ports, wait_for


def pytest_configure(config: pytest.Config) -> None:
    # Ray's own job client (aiohttp's ws_connect with ssl=None), not this project.
    config.addinivalue_line("filterwarnings", "ignore:ssl=None is deprecated:DeprecationWarning")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ray/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.ray)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    reused = os.environ.get("AMPHI_TEST_RAY_CLUSTER")  # "<dashboard> <gcs> <temp dir>" while developing
    if reused:
        address, gcs, folder = reused.split()
        cluster = RayCluster(address, gcs, Path(folder), node_env())
        yield cluster
        for node in cluster.nodes:  # the nodes the tests added
            node.kill()
        return
    temp_dir = Path(tempfile.mkdtemp(prefix="amphi-ray-"))
    port, dashboard = free_port(), free_port()
    cluster = RayCluster(f"http://127.0.0.1:{dashboard}", f"127.0.0.1:{port}", temp_dir, node_env())
    args = [
        RAY,
        "start",
        "--head",
        "--block",
        "--num-cpus=1",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--ray-client-server-port={free_port()}",
        "--include-dashboard=true",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        *node_ports(),
    ]
    try:
        head = cluster.start_node(args, temp_dir / "head.log", {"CPU": 1}, cluster.alive_nodes, 120)
        wait_for(lambda: answers(f"{cluster.address}/api/jobs/"), 60, "the Ray job API", head)
        cluster.add_node({"special": 1})
        yield cluster
    finally:
        cluster.stop()
