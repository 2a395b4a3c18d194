"""The demo workspace of `make run` (scripts/demo.py on examples/): its jobs file holds one
job per schedule kind, a trigger chain and a paused job; every job of it imports into a fresh
JupyterLab; the first start runs a few for history; a second start duplicates nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import free_port, jupyter_env, sync_poll

from scripts.demo import HISTORY_JOBS, JOBS_FILE

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TOKEN = "demo-seed-test-token"
FINISHED = {"success", "failure", "cancelled", "timeout", "interrupted", "skipped"}


def _file_jobs() -> list[dict[str, Any]]:
    document = yaml.safe_load((EXAMPLES / JOBS_FILE).read_text(encoding="utf-8"))
    assert document["version"] == 1
    return list(document["jobs"])


def _kind(job: dict[str, Any]) -> str:
    return str(job["date_type"]) if job["schedule_type"] == "date" else str(job["schedule_type"])


def test_the_jobs_file_shows_every_schedule_kind_a_chain_and_a_paused_job() -> None:
    jobs = _file_jobs()
    ids = [j["id"] for j in jobs]
    assert len(set(ids)) == len(ids)
    assert sorted(_kind(j) for j in jobs) == sorted(
        ["once", "daily", "weekly", "monthly", "every_x_days", "interval", "cron", "trigger"]
    )
    assert [j["id"] for j in jobs if j.get("paused")] == ["demo-weekly-report"]
    chain = next(j for j in jobs if j["schedule_type"] == "trigger")
    assert [c["job_id"] for c in chain["trigger_conditions"]] == ["demo-customers-fr"]
    for job in jobs:
        assert (EXAMPLES / job["pipeline_path"]).is_file(), job["pipeline_path"]
    ampln = next(j for j in jobs if j["pipeline_path"].endswith(".ampln"))
    assert 'pd.read_csv("data/customers.csv"' in ampln["python_code"]
    assert set(HISTORY_JOBS) <= set(ids)


class Demo:
    """`python -m scripts.demo` (what `make run` starts) on a copy of examples/."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen[str] | None = None
        self.out = home / "demo.out"

    def start(self) -> str:
        """Starts it; answers its seeding line once it has seeded."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**jupyter_env(self.home), "JUPYTER_TOKEN": TOKEN}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", "scripts.demo", "--root", str(self.root), "--port", str(self.port)]
        argv += ["--no-browser", "--allow-root"]
        with open(self.out, "w") as out:
            self.process = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
            )

        def seeded() -> str | None:
            assert self.process is not None and self.process.poll() is None, self.out.read_text()[-4000:]
            lines = [line for line in self.out.read_text().splitlines() if line.startswith("[demo]")]
            return lines[-1] if lines else None

        line = sync_poll(seeded, timeout=120, interval=0.2, what="the demo's seeding line")
        assert isinstance(line, str)
        return line

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)

    def api(self, route: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}pipeline-scheduler/{route}", headers={"Authorization": f"token {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture
def demo_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "examples"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".amphi", "output", ".ipynb_checkpoints"))
    yield root


def test_make_run_seeds_the_demo_once_and_a_second_start_duplicates_nothing(
    demo_root: Path, tmp_path: Path
) -> None:
    file_jobs = {j["id"]: j for j in _file_jobs()}
    first = Demo(demo_root, tmp_path / "home1")
    try:
        line = first.start()
        assert f"{len(file_jobs)} jobs created, 0 updated, 0 unchanged" in line, line
        assert f"{len(HISTORY_JOBS)} runs started" in line, line
        jobs = {j["id"]: j for j in first.api("jobs")["jobs"]}
        assert set(jobs) == set(file_jobs)
        for job_id, spec in file_jobs.items():
            for key in ("name", "pipeline_path", "schedule_type", "timezone"):
                assert jobs[job_id][key] == spec[key], (job_id, key)
            assert jobs[job_id]["paused"] == bool(spec.get("paused")), job_id
            assert not jobs[job_id].get("pipeline_changed"), job_id

        # The history: the Amphi pipeline's generated code runs (pandas, in its folder) and
        # triggers its dependent; the failing extract fails.
        def outcome(job_id: str) -> str | None:
            runs = first.api(f"runs?job_id={job_id}&limit=10")["runs"]
            done = [r["status"] for r in runs if r["status"] in FINISHED]
            return done[-1] if done else None

        assert (
            sync_poll(lambda: outcome("demo-customers-fr"), timeout=60, what="the Amphi job's run")
            == "success"
        )
        assert (demo_root / "output" / "customers_fr.csv").read_text().count("France") == 2
        assert sync_poll(lambda: outcome("demo-customers-summary"), timeout=60) == "success"
        assert sync_poll(lambda: outcome("demo-flaky-extract"), timeout=60) == "failure"
        before = {j["id"]: j["updated_at"] for j in first.api("jobs")["jobs"]}
        manual = [r["id"] for r in first.api("runs?limit=1000")["runs"] if r["triggered_by"] == "manual"]
        assert len(manual) == len(HISTORY_JOBS)
    finally:
        first.stop()

    second = Demo(demo_root, tmp_path / "home2")
    try:
        line = second.start()
        assert f"0 jobs created, 0 updated, {len(file_jobs)} unchanged; 0 runs started" in line, line
        after = {j["id"]: j["updated_at"] for j in second.api("jobs")["jobs"]}
        assert after == before
        again = [r["id"] for r in second.api("runs?limit=1000")["runs"] if r["triggered_by"] == "manual"]
        assert sorted(again) == sorted(manual)
    finally:
        second.stop()
