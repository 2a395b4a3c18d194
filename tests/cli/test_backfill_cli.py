"""``amphi-scheduler run JOB --param/--env/--timeout``, ``backfill`` and ``rerun`` against a
real ``amphi-scheduler serve``: what is given reaches the run (and is recorded with it), a
backfill runs each fire time of the range with its logical time and --follow exits with
the outcome, a re-run keeps the logical time and overrides, and a refused range says why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_support import Workspace, delete_all_jobs

SHOW = """\
import json, os
print("GOT " + json.dumps({k: os.environ.get(k) for k in ("LIMIT", "FLAG", "REGION", "AMPHI_SCHEDULED_FOR")}))
"""


@pytest.fixture
def space(served: Workspace) -> Workspace:
    delete_all_jobs(served.servers[0])
    (served.root / "show.py").write_text(SHOW, encoding="utf-8")
    return served


def _got(run: dict[str, Any]) -> dict[str, Any]:
    line = next(line for line in run["output"].splitlines() if line.startswith("GOT "))
    return json.loads(line[4:])  # type: ignore[no-any-return]


def test_run_with_params_env_and_timeout(space: Workspace) -> None:
    space.json(
        "jobs", "add", "--name", "shower", "--path", "show.py", "--every", "3600", "--env", "REGION=eu"
    )
    done = space.cli(
        "run",
        "shower",
        "--param",
        "LIMIT=5",
        "--param",
        "FLAG=true",
        "--env",
        "REGION=us",
        "--timeout",
        "30",
        "--follow",
    )
    assert done.code == 0, done
    (run,) = space.json("runs", "list", "--job", "shower")
    shown = space.json("runs", "show", str(run["id"]))
    assert shown["overrides"] == {
        "parameters": {"LIMIT": 5, "FLAG": True},
        "env": {"REGION": "us"},
        "timeout_seconds": 30,
    }
    got = _got(shown)
    assert (got["LIMIT"], got["FLAG"], got["REGION"]) == ("5", "true", "us")

    again = space.cli("rerun", str(run["id"]), "--follow")
    assert again.code == 0, again
    runs = space.json("runs", "list", "--job", "shower")
    rerun = space.json("runs", "show", str(max(r["id"] for r in runs)))
    assert rerun["triggered_by"] == "rerun" and rerun["overrides"] == shown["overrides"]
    assert _got(rerun) == got  # the same logical time too

    bad = space.cli("run", "shower", "--param", "LIMIT")
    assert bad.code != 0 and "--param" in bad.err


def test_backfill_follow_runs_each_fire_time(space: Workspace) -> None:
    job = space.json(
        "jobs",
        "add",
        "--name",
        "nightly",
        "--path",
        "show.py",
        "--cron",
        "0 2 * * *",
        "--timezone",
        "Europe/Paris",
    )
    # No offset: wall-clock times in the job's zone.
    followed = space.cli(
        "backfill",
        "nightly",
        "--start",
        "2026-03-28T00:00",
        "--end",
        "2026-03-30T12:00",
        "--max-active",
        "2",
        "--follow",
    )
    assert followed.code == 0, followed
    assert "3 success" in followed.err, followed
    runs = sorted(
        (r for r in space.json("runs", "list", "--job", "nightly") if r["triggered_by"] == "backfill"),
        key=lambda r: r["id"],
    )
    seen = [_got(space.json("runs", "show", str(r["id"])))["AMPHI_SCHEDULED_FOR"] for r in runs]
    # 2026-03-29 is the change to summer time in Paris: 02:00 does not exist, it fires at 03:00.
    assert seen == ["2026-03-28T02:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"]

    started = space.json("backfill", job["id"], "--start", "2026-03-01T00:00Z", "--end", "2026-03-01T03:00Z")
    assert started["total"] == 1 and started["status"] in ("queued", "running", "done")

    refused = space.cli("backfill", "nightly", "--start", "2026-03-28T00:00", "--end", "2099-01-01T00:00")
    assert refused.code != 0 and "end" in refused.err and "future" in refused.err, refused
