"""How a Ray run's log stream is known to be whole: the entrypoint prints a last line of
its own after the pipeline (``ray_runner.end_line``); the runner stops reading there,
instead of waiting seconds for Ray's server to close the stream, and keeps the line out
of the log, also when the stream cuts it in two. Ray's stream is the one thing stood in
for here (tests/ray runs the same against a real cluster)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from pipeline_scheduler.ray_runner import RayJobsRunner, _RayRun, end_line
from pipeline_scheduler.runner import LogWriter, RunRequest, TailBuffer, _Redactor
from pipeline_scheduler.settings import SchedulerSettings


class Stream:
    """Ray's ``tail_job_logs``: these chunks, then open and silent (as Ray keeps it for
    seconds after the job ended) until closed."""

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks
        self.closed = False

    async def tail_job_logs(self, submission_id: str) -> AsyncIterator[str]:
        try:
            for chunk in self.chunks:
                yield chunk
            await asyncio.sleep(3600)
        finally:
            self.closed = True


def follow_log(tmp_path: Path, chunks: list[str], state: _RayRun) -> tuple[str, str, bool]:
    """Read a stream as a run's log; answer the log file, the tail and whether the stream
    was closed by the runner. Fails when reading waits for the stream to end."""
    settings = SchedulerSettings(workspace_dir=str(tmp_path), timezone="UTC")
    runner = RayJobsRunner(settings)
    stream = Stream(chunks)
    runner._connect = lambda: stream  # type: ignore[method-assign]
    path = tmp_path / "run" / "output.log"

    async def main() -> str:
        log = LogWriter(path, 1 << 20, runner._io)
        log.open("")
        await log.settle()
        tail = TailBuffer(1 << 16)
        try:
            await asyncio.wait_for(runner._tail(state.submission_id, log, tail, _Redactor([]), state), 10)
        finally:
            log.close()
            await runner.shutdown()
        return tail.text()

    tail = asyncio.run(main())
    return path.read_text(), tail, stream.closed


def test_the_last_line_ends_the_log_even_when_cut_in_two(tmp_path: Path) -> None:
    last = end_line("amphi-x-run-1", "0f1e2d3c4b5a6978")
    cut = len(last) // 2
    state = _RayRun("amphi-x-run-1", end_line=last)
    chunks = ["out 1\n", "out 2\n" + last[:cut], last[cut:] + "a grandchild, later\n"]
    text, tail, closed = follow_log(tmp_path, chunks, state)
    assert text == tail == "out 1\nout 2\n"
    assert closed  # the websocket is let go at once


def test_text_like_the_last_line_but_not_it_stays_in_the_log(tmp_path: Path) -> None:
    last = end_line("amphi-x-run-2", "0f1e2d3c4b5a6978")
    other = end_line("amphi-x-run-2", "8796a5b4c3d2e1f0")  # same job, another token
    state = _RayRun("amphi-x-run-2", end_line=last)
    chunks = ["a" + other, last[:10], "no, not the end\n", last]
    text, _, _ = follow_log(tmp_path, chunks, state)
    assert text == "a" + other + last[:10] + "no, not the end\n"


def test_a_job_submitted_without_a_last_line_is_read_to_the_end_of_its_stream(tmp_path: Path) -> None:
    state = _RayRun("amphi-x-run-3")  # submitted by an older version: no end_line
    stream_ends = Stream(["one\n", "two\n"])

    async def main() -> None:
        runner = RayJobsRunner(SchedulerSettings(workspace_dir=str(tmp_path), timezone="UTC"))
        runner._connect = lambda: stream_ends  # type: ignore[method-assign]
        log = LogWriter(tmp_path / "old" / "output.log", 1 << 20, runner._io)
        log.open("")
        tail = TailBuffer(1 << 16)
        reading = asyncio.ensure_future(runner._tail(state.submission_id, log, tail, _Redactor([]), state))
        await asyncio.sleep(0.5)
        assert not reading.done()  # it waits for Ray to close the stream
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        assert tail.text() == "one\ntwo\n"
        log.close()
        await runner.shutdown()

    asyncio.run(main())


def test_the_entrypoint_prints_the_last_line_and_keeps_the_exit_code(tmp_path: Path) -> None:
    """The entrypoint as Ray's job supervisor runs it (a shell command)."""
    (tmp_path / "fails.py").write_text("print('partial', end='')\nraise SystemExit(7)\n")
    settings = SchedulerSettings(workspace_dir=str(tmp_path), timezone="UTC", ray_python="python3")
    runner = RayJobsRunner(settings)
    request = RunRequest(
        run_id=1,
        argv=["python3", "-u", str(tmp_path / "fails.py")],
        cwd=tmp_path,
        env={},
        log_path=tmp_path / "output.log",
        max_log_bytes=1 << 20,
        tail_bytes=1 << 16,
        script=tmp_path / "fails.py",
    )
    entrypoint, _ = runner._entrypoint(request, "amphi-x-run-4", "0f1e2d3c4b5a6978")
    last = end_line("amphi-x-run-4", "0f1e2d3c4b5a6978")
    # Ray writes the entrypoint into the log before the pipeline's output: it must not
    # hold the line itself, which would end the log there.
    assert last not in entrypoint
    done = subprocess.run(entrypoint, shell=True, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 7
    assert done.stdout == "partial" + last
    assert entrypoint.startswith("python3 -u fails.py; ")
