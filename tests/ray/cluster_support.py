"""A local Ray cluster made of ``ray start --block`` processes this module owns (see
conftest.py's ``ray_cluster`` fixture)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

VENV_BIN = Path(sys.executable).parent
RAY = str(VENV_BIN / "ray")


def _favoured(niceness: int) -> Callable[[], None]:
    """Run a node's processes ahead of other work on a busy machine (when allowed): its
    raylet gives its agents a fixed 15 s to start (a worker's more than the head's, which is
    up by then and would slow the worker down)."""

    def nice() -> None:
        try:
            os.nice(niceness)
        except OSError:
            pass

    return nice


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_ports() -> list[str]:
    return [
        f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
    ]


@dataclass
class RayNode:
    process: subprocess.Popen[bytes]
    log: Path
    resources: dict[str, float] = field(default_factory=dict)

    def kill(self) -> None:
        """SIGKILL every process of the node (its session), as a crash of its host would."""
        sid = self.process.pid
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) == sid:
                    proc.kill()
            except (ProcessLookupError, PermissionError, psutil.Error):
                pass
        self.process.wait(timeout=10)


@dataclass
class RayCluster:
    address: str  # the dashboard: the Job Submission API
    gcs_address: str
    temp_dir: Path
    env: dict[str, str]
    nodes: list[RayNode] = field(default_factory=list)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.address}{path}", timeout=10) as answer:
            return json.loads(answer.read())

    def alive_nodes(self) -> list[dict[str, Any]]:
        try:
            nodes = self.get("/api/v0/nodes?detail=1")["data"]["result"]["result"]
        except OSError:
            return []
        return [n for n in nodes if n["state"] == "ALIVE"]

    def node_with(self, resource: str) -> dict[str, Any] | None:
        return next((n for n in self.alive_nodes() if resource in n["resources_total"]), None)

    def add_node(self, resources: dict[str, float], timeout: float = 90) -> RayNode:
        """Start a worker node with ``resources``; answer once the cluster sees it."""
        log = self.temp_dir / f"node-{len(self.nodes)}.log"
        args = [
            RAY,
            "start",
            "--block",
            f"--address={self.gcs_address}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            f"--resources={json.dumps(resources)}",
            *node_ports(),
        ]
        name = next(iter(resources))
        return self.start_node(args, log, resources, lambda: self.node_with(name), timeout)

    def start_node(
        self, args: list[str], log: Path, resources: dict[str, float], ready: Any, timeout: float
    ) -> RayNode:
        """Start a node; start it again when it gave up starting. Ray's raylet waits a fixed
        15 s for its agents' port files, which a busy 2-core machine does not always meet."""
        for attempt in range(3):
            node = RayNode(self._spawn(args, log), log, resources)
            self.nodes.append(node)
            try:
                wait_for(ready, timeout, f"the node {args[2:4]}", node)
                return node
            except NodeExitedError:
                node.kill()
                self.nodes.remove(node)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        niceness = -10 if "--head" in args else -19
        with open(log, "wb") as out:
            return subprocess.Popen(
                args,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_favoured(niceness),
            )

    def stop(self) -> None:
        for node in reversed(self.nodes):
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for node in self.nodes:
            try:
                node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            node.kill()
        # Job processes run in sessions of their own: end those working in our folder.
        for proc in psutil.process_iter():
            try:
                if proc.cwd().startswith(str(self.temp_dir)):
                    proc.kill()
            except (psutil.Error, OSError):
                pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class NodeExitedError(RuntimeError):
    pass


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def wait_for(check: Any, timeout: float, what: str, node: RayNode | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if node is not None and node.process.poll() is not None:
            raise NodeExitedError(f"ray start exited: {node.log.read_text()[-3000:]}")
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def node_env() -> dict[str, str]:
    return {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        # The nodes' `python` is this environment's (the pipelines' interpreter).
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        # A killed node is noticed within seconds, not half a minute.
        "RAY_health_check_period_ms": "1000",
        "RAY_health_check_timeout_ms": "4000",
        "RAY_health_check_failure_threshold": "4",
        # On a busy 2-core machine the node's agents may take a minute to come up.
        "RAY_agent_register_timeout_ms": "300000",
    }
