"""Browser benchmark of the main-area Scheduler view (``python -m benchmarks.run --only ui``,
part of ``make bench``, never of ``make test``).

A workspace with 10,000 jobs and 100,000 runs: the jobs are created through the REST API of
the benchmark's server (the real validation and scheduler state), the runs are written
straight into its SQLite file while it is stopped (100,000 POSTs of runs would take most of
an hour); then a real ``jupyter lab`` serves that workspace and Debian's Chromium, driven by
Playwright, measures

- first render: from running ``pipeline-scheduler:open-view`` in a freshly loaded page to the
  first job row in the jobs table (the frame after it), median of a few page loads;
- a search keystroke: from the key's ``keydown`` to the frame after the table's rows changed,
  over a few keystrokes that each change the rows (median, and the slowest);
- the page's memory: V8's used JS heap (CDP ``Performance.getMetrics``, after a forced GC)
  with the view open on 10,000 jobs, next to the same page before the view was opened;
- the JavaScript a production build ships: ``tsc`` + ``jupyter labextension build`` (not
  ``--development``) into a temporary copy of the sources, so the working tree's dev build
  stays as it is.

The view is found by the selectors agreed with it: the command ``pipeline-scheduler:open-view``,
the widget ``#pipeline-scheduler-view``, the table ``.jp-PipelineScheduler-jobsTable``, rows
``[role="row"][data-job-id]`` and the input ``[aria-label="Search jobs"]``.
"""

from __future__ import annotations

import gzip
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
from typing import TYPE_CHECKING, Any

from scripts.chromium import CHROMIUM, CHROMIUM_ARGS

from .figures import Figure

if TYPE_CHECKING:
    from .run import Client, LocalServer

ROOT = Path(__file__).resolve().parent.parent
OPEN_VIEW = "pipeline-scheduler:open-view"
VIEW = "#pipeline-scheduler-view"
TABLE = ".jp-PipelineScheduler-jobsTable"
ROW = '[role="row"][data-job-id]'
SEARCH = '[aria-label="Search jobs"]'

FIRST_RENDER_BUDGET_MS = 500
KEYSTROKE_BUDGET_MS = 50
PROD_JS_BUDGET_KIB = 400

WORDS = ["load", "export", "sync", "report", "clean", "ingest", "backup", "score"]
TABLES = ["customers", "orders", "invoices", "stock", "events", "payments", "users", "leads"]
PIPELINE_FILES = 40


def _pipeline(i: int) -> str:
    k = i % PIPELINE_FILES
    return f"etl/{WORDS[k % len(WORDS)]}_{k}.py"


def job_body(i: int) -> dict[str, Any]:
    """Job i of the benchmark's workspace: mostly daily crons spread over the day, some
    hourly intervals, one in ten paused."""
    body: dict[str, Any] = {
        "name": f"{WORDS[i % len(WORDS)]} {TABLES[(i // len(WORDS)) % len(TABLES)]} {i}",
        "pipeline_path": _pipeline(i),
        "timezone": "UTC",
    }
    if i % 7 == 3:
        body.update(schedule_type="interval", interval_seconds=3600 + (i % 60) * 60)
    else:
        body.update(schedule_type="cron", cron_expression=f"{i % 60} {(i // 60) % 24} * * *")
    if i % 10 == 9:
        body["paused"] = True
    return body


def seed_jobs(client: Client, count: int, threads: int = 4) -> float:
    """Create jobs 0..count-1 through POST jobs from a few client threads; answers seconds."""
    errors: list[str] = []

    def create(indexes: range) -> None:
        for i in indexes:
            try:
                client.api("POST", "jobs", job_body(i))
            except Exception as err:  # counted below
                errors.append(str(err))

    start = time.perf_counter()
    workers = [threading.Thread(target=create, args=(range(t, count, threads),)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise RuntimeError(f"{len(errors)} job creations failed, e.g. {errors[0]}")
    return time.perf_counter() - start


def seed_runs(db_path: Path, jobs: list[dict[str, Any]], count: int) -> None:
    """`count` finished runs spread over the jobs and the last 10 days, one in nine a
    failure, written straight into the runs table (the server must be stopped)."""
    now = time.time()
    per_job = max(1, count // len(jobs))
    rows = []
    for n in range(count):
        job = jobs[n % len(jobs)]
        age = (n // len(jobs)) * (864_000 / per_job) + (n % len(jobs)) * 0.01
        failed = n % 9 == 4
        started = now - age - 5
        rows.append(
            (
                job["id"],
                job["name"],
                job["pipeline_path"],
                "failure" if failed else "success",
                "schedule",
                1,
                started - 0.2,
                started,
                started + 1 + (n % 17),
                1 if failed else 0,
                0,
                0,
            )
        )
    db = sqlite3.connect(db_path, timeout=30)
    try:
        db.executemany(
            "INSERT INTO pipeline_scheduler_runs (job_id, job_name, pipeline_path, status, triggered_by,"
            " attempt, created_at, started_at, finished_at, exit_code, log_size, log_truncated)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.commit()
    finally:
        db.close()


class Lab:
    """`jupyter lab` on the workspace, like the browser tests' (no personal config)."""

    def __init__(self, workspace: Path, home: Path) -> None:
        self.workspace, self.home = workspace, home
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self.token = "bench-ui-token"
        self.log = home / "jupyter-lab.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        settings = self.home / "settings"
        plugin = settings / "@amphi" / "pipeline-scheduler"
        plugin.mkdir(parents=True, exist_ok=True)
        # The sidebar stays closed: the figure is the view's, not the sidebar's list.
        (plugin / "plugin.jupyterlab-settings").write_text(json.dumps({"openOnStartup": False}))
        notes = settings / "@jupyterlab" / "apputils-extension"
        notes.mkdir(parents=True, exist_ok=True)
        (notes / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = dict(os.environ)
        env["JUPYTER_RUNTIME_DIR"] = str(self.home / "runtime")
        env["JUPYTER_CONFIG_DIR"] = str(self.home / "config")
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--port={self.port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.workspace}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
            "--PipelineSchedulerApp.timezone=UTC",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        request = urllib.request.Request(
            f"{self.url}pipeline-scheduler/config", headers={"Authorization": f"token {self.token}"}
        )
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early; see {self.log}")
            try:
                with urllib.request.urlopen(request, timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.time() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer; see {self.log}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# In the page: run the command, resolve with [ms to the first row, ms to the frame after].
FIRST_RENDER_JS = """
async ([command, rowSelector]) => {
  const t0 = performance.now();
  const rowShown = new Promise(resolve => {
    const seen = () => document.querySelector(rowSelector) !== null;
    if (seen()) { resolve(performance.now()); return; }
    const observer = new MutationObserver(() => {
      if (seen()) { observer.disconnect(); resolve(performance.now()); }
    });
    observer.observe(document.body, { childList: true, subtree: true });
  });
  await window.jupyterapp.commands.execute(command);
  const t1 = await rowShown;
  await new Promise(resolve => requestAnimationFrame(() => resolve()));
  return [t1 - t0, performance.now() - t0];
}
"""

# In the page: arm a measurement for the next keydown in the search input. It resolves
# window.__keystroke with the ms from the keydown to the frame after the table's rows
# differ from what they are now (or null if they did not change within 2 s).
ARM_KEYSTROKE_JS = """
([tableSelector, rowSelector, searchSelector]) => {
  const table = document.querySelector(tableSelector);
  const input = document.querySelector(searchSelector);
  const ids = () => Array.from(table.querySelectorAll(rowSelector), r => r.dataset.jobId).join(',');
  const before = ids();
  window.__keystroke = new Promise(resolve => {
    let t0 = null;
    let observer = null;
    const timer = setTimeout(() => { if (observer) observer.disconnect(); resolve(null); }, 2000);
    input.addEventListener('keydown', event => {
      t0 = event.timeStamp;
      observer = new MutationObserver(() => {
        if (ids() !== before) {
          observer.disconnect();
          clearTimeout(timer);
          requestAnimationFrame(() => resolve(performance.now() - t0));
        }
      });
      observer.observe(table, { childList: true, subtree: true, attributes: true, characterData: true });
    }, { once: true, capture: true });
  });
}
"""


def _heap_used(cdp: Any) -> float:
    """V8's used JS heap of the page after a forced garbage collection, in bytes."""
    cdp.send("HeapProfiler.collectGarbage")
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize"))


def measure_in_browser(lab: Lab, job_count: int, page_loads: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    first_rows: list[float] = []
    first_frames: list[float] = []
    keystrokes: list[float] = []
    unchanged = 0
    heap_before = heap_after = 0.0
    rows_rendered = 0
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for load in range(page_loads):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.on("pageerror", lambda exc: errors.append(str(exc)[:300]))
                page.goto(f"{lab.url}lab/workspaces/bench{load}?reset&token={lab.token}")
                try:
                    page.wait_for_function(
                        f"() => window.jupyterapp && window.jupyterapp.commands.hasCommand('{OPEN_VIEW}')",
                        timeout=180_000,
                    )
                except Exception as err:
                    raise RuntimeError(f"JupyterLab did not start in the page: {err}; {errors[:3]}") from None
                page.evaluate("() => window.jupyterapp.restored")
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                page.wait_for_timeout(1000)  # let start-up work (first polls, settings) settle
                last = load == page_loads - 1
                if last:
                    heap_before = _heap_used(cdp)
                row_ms, frame_ms = page.evaluate(FIRST_RENDER_JS, [OPEN_VIEW, f"{TABLE} {ROW}"])
                first_rows.append(row_ms)
                first_frames.append(frame_ms)
                if last:
                    page.locator(VIEW).wait_for()
                    rows_rendered = page.locator(f"{TABLE} {ROW}").count()
                    page.wait_for_timeout(1500)  # the run strips of the rows in view arrive
                    heap_after = _heap_used(cdp)
                    search = page.locator(SEARCH)
                    search.click()
                    # Each key changes the rows shown: narrowing, then widening again.
                    for key in ["4", "2", "1", "Backspace", "Backspace", "Backspace", "7", "Backspace"]:
                        page.evaluate(ARM_KEYSTROKE_JS, [TABLE, ROW, SEARCH])
                        page.keyboard.press(key)
                        took = page.evaluate("() => window.__keystroke")
                        if took is None:
                            unchanged += 1
                        else:
                            keystrokes.append(float(took))
                        page.wait_for_timeout(300)
                context.close()
        finally:
            browser.close()
    return {
        "first_row_ms": first_rows,
        "first_frame_ms": first_frames,
        "keystroke_ms": keystrokes,
        "keystrokes_without_change": unchanged,
        "heap_before": heap_before,
        "heap_after": heap_after,
        "rows_rendered": rows_rendered,
    }


def production_js() -> tuple[int, int, float]:
    """Build the labextension for production into a temporary copy of the sources and
    answer (bytes of .js shipped, the same gzipped, seconds the build took)."""
    tmp = Path(tempfile.mkdtemp(prefix="amphi-bench-prod-"))
    try:
        for name in ("package.json", "tsconfig.json", "install.json"):
            shutil.copy(ROOT / name, tmp / name)
        for name in ("src", "style", "schema"):
            shutil.copytree(ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__tests__"))
        (tmp / "node_modules").symlink_to(ROOT / "node_modules")
        bin_dir = Path(sys.executable).parent
        env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
        start = time.perf_counter()
        subprocess.run([str(ROOT / "node_modules" / ".bin" / "tsc")], cwd=tmp, env=env, check=True)
        subprocess.run(
            [sys.executable, "-m", "jupyter", "labextension", "build", "."],
            cwd=tmp,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        took = time.perf_counter() - start
        files = sorted((tmp / "pipeline_scheduler" / "labextension" / "static").glob("*.js"))
        size = sum(f.stat().st_size for f in files)
        zipped = sum(len(gzip.compress(f.read_bytes())) for f in files)
        return size, zipped, took
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_ui(client: Client, ws: Path, server: LocalServer | None, quick: bool) -> list[Figure]:
    figures: list[Figure] = []
    size, zipped, build_s = production_js()
    figures.append(
        Figure(
            "labextension JavaScript shipped, production build (all .js)",
            f"{size / 1024:.0f} KiB ({zipped / 1024:.0f} KiB gzipped; built in {build_s:.0f} s)",
            f"< {PROD_JS_BUDGET_KIB} KiB",
            size < PROD_JS_BUDGET_KIB * 1024,
        )
    )
    jobs_count = 2000 if quick else 10_000
    runs_count = 20_000 if quick else 100_000
    label = f"{jobs_count:,} jobs, {runs_count:,} runs"
    if server is None:
        needs = "needs a local server (seeds the database)"
        return figures + [
            Figure(f"Scheduler view, first render of the jobs table ({label})", needs, "< 500 ms", None)
        ]
    if not Path(CHROMIUM).exists():
        return figures + [Figure("Scheduler view figures", f"no Chromium at {CHROMIUM}", "", None)]
    for k in range(PIPELINE_FILES):
        path = ws / _pipeline(k)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("pass\n")
    seed_s = seed_jobs(client, jobs_count)
    jobs = client.api("GET", "jobs")["jobs"]
    server.stop()
    seed_runs(ws / ".amphi" / "scheduler.sqlite", jobs, runs_count)
    print(f"  (seeded {len(jobs):,} jobs in {seed_s:.0f} s and {runs_count:,} runs)", flush=True)
    lab = Lab(ws, ws.parent / "lab-home")
    lab.home.mkdir(parents=True, exist_ok=True)
    lab.start()
    try:
        # The server builds its in-memory job list on the first GET jobs after a start; the
        # figure is the page's, with a server that has answered once (as it has long before a
        # person opens the view). That first answer's time is printed beside it.
        start = time.perf_counter()
        request = urllib.request.Request(
            f"{lab.url}pipeline-scheduler/jobs", headers={"Authorization": f"token {lab.token}"}
        )
        with urllib.request.urlopen(request, timeout=600) as answer:
            answer.read()
        cold_list_ms = (time.perf_counter() - start) * 1000
        found = measure_in_browser(lab, jobs_count, page_loads=2 if quick else 4)
    finally:
        lab.stop()
    first_row = statistics.median(found["first_row_ms"])
    first_frame = statistics.median(found["first_frame_ms"])
    figures.append(
        Figure(
            f"Scheduler view, first render of the jobs table ({label}; median of "
            f"{len(found['first_frame_ms'])} page loads)",
            f"{first_frame:.0f} ms (first row in the DOM: {first_row:.0f} ms; "
            f"slowest {max(found['first_frame_ms']):.0f} ms; the server's first GET jobs after "
            f"its start: {cold_list_ms:.0f} ms)",
            f"< {FIRST_RENDER_BUDGET_MS} ms",
            first_frame < FIRST_RENDER_BUDGET_MS,
        )
    )
    strokes = found["keystroke_ms"]
    if strokes:
        median = statistics.median(strokes)
        missed = found["keystrokes_without_change"]
        figures.append(
            Figure(
                f"Scheduler view, search keystroke to updated table (median of {len(strokes)})",
                f"{median:.1f} ms (slowest {max(strokes):.1f} ms"
                + (f"; {missed} keys changed nothing" if missed else "")
                + ")",
                f"< {KEYSTROKE_BUDGET_MS} ms",
                median < KEYSTROKE_BUDGET_MS,
            )
        )
    else:
        figures.append(
            Figure("Scheduler view, search keystroke to updated table", "no key changed the rows", "", False)
        )
    mib = 1024 * 1024
    figures.append(
        Figure(
            f"Scheduler view, page JS heap with the view open on {jobs_count:,} jobs",
            f"{found['heap_after'] / mib:.0f} MiB (JupyterLab before opening it: "
            f"{found['heap_before'] / mib:.0f} MiB; {found['rows_rendered']} rows in the DOM)",
            "reported",
            None,
        )
    )
    return figures
