"""50 concurrent clients create, update, run and delete jobs for 30 s against a real
server: no 5xx, never 'database is locked', and the final state matches the requests that
succeeded. Plus static checks that nothing a client sends reaches a shell.

``make soak`` runs it for longer (AMPHI_SOAK_SECONDS)."""

from __future__ import annotations

import ast
import os
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_server_restart import JupyterServer

CLIENTS = 50
DURATION = float(os.environ.get("AMPHI_SOAK_SECONDS") or 30)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("load")
    root = home / "workspace"
    root.mkdir()
    (root / "quick.py").write_text("print('quick')\n")
    server = JupyterServer(root, home)
    server.start()
    yield server
    server.kill()


def test_fifty_concurrent_clients(server: JupyterServer, figure: Any) -> None:
    created: dict[str, str] = {}  # job id -> client
    deleted: set[str] = set()
    errors: list[str] = []
    counts = {"requests": 0}
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + DURATION

    def timed(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        started = time.monotonic()
        answer = server.request(method, path, body)
        with lock:
            latencies.append(time.monotonic() - started)
        return answer

    def check(status: int, answer: Any, what: str) -> bool:
        with lock:
            counts["requests"] += 1
        text = str(answer)
        if status >= 500 or "locked" in text:
            errors.append(f"{what} -> {status}: {text[:300]}")
            return False
        return 200 <= status < 300

    def client(n: int) -> None:
        rng = random.Random(n)
        mine: list[str] = []
        while time.monotonic() < stop_at:
            action = rng.choice(["create", "create", "update", "run", "delete", "list", "runs"])
            if action == "create" or not mine:
                spec = {
                    "name": f"c{n}-{rng.randrange(10**6)}",
                    "pipeline_path": "quick.py",
                    "schedule_type": "cron",
                    "cron_expression": f"{rng.randrange(60)} {rng.randrange(24)} * * *",
                }
                status, answer = timed("POST", "jobs", spec)
                if check(status, answer, "create"):
                    mine.append(answer["id"])
                    with lock:
                        created[answer["id"]] = str(n)
            elif action == "update":
                job = rng.choice(mine)
                status, answer = timed(
                    "PUT", f"jobs/{job}", {"name": f"renamed {n}", "paused": rng.random() < 0.5}
                )
                check(status, answer, "update")
            elif action == "run":
                status, answer = timed("POST", f"run/{rng.choice(mine)}", {"wait": False})
                check(status, answer, "run")
            elif action == "delete":
                job = mine.pop(rng.randrange(len(mine)))
                status, answer = timed("DELETE", f"jobs/{job}")
                if check(status, answer, "delete"):
                    with lock:
                        deleted.add(job)
            elif action == "list":
                check(*timed("GET", "jobs"), "list")
            else:
                check(*timed("GET", "runs?limit=50"), "runs")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DURATION + 120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, errors[:10]
    assert counts["requests"] > CLIENTS * 5, counts
    ordered = sorted(latencies)
    median, p99 = statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))]
    figure(
        f"load: {CLIENTS} clients for {DURATION:.0f} s",
        f"{counts['requests']} requests ({counts['requests'] / DURATION:.0f}/s), 0 errors; latency "
        f"median {median * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms",
    )

    final = {j["id"] for j in server.ok("GET", "jobs")["jobs"]}
    assert final == set(created) - deleted
    # Runs of deleted jobs went with them; every remaining run belongs to a live job.
    deadline = time.monotonic() + 60
    while True:
        runs = server.ok("GET", "runs?limit=1000")["runs"]
        if all(r["status"] not in ("queued", "running") for r in runs) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {r["job_id"] for r in runs} <= final
    assert all(r["status"] in ("success", "cancelled", "skipped") for r in runs), {r["status"] for r in runs}


def test_nothing_reaches_a_shell() -> None:
    """No shell anywhere in the server package: subprocesses get argument lists."""
    for path in (REPO / "pipeline_scheduler").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                assert name not in {
                    "os.system",
                    "os.popen",
                    "subprocess.getoutput",
                    "asyncio.create_subprocess_shell",
                }, (path, name)
                for kw in node.keywords:
                    assert not (kw.arg == "shell" and ast.unparse(kw.value) != "False"), (path, name)
