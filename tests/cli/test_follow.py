"""``run JOB --follow`` streams the log while the run goes on and exits with the run's
outcome: 0, the script's own code, 124 on timeout, 130 when cancelled from elsewhere."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time

import pytest
from cli_support import Workspace, delete_all_jobs, sync_poll


@pytest.fixture
def space(served: Workspace) -> Workspace:
    delete_all_jobs(served.servers[0])
    (served.root / "release.txt").unlink(missing_ok=True)
    return served


class LineReader:
    """The lines a subprocess prints, read in a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self.lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} never printed; saw {self.seen}"
            try:
                self.seen.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                pass

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        code = self.process.wait(timeout=timeout)
        time.sleep(0)  # let the reader thread drain
        while True:
            try:
                self.seen.append(self.lines.get(timeout=1))
            except queue.Empty:
                break
        assert self.process.stderr is not None
        return code, "".join(self.seen), self.process.stderr.read()


def _running(space: Workspace, job_id: str) -> list[dict[str, object]]:
    return [r for r in space.servers[0].runs(job_id) if r["status"] == "running"]


def test_follow_streams_lines_before_the_run_ends(space: Workspace) -> None:
    job = space.json("jobs", "add", "--name", "two", "--path", "two_lines.py", "--every", "3600")
    reader = LineReader(space.popen("run", "two", "--follow"))
    try:
        reader.wait_for("first line")
        # The run is still going (it waits for release.txt) and so is the CLI.
        assert reader.process.poll() is None
        assert _running(space, job["id"]), "the first line must arrive while the run still runs"
        assert not any("second line" in line for line in reader.seen)
        (space.root / "release.txt").write_text("go")
        code, out, err = reader.finish()
    finally:
        if reader.process.poll() is None:
            reader.process.kill()
    assert code == 0, (out, err)
    assert out.index("first line") < out.index("second line")
    assert "success (exit 0)" in err


def test_follow_exits_with_the_scripts_code(space: Workspace) -> None:
    space.json("jobs", "add", "--name", "three", "--path", "exit3.py", "--every", "3600")
    result = space.cli("run", "three", "--follow")
    assert result.code == 3, result
    assert "about to fail" in result.out and "failure" in result.err
    # --json: the final Run on stdout, the log on stderr.
    scripted = space.cli("run", "three", "--follow", "--json")
    assert scripted.code == 3
    run = json.loads(scripted.out)
    assert run["status"] == "failure" and run["exit_code"] == 3
    assert "about to fail" in scripted.err


def test_follow_timeout_exits_124(space: Workspace) -> None:
    space.json("jobs", "add", "--name", "slow", "--path", "sleep.py", "--every", "3600", "--timeout", "1")
    started = time.monotonic()
    result = space.cli("run", "slow", "--follow")
    assert result.code == 124, result
    assert "sleeping" in result.out and "timeout" in result.err
    assert time.monotonic() - started < 20


def test_cancel_from_another_process_exits_130(space: Workspace) -> None:
    job = space.json("jobs", "add", "--name", "sleeper", "--path", "sleep.py", "--every", "3600")
    reader = LineReader(space.popen("run", "sleeper", "--follow"))
    try:
        reader.wait_for("sleeping")
        run = sync_poll(lambda: _running(space, job["id"]), what="a running run")[0]
        cancelled = space.json("runs", "cancel", str(run["id"]))
        assert cancelled["status"] == "cancelled"
        code, out, err = reader.finish()
    finally:
        if reader.process.poll() is None:
            reader.process.kill()
    assert code == 130, (out, err)
    assert "cancelled" in err
    # Following a finished run exits at once with the same code.
    again = space.cli("runs", "logs", str(run["id"]), "--follow")
    assert again.code == 130 and "sleeping" in again.out
