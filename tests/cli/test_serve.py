"""``amphi-scheduler serve``: the headless service fires jobs with no JupyterLab running,
stops cleanly on SIGTERM (exit 0, its pipelines stopped by the extension's own shutdown),
says why it could not start (exit 3), and hands the scheduler over to and from a second
Jupyter server on the same workspace."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from pathlib import Path

from cli_support import CLI, TOKEN, EngineServer, Workspace, jupyter_env, pid_gone, sync_poll


def _scheduled_successes(server: EngineServer, job_id: str) -> list[dict[str, object]]:
    return [r for r in server.runs(job_id) if r["triggered_by"] == "schedule" and r["status"] == "success"]


def test_service_fires_an_interval_job_and_stops_on_sigterm(workspace: Workspace) -> None:
    service = workspace.serve().start()
    out = service.stdout()
    assert f"at http://127.0.0.1:{service.port}/ (scheduler active)" in out
    assert "token:" not in out  # the token was given, not generated: not printed

    job = workspace.json("jobs", "add", "--name", "tick", "--path", "ok.py", "--every", "2")
    sync_poll(lambda: _scheduled_successes(service, job["id"]), timeout=20, what="a scheduled run")
    assert (workspace.root / ".amphi" / "scheduler.sqlite").is_file()

    # A pipeline still running at SIGTERM is stopped by the shutdown policy (cancel).
    workspace.json("jobs", "pause", "tick")
    sleeper = workspace.json("jobs", "add", "--name", "sleeper", "--path", "sleep.py", "--every", "3600")
    run = workspace.json("run", "sleeper")
    sync_poll(lambda: service.ok("GET", f"runs/{run['id']}")["status"] == "running", what="running")
    pids = _pipeline_pids(workspace.root / "sleep.py")
    assert pids, "the pipeline process must be found"

    assert service.stop_code() == 0, service.tail()
    assert all(pid_gone(p) for p in pids), "the pipeline must not outlive the service"
    assert not list((workspace.home / "runtime").glob("jpserver-*.json")), "runtime file removed"

    again = workspace.serve().start()
    assert again.ok("GET", f"runs/{run['id']}")["status"] == "cancelled"
    assert {j["id"] for j in again.ok("GET", "jobs")["jobs"]} == {job["id"], sleeper["id"]}


def _pipeline_pids(script: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(script).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_generated_token_is_printed_and_works(workspace: Workspace) -> None:
    service = workspace.serve(token=None)
    service.launch()
    text = sync_poll(lambda: "token:" in service.stdout() and service.stdout(), timeout=60, what="token line")
    token = re.search(r"token: (\S+)", text)
    assert token, text
    # The CLI finds it through its runtime file (with its token), and the printed token works.
    found = workspace.cli("status", "--json")
    assert found.code == 0, found
    with_token = workspace.cli(
        "jobs", "list", "--json", "--url", f"http://127.0.0.1:{service.port}/", "--token", token.group(1)
    )
    assert with_token.code == 0 and json.loads(with_token.out) == []
    # Ctrl-C (SIGINT) stops at once as cleanly as SIGTERM: no interactive confirmation.
    assert service.process is not None
    service.process.send_signal(signal.SIGINT)
    assert service.process.wait(timeout=30) == 0, service.tail()
    assert "received signal" in service.tail()


def test_could_not_start_exits_3(workspace: Workspace, tmp_path: Path) -> None:
    env = jupyter_env(workspace.home)

    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "serve", *args], env=env, capture_output=True, text=True, timeout=60)

    missing = serve("--root", str(tmp_path / "nowhere"))
    assert missing.returncode == 3 and "no such folder" in missing.stderr

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = serve("--root", str(workspace.root), "--port", str(port))
    assert taken.returncode == 3, taken.stderr[-2000:]
    assert f"port {port} is not available" in taken.stderr

    # The scheduler itself fails to load (a bad setting): the process ends instead of
    # serving a Jupyter server without it.
    bad_zone = serve(
        "--root", str(workspace.root), "--port", "0", "--PipelineSchedulerApp.timezone=Not/AZone"
    )
    assert bad_zone.returncode == 3, bad_zone.stderr[-2000:]
    assert "the scheduler did not start" in bad_zone.stderr

    usage = serve("--port", "1")
    assert usage.returncode == 2 and "--root" in usage.stderr


def test_hand_over_between_the_service_and_a_jupyter_server(workspace: Workspace) -> None:
    service = workspace.serve().start()
    job = workspace.json("jobs", "add", "--name", "tick", "--path", "ok.py", "--every", "2")

    lab = EngineServer(workspace.root, workspace.home)  # a plain `jupyter server` with the extension
    workspace.servers.append(lab)
    lab.start()
    assert lab.state() == "standby" and service.state() == "active"

    # The service stops: the Jupyter server takes over within seconds and fires the job.
    assert service.stop_code() == 0
    sync_poll(lambda: lab.state() == "active", timeout=15, what="the second server takes over")
    fired = len(_scheduled_successes(lab, job["id"]))
    sync_poll(
        lambda: len(_scheduled_successes(lab, job["id"])) > fired, timeout=15, what="a fire after hand-over"
    )

    # A new service starts as standby; the Jupyter server dies (kill -9): the service takes over.
    again = workspace.serve().start()
    assert again.state() == "standby"
    status = workspace.cli("status", "--url", f"http://127.0.0.1:{again.port}/", "--token", TOKEN)
    assert status.code == 0 and "scheduler standby" in status.out, status
    lab.kill9()
    sync_poll(lambda: again.state() == "active", timeout=15, what="the service takes over")
    fired = len(_scheduled_successes(again, job["id"]))
    sync_poll(
        lambda: len(_scheduled_successes(again, job["id"])) > fired, timeout=15, what="a fire by the service"
    )
    assert again.stop_code() == 0
