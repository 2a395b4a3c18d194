"""``amphi-scheduler jobs|runs|preview|status`` against a real ``amphi-scheduler serve``:
JSON answers are the API's objects, names resolve to ids (ambiguity is an error that lists
the matches), server errors reach stderr with a non-zero exit, and an unreachable server
says how to point at one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_support import TOKEN, Workspace, delete_all_jobs, free_port


@pytest.fixture
def space(served: Workspace) -> Workspace:
    delete_all_jobs(served.servers[0])
    return served


def test_jobs_add_show_edit_pause_resume_delete_json(space: Workspace) -> None:
    server = space.servers[0]
    job = space.json(
        "jobs",
        "add",
        "--name",
        "nightly",
        "--path",
        "ok.py",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "Europe/Paris",
        "--timeout",
        "600",
        "--retries",
        "2",
        "--env",
        "A=1",
        "--env",
        "B=two",
    )
    assert job["id"].startswith("job_")
    assert job["schedule_type"] == "cron" and job["cron_expression"] == "30 2 * * *"
    assert job["timezone"] == "Europe/Paris"
    assert job["timeout_seconds"] == 600 and job["max_retries"] == 2
    assert job["env"] == {"A": "1", "B": "two"}
    assert server.ok("GET", f"jobs/{job['id']}")["cron_expression"] == "30 2 * * *"

    shown = space.json("jobs", "show", "nightly")
    assert shown["id"] == job["id"] and shown["next_run_time"]

    # Only what is given changes.
    edited = space.json("jobs", "edit", "nightly", "--every", "90", "--env", "C=3", "--unset-env", "A")
    assert edited["schedule_type"] == "interval" and edited["interval_seconds"] == 90
    assert "cron_expression" not in edited or edited["cron_expression"] is None
    assert edited["env"] == {"B": "two", "C": "3"}
    assert edited["timeout_seconds"] == 600 and edited["timezone"] == "Europe/Paris"
    assert edited["name"] == "nightly"

    paused = space.json("jobs", "pause", job["id"])
    assert paused["paused"] is True and paused["next_run_time"] is None
    assert server.ok("GET", f"jobs/{job['id']}")["paused"] is True
    resumed = space.json("jobs", "resume", "nightly")
    assert resumed["paused"] is False and resumed["next_run_time"]

    listed = space.json("jobs", "list")
    assert [j["id"] for j in listed] == [job["id"]]

    deleted = space.json("jobs", "delete", "nightly")
    assert deleted["success"] is True and deleted["id"] == job["id"]
    assert server.ok("GET", "jobs")["jobs"] == []


def test_schedule_options_daily_once_after(space: Workspace) -> None:
    daily = space.json(
        "jobs", "add", "--name", "d", "--path", "ok.py", "--daily", "07:30", "--timezone", "Asia/Tokyo"
    )
    assert daily["date_type"] == "daily" and daily["timezone"] == "Asia/Tokyo"
    assert daily["schedule_description"] == "Every day at 07:30 (Asia/Tokyo)"
    assert daily["next_run_time"].endswith("+09:00") and "T07:30:00" in daily["next_run_time"]

    once = space.json(
        "jobs", "add", "--name", "o", "--path", "ok.py", "--once", "2031-05-01T10:00", "--timezone", "UTC"
    )
    assert once["date_type"] == "once"
    assert once["next_run_time"].startswith("2031-05-01T10:00:00")

    after = space.json("jobs", "add", "--name", "a", "--path", "ok.py", "--after", "d", "o:failure", "--all")
    assert after["schedule_type"] == "trigger" and after["logical_operator"] == "AND"
    assert after["trigger_conditions"] == [
        {"job_id": daily["id"], "on": "success"},
        {"job_id": once["id"], "on": "failure"},
    ]


def test_name_resolution_and_ambiguity(space: Workspace) -> None:
    first = space.json("jobs", "add", "--name", "twin", "--path", "ok.py", "--every", "3600")
    second = space.json("jobs", "add", "--name", "twin", "--path", "exit3.py", "--every", "3600")
    space.json("jobs", "add", "--name", "Solo Job", "--path", "ok.py", "--every", "3600")

    ambiguous = space.cli("jobs", "show", "twin")
    assert ambiguous.code == 1, ambiguous
    assert "2 jobs are named 'twin'" in ambiguous.err
    assert first["id"] in ambiguous.err and second["id"] in ambiguous.err
    assert ambiguous.out == ""

    by_id = space.json("jobs", "show", second["id"])
    assert by_id["pipeline_path"] == "exit3.py"
    assert space.json("jobs", "show", "solo job")["name"] == "Solo Job"  # case-insensitive fallback

    missing = space.cli("jobs", "pause", "nope")
    assert missing.code == 1 and "No job has the id or name 'nope'" in missing.err

    # Nothing was paused by the failed commands.
    assert not any(j["paused"] for j in space.servers[0].ok("GET", "jobs")["jobs"])


def test_server_errors_go_to_stderr_with_exit_1(space: Workspace) -> None:
    bad = space.cli("jobs", "add", "--name", "x", "--path", "ok.py", "--cron", "61 * * * *")
    assert bad.code == 1, bad
    assert bad.err.startswith("error: ") and "cron_expression" in bad.err
    outside = space.cli("jobs", "add", "--name", "x", "--path", "../outside.py", "--every", "60")
    assert outside.code == 1 and "pipeline_path" in outside.err
    assert space.servers[0].ok("GET", "jobs")["jobs"] == []

    usage = space.cli("jobs", "add", "--name", "x", "--path", "ok.py")  # no schedule
    assert usage.code == 2 and "one of the arguments --cron" in usage.err


def test_table_output_and_help(space: Workspace) -> None:
    job = space.json("jobs", "add", "--name", "tabled", "--path", "ok.py", "--cron", "0 6 * * 1")
    table = space.cli("jobs", "list")
    assert table.code == 0
    assert "tabled" in table.out and job["id"] in table.out
    assert job["schedule_description"] and job["schedule_description"] in table.out
    for level in ([], ["jobs"], ["jobs", "add"], ["runs", "logs"], ["serve"], ["import"]):
        shown = space.cli(*level, "--help")
        assert shown.code == 0 and shown.out.startswith("usage: amphi-scheduler"), (level, shown)


def test_preview_and_status(space: Workspace) -> None:
    answer = space.json("preview", "*/15 8-18 * * 1-5", "--timezone", "Europe/Paris")
    assert len(answer["next_run_times"]) == 5
    assert "Every 15 minutes" in answer["description"]
    assert all(t.endswith(("+01:00", "+02:00")) for t in answer["next_run_times"])
    text = space.cli("preview", "0 9 * * *")
    assert text.code == 0 and "At 09:00" in text.out
    wrong = space.cli("preview", "not a cron")
    assert wrong.code == 1 and "cron_expression" in wrong.err

    job = space.json("jobs", "add", "--name", "soon", "--path", "sleep.py", "--every", "3600")
    run = space.json("run", "soon")
    status = space.json("status")
    assert status["scheduler_state"] == "active"
    assert status["next_fires"][0]["job_id"] == job["id"]
    assert run["id"] in [r["id"] for r in status["running"] + status["queued"]]
    people = space.cli("status")
    assert people.code == 0 and "scheduler active" in people.out and "soon" in people.out
    space.json("runs", "cancel", str(run["id"]))


def test_runs_list_show_logs(space: Workspace) -> None:
    job = space.json("jobs", "add", "--name", "lister", "--path", "ok.py", "--every", "3600")
    followed = space.cli("run", "lister", "--follow")
    assert followed.code == 0, followed
    runs = space.json("runs", "list", "--job", "lister")
    assert len(runs) == 1 and runs[0]["job_id"] == job["id"] and runs[0]["status"] == "success"
    assert space.json("runs", "list", "--status", "failure") == []
    shown = space.json("runs", "show", str(runs[0]["id"]))
    assert shown["output"].strip().endswith("ok")
    assert (shown["backend"], shown["ray_submission_id"]) == ("local", None)
    readable = space.cli("runs", "show", str(runs[0]["id"]))
    assert readable.code == 0 and "backend" in readable.out and "local" in readable.out
    logs = space.cli("runs", "logs", str(runs[0]["id"]))
    assert logs.code == 0 and logs.out.rstrip().endswith("ok")
    missing = space.cli("runs", "show", "999999")
    assert missing.code == 1 and "999999" in missing.err


def test_found_from_a_subfolder_and_by_env(space: Workspace) -> None:
    server = space.servers[0]
    sub = space.root / "etl"
    # No --url: the CLI finds the server whose root_dir holds the current folder.
    found = space.cli("status", "--json", cwd=sub)
    assert found.code == 0, found
    assert json.loads(found.out)["config"]["amphi_dir"] == str(space.root)
    # The environment variables point at it from anywhere.
    env: dict[str, Any] = {
        "AMPHI_SCHEDULER_URL": f"http://127.0.0.1:{server.port}/",
        "AMPHI_SCHEDULER_TOKEN": TOKEN,
    }
    elsewhere = space.cli("jobs", "list", "--json", cwd=space.home, **env)
    assert elsewhere.code == 0 and json.loads(elsewhere.out) == []
    wrong_token = space.cli("jobs", "list", cwd=space.home, **{**env, "AMPHI_SCHEDULER_TOKEN": "wrong"})
    assert wrong_token.code == 1 and "403" in wrong_token.err and "--token" in wrong_token.err


def test_unreachable_server(space: Workspace) -> None:
    refused = space.cli("jobs", "list", "--url", f"http://127.0.0.1:{free_port()}/", "--token", "x")
    assert refused.code == 4, refused
    assert "Cannot reach the scheduler" in refused.err
    for hint in ("--url", "AMPHI_SCHEDULER_URL", "amphi-scheduler serve"):
        assert hint in refused.err
    nobody = space.cli("status", cwd=space.home)  # outside every server's root
    assert nobody.code == 4 and "No running Jupyter server" in nobody.err and "--url" in nobody.err


def test_jobs_history_and_restore(space: Workspace) -> None:
    """Changes made through the CLI are versions by '<OS user> (cli)'; restore brings one back."""
    import getpass

    job = space.json("jobs", "add", "--name", "versioned", "--path", "ok.py", "--every", "3600")
    space.json("jobs", "edit", "versioned", "--every", "60", "--description", "faster")
    history = space.json("jobs", "history", "versioned")
    assert [v["version"] for v in history] == [2, 1]
    assert history[0]["changes"] == ["description", "interval_seconds"]
    assert {v["author"] for v in history} == {f"{getpass.getuser()} (cli)"}

    table = space.cli("jobs", "history", "versioned")
    assert table.code == 0 and "interval_seconds" in table.out and "created" in table.out, table

    restored = space.json("jobs", "restore", job["id"], "1")
    assert restored["version"] == 3 and restored["interval_seconds"] == 3600
    assert restored.get("description") is None
    said = space.cli("jobs", "restore", "versioned", "3")
    assert said.code == 0 and "nothing changed" in said.out, said
    missing = space.cli("jobs", "restore", "versioned", "9")
    assert missing.code == 1 and "no version 9" in missing.err, missing
