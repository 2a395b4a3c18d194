"""`make run`: JupyterLab on the demo workspace, with its example jobs and some history.

Starts ``jupyter lab`` on ``--root`` (examples/), waits until its scheduler answers, then
imports ``scheduler-jobs.yaml`` from that folder the way ``amphi-scheduler import`` does
(matched by id, so a second start changes nothing), and, when the workspace has no run
history yet, runs a few of those jobs once so every view has something to show. JupyterLab
stays in the foreground: Ctrl-C reaches it as usual.

The database is the workspace's own (examples/.amphi/, untracked); delete that folder to
start the demo afresh.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline_scheduler.cli.client import CLIError, SchedulerClient, ServerAddress
from pipeline_scheduler.cli.jobsfile import apply_plan, load_file, make_plan
from pipeline_scheduler.cli.output import Output

JOBS_FILE = "scheduler-jobs.yaml"
# Run once on the first start, in this order: a success that triggers its dependent, a
# failure that is retried, a quick success, and a long run that is still going when the
# page opens.
HISTORY_JOBS = ("demo-customers-fr", "demo-flaky-extract", "demo-health-check", "demo-weekly-report")


@dataclass
class SeedResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    started_runs: list[int]


def import_jobs(client: SchedulerClient, jobs_file: Path) -> dict[str, list[str]]:
    """Make the server's jobs include those of `jobs_file` (none deleted). Returns the ids
    per action: create / update / unchanged."""
    plan = make_plan(client, load_file(str(jobs_file)), prune=False, out=Output(json_mode=True))
    apply_plan(client, plan, Output(json_mode=True))
    summary = plan.summary()
    return {
        action: [str(item["id"]) for item in summary[action]] for action in ("create", "update", "unchanged")
    }


def seed_history(client: SchedulerClient, job_ids: tuple[str, ...] = HISTORY_JOBS) -> list[int]:
    """Start one run of each of `job_ids` when the workspace has no run at all yet (so a
    restart adds nothing). Returns the ids of the runs started."""
    if client.get("runs?limit=1")["runs"]:
        return []
    known = {job["id"] for job in client.get("jobs")["jobs"]}
    started = []
    for job_id in job_ids:
        if job_id in known:
            run = client.post(f"run/{job_id}", {"wait": False})
            started.append(int(run["id"]))
    return started


def seed(client: SchedulerClient, jobs_file: Path) -> SeedResult:
    actions = import_jobs(client, jobs_file)
    runs = seed_history(client)
    return SeedResult(actions["create"], actions["update"], actions["unchanged"], runs)


def wait_until_up(url: str, token: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"{url}pipeline-scheduler/config", headers={"Authorization": f"token {token}"}
    )
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode} before it answered")
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer at {url} within {timeout:.0f} s") from None
            time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("examples"))
    parser.add_argument("--ip", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    args, lab_args = parser.parse_known_args(argv)
    root = args.root.resolve()
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.ip={args.ip}",
        f"--ServerApp.port={args.port}",
        "--ServerApp.port_retries=0",  # the URL below must be the one it listens on
        f"--IdentityProvider.token={token}",
        *lab_args,
    ]
    proc = subprocess.Popen(cmd)
    # Ctrl-C goes to the whole foreground group: JupyterLab asks and stops; this waits for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    url = f"http://{args.ip}:{args.port}/"
    try:
        wait_until_up(url, token, proc)
        client = SchedulerClient(ServerAddress(url, token, str(root)))
        result = seed(client, root / JOBS_FILE)
        print(
            f"[demo] {JOBS_FILE}: {len(result.created)} jobs created, {len(result.updated)} updated, "
            f"{len(result.unchanged)} unchanged; {len(result.started_runs)} runs started for the history",
            flush=True,
        )
    except (CLIError, RuntimeError, OSError) as err:
        # The demo is still usable without its example jobs: say why and keep Lab running.
        print(f"[demo] could not seed the example jobs: {err}", file=sys.stderr, flush=True)
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
