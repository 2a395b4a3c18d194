"""The main-area Scheduler view in a real JupyterLab: jobs table (search, filters, sort,
bulk actions, run strips, windowed rendering), job detail and runs timeline.

Selectors agreed with the browser benchmark: the view's widget id
``pipeline-scheduler-view``, the table ``.jp-PipelineScheduler-jobsTable``, rows
``[role="row"][data-job-id]``, the search box ``[aria-label="Search jobs"]`` and the
command ``pipeline-scheduler:open-view``.
"""

from __future__ import annotations

import re
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from ui_helpers import register_stand_in_generator, screenshot, set_theme

VIEW = "#pipeline-scheduler-view"
TABLE = f"{VIEW} .jp-PipelineScheduler-jobsTable"
ROWS = f'{TABLE} [role="row"][data-job-id]'
OPEN_VIEW = "pipeline-scheduler:open-view"
PARIS = ZoneInfo("Europe/Paris")  # the browser context's zone (conftest)


def interval_job(lab: Any, name: str, path: str = "etl/quick.py", seconds: int = 3600, **extra: Any) -> Any:
    return lab.api(
        "POST",
        "jobs",
        {
            "name": name,
            "pipeline_path": path,
            "schedule_type": "interval",
            "interval_seconds": seconds,
            **extra,
        },
    )


def run_and_wait(lab: Any, job_id: str) -> int:
    return int(lab.api("POST", f"run/{job_id}", {"wait": True})["run_id"])


def seed_history(lab: Any, job: dict[str, Any], spans: list[tuple[float, float, float, str]]) -> None:
    """Runs written straight into the workspace's SQLite (hours of history in a moment):
    (queued hours ago, queued seconds, run seconds, status) each. Ids come from the
    store's run-id counter, as the server's own runs do."""
    db = sqlite3.connect(lab.root / ".amphi" / "scheduler.sqlite", timeout=30)
    try:
        db.execute("BEGIN IMMEDIATE")
        (first,) = db.execute("SELECT value FROM pipeline_scheduler_meta WHERE key = 'run_ids'").fetchone()
        first = int(first)
        db.execute(
            "UPDATE pipeline_scheduler_meta SET value = ? WHERE key = 'run_ids'", (str(first + len(spans)),)
        )
        now = time.time()
        db.executemany(
            "INSERT INTO pipeline_scheduler_runs (id, job_id, job_name, pipeline_path, status, triggered_by,"
            " attempt, created_at, started_at, finished_at, exit_code, log_size, log_truncated)"
            " VALUES (?,?,?,?,?,'schedule',1,?,?,?,?,0,0)",
            [
                (
                    first + 1 + i,
                    job["id"],
                    job["name"],
                    job["pipeline_path"],
                    status,
                    now - ago * 3600,
                    now - ago * 3600 + queued,
                    now - ago * 3600 + queued + seconds,
                    0 if status == "success" else 1,
                )
                for i, (ago, queued, seconds, status) in enumerate(sorted(spans, key=lambda s: -s[0]))
            ],
        )
        # The job's last run, as the server records it when a run ends (with the job list's
        # change counter, so the next GET jobs sees it).
        newest = first + len(spans)
        last = db.execute(
            "SELECT status, finished_at FROM pipeline_scheduler_runs WHERE id = ?", (newest,)
        ).fetchone()
        db.execute(
            "UPDATE pipeline_scheduler_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'jobs_seq'"
        )
        (seq,) = db.execute("SELECT value FROM pipeline_scheduler_meta WHERE key = 'jobs_seq'").fetchone()
        db.execute(
            "UPDATE pipeline_scheduler_jobs SET last_run_id = ?, last_run_status = ?,"
            " last_run_finished_at = ?, seq = ? WHERE id = ?",
            (newest, last[0], last[1], int(seq), job["id"]),
        )
        db.commit()
    finally:
        db.close()


def open_view(page: Page) -> Locator:
    page.evaluate(f"async () => {{ await window.jupyterapp.commands.execute('{OPEN_VIEW}'); }}")
    view = page.locator(VIEW)
    expect(view).to_be_visible()
    return view


def row(page: Page, job_id: str) -> Locator:
    return page.locator(f'{TABLE} [role="row"][data-job-id="{job_id}"]')


def shown_ids(page: Page) -> list[str]:
    return page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.jobId)")


def refresh_view(page: Page) -> None:
    page.locator(f'{VIEW} [data-action="refresh-view"]').click()


def test_open_view_from_palette_and_launcher(page: Page, lab: Any) -> None:
    jobs = [interval_job(lab, f"palette job {i}") for i in range(3)]
    page.bring_to_front()
    palette = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-input")
    item = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-item", has_text="Scheduler View")
    # JupyterLab may miss the first shortcut right after start-up: try the gesture again.
    for _ in range(10):
        try:
            if not palette.is_visible():
                page.locator("#jp-main-dock-panel").click()
                page.keyboard.press("Control+Shift+C")
            expect(palette).to_be_visible(timeout=1000)
            palette.fill("Scheduler View")
            expect(item).to_be_visible(timeout=2000)
            expect(
                page.locator(".jp-ModalCommandPalette .lm-CommandPalette-header", has_text="Amphi")
            ).to_have_count(1, timeout=500)
            item.click(timeout=2000)
            expect(page.locator(VIEW)).to_be_visible(timeout=3000)
            break
        except (AssertionError, PlaywrightTimeoutError):
            continue
    expect(page.locator(VIEW)).to_be_visible()
    for job in jobs:
        expect(row(page, job["id"])).to_contain_text(job["name"])
        expect(row(page, job["id"])).to_contain_text("Every hour")
    expect(page.locator(f"{VIEW} [data-testid=job-count]")).to_have_text("3 jobs")

    # The launcher has a card for it, and the sidebar's header a button.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('launcher:create'); }")
    label = page.locator(".jp-LauncherCard-label", has_text=re.compile(r"^Scheduler$"))
    card = page.locator(".jp-LauncherCard:visible", has=label)
    expect(card).to_have_count(1)
    card.click()
    expect(page.locator(VIEW)).to_be_visible()
    page.evaluate("async () => { await window.jupyterapp.commands.execute('launcher:create'); }")
    expect(page.locator(VIEW)).to_be_hidden()
    page.evaluate("async () => { await window.jupyterapp.commands.execute('pipeline-scheduler:open'); }")
    page.locator('#pipeline-scheduler-panel [data-action="open-view"]').click()
    expect(page.locator(VIEW)).to_be_visible()
    assert page.locator(VIEW).count() == 1  # shown again, not opened twice


def test_search_filters_and_sort(page: Page, lab: Any) -> None:
    alpha = interval_job(lab, "Alpha load", "etl/nightly_load.py")
    beta = interval_job(lab, "Beta report", "report.ipynb")
    gamma = interval_job(lab, "Gamma broken", "fail.py")
    delta = interval_job(lab, "Delta quick", "etl/quick.py")
    lab.api("POST", f"jobs/{delta['id']}/pause")
    run_and_wait(lab, gamma["id"])
    run_and_wait(lab, delta["id"])
    everyone = {alpha["id"], beta["id"], gamma["id"], delta["id"]}

    open_view(page)
    expect(page.locator(ROWS)).to_have_count(4)
    search = page.get_by_label("Search jobs")

    search.fill("REPORT")  # by name, case-insensitive
    expect(page.locator(ROWS)).to_have_count(1)
    expect(row(page, beta["id"])).to_be_visible()
    search.fill("etl/")  # by file
    expect(page.locator(ROWS)).to_have_count(2)
    assert set(shown_ids(page)) == {alpha["id"], delta["id"]}
    search.fill("")
    expect(page.locator(ROWS)).to_have_count(4)

    filters = {"failing": {gamma["id"]}, "paused": {delta["id"]}, "never": {alpha["id"], beta["id"]}}
    for name, expected in filters.items():
        button = page.locator(f'{VIEW} [data-filter="{name}"]')
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(page.locator(ROWS)).to_have_count(len(expected))
        assert set(shown_ids(page)) == expected, name
        button.click()
        expect(page.locator(ROWS)).to_have_count(4)
    page.locator(f'{VIEW} select[data-filter="file-kind"]').select_option(".ipynb")
    expect(page.locator(ROWS)).to_have_count(1)
    assert shown_ids(page) == [beta["id"]]
    page.locator(f'{VIEW} select[data-filter="file-kind"]').select_option("")
    expect(page.locator(ROWS)).to_have_count(4)

    # Sort: by name (the default, ascending), descending on a second click, by file.
    by_name = [alpha["id"], beta["id"], delta["id"], gamma["id"]]
    assert shown_ids(page) == by_name
    name_header = page.locator(f'{TABLE} [data-sort="name"]')
    name_header.click()
    expect(page.locator(f'{TABLE} [role="columnheader"][aria-sort="descending"]')).to_have_count(1)
    assert shown_ids(page) == list(reversed(by_name))
    page.locator(f'{TABLE} [data-sort="file"]').click()
    # etl/nightly_load.py, etl/quick.py, fail.py, report.ipynb
    assert shown_ids(page) == [alpha["id"], delta["id"], gamma["id"], beta["id"]]
    page.locator(f'{TABLE} [data-sort="outcome"]').click()
    assert shown_ids(page)[0] == gamma["id"]  # failing before succeeded before never ran
    assert set(shown_ids(page)) == everyone


def test_bulk_pause_asks_and_pauses_the_selected_jobs(page: Page, lab: Any) -> None:
    first = interval_job(lab, "Bulk one")
    second = interval_job(lab, "Bulk two")
    third = interval_job(lab, "Bulk three")
    open_view(page)
    for job in (first, second):
        row(page, job["id"]).locator('input[type="checkbox"]').check()
    expect(page.locator(f"{VIEW} [data-testid=bulk-actions]")).to_contain_text("2 selected")

    page.locator(f'{VIEW} [data-action="bulk-pause"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Pause 2 jobs")
    expect(dialog).to_contain_text("Bulk one")
    dialog.locator(".jp-Dialog-button.jp-mod-reject").click()  # cancel: nothing changes
    expect(dialog).to_have_count(0)
    assert not any(j["paused"] for j in lab.api("GET", "jobs")["jobs"])

    page.locator(f'{VIEW} [data-action="bulk-pause"]').click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    expect(row(page, first["id"])).to_contain_text("paused")
    expect(row(page, second["id"])).to_contain_text("paused")
    paused = {j["id"]: j["paused"] for j in lab.api("GET", "jobs")["jobs"]}
    assert paused == {first["id"]: True, second["id"]: True, third["id"]: False}

    page.locator(f'{VIEW} [data-action="bulk-resume"]').click()
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    expect(row(page, first["id"])).not_to_contain_text("paused")
    assert not any(j["paused"] for j in lab.api("GET", "jobs")["jobs"])

    # Delete: the selection is kept until done; what is deleted is said first.
    page.locator(f'{VIEW} [data-action="bulk-delete"]').click()
    expect(page.locator(".jp-Dialog")).to_contain_text("Delete 2 jobs")
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    expect(page.locator(ROWS)).to_have_count(1)
    assert [j["id"] for j in lab.api("GET", "jobs")["jobs"]] == [third["id"]]
    expect(page.locator(f"{VIEW} [data-testid=bulk-actions]")).to_have_count(0)


def test_a_running_job_shows_its_elapsed_time_and_links_its_live_log(page: Page, lab: Any) -> None:
    job = interval_job(lab, "Long sleeper", "sleep.py")
    run = lab.api("POST", f"run/{job['id']}", {"wait": False})
    try:
        open_view(page)
        active = row(page, job["id"]).locator('[data-action="open-active-log"]')
        expect(active).to_have_attribute("data-run-id", str(run["id"]))
        expect(active.locator(".jp-scheduler-status")).to_have_attribute("data-status", "running")
        elapsed = active.locator(".jp-PipelineScheduler-elapsed")
        expect(elapsed).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
        first = elapsed.text_content()
        expect(elapsed).not_to_have_text(first or "")  # it ticks
        page.locator(f'{VIEW} [data-filter="running"]').click()
        expect(page.locator(ROWS)).to_have_count(1)
        active.click()
        log = page.locator(f"#pipeline-scheduler-run-{run['id']}")
        expect(log).to_be_visible()
        expect(log).to_contain_text("sleeping")
    finally:
        lab.api("POST", f"runs/{run['id']}/cancel")


def test_run_strip_shows_runs_and_opens_a_runs_log(page: Page, lab: Any) -> None:
    ok = interval_job(lab, "Strip ok")
    bad = interval_job(lab, "Strip bad", "fail.py")
    runs = [run_and_wait(lab, ok["id"]) for _ in range(3)]
    failed = run_and_wait(lab, bad["id"])
    open_view(page)
    strip = row(page, ok["id"]).locator(".jp-PipelineScheduler-stripRun")
    expect(strip).to_have_count(3)
    # Oldest on the left, newest on the right; the hover text says when, how long, how.
    assert strip.evaluate_all("els => els.map(e => Number(e.dataset.runId))") == runs
    title = strip.last.locator("title").text_content() or ""
    assert f"Run {runs[-1]}" in title and "success" in title, title
    expect(row(page, bad["id"]).locator(".jp-PipelineScheduler-stripRun")).to_have_attribute(
        "data-status", "failure"
    )
    expect(row(page, bad["id"])).to_contain_text("failure")

    row(page, bad["id"]).locator(f'.jp-PipelineScheduler-stripRun[data-run-id="{failed}"]').click()
    log = page.locator(f"#pipeline-scheduler-run-{failed}")
    expect(log).to_be_visible()
    expect(log).to_contain_text("something went wrong")


def test_job_detail_shows_fire_times_history_and_trigger_graph(page: Page, lab: Any) -> None:
    upstream = interval_job(lab, "Extract")
    job = lab.api(
        "POST",
        "jobs",
        {
            "name": "Transform",
            "pipeline_path": "etl/quick.py",
            "schedule_type": "cron",
            "cron_expression": "*/15 * * * *",
            "timezone": "Europe/Paris",
        },
    )
    downstream = lab.api(
        "POST",
        "jobs",
        {
            "name": "Load after transform",
            "pipeline_path": "etl/quick.py",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": job["id"], "on": "success"}],
        },
    )
    alert = lab.api(
        "POST",
        "jobs",
        {
            "name": "Alert on failure",
            "pipeline_path": "etl/quick.py",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": job["id"], "on": "failure"}],
        },
    )
    run_ids = [run_and_wait(lab, job["id"]) for _ in range(2)]
    open_view(page)
    row(page, job["id"]).click()
    detail = page.locator(f'{VIEW} .jp-PipelineScheduler-detail[data-job-id="{job["id"]}"]')
    expect(detail).to_be_visible()
    expect(detail.locator("[data-testid=job-definition]")).to_contain_text("Europe/Paris")

    times = detail.locator("[data-testid=next-fire-times] li time")
    expect(times).to_have_count(10)
    instants = [datetime.fromisoformat(t) for t in times.evaluate_all("ts => ts.map(t => t.dateTime)")]
    assert all(b - a == timedelta(minutes=15) for a, b in zip(instants, instants[1:], strict=False))
    assert all(t.minute % 15 == 0 for t in instants)

    expect(detail.locator("[data-testid=success-rate]")).to_have_text(re.compile(r"100% success over 2 runs"))
    expect(detail.locator("[data-testid=duration-chart] rect[data-run-id]")).to_have_count(2)
    expect(detail.locator("[data-testid=run-history] [data-run-id]")).to_have_count(2)
    assert detail.locator("[data-testid=run-history] [data-run-id]").first.get_attribute(
        "data-run-id"
    ) == str(run_ids[-1])

    graph = detail.locator("[data-testid=trigger-graph]")
    expect(graph.locator(".jp-mod-self")).to_contain_text("Transform")
    expect(graph.locator(f'.jp-mod-downstream[data-job-id="{downstream["id"]}"]')).to_be_visible()
    expect(graph.locator(f'.jp-mod-downstream[data-job-id="{alert["id"]}"]')).to_be_visible()
    expect(graph.locator(".jp-PipelineScheduler-graphEdge.jp-mod-failure")).to_have_count(1)
    expect(graph.locator(".jp-PipelineScheduler-graphEdge.jp-mod-success")).to_have_count(1)

    # Following the chain: the downstream job's detail shows what it waits for.
    graph.locator(f'.jp-mod-downstream[data-job-id="{downstream["id"]}"]').click()
    detail = page.locator(f'{VIEW} .jp-PipelineScheduler-detail[data-job-id="{downstream["id"]}"]')
    expect(
        detail.locator(f'[data-testid=trigger-graph] .jp-mod-upstream[data-job-id="{job["id"]}"]')
    ).to_be_visible()
    expect(detail).to_contain_text("It runs when its trigger conditions are met.")
    row(page, upstream["id"]).click()
    expect(page.locator(f"{VIEW} [data-testid=trigger-graph-empty]")).to_be_visible()


def test_ampln_job_detail_diffs_the_stored_code(page: Page, lab: Any) -> None:
    job = lab.api(
        "POST",
        "jobs",
        {
            "name": "Customers FR",
            "pipeline_path": "customers_fr.ampln",
            "python_code": "import pandas\nprint('old code')\n",
            "schedule_type": "interval",
            "interval_seconds": 3600,
        },
    )
    open_view(page)
    row(page, job["id"]).click()
    section = page.locator(f"{VIEW} [data-testid=code-section]")
    expect(section.locator("[data-testid=stored-code]")).to_contain_text("print('old code')")
    # Without Amphi ETL's editor: said so, instead of a diff.
    section.locator('[data-action="compare-code"]').click()
    expect(section.locator("[data-testid=code-unavailable]")).to_contain_text("not installed")

    register_stand_in_generator(page, "import pandas\nprint('new code')\n")
    page.locator(f'{VIEW} .jp-PipelineScheduler-detail [aria-label="Close the job detail"]').click()
    row(page, job["id"]).click()
    section.locator('[data-action="compare-code"]').click()
    diff = section.locator("[data-testid=code-diff]")
    expect(diff.locator(".jp-PipelineScheduler-diff-removed")).to_have_text("- print('old code')\n")
    expect(diff.locator(".jp-PipelineScheduler-diff-added")).to_have_text("+ print('new code')\n")
    expect(diff.locator(".jp-PipelineScheduler-diff-same")).to_contain_text("import pandas")


def test_timeline_draws_a_bar_per_run(page: Page, lab: Any) -> None:
    one = interval_job(lab, "Timeline one")
    two = interval_job(lab, "Timeline two", "fail.py")
    runs_one = [run_and_wait(lab, one["id"]) for _ in range(2)]
    run_two = run_and_wait(lab, two["id"])
    open_view(page)
    page.locator(f'{VIEW} [role="tab"][data-tab="timeline"]').click()
    timeline = page.locator(f"{VIEW} [data-testid=runs-timeline]")
    expect(timeline.locator(".jp-PipelineScheduler-ganttRow")).to_have_count(2)
    bars = timeline.locator(
        f'.jp-PipelineScheduler-ganttRow[data-job-id="{one["id"]}"] .jp-PipelineScheduler-timelineBar'
    )
    expect(bars).to_have_count(2)
    assert sorted(int(b) for b in bars.evaluate_all("bs => bs.map(b => b.dataset.runId)")) == runs_one
    failed = timeline.locator(f'.jp-PipelineScheduler-timelineBar[data-run-id="{run_two}"]')
    expect(failed).to_have_attribute("data-status", "failure")
    # A range that ended before the runs: no bar.
    page.locator(f'{VIEW} [data-range-hours="1"]').click()
    expect(page.locator(f'{VIEW} [data-range-hours="1"]')).to_have_attribute("aria-pressed", "true")
    expect(bars).to_have_count(2)
    # The From field shows the preset's start (the page runs in Europe/Paris).
    shown_from = datetime.fromisoformat(timeline.get_by_label("From").input_value()).replace(tzinfo=PARIS)
    assert abs(shown_from - (datetime.now(PARIS) - timedelta(hours=1))) < timedelta(minutes=2), shown_from
    past = (datetime.now(PARIS) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    before = (datetime.now(PARIS) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    timeline.get_by_label("From").fill(past)
    timeline.get_by_label("To").fill(before)
    timeline.locator('[data-action="apply-range"]').click()
    expect(timeline).to_contain_text("No run in this range.")
    page.locator(f'{VIEW} [data-range-hours="24"]').click()
    expect(bars).to_have_count(2)
    failed.click()
    expect(page.locator(f"#pipeline-scheduler-run-{run_two}")).to_be_visible()


def test_two_thousand_jobs_render_only_a_window(page: Page, lab: Any) -> None:
    names = [f"Many {i:04d}" for i in range(1, 2001)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        created = list(pool.map(lambda name: interval_job(lab, name, seconds=86400), names))
    last = created[-1]
    asked: list[str] = []  # the job ids of every run-strip request

    def note(request: Any) -> None:
        if "pipeline-scheduler/runs/recent" in request.url:
            query = parse_qs(urlparse(request.url).query)
            asked.extend(query["job_ids"][0].split(","))

    page.on("request", note)
    open_view(page)
    expect(page.locator(f"{VIEW} [data-testid=job-count]")).to_have_text("2000 jobs", timeout=30000)
    rendered = page.locator(ROWS).count()
    assert 10 < rendered < 200, rendered
    expect(row(page, created[0]["id"])).to_be_visible()
    expect(row(page, last["id"])).to_have_count(0)

    # Strips are fetched for the rows in view only (batched: one request for the screen).
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-PipelineScheduler-strip:not(.jp-mod-loading)').length > 10"
    )
    assert created[0]["id"] in asked and last["id"] not in asked
    # Only a window's worth of jobs is asked for (a job may be asked again when a list
    # refresh lands while its first answer is on its way).
    assert len(set(asked)) < 200 and len(asked) < 400, len(asked)

    body = page.locator(f"{TABLE} .jp-PipelineScheduler-tableBody")
    body.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(row(page, last["id"])).to_be_visible()
    expect(row(page, last["id"])).to_contain_text("Many 2000")
    assert page.locator(ROWS).count() < 200
    expect(row(page, created[0]["id"])).to_have_count(0)
    page.wait_for_function(
        "(id) => !!document.querySelector(`[data-job-id='${id}'] svg.jp-PipelineScheduler-strip`)",
        arg=last["id"],
    )
    assert last["id"] in asked and len(asked) < 400, len(asked)

    page.get_by_label("Search jobs").fill("many 1999")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(f"{VIEW} [data-testid=job-count]")).to_have_text("1 of 2000 jobs")


def test_screenshots_of_the_view_in_both_themes(page: Page, lab: Any) -> None:
    extract = interval_job(lab, "Nightly extract", "etl/nightly_load.py", seconds=1800)
    transform = lab.api(
        "POST",
        "jobs",
        {
            "name": "Transform customers",
            "pipeline_path": "etl/quick.py",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": extract["id"], "on": "success"}],
        },
    )
    lab.api(
        "POST",
        "jobs",
        {
            "name": "Report on failure",
            "pipeline_path": "report.ipynb",
            "schedule_type": "trigger",
            "trigger_conditions": [{"job_id": transform["id"], "on": "failure"}],
        },
    )
    flaky = interval_job(lab, "Flaky export", "fail.py", seconds=900)
    weekly = lab.api(
        "POST",
        "jobs",
        {
            "name": "Weekly summary",
            "pipeline_path": "hello.py",
            "schedule_type": "date",
            "date_type": "weekly",
            "run_date": "2030-01-14T07:00:00.000Z",
            "timezone": "Europe/Paris",
        },
    )
    lab.api("POST", f"jobs/{weekly['id']}/pause")
    seed_history(
        lab, extract, [(22 - h, 20 + 7 * (h % 5), 240 + 50 * (h % 4), "success") for h in range(0, 22, 1)]
    )
    seed_history(
        lab,
        transform,
        [(21.8 - h, 5, 900 + 300 * (h % 3), "failure" if h == 9 else "success") for h in range(0, 22, 2)],
    )
    seed_history(
        lab,
        flaky,
        [
            (
                20 - 1.5 * k,
                240 if k == 5 else 10,
                400 + 200 * (k % 3),
                ("success", "failure", "timeout")[k % 3],
            )
            for k in range(13)
        ],
    )
    seed_history(lab, weekly, [(26, 30, 7200, "success"), (3.5, 600, 5400, "cancelled")])
    run_and_wait(lab, extract["id"])

    open_view(page)
    expect(row(page, extract["id"]).locator(".jp-PipelineScheduler-stripRun")).to_have_count(20)
    for theme, suffix in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
        set_theme(page, theme)
        page.locator(f'{VIEW} [role="tab"][data-tab="jobs"]').click()
        close = page.locator(f'{VIEW} .jp-PipelineScheduler-detail [aria-label="Close the job detail"]')
        if close.count():
            close.click()
        expect(page.locator(f"{VIEW} .jp-PipelineScheduler-detail")).to_have_count(0)
        screenshot(page, f"view-jobs-{suffix}")
        row(page, transform["id"]).click()
        expect(page.locator(f"{VIEW} [data-testid=trigger-graph]")).to_be_visible()
        screenshot(page, f"view-detail-{suffix}")
        page.locator(f'{VIEW} [role="tab"][data-tab="timeline"]').click()
        expect(page.locator(f"{VIEW} .jp-PipelineScheduler-timelineBar").first).to_be_visible()
        screenshot(page, f"view-timeline-{suffix}")
    set_theme(page, "JupyterLab Light")
