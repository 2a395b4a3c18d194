"""Path traversal, field by field: every request field that names a file or folder refuses
every way out of the workspace (``..``, absolute paths, ``~``, symlinks, URL-encoded
forms, NUL bytes, backslashes) with a 4xx JSON error that names the field, and changes
nothing: no job, no file written, nothing run. URL paths with encoded traversal get a
JSON 404.

The outside target is a real file next to the workspace that would leave a mark if it
were ever executed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from api_support import Reply, SchedulerClient, interval_job, scheduler_state

OUTSIDE_PIPELINE = "import pathlib\npathlib.Path(__file__).with_suffix('.ran').write_text('ran')\n"

# (id, value); $OUT is the absolute path of the outside folder, $WS the workspace's.
ESCAPES = [
    ("dotdot", "../outside/evil.py"),
    ("nested-dotdot", "sub/../../outside/evil.py"),
    ("absolute", "$OUT/evil.py"),
    ("absolute-inside", "$WS/ok.py"),
    ("home", "~/evil.py"),
    ("symlink-file", "link.py"),
    ("symlink-folder", "linkdir/evil.py"),
    ("url-encoded", "%2e%2e/outside/evil.py"),
    ("url-encoded-slash", "..%2foutside%2fevil.py"),
    ("nul-byte", "ok.py\x00../../outside/evil.py"),
    ("backslash", "..\\outside\\evil.py"),
]
FOLDER_ESCAPES = [
    ("dotdot", ".."),
    ("nested-dotdot", "sub/../.."),
    ("absolute", "$OUT"),
    ("home", "~"),
    ("symlink-folder", "linkdir"),
    ("url-encoded", "%2e%2e"),
    ("nul-byte", "sub\x00/../.."),
    ("backslash", "..\\outside"),
]
NAME_ESCAPES = [
    ("dotdot", "../outside/evil.json"),
    ("absolute", "$OUT/evil.json"),
    ("home", "~/evil.json"),
    ("url-encoded", "%2e%2e%2fevil.json"),
    ("nul-byte", "ok.json\x00"),
    ("backslash", "..\\evil.json"),
    ("folder", "sub/evil.json"),
]


@pytest.fixture
def hostile(workspace: Path) -> dict[str, Path]:
    """A pipeline outside the workspace, and links inside the workspace pointing at it."""
    outside = workspace.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "evil.py").write_text(OUTSIDE_PIPELINE)
    (workspace / "link.py").symlink_to(outside / "evil.py")
    (workspace / "linkdir").symlink_to(outside, target_is_directory=True)
    (workspace / "sub").mkdir(exist_ok=True)
    return {"outside": outside, "workspace": workspace}


def fill(value: str, paths: dict[str, Path]) -> str:
    return value.replace("$OUT", str(paths["outside"])).replace("$WS", str(paths["workspace"]))


async def snapshot(api: SchedulerClient, paths: dict[str, Path]) -> Any:
    return (
        await scheduler_state(api, paths["workspace"]),
        sorted(p.name for p in paths["outside"].iterdir()),
    )


async def refused(
    api: SchedulerClient,
    paths: dict[str, Path],
    field: str,
    send: Callable[[], Awaitable[Reply]],
) -> None:
    before = await snapshot(api, paths)
    reply = await send()
    assert 400 <= reply.status < 500, reply
    assert isinstance(reply.body, dict) and field in reply.body.get("error", ""), reply
    await asyncio.sleep(0.2)  # anything wrongly started would have left its mark by now
    assert await snapshot(api, paths) == before, "a refused request must change nothing"
    assert not (paths["outside"] / "evil.ran").exists(), "the outside pipeline ran"


@pytest.mark.parametrize("value", [v for _, v in ESCAPES], ids=[i for i, _ in ESCAPES])
async def test_pipeline_path_on_create(api: SchedulerClient, hostile: dict[str, Path], value: str) -> None:
    body = interval_job("escape", path=fill(value, hostile))
    await refused(api, hostile, "pipeline_path", lambda: api.post("jobs", body))


@pytest.mark.parametrize("value", [v for _, v in ESCAPES], ids=[i for i, _ in ESCAPES])
async def test_pipeline_path_on_update_and_replace(
    api: SchedulerClient, hostile: dict[str, Path], value: str
) -> None:
    job = await api.create_job(**interval_job("honest"))
    path = fill(value, hostile)
    await refused(
        api, hostile, "pipeline_path", lambda: api.put(f"jobs/{job['id']}", {"pipeline_path": path})
    )
    replace = {**interval_job("honest", path=path), "id": job["id"]}
    await refused(api, hostile, "pipeline_path", lambda: api.post("jobs", replace))
    assert (await api.get(f"jobs/{job['id']}")).body["pipeline_path"] == "ok.py"


@pytest.mark.parametrize("value", [v for _, v in FOLDER_ESCAPES], ids=[i for i, _ in FOLDER_ESCAPES])
async def test_working_dir(api: SchedulerClient, hostile: dict[str, Path], value: str) -> None:
    body = interval_job("escape", working_dir=fill(value, hostile))
    await refused(api, hostile, "working_dir", lambda: api.post("jobs", body))


@pytest.mark.parametrize("value", [v for _, v in NAME_ESCAPES], ids=[i for i, _ in NAME_ESCAPES])
async def test_components_file_name(api: SchedulerClient, hostile: dict[str, Path], value: str) -> None:
    name = fill(value, hostile)
    await refused(
        api, hostile, "filename", lambda: api.post("components-file", {"filename": name, "content": "{}"})
    )
    await refused(api, hostile, "filename", lambda: api.delete("components-file", params={"filename": name}))


@pytest.mark.parametrize(
    "value", ["python", "bin/python", "../python", "/usr/bin/python\x00", "$OUT"], ids=repr
)
async def test_python_executable_must_be_an_absolute_interpreter(
    api: SchedulerClient, hostile: dict[str, Path], value: str
) -> None:
    body = interval_job("escape", python_executable=fill(value, hostile))
    await refused(api, hostile, "python_executable", lambda: api.post("jobs", body))


@pytest.mark.parametrize(
    "url",
    [
        "jobs/..%2f..%2fetc%2fpasswd",
        "jobs/%2e%2e",
        "jobs/..%5c..%5cwin.ini",
        "jobs/job%00x",
        "run/%2e%2e%2fjobs",
        "runs/..%2f1",
        "runs/1%2f..%2f..%2flog",
    ],
)
async def test_encoded_traversal_in_the_url_path(
    api: SchedulerClient, hostile: dict[str, Path], url: str
) -> None:
    before = await snapshot(api, hostile)
    for method in ("GET", "POST", "DELETE"):
        reply = await api.request(method, url, {} if method == "POST" else None)
        assert reply.status in (400, 404, 405), (method, url, reply)
        assert isinstance(reply.body, dict) and reply.body.get("error"), (method, url, reply)
    assert await snapshot(api, hostile) == before


async def test_control_characters_in_query_arguments_are_refused(
    api: SchedulerClient, hostile: dict[str, Path]
) -> None:
    """Tornado's argument getter would turn 'job%00' into 'job': a DELETE meant for no job
    would clear that job's history. Query arguments are taken as sent, and refused."""
    job = await api.create_job(**interval_job("kept"))
    await api.run_now(job["id"])
    for method, query, field in [
        ("DELETE", {"job_id": job["id"] + "\x00"}, "job_id"),
        ("DELETE", {"job_id": job["id"] + "\n"}, "job_id"),
        ("GET", {"job_id": job["id"] + "\x00"}, "job_id"),
        ("GET", {"status": "success\x00"}, "status"),
        ("GET", {"limit": "5\x00"}, "limit"),
    ]:
        await refused(api, hostile, field, lambda m=method, q=query: api.request(m, "runs", params=q))
    assert len(await api.runs(job_id=job["id"])) == 1
