"""The globs of file arrival jobs: what they match, which folder they watch, and what
they refuse (nothing outside the workspace is ever watched)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pipeline_scheduler.errors import PathNotAllowedError
from pipeline_scheduler.file_triggers import resolve_watch, scan


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for rel in ("data/incoming/a.csv", "data/incoming/b.txt", "data/incoming/x/deep.csv", "top.csv"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("1")
    (root / "data" / "incoming" / ".partial.csv").write_text("1")
    (root / ".amphi" / "runs").mkdir(parents=True)
    (root / ".amphi" / "runs" / "log.csv").write_text("1")
    return root


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        (
            "data/incoming/*.csv",
            ["data/incoming/a.csv"],
            ["data/incoming/x/deep.csv", "data/incoming/.p.csv"],
        ),
        ("data/**/*.csv", ["data/incoming/a.csv", "data/incoming/x/deep.csv", "data/a.csv"], ["top.csv"]),
        ("data/incoming/?.csv", ["data/incoming/a.csv"], ["data/incoming/ab.csv"]),
        ("data/incoming/[ab].*", ["data/incoming/b.txt"], ["data/incoming/c.txt"]),
        ("data/incoming/[!a].csv", ["data/incoming/b.csv"], ["data/incoming/a.csv"]),
        ("top.csv", ["top.csv"], ["data/top.csv"]),
        ("./data//incoming/*.csv", ["data/incoming/a.csv"], []),
    ],
)
def test_glob_matching(root: Path, glob: str, matches: list[str], misses: list[str]) -> None:
    watch = resolve_watch(root, glob)
    for rel in matches:
        assert watch.matches(rel), rel
    for rel in misses:
        assert not watch.matches(rel), rel


def test_the_watched_folder_is_the_fixed_part_of_the_glob(root: Path) -> None:
    real = Path(os.path.realpath(root))
    assert resolve_watch(root, "data/incoming/*.csv").folder == real / "data" / "incoming"
    assert resolve_watch(root, "data/**/*.csv").folder == real / "data"
    assert resolve_watch(root, "top.csv").folder == real
    assert resolve_watch(root, "./data//incoming/*.csv").glob == "data/incoming/*.csv"


def test_scan_lists_matching_files_only_and_never_the_scheduler_folder(root: Path) -> None:
    assert set(scan(root, resolve_watch(root, "data/incoming/*.csv"))) == {"data/incoming/a.csv"}
    assert set(scan(root, resolve_watch(root, "**/*.csv"))) == {
        "data/incoming/a.csv",
        "data/incoming/x/deep.csv",
        "top.csv",
    }
    mtime_ns, size = scan(root, resolve_watch(root, "top.csv"))["top.csv"]
    assert size == 1 and mtime_ns == (root / "top.csv").stat().st_mtime_ns


def test_double_star_never_enters_dot_folders_nor_the_scheduler_folder(root: Path) -> None:
    """Like '*', '**' skips names starting with '.': '**/*.log' does not watch the runs'
    own logs under .amphi/ (each log write would make the job look again, or fire)."""
    for rel in (".amphi/runs/7/output.log", "data/.cache/x.log", ".git/x.log", "logs/.x/y/z.log"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("1")
    (root / "logs" / "a" / "b.log").parent.mkdir(parents=True)
    (root / "logs" / "a" / "b.log").write_text("1")
    every_log = resolve_watch(root, "**/*.log")
    assert set(scan(root, every_log)) == {"logs/a/b.log"}
    for rel in (".amphi/runs/7/output.log", "data/.cache/x.log", ".git/x.log", "logs/.x/y/z.log"):
        assert not every_log.matches(rel), rel
    assert not resolve_watch(root, "logs/**").matches("logs/.x/y/z.log")
    assert resolve_watch(root, "logs/**").matches("logs/a/b.log")
    # A dot name written out matches, except under the scheduler's own folder.
    assert resolve_watch(root, "data/**/.cache/*.log").matches("data/.cache/x.log")
    assert not resolve_watch(root, ".*/runs/*/output.log").matches(".amphi/runs/7/output.log")
    assert resolve_watch(root, ".*/*.log").matches(".git/x.log")


def test_a_literal_bracket_in_a_class_is_matched_without_a_warning(root: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        watch = resolve_watch(root, "data/[[]x].csv")
    assert watch.matches("data/[x].csv") and not watch.matches("data/x].csv")


def test_trigger_files_are_in_the_run_folder_and_in_the_environment_when_small(settings: Any) -> None:
    """A single environment variable over 128 KiB fails the process start (E2BIG): the list
    is always in ``trigger_files.json``, and in ``AMPHI_TRIGGER_FILES`` only when small."""
    import json

    from pipeline_scheduler import launch
    from pipeline_scheduler.domain import JobDefinition

    job = JobDefinition("job_f", "f", "ok.py", {"schedule_type": "file"}, None, None, False, 0.0, 0.0)
    few = ["data/in/a.csv", "data/in/b.csv"]
    env, _ = launch.environment(job, settings, 7, base={}, event={"kind": "file", "paths": few, "count": 2})
    listed = settings.runs_dir / "7" / "trigger_files.json"
    assert env["AMPHI_TRIGGER_FILES_PATH"] == str(listed)
    assert json.loads(listed.read_text()) == few and json.loads(env["AMPHI_TRIGGER_FILES"]) == few

    many = [f"data/incoming/{'deep/' * 30}file-{i:04d}.csv" for i in range(1000)]  # ~200 KB
    env, _ = launch.environment(
        job, settings, 8, base={}, event={"kind": "file", "paths": many, "count": 1000}
    )
    assert "AMPHI_TRIGGER_FILES" not in env
    assert all(len(value.encode()) < launch.MAX_TRIGGER_FILES_ENV_BYTES for value in env.values())
    assert json.loads(Path(env["AMPHI_TRIGGER_FILES_PATH"]).read_text()) == many
    webhook_env, _ = launch.environment(job, settings, 9, base={}, event={"kind": "webhook"})
    assert "AMPHI_TRIGGER_FILES_PATH" not in webhook_env


def test_a_linked_file_leading_outside_is_left_out(root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("s")
    os.symlink(secret, root / "data" / "incoming" / "link.csv")
    assert "data/incoming/link.csv" not in scan(root, resolve_watch(root, "data/incoming/*.csv"))


@pytest.mark.parametrize(
    ("glob", "said"),
    [
        ("/etc/*.conf", "absolute path"),
        ("~/x/*.csv", "absolute path"),
        ("C:/x/*.csv", "absolute path"),
        ("data\\incoming\\*.csv", "absolute path"),
        ("../*.csv", "leaves the workspace"),
        ("data/../../x/*.csv", "leaves the workspace"),
        ("escape/*.csv", "outside the workspace"),
        ("nowhere/*.csv", "does not exist"),
        (".amphi/runs/*.csv", "scheduler's own files"),
        ("**", "scheduler's own files"),
        ("   ", "required"),
        ("data/\x00.csv", "not allowed"),
        ("data/[z-a].csv", "character class '[...]' that is not valid (bad character range z-a)"),
        ("data/[!].csv", "character class '[...]' that is not valid"),
    ],
)
def test_refused_globs_name_the_field(root: Path, tmp_path: Path, glob: str, said: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    if not (root / "escape").exists():
        os.symlink(outside, root / "escape")
    with pytest.raises(PathNotAllowedError) as info:
        resolve_watch(root, glob)
    assert info.value.message.startswith("watch_path: ") and said in info.value.message


def test_a_jobs_file_keeps_a_file_arrival_job_and_refuses_one_without_its_glob() -> None:
    from pipeline_scheduler.cli import jobsfile

    job = {
        "id": "job_files",
        "name": "On arrival",
        "pipeline_path": "etl/load.py",
        "schedule_type": "file",
        "watch_path": "data/incoming/*.csv",
        "watch_debounce_seconds": 5,
        "webhook_enabled": True,
    }
    exported = jobsfile.definition(job)
    assert exported["watch_path"] == "data/incoming/*.csv" and exported["watch_debounce_seconds"] == 5
    assert "webhook_enabled" not in exported
    spec, problems = jobsfile.check_fields({**exported, "webhook_enabled": True}, 0, [".py"])
    assert problems == [] and spec["watch_path"] == "data/incoming/*.csv"
    _, problems = jobsfile.check_fields({**exported, "watch_path": None}, 0, [".py"])
    assert [p.field for p in problems] == ["watch_path"]


def test_file_state_and_webhook_hash_in_the_store(settings: Any) -> None:
    """What a file job saw, and a job's webhook hash, as the store keeps them (this test
    also runs on PostgreSQL: tests/pg/test_store_on_both.py)."""
    from unit_helpers import with_service

    from pipeline_scheduler.app import SchedulerService

    async def body(svc: SchedulerService) -> None:
        store, db = svc.store, svc.workers.db
        job, _ = await svc.jobs.create(
            {"name": "f", "pipeline_path": "ok.py", "schedule_type": "file", "watch_path": "etl/data/*.csv"}
        )
        job_id = job["id"]
        big = 2**62  # nanosecond times and sizes beyond 32 bits
        await db(store.set_file_watch, job_id, "etl/data/*.csv", {"etl/data/a.csv": (big, 5)})
        assert await db(store.file_watch, job_id) == ("etl/data/*.csv", {"etl/data/a.csv": (big, 5)})
        await db(store.update_file_state, job_id, {"etl/data/b.csv": (1, 2)}, ["etl/data/a.csv"])
        assert await db(store.file_watch, job_id) == ("etl/data/*.csv", {"etl/data/b.csv": (1, 2)})
        assert [j.id for j in await db(store.list_file_jobs)] == [job_id]

        token = await svc.webhooks.enable(job_id)
        stored = await db(store.get_job, job_id)
        assert stored is not None and stored.webhook_hash is not None
        assert token["token"] not in stored.webhook_hash and len(stored.webhook_hash) == 64
        assert (await svc.jobs.get(job_id))["webhook_enabled"] is True
        await svc.jobs.update(job_id, {"description": "edited"})  # an edit keeps the webhook
        assert (await svc.jobs.get(job_id))["webhook_enabled"] is True
        await svc.webhooks.disable(job_id)
        assert (await svc.jobs.get(job_id))["webhook_enabled"] is False

        await svc.jobs.delete(job_id)
        assert await db(store.drop_file_watches, []) == [job_id]
        assert await db(store.file_watch, job_id) is None

    # Not the active scheduler: no watch of its own writes this state meanwhile.
    with_service(settings, body, run_scheduler=False)
