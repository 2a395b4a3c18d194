"""RunExecutor alone, with a FAKE RunnerBackend (the one faked boundary) on a real Store
(temporary SQLite file), real Workers, Background and HashCache, and real job rows.

The fake backend never runs a process: each run waits on a future the test resolves, so
every state (queued, running, finished) is reached on purpose, never by timing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline_scheduler.domain import JobDefinition, RunStatus, TriggeredBy
from pipeline_scheduler.errors import ConflictError
from pipeline_scheduler.execution import ActiveRun, RunExecutor, RunFinished
from pipeline_scheduler.runner import RunnerBackend, RunOutcome, RunRequest
from pipeline_scheduler.settings import SchedulerSettings
from pipeline_scheduler.store import Store, make_engine
from pipeline_scheduler.workers import Background, Workers
from pipeline_scheduler.workspace import HashCache

LOG = logging.getLogger("test_execution")


def outcome(status: str = "success", exit_code: int | None = 0, out: str = "", err: str = "") -> RunOutcome:
    return RunOutcome(status, exit_code, out, err, len(out) + len(err), False, None)


class FakeBackend(RunnerBackend):
    """Records what it is asked; each run ends when the test calls ``finish``."""

    def __init__(self) -> None:
        self.requests: list[RunRequest] = []
        self.started_order: list[int] = []
        self.cancel_calls: list[int] = []
        self.running: set[int] = set()
        self.peak = 0
        self.is_shut_down = False
        self._outcomes: dict[int, asyncio.Future[RunOutcome]] = {}
        self._started: dict[int, asyncio.Event] = {}

    def _future(self, run_id: int) -> asyncio.Future[RunOutcome]:
        if run_id not in self._outcomes:
            self._outcomes[run_id] = asyncio.get_running_loop().create_future()
        return self._outcomes[run_id]

    def _event(self, run_id: int) -> asyncio.Event:
        return self._started.setdefault(run_id, asyncio.Event())

    async def run(self, request: RunRequest, on_started: Callable[[], Awaitable[None]]) -> RunOutcome:
        self.requests.append(request)
        self.running.add(request.run_id)
        self.peak = max(self.peak, len(self.running))
        try:
            await on_started()
            self.started_order.append(request.run_id)
            self._event(request.run_id).set()
            return await self._future(request.run_id)
        finally:
            self.running.discard(request.run_id)

    async def cancel(self, run_id: int) -> bool:
        self.cancel_calls.append(run_id)
        if run_id not in self.running:
            return False
        future = self._future(run_id)
        if not future.done():
            future.set_result(outcome("cancelled", -15))
        return True

    async def shutdown(self) -> None:
        self.is_shut_down = True

    # -- driven by the test --------------------------------------------------------------
    async def started(self, run_id: int) -> None:
        await self._event(run_id).wait()

    def finish(self, run_id: int, result: RunOutcome) -> None:
        self._future(run_id).set_result(result)


@dataclass
class Harness:
    settings: SchedulerSettings
    store: Store
    workers: Workers
    backend: FakeBackend
    executor: RunExecutor

    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.workers.db(fn, *args, **kwargs)

    async def run_row(self, run_id: int) -> dict[str, Any]:
        row = await self.db(self.store.get_run, run_id)
        assert row is not None
        return row

    async def add_job(self, job_id: str = "job1", path: str = "ok.py", **spec: Any) -> JobDefinition:
        name = spec.pop("name", f"Job {job_id}")
        job = JobDefinition(
            id=job_id,
            name=name,
            pipeline_path=path,
            spec={"schedule_type": "cron", "cron_expression": "0 3 * * *", "timezone": "UTC", **spec},
            python_code=None,
            code_hash=None,
            paused=False,
            created_at=1.0,
            updated_at=1.0,
        )
        await self.db(self.store.insert_job, job)
        return job


@contextlib.asynccontextmanager
async def harness(settings: SchedulerSettings, **overrides: Any) -> AsyncIterator[Harness]:
    s = settings.replace(**overrides) if overrides else settings
    workers, background = Workers(LOG), Background(LOG)
    store = Store(make_engine(s.database_url))
    await workers.db(store.create_schema)
    backend = FakeBackend()
    executor = RunExecutor(s, store, backend, workers, background, HashCache(), LOG)
    try:
        yield Harness(s, store, workers, backend, executor)
    finally:
        await executor.shutdown()
        await background.stop()
        await workers.db(store.engine.dispose)
        workers.shutdown()


def drive(coro: Awaitable[Any], timeout: float = 10.0) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


async def ended(active: ActiveRun) -> dict[str, Any]:
    """The run's record once it is recorded AND every subscriber has been called."""
    record = await asyncio.shield(active.done)
    assert active.task is not None
    await active.task
    return record


# --------------------------------------------------------------------------- life of a run
def test_queued_running_success_recorded(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job()
            active = await h.executor.start("job1", TriggeredBy.MANUAL)
            row = await h.run_row(active.run_id)
            assert row["status"] == "queued" and row["started_at"] is None
            assert row["triggered_by"] == "manual" and row["attempt"] == 1
            assert row["owner"]  # host:pid of this server

            await h.backend.started(active.run_id)
            row = await h.run_row(active.run_id)
            assert row["status"] == "running" and row["started_at"] is not None
            assert row["log_path"] == str(h.settings.runs_dir / str(active.run_id) / "output.log")
            assert h.executor.running_count == 1 and h.executor.queue_length == 0
            assert not active.done.done()

            h.backend.finish(active.run_id, outcome("success", 0, out="hello\n", err="warn\n"))
            record = await ended(active)
            assert record["status"] == "success"
            assert record["exit_code"] == 0
            assert record["output_tail"] == "hello\n" and record["error_tail"] == "warn\n"
            assert record["log_size"] == len("hello\nwarn\n")
            assert record["finished_at"] >= record["started_at"]
            assert record == await h.run_row(active.run_id)
            job = await h.db(h.store.get_job, "job1")
            assert (job.last_run_id, job.last_run_status) == (active.run_id, "success")
            assert h.executor.active(active.run_id) is None and h.executor.running_ids() == []

    drive(body())


def test_failure_and_backend_error_are_recorded(settings: SchedulerSettings) -> None:
    class Exploding(FakeBackend):
        async def run(self, request: RunRequest, on_started: Callable[[], Awaitable[None]]) -> RunOutcome:
            raise RuntimeError("cluster unreachable")

    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job()
            failed = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(failed.run_id)
            h.backend.finish(failed.run_id, outcome("failure", 3, err="boom\n"))
            record = await ended(failed)
            assert (record["status"], record["exit_code"], record["error_tail"]) == ("failure", 3, "boom\n")

            h.executor.runner = Exploding()
            broken = await h.executor.start("job1", TriggeredBy.MANUAL)
            record = await ended(broken)
            assert record["status"] == "failure"
            assert record["message"] == "Internal error: cluster unreachable"

    drive(body())


def test_missing_pipeline_fails_without_reaching_the_backend(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job(path="ok.py")
            (h.settings.root_dir / "ok.py").unlink()
            active = await h.executor.start("job1", TriggeredBy.MANUAL)
            record = await ended(active)
            assert record["status"] == "failure"
            assert "pipeline_path" in record["message"] and "does not exist" in record["message"]
            assert h.backend.requests == []

    drive(body())


# --------------------------------------------------------------------------- limits
def test_concurrency_limit_queues_fifo(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings, max_concurrent_runs=2) as h:
            await h.add_job()
            runs = [await h.executor.start("job1", TriggeredBy.MANUAL) for _ in range(4)]
            a, b, c, d = (r.run_id for r in runs)
            await h.backend.started(a)
            await h.backend.started(b)
            # Let the queued runs get as far as they can: a database and a file hop.
            await h.db(h.store.get_run, c)
            await h.workers.fs(lambda: None)
            # a and b hold the two slots; which of the two reaches the backend first depends
            # on their preparation hops (two file threads), so only the set is fixed.
            assert sorted(r.run_id for r in h.backend.requests) == [a, b]
            assert (await h.run_row(c))["status"] == "queued"
            assert (await h.run_row(d))["status"] == "queued"
            assert h.executor.queue_length == 2 and h.executor.running_count == 2

            h.backend.finish(a, outcome())
            await h.backend.started(c)  # the oldest waiting run takes the free slot
            assert d not in h.backend.started_order
            assert (await h.run_row(d))["status"] == "queued"
            h.backend.finish(b, outcome())
            await h.backend.started(d)
            h.backend.finish(c, outcome())
            h.backend.finish(d, outcome())
            records = [await ended(r) for r in runs]
            assert [r["status"] for r in records] == ["success"] * 4
            assert sorted(h.backend.started_order[:2]) == [a, b]
            assert h.backend.started_order[2:] == [c, d]
            assert h.backend.peak == 2

    drive(body())


def test_max_instances_skips_scheduled_fires_not_manual_runs(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings, max_concurrent_runs=8) as h:
            await h.add_job(max_instances=1)
            first = await h.executor.start("job1", TriggeredBy.SCHEDULE, scheduled_for=1000.0)
            await h.backend.started(first.run_id)

            # (Each its own fire time: one fire time of a job is recorded once.)
            for i, origin in enumerate((TriggeredBy.SCHEDULE, TriggeredBy.CATCHUP, TriggeredBy.TRIGGER)):
                refused = await h.executor.start("job1", origin, scheduled_for=2000.0 + i)
                assert refused.done.done()
                record = refused.done.result()
                assert record["status"] == "skipped"
                assert record["triggered_by"] == origin.value
                assert record["scheduled_for"] == 2000.0 + i
                assert "max_instances is 1" in record["message"] and "1 run(s)" in record["message"]
                assert (await h.run_row(refused.run_id))["status"] == "skipped"
                assert h.executor.active(refused.run_id) is None

            manual = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(manual.run_id)
            assert len(h.executor.active_of_job("job1")) == 2
            assert [r.run_id for r in h.backend.requests] == [first.run_id, manual.run_id]
            h.backend.finish(first.run_id, outcome())
            h.backend.finish(manual.run_id, outcome())
            assert (await ended(manual))["status"] == "success"
            await ended(first)

            # With the first run over, a scheduled fire runs again.
            again = await h.executor.start("job1", TriggeredBy.SCHEDULE, scheduled_for=3000.0)
            await h.backend.started(again.run_id)
            h.backend.finish(again.run_id, outcome())
            assert (await ended(again))["status"] == "success"

    drive(body())


# --------------------------------------------------------------------------- cancel
def test_cancel_while_queued_never_reaches_the_backend(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings, max_concurrent_runs=1) as h:
            await h.add_job()
            running = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(running.run_id)
            queued = await h.executor.start("job1", TriggeredBy.MANUAL)
            # (A database hop lets the queued run's task start and wait for a slot; a cancel
            # before its first step is test_cancel_right_after_start_is_recorded.)
            assert (await h.run_row(queued.run_id))["status"] == "queued"
            assert h.executor.queue_length == 1
            record = await h.executor.cancel(queued.run_id)
            assert record["status"] == "cancelled"
            assert record["message"] == "Cancelled while queued."
            assert record["started_at"] is None
            assert (await h.run_row(queued.run_id))["status"] == "cancelled"

            h.backend.finish(running.run_id, outcome())
            await ended(running)
            await ended(queued)
            assert [r.run_id for r in h.backend.requests] == [running.run_id]
            with pytest.raises(ConflictError, match="not active"):
                await h.executor.cancel(queued.run_id)

    drive(body())


def test_cancel_right_after_start_is_recorded(settings: SchedulerSettings) -> None:
    """BUG (kept failing on purpose): ``start`` creates the run's task and answers; a
    cancel before that task's first step (no await in between, and the backend's
    ``cancel`` answers False without yielding, as LocalSubprocessRunner's does for a run it
    does not know) calls ``task.cancel()`` on a task that never ran, so ``_execute``'s
    ``finally`` (which records the end and resolves ``done``) never runs: ``cancel`` waits
    forever and the run stays 'queued' in the database."""

    async def body() -> None:
        async with harness(settings, max_concurrent_runs=1) as h:
            await h.add_job()
            active = await h.executor.start("job1", TriggeredBy.MANUAL)
            try:
                # asyncio.timeout, not wait_for: wait_for would run cancel in a new task,
                # letting the run's task take its first step first.
                async with asyncio.timeout(3):
                    record = await h.executor.cancel(active.run_id)
            except TimeoutError:
                row = await h.run_row(active.run_id)
                pytest.fail(f"cancel never answered; the run is still {row['status']!r}")
            assert record["status"] == "cancelled"
            assert record["message"] == "Cancelled while queued."
            assert h.backend.requests == []

    drive(body())


def test_cancel_while_running_stops_through_the_backend(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job()
            active = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(active.run_id)
            record = await h.executor.cancel(active.run_id)
            assert h.backend.cancel_calls == [active.run_id]
            assert record["status"] == "cancelled"
            assert record["message"] == "Cancelled."
            assert record["started_at"] is not None
            assert (await h.run_row(active.run_id))["status"] == "cancelled"

            other = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(other.run_id)
            record = await h.executor.cancel(other.run_id, "Cancelled by the job's deletion.")
            assert record["message"] == "Cancelled by the job's deletion."

    drive(body())


# --------------------------------------------------------------------------- RunFinished
def test_one_run_finished_per_run_and_will_retry(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job(max_retries=1)
            events: list[RunFinished] = []

            async def subscriber(event: RunFinished) -> None:
                events.append(event)

            h.executor.subscribe(subscriber)

            async def one(status: str, origin: TriggeredBy, attempt: int) -> RunFinished:
                active = await h.executor.start("job1", origin, attempt=attempt)
                await h.backend.started(active.run_id)
                h.backend.finish(active.run_id, outcome(status, 0 if status == "success" else 1))
                await ended(active)
                mine = [e for e in events if e.run["id"] == active.run_id]
                assert len(mine) == 1
                assert mine[0].run["status"] == status
                return mine[0]

            first = await one("failure", TriggeredBy.SCHEDULE, 1)
            assert first.status == RunStatus.FAILURE and first.attempt == 1 and first.will_retry
            assert first.job.id == "job1"
            last = await one("failure", TriggeredBy.RETRY, 2)
            assert last.attempt == 2 and not last.will_retry  # no retries left
            timed_out = await one("timeout", TriggeredBy.MANUAL, 1)
            assert timed_out.status == RunStatus.TIMEOUT and timed_out.will_retry
            ok = await one("success", TriggeredBy.MANUAL, 1)
            assert ok.status == RunStatus.SUCCESS and not ok.will_retry
            assert len(events) == 4

            # A cancel is announced too, once, and never retried.
            active = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(active.run_id)
            await h.executor.cancel(active.run_id)
            await ended(active)
            cancelled = [e for e in events if e.run["id"] == active.run_id]
            assert len(cancelled) == 1 and cancelled[0].status == RunStatus.CANCELLED
            assert not cancelled[0].will_retry

    drive(body())


def test_no_retries_configured_means_no_will_retry(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job()
            events: list[RunFinished] = []

            async def subscriber(event: RunFinished) -> None:
                events.append(event)

            h.executor.subscribe(subscriber)
            active = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(active.run_id)
            h.backend.finish(active.run_id, outcome("failure", 1))
            await ended(active)
            assert [(e.status, e.will_retry) for e in events] == [(RunStatus.FAILURE, False)]

    drive(body())


def test_a_failing_subscriber_does_not_stop_the_next(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job()
            seen: list[int] = []

            async def broken(event: RunFinished) -> None:
                raise RuntimeError("policy bug")

            async def working(event: RunFinished) -> None:
                seen.append(event.run["id"])

            h.executor.subscribe(broken)
            h.executor.subscribe(working)
            active = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(active.run_id)
            h.backend.finish(active.run_id, outcome())
            record = await ended(active)
            assert record["status"] == "success"
            assert seen == [active.run_id]

    drive(body())


# --------------------------------------------------------------------------- shutdown
def test_shutdown_cancel_policy_cancels_and_announces_nothing(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings, max_concurrent_runs=1, shutdown_policy="cancel") as h:
            await h.add_job()
            events: list[RunFinished] = []

            async def subscriber(event: RunFinished) -> None:
                events.append(event)

            h.executor.subscribe(subscriber)
            running = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(running.run_id)
            queued = await h.executor.start("job1", TriggeredBy.MANUAL)

            await h.executor.shutdown()
            assert running.run_id in h.backend.cancel_calls
            assert h.backend.is_shut_down
            for active in (running, queued):
                assert active.done.done()
                row = await h.run_row(active.run_id)
                assert row["status"] == "cancelled"
                assert "shut down" in row["message"]
            assert [r.run_id for r in h.backend.requests] == [running.run_id]
            assert events == []
            assert h.executor.running_ids() == []

    drive(body())


def test_shutdown_wait_policy_lets_runs_finish(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings, shutdown_policy="wait") as h:
            await h.add_job()
            active = await h.executor.start("job1", TriggeredBy.MANUAL)
            await h.backend.started(active.run_id)
            stopping = asyncio.create_task(h.executor.shutdown())
            await h.db(h.store.get_run, active.run_id)  # give shutdown a chance to misbehave
            assert not stopping.done()
            assert h.backend.cancel_calls == [] and not h.backend.is_shut_down
            h.backend.finish(active.run_id, outcome())
            await stopping
            assert (await h.run_row(active.run_id))["status"] == "success"
            assert h.backend.cancel_calls == [] and h.backend.is_shut_down

    drive(body())


# --------------------------------------------------------------------------- the request
def test_run_request_has_environment_command_and_header(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job(
                "load",
                "etl/load.py",
                name="Load customers",
                env={"STAGE": "prod"},
                parameters={"batch": 3, "dry": True, "name": "x"},
                _secret_env={"API_TOKEN": "s3cr3t-value", "PIN": "123"},
                timeout_seconds=30,
            )
            active = await h.executor.start("load", TriggeredBy.MANUAL)
            await h.backend.started(active.run_id)
            (request,) = h.backend.requests
            rid = active.run_id
            script = h.settings.root_dir / "etl" / "load.py"
            assert request.run_id == rid
            assert request.argv == [h.settings.interpreter, "-u", str(script)]
            assert request.cwd == script.parent
            env = request.env
            assert env["AMPHI_SCHEDULER_RUN_ID"] == str(rid)
            assert env["AMPHI_SCHEDULER_JOB_ID"] == "load"
            assert env["AMPHI_SCHEDULER_WORKSPACE"] == str(h.settings.root_dir)
            assert env["STAGE"] == "prod"
            assert (env["batch"], env["dry"], env["name"]) == ("3", "true", "x")
            assert json.loads(env["AMPHI_PARAMETERS"]) == {"batch": 3, "dry": True, "name": "x"}
            assert env["API_TOKEN"] == "s3cr3t-value" and env["PIN"] == "123"
            assert request.redact == ["s3cr3t-value"]  # values under 4 characters are not masked
            assert "JUPYTER_TOKEN" not in env
            assert request.log_path == h.settings.runs_dir / str(rid) / "output.log"
            assert request.log_path.parent.is_dir()
            assert request.timeout_seconds == 30
            assert request.max_log_bytes == h.settings.max_log_bytes
            assert request.tail_bytes == h.settings.tail_bytes
            assert request.header.startswith(
                f"[amphi-scheduler] run {rid} of 'Load customers' (etl/load.py), manual, started "
            )
            assert "attempt" not in request.header
            h.backend.finish(rid, outcome())
            await ended(active)

            retry = await h.executor.start("load", TriggeredBy.RETRY, attempt=2)
            await h.backend.started(retry.run_id)
            assert ", retry, attempt 2, started " in h.backend.requests[-1].header
            h.backend.finish(retry.run_id, outcome())
            await ended(retry)

    drive(body())


def test_ampln_runs_its_stored_code_snapshot(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            job = JobDefinition(
                id="flow",
                name="Flow",
                pipeline_path="flow.ampln",
                spec={"schedule_type": "cron", "cron_expression": "0 3 * * *", "timezone": "UTC"},
                python_code="print('generated')\n",
                code_hash="not-the-file-hash",
                paused=False,
                created_at=1.0,
                updated_at=1.0,
            )
            await h.db(h.store.insert_job, job)
            active = await h.executor.start("flow", TriggeredBy.MANUAL)
            await h.backend.started(active.run_id)
            (request,) = h.backend.requests
            script = Path(request.argv[-1])
            assert script == h.settings.runs_dir / str(active.run_id) / "pipeline.py"
            assert script.read_text(encoding="utf-8") == "print('generated')\n"
            assert request.cwd == h.settings.root_dir  # the .ampln file's folder
            assert "WARNING: the pipeline file changed" in request.header
            assert (await h.run_row(active.run_id))["pipeline_changed"] is True
            h.backend.finish(active.run_id, outcome())
            await ended(active)

    drive(body())


# --------------------------------------------------------------------------- run ids
def test_run_ids_increase_and_are_never_reused(settings: SchedulerSettings) -> None:
    async def body() -> None:
        async with harness(settings) as h:
            await h.add_job()

            async def one() -> int:
                active = await h.executor.start("job1", TriggeredBy.MANUAL)
                await h.backend.started(active.run_id)
                h.backend.finish(active.run_id, outcome())
                await ended(active)
                return active.run_id

            first = await one()
            second = await one()
            assert second > first
            assert await h.db(h.store.delete_run, second)  # the newest run
            third = await one()
            assert third > second
            assert await h.db(h.store.delete_run, third)

        # A fresh Store on the same file continues the counter.
        async with harness(settings) as fresh:
            fourth = await fresh.executor.start("job1", TriggeredBy.MANUAL)
            assert fourth.run_id > third
            assert await fresh.db(fresh.store.get_run, third) is None
            await fresh.executor.cancel(fourth.run_id)

    drive(body())
