"""LocalSubprocessRunner with real tiny subprocesses (sys.executable): outcomes, cwd, log cap
and bounded tails, timeout, cancel, SIGKILL after the grace period, no orphans."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from unit_helpers import kill_if_alive, pid_gone, read_pid, wait_pid_gone

from pipeline_scheduler.runner import (
    TRUNCATION_MARKER,
    LocalSubprocessRunner,
    RunOutcome,
    RunRequest,
    TailBuffer,
)

KIB = 1024
MIB = 1024 * 1024


def script(tmp_path: Path, body: str, name: str = "pipeline.py") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def request(tmp_path: Path, path: Path, **overrides: Any) -> RunRequest:
    values: dict[str, Any] = {
        "run_id": 1,
        "argv": [sys.executable, "-u", str(path)],
        "cwd": path.parent,
        "env": {**os.environ, "PYTHONUNBUFFERED": "1"},
        "log_path": tmp_path / "logs" / "1" / "output.log",
        "max_log_bytes": MIB,
        "tail_bytes": 64 * KIB,
        "timeout_seconds": 30,
        "kill_grace_seconds": 1.0,
    }
    values.update(overrides)
    return RunRequest(**values)


def run(req: RunRequest, runner: LocalSubprocessRunner | None = None) -> tuple[RunOutcome, list[float]]:
    """Run one request to its end; answer the outcome and when on_started was called."""
    started: list[float] = []

    async def main() -> RunOutcome:
        r = runner or LocalSubprocessRunner()
        try:

            async def on_started() -> None:
                started.append(time.monotonic())

            return await r.run(req, on_started)
        finally:
            await r.shutdown()

    return asyncio.run(main()), started


async def wait_for_file(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        await asyncio.sleep(0.02)


async def start(runner: LocalSubprocessRunner, req: RunRequest, *files: Path) -> asyncio.Task[RunOutcome]:
    """Start a run and wait until the runner reported it started and ``files`` exist
    (the pipeline writes them once it is ready to be stopped)."""
    started = asyncio.Event()

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(runner.run(req, on_started))
    await asyncio.wait_for(started.wait(), 20)
    for path in files:
        await wait_for_file(path)
    return task


def test_exit_0_is_success(tmp_path: Path) -> None:
    path = script(tmp_path, "print('hello'); print('world')\n")
    req = request(tmp_path, path, header="[amphi-scheduler] header line\n")
    outcome, started = run(req)
    assert outcome.status == "success"
    assert outcome.exit_code == 0
    assert outcome.output_tail == "hello\nworld\n"
    assert outcome.error_tail == ""
    assert outcome.message is None
    assert len(started) == 1
    log = req.log_path.read_text()
    assert log == "[amphi-scheduler] header line\nhello\nworld\n"
    assert outcome.log_size == len(log.encode()) and not outcome.log_truncated


def test_a_log_that_cannot_be_created_leaves_the_run_going_and_says_why(tmp_path: Path) -> None:
    # The log's folder is a file: the pipeline still runs, its tails reach the outcome, and
    # the outcome says why there is no log (the file is created off the loop, not awaited).
    path = script(tmp_path, "print('still ran')\n")
    (tmp_path / "logs").write_text("not a folder")
    outcome, started = run(request(tmp_path, path, header="[amphi-scheduler] header line\n"))
    assert outcome.status == "success" and outcome.exit_code == 0 and len(started) == 1
    assert outcome.output_tail == "still ran\n"
    assert outcome.message is not None and outcome.message.startswith("Cannot write the run log in ")
    assert "log_dir" in outcome.message
    assert outcome.log_size == 0 and outcome.log_truncated


def test_non_zero_exit_is_failure_with_its_code(tmp_path: Path) -> None:
    path = script(tmp_path, "import sys\nprint('partial work')\nsys.exit(3)\n")
    req = request(tmp_path, path)
    outcome, _ = run(req)
    assert outcome.status == "failure"
    assert outcome.exit_code == 3
    assert outcome.output_tail == "partial work\n"
    assert "code 3" in (outcome.message or "")
    assert "Exited with code 3." in req.log_path.read_text()


def test_uncaught_exception_goes_to_the_error_tail(tmp_path: Path) -> None:
    path = script(
        tmp_path, "import sys\nprint('to stderr', file=sys.stderr)\nraise ValueError('bad row 7')\n"
    )
    req = request(tmp_path, path)
    outcome, _ = run(req)
    assert outcome.status == "failure" and outcome.exit_code == 1
    assert outcome.output_tail == ""
    assert "to stderr" in outcome.error_tail
    assert "ValueError: bad row 7" in outcome.error_tail
    log = req.log_path.read_text()
    assert "to stderr" in log and "ValueError: bad row 7" in log


def test_cwd_is_honoured(tmp_path: Path) -> None:
    folder = tmp_path / "etl" / "nightly"
    path = script(folder, "import os\nprint(os.getcwd())\nprint(open('input.txt').read())\n")
    (folder / "input.txt").write_text("relative data")
    outcome, _ = run(request(tmp_path, path))
    assert outcome.status == "success", outcome.error_tail
    lines = outcome.output_tail.splitlines()
    assert Path(lines[0]).resolve() == folder.resolve()
    assert lines[1] == "relative data"


def test_environment_is_passed(tmp_path: Path) -> None:
    path = script(tmp_path, "import os\nprint(os.environ['AMPHI_TEST_VALUE'])\n")
    outcome, _ = run(request(tmp_path, path, env={**os.environ, "AMPHI_TEST_VALUE": "42 apples"}))
    assert outcome.output_tail == "42 apples\n"


def test_a_program_that_cannot_start_is_a_failure(tmp_path: Path) -> None:
    req = request(tmp_path, tmp_path / "x.py", argv=[str(tmp_path / "no-such-python"), "x.py"])
    outcome, started = run(req)
    assert outcome.status == "failure" and outcome.exit_code is None
    assert "Could not start" in (outcome.message or "")
    assert started == []
    assert "Could not start" in req.log_path.read_text()


def test_200_mib_of_output_keeps_the_log_capped_tails_and_memory_bounded(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        import sys
        line = b"y" * 1023 + b"\\n"
        chunk = line * 1024  # 1 MiB
        for _ in range(200):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        sys.stderr.write("e" * 100 + "\\n" + "done on stderr\\n")
        """,
    )
    req = request(tmp_path, path, max_log_bytes=MIB, tail_bytes=64 * KIB, timeout_seconds=120)
    me = psutil.Process()
    samples: list[int] = []

    async def main() -> RunOutcome:
        runner = LocalSubprocessRunner()
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                samples.append(me.memory_info().rss)
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        await asyncio.sleep(0.05)
        try:

            async def on_started() -> None:
                return None

            return await runner.run(req, on_started)
        finally:
            stop.set()
            await sampler
            await runner.shutdown()

    baseline = me.memory_info().rss
    t0 = time.monotonic()
    outcome = asyncio.run(main())
    elapsed = time.monotonic() - t0

    # exit 0 proves the child could write all 200 MiB: the runner kept draining the pipe.
    assert outcome.status == "success" and outcome.exit_code == 0, outcome.error_tail
    marker = TRUNCATION_MARKER.format(limit=MIB).encode()
    size = req.log_path.stat().st_size
    assert size <= MIB + len(marker)
    assert size >= MIB  # it was filled up to the cap
    assert outcome.log_size == size and outcome.log_truncated
    with open(req.log_path, "rb") as f:
        f.seek(-len(marker) - 16, os.SEEK_END)
        assert marker in f.read()
    assert len(outcome.output_tail.encode()) <= 64 * KIB
    assert len(outcome.output_tail.encode()) > 60 * KIB  # it is the tail, not nothing
    assert set(outcome.output_tail.replace("\n", "")) == {"y"}
    assert outcome.error_tail.endswith("done on stderr\n")
    assert len(samples) > 10
    growth = max(samples) - baseline
    assert growth < 64 * MIB, f"RSS grew by {growth / MIB:.1f} MiB while streaming 200 MiB"
    assert elapsed < 60


def test_tails_are_bounded_for_both_streams(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        import sys
        for i in range(20000):
            print(f"out line {i:05d}")
            print(f"err line {i:05d}", file=sys.stderr)
        """,
    )
    req = request(tmp_path, path, max_log_bytes=10 * MIB, tail_bytes=4 * KIB)
    outcome, _ = run(req)
    assert outcome.status == "success"
    assert 0 < len(outcome.output_tail.encode()) <= 4 * KIB
    assert 0 < len(outcome.error_tail.encode()) <= 4 * KIB
    # Tails start at a line boundary and end with the last line.
    assert outcome.output_tail.startswith("out line ") and outcome.output_tail.endswith("out line 19999\n")
    assert outcome.error_tail.startswith("err line ") and outcome.error_tail.endswith("err line 19999\n")
    # The log has everything (it is under its cap) from both streams.
    log = req.log_path.read_text()
    assert log.count("out line ") == 20000 and log.count("err line ") == 20000
    assert not outcome.log_truncated


def test_tail_buffer_keeps_the_last_bytes() -> None:
    tail = TailBuffer(10)
    for i in range(1000):
        tail.append(f"{i}\n".encode())
    text = tail.text()
    assert text.endswith("999\n") and len(text.encode()) <= 10
    assert len(tail._buf) <= 20  # never more than twice the limit in memory
    small = TailBuffer(100)
    small.append(b"abc\n")
    assert small.text() == "abc\n"


def test_timeout_stops_the_run_and_the_process_is_gone(tmp_path: Path) -> None:
    path = script(tmp_path, "import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    req = request(tmp_path, path, timeout_seconds=1.0)
    t0 = time.monotonic()
    outcome, _ = run(req)
    elapsed = time.monotonic() - t0
    pid = read_pid(tmp_path / "pid")
    try:
        assert outcome.status == "timeout"
        assert "timeout" in (outcome.message or "")
        assert 0.9 <= elapsed < 10
        assert wait_pid_gone(pid)
        assert "timeout" in req.log_path.read_text()
    finally:
        kill_if_alive(pid)


def test_cancel_stops_the_run(tmp_path: Path) -> None:
    path = script(tmp_path, "import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    req = request(tmp_path, path, kill_grace_seconds=10.0)

    async def main() -> tuple[RunOutcome, bool, bool, float]:
        runner = LocalSubprocessRunner()
        try:
            task = await start(runner, req, tmp_path / "pid")
            assert runner.running_ids() == [1]
            t0 = time.monotonic()
            cancelled = await runner.cancel(1)
            outcome = await task
            again = await runner.cancel(1)  # no longer running
            return outcome, cancelled, again, time.monotonic() - t0
        finally:
            await runner.shutdown()

    outcome, cancelled, again, elapsed = asyncio.run(main())
    pid = read_pid(tmp_path / "pid")
    try:
        assert cancelled is True and again is False
        assert outcome.status == "cancelled"
        assert elapsed < 5  # SIGTERM was enough: no wait for the 10 s grace period
        assert wait_pid_gone(pid)
    finally:
        kill_if_alive(pid)


def test_cancel_of_an_unknown_run_is_false() -> None:
    async def main() -> bool:
        runner = LocalSubprocessRunner()
        try:
            return await runner.cancel(12345)
        finally:
            await runner.shutdown()

    assert asyncio.run(main()) is False


async def _noop() -> None:
    return None


def test_a_pipeline_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open('pid', 'w').write(str(os.getpid()))
        while True:
            time.sleep(0.1)
        """,
    )
    req = request(tmp_path, path, kill_grace_seconds=1.0)

    async def main() -> tuple[RunOutcome, float]:
        runner = LocalSubprocessRunner()
        try:
            task = await start(runner, req, tmp_path / "pid")
            t0 = time.monotonic()
            await runner.cancel(1)
            outcome = await task
            return outcome, time.monotonic() - t0
        finally:
            await runner.shutdown()

    outcome, elapsed = asyncio.run(main())
    pid = read_pid(tmp_path / "pid")
    try:
        assert outcome.status == "cancelled"
        assert outcome.exit_code == -9  # it did not stop for SIGTERM: SIGKILL ended it
        assert 0.9 <= elapsed < 8
        assert wait_pid_gone(pid)
    finally:
        kill_if_alive(pid)


def test_timeout_of_a_pipeline_ignoring_sigterm(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('stubborn', flush=True)
        time.sleep(60)
        """,
    )
    t0 = time.monotonic()
    outcome, _ = run(request(tmp_path, path, timeout_seconds=0.5, kill_grace_seconds=0.5))
    assert outcome.status == "timeout" and outcome.exit_code == -9
    assert outcome.output_tail == "stubborn\n"
    assert time.monotonic() - t0 < 8


@pytest.mark.parametrize("child_ignores_sigterm", [False, True], ids=["sleep-child", "stubborn-child"])
def test_cancel_leaves_no_orphan_child(tmp_path: Path, child_ignores_sigterm: bool) -> None:
    if child_ignores_sigterm:
        child = (
            "[sys.executable, '-c', 'import signal, time; "
            "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)']"
        )
    else:
        child = "['sleep', '120']"
    path = script(
        tmp_path,
        f"""
        import os, subprocess, sys, time
        child = subprocess.Popen({child})
        open('child.pid', 'w').write(str(child.pid))
        open('pid', 'w').write(str(os.getpid()))
        print('started child', child.pid, flush=True)
        time.sleep(120)
        """,
    )
    req = request(tmp_path, path, kill_grace_seconds=1.0)

    async def main() -> RunOutcome:
        runner = LocalSubprocessRunner()
        try:
            task = await start(runner, req, tmp_path / "pid", tmp_path / "child.pid")
            assert not pid_gone(read_pid(tmp_path / "child.pid"))
            await runner.cancel(1)
            return await asyncio.wait_for(task, 20)
        finally:
            await runner.shutdown()

    t0 = time.monotonic()
    outcome = asyncio.run(main())
    pid, child_pid = read_pid(tmp_path / "pid"), read_pid(tmp_path / "child.pid")
    try:
        assert outcome.status == "cancelled"
        assert wait_pid_gone(pid)
        assert wait_pid_gone(child_pid), "the pipeline's child outlived the cancel"
        assert time.monotonic() - t0 < 15
    finally:
        kill_if_alive(child_pid)
        kill_if_alive(pid)


def test_a_child_left_running_after_a_normal_exit_is_killed(tmp_path: Path) -> None:
    """The pipeline exits 0 but leaves a background child holding its stdout."""
    path = script(
        tmp_path,
        """
        import subprocess
        child = subprocess.Popen(['sleep', '120'])
        open('child.pid', 'w').write(str(child.pid))
        print('bye')
        """,
    )
    t0 = time.monotonic()
    outcome, _ = run(request(tmp_path, path))
    child_pid = read_pid(tmp_path / "child.pid")
    try:
        assert outcome.status == "success" and outcome.exit_code == 0
        assert outcome.output_tail == "bye\n"
        assert wait_pid_gone(child_pid)
        assert time.monotonic() - t0 < 15
    finally:
        kill_if_alive(child_pid)


def test_concurrent_runs_are_independent(tmp_path: Path) -> None:
    a = script(tmp_path / "a", "import time\ntime.sleep(0.5)\nprint('A')\n")
    b = script(tmp_path / "b", "import sys\nprint('B')\nsys.exit(4)\n")
    ra = request(tmp_path, a, run_id=1, log_path=tmp_path / "logs" / "1.log")
    rb = request(tmp_path, b, run_id=2, log_path=tmp_path / "logs" / "2.log")

    async def main() -> list[RunOutcome]:
        runner = LocalSubprocessRunner()
        try:
            return list(await asyncio.gather(runner.run(ra, _noop), runner.run(rb, _noop)))
        finally:
            await runner.shutdown()

    t0 = time.monotonic()
    oa, ob = asyncio.run(main())
    assert time.monotonic() - t0 < 5
    assert (oa.status, oa.output_tail) == ("success", "A\n")
    assert (ob.status, ob.exit_code, ob.output_tail) == ("failure", 4, "B\n")
    assert ra.log_path.read_text() == "A\n"
    assert rb.log_path.read_text().startswith("B\n")


def test_secrets_are_masked_even_when_a_read_cuts_them_in_two(tmp_path: Path) -> None:
    secret = "s3cr3t-VALUE-42"
    path = script(
        tmp_path,
        f"""
        import sys, time
        sys.stdout.write("token={secret[:6]}")
        sys.stdout.flush()
        time.sleep(0.3)  # the runner reads the first half on its own
        sys.stdout.write("{secret[6:]} end\\n")
        print("err {secret}", file=sys.stderr)
        sys.stdout.write("tail {secret[:3]}")
        """,
    )
    req = request(tmp_path, path, redact=[secret])
    outcome, _ = run(req)
    assert outcome.status == "success"
    assert outcome.output_tail == f"token=*** end\ntail {secret[:3]}"
    assert outcome.error_tail == "err ***\n"
    log = req.log_path.read_text()
    assert secret not in log and "token=*** end" in log and "err ***" in log


def test_a_cancelled_task_leaves_no_process_behind(tmp_path: Path) -> None:
    """When the task running a run is cancelled (not runner.cancel), the group is killed."""
    path = script(tmp_path, "import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    req = request(tmp_path, path)

    async def main() -> list[int]:
        runner = LocalSubprocessRunner()
        try:
            task = await start(runner, req, tmp_path / "pid")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return runner.running_ids()
        finally:
            await runner.shutdown()

    assert asyncio.run(main()) == []
    pid = read_pid(tmp_path / "pid")
    try:
        assert wait_pid_gone(pid)
    finally:
        kill_if_alive(pid)


def test_a_failing_on_started_leaves_no_process_behind(tmp_path: Path) -> None:
    path = script(tmp_path, "import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    req = request(tmp_path, path)

    async def main() -> None:
        runner = LocalSubprocessRunner()

        async def on_started() -> None:
            await wait_for_file(tmp_path / "pid")
            raise RuntimeError("database is locked")

        try:
            with pytest.raises(RuntimeError, match="database is locked"):
                await runner.run(req, on_started)
        finally:
            await runner.shutdown()

    asyncio.run(main())
    pid = read_pid(tmp_path / "pid")
    try:
        assert wait_pid_gone(pid)
    finally:
        kill_if_alive(pid)
