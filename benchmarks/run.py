"""Benchmarks of amphi-scheduler against its budgets (``make bench``; never in ``make test``).

Drives a server through its REST API only. By default it starts a real ``jupyter server``
with the extension on a temporary workspace (and can then also read the server's memory
and seed the database directly); ``--url``/``--token`` point it at any server speaking
this API instead, where the figures that need the server's process or files are skipped.

Figures that depend on the machine are printed next to a baseline measured in the same
run (e.g. the start of a bare interpreter).

    python -m benchmarks.run [--quick] [--only NAME ...] [--url URL --token TOKEN]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .figures import Figure
from .pg_bench import bench_pg_takeover
from .ray_bench import bench_ray_overhead
from .ui import bench_ui

ROOT = Path(__file__).resolve().parent.parent


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/") + "/"
        self.token = token

    def request(self, method: str, path: str, body: Any = None) -> urllib.request.Request:
        data = None if body is None else json.dumps(body).encode()
        return urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )

    def call(self, method: str, path: str, body: Any = None, timeout: float = 600) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.request(method, path, body), timeout=timeout) as answer:
                raw = answer.read()
                return answer.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None

    def api(self, method: str, path: str, body: Any = None, timeout: float = 600) -> Any:
        status, answer = self.call(method, "pipeline-scheduler/" + path, body, timeout)
        if status >= 400:
            raise RuntimeError(f"{method} {path} -> {status}: {answer}")
        return answer

    def timed(self, method: str, path: str, body: Any = None) -> float:
        """Seconds from sending the request to having read the whole answer (not parsed:
        the figure is the server's, not this client's JSON decoder's). An error answer
        raises urllib's HTTPError."""
        req = self.request(method, path, body)
        start = time.perf_counter()
        with urllib.request.urlopen(req, timeout=600) as answer:
            answer.read()
        return time.perf_counter() - start


class LocalServer:
    """A real jupyter server with the extension, on a temporary workspace."""

    def __init__(
        self, workspace: Path, extra: list[str] | None = None, extensions: tuple[str, ...] = ()
    ) -> None:
        self.workspace = workspace
        # Server extensions loaded beside the scheduler (e.g. benchmarks.launch_floor).
        self.extensions = extensions
        self.token = "bench-token"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workspace.parent / f"server-{self.port}.log"

    def start(self) -> float:
        cmd = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            f"--port={self.port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.workspace}",
            "--ServerApp.open_browser=False",
            "--ServerApp.jpserver_extensions="
            + repr({"pipeline_scheduler": True, **dict.fromkeys(self.extensions, True)}),
            *self.extra,
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        start = time.perf_counter()
        # This checkout on the server's path, for the extensions of ``benchmarks``.
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, env=env)
        client = Client(self.url, self.token)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if client.call("GET", "pipeline-scheduler/config", timeout=2)[0] == 200:
                    return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start; see {self.log}")

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def write(ws: Path, name: str, text: str) -> None:
    (ws / name).write_text(text)


def job(client: Client, name: str, path: str, **schedule: Any) -> dict[str, Any]:
    spec = {"name": name, "pipeline_path": path, **schedule}
    spec.setdefault("schedule_type", "cron")
    spec.setdefault("cron_expression", "0 3 * * *")
    return client.api("POST", "jobs", spec)  # type: ignore[no-any-return]


def wait_runs(client: Client, job_id: str, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = client.api("GET", f"runs?job_id={job_id}&limit=1000")["runs"]
        done = [r for r in runs if r["status"] not in ("queued", "running")]
        if len(done) >= count:
            return done
        time.sleep(0.2)
    raise RuntimeError(f"only some runs of {job_id} finished in {timeout}s")


# -- the figures -----------------------------------------------------------------------
def bench_stall(client: Client, ws: Path, quick: bool) -> list[Figure]:
    write(ws, "sleep3.py", "import time\ntime.sleep(3)\nprint('slept')\n")
    manual = [job(client, f"stall manual {i}", "sleep3.py") for i in range(2)]
    # Two interval jobs fire during the measurement window as well.
    scheduled = [
        job(client, f"stall sched {i}", "sleep3.py", schedule_type="interval", interval_seconds=2)
        for i in range(2)
    ]
    latencies: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            latencies.append(client.timed("GET", "api/status"))
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    waiters = [
        threading.Thread(target=client.api, args=("POST", f"run/{j['id']}", {"wait": True})) for j in manual
    ]
    for w in waiters:
        w.start()
    for w in waiters:
        w.join()
    time.sleep(1.0)
    stop.set()
    poller.join()
    for j in scheduled:
        client.api("POST", f"jobs/{j['id']}/pause")
    worst, p99 = max(latencies) * 1000, percentile(latencies, 0.99) * 1000
    return [
        Figure(
            "event-loop stall: max GET /api/status (4 pipelines running)",
            f"{worst:.1f} ms",
            "< 100 ms",
            worst < 100,
        ),
        Figure(
            "event-loop stall: p99 GET /api/status",
            f"{p99:.1f} ms ({len(latencies)} polls)",
            "< 20 ms",
            p99 < 20,
        ),
    ]


def bench_memory(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    if server is None:
        return [
            Figure("server memory while a pipeline prints 200 MiB", "needs a local server", "< 30 MiB", None)
        ]
    mib = 50 if quick else 200
    write(
        ws,
        "loud.py",
        "import sys\nblock = b'x' * 1023 + b'\\n'\n"
        f"for _ in range({mib} * 1024):\n    sys.stdout.buffer.write(block)\n",
    )
    j = job(client, "loud", "loud.py")
    db = ws / ".amphi" / "scheduler.sqlite"
    db_before = db.stat().st_size + (
        Path(str(db) + "-wal").stat().st_size if Path(str(db) + "-wal").exists() else 0
    )
    before = server.rss_bytes()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_bytes())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    client.api("POST", f"run/{j['id']}", {"wait": True})
    done.set()
    sampler.join()
    db_after = db.stat().st_size + (
        Path(str(db) + "-wal").stat().st_size if Path(str(db) + "-wal").exists() else 0
    )
    growth = (peak - before) / 2**20
    db_growth = (db_after - db_before) / 2**20
    return [
        Figure(
            f"server RSS growth while a pipeline prints {mib} MiB",
            f"{growth:.1f} MiB",
            "< 30 MiB",
            growth < 30,
        ),
        Figure("database growth for that run", f"{db_growth:.2f} MiB", "< 1 MiB", db_growth < 1),
    ]


def seed_jobs(client: Client, ws: Path, server: LocalServer | None, count: int) -> None:
    existing = len(client.api("GET", "jobs")["jobs"])
    # Daily jobs spread over the day's 1,440 minutes (about 7 per minute), like a real
    # schedule, rather than bursts of many jobs at the same minute.
    for i in range(existing, count):
        job(client, f"job {i}", "noop.py", cron_expression=f"{i % 60} {(i // 60) % 24} * * *")


def bench_jobs(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    count = 2000 if quick else 10_000
    write(ws, "noop.py", "pass\n")
    seed_jobs(client, ws, server, count)
    listed = client.api("GET", "jobs")["jobs"]
    unchanged = [client.timed("GET", "pipeline-scheduler/jobs") for _ in range(15)]
    # What the Scheduler panel does after an action: one job changed, then the list.
    changed = []
    for i in range(15):
        client.api("POST", f"jobs/{listed[i * 97]['id']}/{'pause' if i % 2 == 0 else 'resume'}")
        changed.append(client.timed("GET", "pipeline-scheduler/jobs"))
    body = {
        "name": "bench post",
        "pipeline_path": "noop.py",
        "schedule_type": "cron",
        "cron_expression": "5 4 * * *",
    }
    # Each POST follows an authenticated GET config, the cost of any request here: the
    # two medians come from the same moments, so a slower machine shows in both.
    posts, configs = [], []
    for _ in range(100):
        configs.append(client.timed("GET", "pipeline-scheduler/config"))
        posts.append(client.timed("POST", "pipeline-scheduler/jobs", body))
    baseline = statistics.median(configs) * 1000
    # A new job is a change the list must pick up too.
    after_post = []
    for _ in range(10):
        client.api("POST", "jobs", body)
        after_post.append(client.timed("GET", "pipeline-scheduler/jobs"))
    u, c, a = (statistics.median(x) * 1000 for x in (unchanged, changed, after_post))
    p = statistics.median(posts) * 1000
    return [
        Figure(f"GET jobs with {count:,} jobs, none changed (median)", f"{u:.1f} ms", "< 100 ms", u < 100),
        Figure(
            f"GET jobs with {count:,} jobs, one paused before each (median)",
            f"{c:.1f} ms",
            "< 100 ms",
            c < 100,
        ),
        Figure(
            f"GET jobs with {count:,} jobs, one added before each (median)",
            f"{a:.1f} ms",
            "< 100 ms",
            a < 100,
        ),
        Figure(
            f"POST jobs with {count:,} jobs present (median)",
            f"{p:.1f} ms (an authenticated GET config: {baseline:.1f} ms)",
            "< 10 ms",
            p < 10,
        ),
    ]


def bench_runs_list(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    count = 20_000 if quick else 100_000
    if server is None:
        return [
            Figure(
                "GET runs?limit=50 with 100,000 runs", "needs a local server (seeds the DB)", "< 30 ms", None
            )
        ]
    write(ws, "noop.py", "pass\n")
    j = job(client, "history", "noop.py")
    db = sqlite3.connect(ws / ".amphi" / "scheduler.sqlite", timeout=30)
    now = time.time()
    rows = [
        (j["id"], "history", "noop.py", "success", "schedule", 1, now - i, now - i, now - i + 0.1, 0, 0, 0)
        for i in range(count)
    ]
    db.executemany(
        "INSERT INTO pipeline_scheduler_runs (job_id, job_name, pipeline_path, status, triggered_by,"
        " attempt, created_at, started_at, finished_at, exit_code, log_size, log_truncated)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    db.commit()
    db.close()
    times = [client.timed("GET", "pipeline-scheduler/runs?limit=50") for _ in range(30)]
    filtered = [
        client.timed("GET", f"pipeline-scheduler/runs?limit=50&job_id={j['id']}&status=success")
        for _ in range(30)
    ]
    m, f = statistics.median(times) * 1000, statistics.median(filtered) * 1000
    return [
        Figure(f"GET runs?limit=50 with {count:,} runs (median)", f"{m:.1f} ms", "< 30 ms", m < 30),
        Figure("  same, filtered by job and status (median)", f"{f:.1f} ms", "< 30 ms", f < 30),
    ]


def bench_overhead(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    write(ws, "noop.py", "pass\n")
    j = job(client, "noop", "noop.py")
    bare = []
    for _ in range(10):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - start)
    runs = []
    for _ in range(10):
        start = time.perf_counter()
        client.api("POST", f"run/{j['id']}", {"wait": True})
        runs.append(time.perf_counter() - start)
    b, r = statistics.median(bare) * 1000, statistics.median(runs) * 1000
    return [
        Figure(
            "no-op run, request to recorded finish (median)",
            f"{r:.1f} ms (bare interpreter {b:.1f} ms, +{r - b:.1f} ms)",
            "< bare + 25 ms",
            r < b + 25,
        ),
    ]


def bare_drain(python: str, script: Path, env: dict[str, str], count: int, width: int) -> float:
    """Seconds to start ``count`` bare interpreters on ``script`` and wait for each, ``width``
    at a time (as a pool of ``width`` workers, each starting the next as one ends)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> int:
        proc = subprocess.Popen(
            [python, "-u", str(script)],
            cwd=script.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        proc.communicate()
        return proc.returncode

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=width) as pool:
        codes = list(pool.map(one, range(count)))
    elapsed = time.perf_counter() - start
    if any(codes):
        raise RuntimeError(f"a bare start of {script} failed")
    return elapsed


def post_at_once(client: Client, path: str, body: dict[str, Any], count: int) -> tuple[float, float]:
    """Send ``count`` POSTs of ``body`` to ``path`` at once, from 4 client threads; answer
    the wall-clock time of the first and the seconds the POSTs took."""
    import http.client
    from urllib.parse import urlsplit

    errors: list[str] = []
    share = [count // 4 + (1 if i < count % 4 else 0) for i in range(4)]
    where = urlsplit(client.url)
    data = json.dumps(body)
    headers = {"Authorization": f"token {client.token}", "Content-Type": "application/json"}

    def fire(n: int) -> None:
        # Each client thread keeps its connection open and sends back the login cookie the
        # server set, as a browser or an HTTP session does.
        conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=600)
        mine = dict(headers)
        try:
            for _ in range(n):
                try:
                    conn.request("POST", f"{where.path}{path}", data, mine)
                    answer = conn.getresponse()
                    raw = answer.read()
                    cookies = [c.split(";", 1)[0] for c in answer.headers.get_all("Set-Cookie") or []]
                    if cookies:
                        mine["Cookie"] = "; ".join(cookies)
                    if answer.status != 202:
                        errors.append(f"{answer.status}: {raw[:200]!r}")
                except Exception as err:  # counted below
                    errors.append(str(err))
        finally:
            conn.close()

    threads = [threading.Thread(target=fire, args=(n,)) for n in share]
    start_wall, start = time.time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} POST {path} failed: {errors[0]}")
    return start_wall, time.perf_counter() - start


def launch_drain(client: Client, job_id: str, count: int) -> tuple[float, float]:
    """Start ``count`` runs of a job at once; answer the seconds from the first request to
    the last recorded finish, and those the POSTs took."""
    start_wall, posted = post_at_once(client, f"pipeline-scheduler/run/{job_id}", {"wait": False}, count)
    # Every run is recorded (queued) before its POST answers, so once no run of the job is
    # queued or running, all have finished. Polled sparsely: each poll costs the server a
    # request and a database hop.
    deadline = time.time() + 300
    while client.api("GET", f"runs?job_id={job_id}&status=queued,running&limit=1")["runs"]:
        if time.time() > deadline:
            raise RuntimeError(f"the {count} runs did not finish within 300 s")
        time.sleep(0.1)
    runs = client.api("GET", f"runs?job_id={job_id}&limit={min(1000, count)}")["runs"]
    failed = [r for r in runs if r["status"] != "success"]
    if len(runs) != count or failed:
        raise RuntimeError(f"{len(runs)} runs recorded, {len(failed)} not successful: {failed[:1]}")
    from datetime import datetime

    # The end is the last recorded finish (the server's clock, on this machine), not the
    # poll that noticed it.
    last = max(datetime.fromisoformat(r["finished_at"]).timestamp() for r in runs)
    return last - start_wall, posted


def floor_drain(client: Client, script: Path, count: int) -> float:
    """The same drain through ``benchmarks.launch_floor`` in the same server: seconds from
    the first request to the last exit, when the server only starts and waits for each
    process (the least any scheduler in a Jupyter server does per run)."""
    from .launch_floor import ROUTE

    def state() -> dict[str, Any]:
        status, answer = client.call("GET", f"{ROUTE}/state")
        if status != 200:
            raise RuntimeError(f"GET {ROUTE}/state -> {status}: {answer}")
        return dict(answer)

    before = state()
    start_wall, _ = post_at_once(client, f"{ROUTE}/run", {"script": str(script)}, count)
    deadline = time.time() + 300
    while (now := state())["finished"] - before["finished"] < count:
        if time.time() > deadline:
            raise RuntimeError(f"the floor's {count} starts did not finish within 300 s")
        time.sleep(0.1)
    if now["failed"] != before["failed"]:
        raise RuntimeError(f"{now['failed'] - before['failed']} of the floor's starts failed")
    return float(now["last_finished_at"]) - start_wall


def runner_drain(python: str, script: Path, env: dict[str, str], count: int, width: int) -> float:
    """Seconds for the local runner alone (in this process: no HTTP, no database) to run
    ``count`` no-op runs, ``width`` at a time: the runner's share of the launch cost."""
    import asyncio

    from pipeline_scheduler.runner import LocalSubprocessRunner, RunRequest

    logs = Path(tempfile.mkdtemp(prefix="amphi-bench-runner-"))

    async def drain() -> float:
        runner = LocalSubprocessRunner()
        slots = asyncio.Semaphore(width)

        async def started() -> None:
            return None

        async def one(i: int) -> None:
            async with slots:
                request = RunRequest(
                    run_id=i,
                    argv=[python, "-u", str(script)],
                    cwd=script.parent,
                    env=env,
                    log_path=logs / str(i) / "output.log",
                    max_log_bytes=1 << 20,
                    tail_bytes=1 << 16,
                    timeout_seconds=60,
                    header="[amphi-scheduler] run\n",
                )
                outcome = await runner.run(request, started)
                if outcome.status != "success":
                    raise RuntimeError(f"a runner-only run failed: {outcome.message}")

        start = time.perf_counter()
        try:
            await asyncio.gather(*(one(i) for i in range(count)))
            return time.perf_counter() - start
        finally:
            await runner.shutdown()

    try:
        return asyncio.run(drain())
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def bench_launch(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    """200 no-op runs started at once through the API, against 200 bare interpreter starts
    (as many at a time as the machine has cores) measured in the same run.

    The machine's speed varies from moment to moment (other work shares its cores), so each
    side is measured in a few alternating rounds and the best round of each is compared."""
    count, rounds = (50, 1) if quick else (200, 5)
    write(ws, "noop.py", "pass\n")
    width = int(client.api("GET", "config").get("max_concurrent_runs") or 0)
    if server is not None and width != os.cpu_count():
        raise RuntimeError(f"the server runs {width} at a time, not one per core ({os.cpu_count()})")
    # The same interpreter, flags and environment as a run's (see the service's run env).
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AMPHI_SCHEDULER_RUN_ID": "0"}
    env.pop("JUPYTER_TOKEN", None)
    # A job whose schedule does not fire during the bench; max_instances limits scheduled
    # and triggered fires only, never manual runs.
    warm = job(client, "launch warm-up", "noop.py")
    launch_drain(client, warm["id"], 10)
    # The floor: the same server's benchmarks.launch_floor route, where nothing is recorded.
    from .launch_floor import ROUTE

    has_floor = client.call("GET", f"{ROUTE}/state")[0] == 200
    bare, drained, posts, alone, floor = [], [], [], [], []
    for i in range(rounds):
        bare.append(bare_drain(sys.executable, ws / "noop.py", env, count, os.cpu_count() or 2))
        alone.append(runner_drain(sys.executable, ws / "noop.py", env, count, width))
        if has_floor:
            floor.append(floor_drain(client, ws / "noop.py", count))
        j = job(client, f"launch drain {i}", "noop.py")
        took, posted = launch_drain(client, j["id"], count)
        drained.append(took)
        posts.append(posted)
    best_bare, best = min(bare), min(drained)
    ratio = best_bare / best
    figures = [
        Figure(
            f"launch drain: {count} no-op runs started at once, bare starts / scheduler",
            f"{ratio:.2f} (bare, {width} at a time: {best_bare:.2f} s; scheduler: {best:.2f} s; best of"
            f" {rounds}: bare {', '.join(f'{x:.2f}' for x in bare)}, scheduler"
            f" {', '.join(f'{x:.2f}' for x in drained)}; POSTs {min(posts):.2f} s; the runner"
            f" alone, no HTTP or database: {best_bare / min(alone):.2f})",
            ">= 0.8",
            ratio >= 0.8,
        ),
    ]
    if floor:
        figures.append(
            Figure(
                f"launch floor: the same {count} starts through a route of the same server that only"
                " starts and waits for each process, nothing recorded (benchmarks/launch_floor.py),"
                " bare starts / floor",
                f"{best_bare / min(floor):.2f} ({min(floor):.2f} s; rounds"
                f" {', '.join(f'{x:.2f}' for x in floor)})",
                "reported: what the launch drain can reach",
                None,
            )
        )
    return figures


def bench_precision(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    fires = 15 if quick else 100
    write(ws, "noop.py", "pass\n")
    j = job(client, "metronome", "noop.py", schedule_type="interval", interval_seconds=1)
    runs = wait_runs(client, j["id"], fires, fires + 30)
    client.api("POST", f"jobs/{j['id']}/pause")
    from datetime import datetime

    delays = [
        (datetime.fromisoformat(r["started_at"]) - datetime.fromisoformat(r["scheduled_for"])).total_seconds()
        for r in runs[:fires]
        if r["scheduled_for"] and r["started_at"]
    ]
    p99 = percentile(delays, 0.99) * 1000
    return [
        Figure(
            f"firing precision: fire-to-start delay of {len(delays)} fires (p99)",
            f"{p99:.1f} ms (median {statistics.median(delays) * 1000:.1f} ms)",
            "< 50 ms",
            p99 < 50,
        ),
    ]


def bench_startup(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    if server is None:
        return [Figure("extension start-up with 10,000 jobs", "needs a local server", "< 1 s", None)]
    count = 2000 if quick else 10_000
    write(ws, "noop.py", "pass\n")
    seed_jobs(client, ws, server, count)
    server.stop()
    server.start()
    loaded = None
    for line in server.log.read_text(errors="replace").splitlines():
        if "amphi-scheduler started in" in line:
            loaded = float(line.split("amphi-scheduler started in")[1].split("s")[0])
    if loaded is None:
        return [
            Figure(f"extension start-up with {count:,} jobs", "no start-up line in the log", "< 1 s", False)
        ]
    return [Figure(f"extension start-up with {count:,} jobs", f"{loaded * 1000:.0f} ms", "< 1 s", loaded < 1)]


def bench_js(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    static = ROOT / "pipeline_scheduler" / "labextension" / "static"
    if not static.is_dir():
        return [Figure("labextension JavaScript shipped", "not built", "< 1 MB", None)]
    size = sum(p.stat().st_size for p in static.rglob("*.js"))
    return [
        Figure(
            "labextension JavaScript shipped (all .js)", f"{size / 1024:.0f} KiB", "< 1 MB", size < 1_000_000
        )
    ]


BENCHES = {
    "stall": bench_stall,
    "memory": bench_memory,
    "jobs": bench_jobs,
    "runs": bench_runs_list,
    "overhead": bench_overhead,
    "launch": bench_launch,
    "precision": bench_precision,
    "startup": bench_startup,
    "js": bench_js,
    "ui": bench_ui,  # benchmarks/ui.py: the Scheduler view in Chromium (jupyter lab, Playwright)
    "pg_takeover": bench_pg_takeover,  # benchmarks/pg_bench.py: two servers on one PostgreSQL
    "ray_overhead": bench_ray_overhead,  # benchmarks/ray_bench.py: a run on Ray vs bare submit_job
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="an existing server (default: start one)")
    parser.add_argument("--token", default="")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these")
    args = parser.parse_args()
    names = args.only or list(BENCHES)
    figures: list[Figure] = []
    for name in names:
        tmp = Path(tempfile.mkdtemp(prefix=f"amphi-bench-{name}-"))
        ws = tmp / "workspace"
        ws.mkdir()
        server = None
        try:
            if args.url:
                client = Client(args.url, args.token)
                bench_ws = Path(client.api("GET", "config")["amphi_dir"])
            else:
                floor = ("benchmarks.launch_floor",) if name == "launch" else ()
                server = LocalServer(ws, ["--PipelineSchedulerApp.timezone=UTC"], floor)
                server.start()
                client = Client(server.url, server.token)
                bench_ws = ws
            if name == "stall":
                figures += bench_stall(client, bench_ws, args.quick)
            else:
                figures += BENCHES[name](client, bench_ws, server, args.quick)  # type: ignore[operator]
        except Exception as err:  # report and go on with the other figures
            figures.append(Figure(name, f"error: {err}", "", False))
        finally:
            if server:
                server.stop()
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"  {figures[-1].name}: {figures[-1].value}", flush=True)
    width = max(len(f.name) for f in figures)
    print("\n" + "figure".ljust(width) + " | value | budget | ok")
    for f in figures:
        mark = "n/a" if f.ok is None else ("yes" if f.ok else "NO")
        print(f"{f.name.ljust(width)} | {f.value} | {f.budget} | {mark}")
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
