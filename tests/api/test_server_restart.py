"""A real ``jupyter server`` process, stopped with SIGTERM (its own stop path) and started
again on the same workspace: the default database (<root>/.amphi/scheduler.sqlite) keeps
jobs, next fire times and run history, and a pipeline running at stop is ended with it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from api_support import write_pipelines

REPO = Path(__file__).resolve().parents[2]
TOKEN = "restart-test-token"

PID_PIPELINE = """
import os, time
from pathlib import Path
Path("pid.txt").write_text(str(os.getpid()))
print("started", flush=True)
time.sleep(120)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; its parent (the stopped server) is gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class JupyterServer:
    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / f"server-{self.port}.log"

    def start(self) -> None:
        config_dir = self.home / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "jupyter_server_config.json").write_text(
            # Only this extension: the others installed here would just slow the start down.
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {
                            "pipeline_scheduler": True,
                            "jupyterlab": False,
                            "jupyter_lsp": False,
                            "notebook_shim": False,
                            "jupyter_server_terminals": False,
                        }
                    }
                }
            )
        )
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(self.home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        argv = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--port={self.port}",
            "--port-retries=0",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={self.root}",
            "--PipelineSchedulerApp.timezone=UTC",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"server exited: {self.log_path.read_text()[-3000:]}"
            try:
                status, _ = self.request("GET", "api/status", prefix="")
                if status == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, self.log_path.read_text()[-3000:]
            time.sleep(0.1)

    def stop(self) -> float:
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server ignored SIGTERM: {self.log_path.read_text()[-3000:]}") from None
        assert code == 0, f"server exited with {code}: {self.log_path.read_text()[-3000:]}"
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def request(
        self, method: str, path: str, body: Any = None, prefix: str = "pipeline-scheduler/"
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{prefix}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.request(method, path, body)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer


@pytest.fixture
def server_factory(tmp_path: Path) -> Any:
    root = tmp_path / "workspace"
    root.mkdir()
    write_pipelines(root)
    (root / "pid_forever.py").write_text(PID_PIPELINE)
    servers: list[JupyterServer] = []

    def make() -> JupyterServer:
        server = JupyterServer(root, tmp_path / "home")
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.kill()


def test_real_server_restart_keeps_jobs_and_history(server_factory: Any) -> None:
    first = server_factory()
    root = first.root
    upstream = first.ok(
        "POST",
        "jobs",
        {"name": "upstream", "pipeline_path": "ok.py", "schedule_type": "interval", "interval_seconds": 3600},
    )
    specs: list[dict[str, Any]] = [
        {"schedule_type": "date", "date_type": "once", "run_date": "2031-05-01T10:00:00.000Z"},
        {
            "schedule_type": "date",
            "date_type": "daily",
            "run_date": "2030-01-15T07:30:00.000Z",
            "timezone": "Europe/Paris",
        },
        {"schedule_type": "date", "date_type": "weekly", "run_date": "2030-01-16T18:00:00.000Z"},
        {"schedule_type": "date", "date_type": "monthly", "run_date": "2030-01-05T06:45:00.000Z"},
        {"schedule_type": "date", "date_type": "every_x_days", "interval_days": 2},
        {"schedule_type": "cron", "cron_expression": "0 */2 * * *"},
        {"schedule_type": "trigger", "trigger_conditions": [{"job_id": upstream["id"], "on": "failure"}]},
    ]
    for i, spec in enumerate(specs):
        first.ok("POST", "jobs", {"name": f"job {i}", "pipeline_path": "ok.py", **spec})
    done = first.ok("POST", f"run/{upstream['id']}")
    assert done["success"] is True

    sleeper = first.ok(
        "POST",
        "jobs",
        {
            "name": "sleeper",
            "pipeline_path": "pid_forever.py",
            "schedule_type": "interval",
            "interval_seconds": 3600,
        },
    )
    active = first.ok("POST", f"run/{sleeper['id']}", {"wait": False})
    deadline = time.monotonic() + 15
    while not (root / "pid.txt").exists() or not (root / "pid.txt").read_text():
        assert time.monotonic() < deadline, "the pipeline never started"
        time.sleep(0.05)
    pipeline_pid = int((root / "pid.txt").read_text())
    assert _alive(pipeline_pid)

    jobs_before = first.ok("GET", "jobs")["jobs"]
    runs_before = first.ok("GET", "runs")["runs"]
    assert len(jobs_before) == 9

    took = first.stop()
    print(f"\nSIGTERM to exit: {took:.2f} s")
    assert took < 20
    assert not _alive(pipeline_pid), "the pipeline must not outlive the server"
    assert (root / ".amphi" / "scheduler.sqlite").is_file()

    second = server_factory()
    jobs_after = second.ok("GET", "jobs")["jobs"]

    def strip_last_run(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in j.items() if k != "last_run"} for j in jobs]

    assert strip_last_run(jobs_after) == strip_last_run(jobs_before)
    assert [j["next_run_time"] for j in jobs_after] == [j["next_run_time"] for j in jobs_before]
    by_id = {j["id"]: j for j in jobs_after}
    assert by_id[upstream["id"]]["last_run"] == {
        "id": done["run_id"],
        "status": "success",
        "finished_at": runs_before[-1]["finished_at"],
    }

    runs_after = second.ok("GET", "runs")["runs"]
    assert [r["id"] for r in runs_after] == [r["id"] for r in runs_before]
    finished_before = {r["id"]: r for r in runs_before if r["status"] == "success"}
    for run in runs_after:
        if run["id"] in finished_before:
            assert run == finished_before[run["id"]]
    ended = second.ok("GET", f"runs/{active['id']}")
    assert ended["status"] in ("cancelled", "interrupted"), ended
    assert by_id[sleeper["id"]]["last_run"]["status"] == ended["status"]
    detail = second.ok("GET", f"runs/{done['run_id']}")
    assert "hello from ok" in detail["output"]

    again = second.ok("POST", f"run/{upstream['id']}")
    assert again["success"] is True and again["run_id"] > max(r["id"] for r in runs_before)
    second.stop()
