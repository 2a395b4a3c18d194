"""Live state end to end: failures of scheduled runs reach the person while JupyterLab is
open (a toast with Open log, a count on the sidebar tab), a running job's card, the log
view (stderr, search, wrap, download), one tab per run that survives a reload, and the
Schedule toolbar button of an open file."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from ui_helpers import PANEL, job_card, open_panel, screenshot, screenshot_path, set_theme

pytestmark = pytest.mark.browser

SIDEBAR_TAB = '.jp-SideBar .lm-TabBar-tab[data-id="pipeline-scheduler-panel"]'
LOG = ".jp-scheduler-log"

# stdout and stderr interleaved, each line flushed with a pause so their order in the log
# is the order they were written; "needle" is on three lines, one very long line to wrap.
MIXED_PY = """\
import sys
import time

for i in range(12):
    print(f"out line {i}" + (" needle" if i in (2, 9) else ""), flush=True)
    if i % 4 == 1:
        time.sleep(0.05)
        print(f"err line {i}" + (" needle" if i == 5 else ""), file=sys.stderr, flush=True)
        time.sleep(0.05)
print("wide " + "abcdefghij" * 60, flush=True)
print("out end", flush=True)
"""


def _job(lab: Any, **fields: Any) -> dict[str, Any]:
    body = {"schedule_type": "interval", "interval_seconds": 3600, **fields}
    return lab.api("POST", "jobs", body)  # type: ignore[no-any-return]


def _open_log(page: Page, run_id: int) -> None:
    page.evaluate(
        "async (runId) => {"
        " await window.jupyterapp.commands.execute('pipeline-scheduler:open-run-log', {runId}); }",
        run_id,
    )


def _log_tabs(page: Page, run_id: int) -> Any:
    return page.locator(f'#jp-main-dock-panel .lm-TabBar-tab[data-run-id="{run_id}"]')


def _mixed_run(lab: Any, name: str = "Mixed") -> int:
    (Path(lab.root) / "mixed.py").write_text(MIXED_PY)
    job = _job(lab, name=name, pipeline_path="mixed.py")
    result = lab.api("POST", f"run/{job['id']}", {"wait": True})
    assert result["success"], result
    return int(result["run_id"])


def test_scheduled_failure_raises_toast_and_counts_on_the_sidebar(page: Page, lab: Any) -> None:
    # The panel stays closed: the outcome must reach the person anyway.
    expect(page.locator(PANEL)).to_be_hidden()
    job = _job(lab, name="Nightly failing", pipeline_path="fail.py", interval_seconds=2)
    toast = page.locator(".Toastify__toast", has_text="Nightly failing").first
    expect(toast).to_contain_text("Scheduled run", timeout=30000)
    expect(toast).to_contain_text("failure")
    lab.api("POST", f"jobs/{job['id']}/pause")
    tab = page.locator(SIDEBAR_TAB)
    expect(tab).to_have_class(re.compile("jp-scheduler-hasFailures"))
    count = int(tab.get_attribute("data-failures") or "0")
    assert count >= 1
    failed = [r for r in lab.api("GET", f"runs?job_id={job['id']}")["runs"] if r["status"] == "failure"]
    assert count <= len(failed)
    assert all(r["triggered_by"] == "schedule" for r in failed)
    badge = page.evaluate(
        "(sel) => getComputedStyle(document.querySelector(sel), '::after').content", SIDEBAR_TAB
    )
    assert badge.strip('"') == str(count)
    screenshot(page, "live-failure-toast-light")

    toast.get_by_role("button", name="Open log").click()
    log = page.locator(LOG)
    stderr = log.locator(".jp-scheduler-logText .jp-scheduler-logStderr")
    expect(stderr).to_contain_text("something went wrong", timeout=10000)
    assert "about to fail" not in "".join(stderr.all_inner_texts())

    set_theme(page, "JupyterLab Dark")
    screenshot(page, "live-failure-toast-dark")
    set_theme(page, "JupyterLab Light")

    open_panel(page)
    expect(tab).not_to_have_class(re.compile("jp-scheduler-hasFailures"))
    assert tab.get_attribute("data-failures") is None


def test_running_job_card_shows_elapsed_and_disables_run_now(page: Page, lab: Any) -> None:
    _job(lab, name="Sleeper", pipeline_path="sleep.py")
    open_panel(page)
    card = job_card(page, "Sleeper")
    run_button = card.locator('[data-action="run"]')
    expect(run_button).to_be_enabled()
    # Three clicks in one go: one run only.
    run_button.evaluate("(el) => { el.click(); el.click(); el.click(); }")
    active = card.locator('[data-testid="active-run"]')
    expect(active).to_have_attribute("data-status", "running", timeout=15000)
    expect(run_button).to_be_disabled()
    elapsed = active.locator(".jp-scheduler-elapsed")
    expect(elapsed).to_contain_text(" s")
    first = elapsed.inner_text()
    expect(elapsed).not_to_have_text(first, timeout=5000)  # it ticks
    runs = lab.api("GET", "runs")["runs"]
    assert len(runs) == 1, runs
    screenshot(page, "live-running-card-light")
    set_theme(page, "JupyterLab Dark")
    card.screenshot(path=str(screenshot_path("live-running-card-dark")))
    set_theme(page, "JupyterLab Light")

    active.locator('[data-action="live-log"]').click()
    log = page.locator(f'{LOG}[data-run-id="{runs[0]["id"]}"]')
    expect(log.locator(".jp-scheduler-logText")).to_contain_text("sleeping", timeout=10000)
    expect(log).to_have_attribute("data-finished", "false")
    lab.api("POST", f"runs/{runs[0]['id']}/cancel")
    expect(log).to_have_attribute("data-finished", "true", timeout=15000)
    open_panel(page)
    expect(card.locator('[data-testid="active-run"]')).to_have_count(0, timeout=15000)
    expect(run_button).to_be_enabled()


def test_log_view_stderr_search_wrap_and_download(page: Page, lab: Any) -> None:
    run_id = _mixed_run(lab)
    _open_log(page, run_id)
    log = page.locator(f'{LOG}[data-run-id="{run_id}"]')
    text = log.locator(".jp-scheduler-logText")
    expect(log).to_have_attribute("data-finished", "true", timeout=15000)
    expect(text).to_contain_text("out end")

    # One way of writing times: the header line of the log says "started" as the view does.
    started = log.locator(".jp-scheduler-logMeta span", has_text="started").inner_text()
    header = text.inner_text().splitlines()[0]
    assert header.endswith(started), (header, started)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", header), header

    stderr = text.locator(".jp-scheduler-logStderr")
    joined = "".join(stderr.all_inner_texts())
    for i in (1, 5, 9):
        assert f"err line {i}" in joined
    assert "out line" not in joined
    colors = text.evaluate(
        """(el) => [getComputedStyle(el).color,
                    getComputedStyle(el.querySelector('.jp-scheduler-logStderr')).color]"""
    )
    assert colors[0] != colors[1], colors

    search = log.locator("input.jp-scheduler-logSearch")
    search.fill("needle")
    count = log.locator('[data-testid="match-count"]')
    expect(count).to_have_text("1 of 3")
    current = text.locator("mark.jp-mod-current")
    expect(current).to_have_count(1)
    expect(text.locator("mark.jp-scheduler-logMatch")).to_have_count(3)
    search.press("Enter")
    expect(count).to_have_text("2 of 3")
    # The second needle is on a stderr line: highlighted and still stderr.
    expect(current).to_have_class(re.compile("jp-scheduler-logStderr"))
    log.locator('[data-action="next-match"]').click()
    expect(count).to_have_text("3 of 3")
    log.locator('[data-action="previous-match"]').click()
    log.locator('[data-action="previous-match"]').click()
    expect(count).to_have_text("1 of 3")
    search.fill("no such text")
    expect(count).to_have_text("no match")
    search.fill("needle")
    screenshot(page, "live-log-view-light")
    set_theme(page, "JupyterLab Dark")
    screenshot(page, "live-log-view-dark")
    set_theme(page, "JupyterLab Light")

    white_space = "(el) => getComputedStyle(el).whiteSpace"
    assert text.evaluate(white_space) == "pre-wrap"
    assert text.evaluate("(el) => el.scrollWidth <= el.clientWidth + 1")
    log.locator('[data-action="wrap"]').uncheck()
    assert text.evaluate(white_space) == "pre"
    assert text.evaluate("(el) => el.scrollWidth > el.clientWidth")
    log.locator('[data-action="wrap"]').check()
    assert text.evaluate(white_space) == "pre-wrap"

    run = lab.api("GET", f"runs/{run_id}")
    with page.expect_download() as info:
        log.locator('[data-action="download-log"]').click()
    download = info.value
    assert download.suggested_filename == f"mixed-run-{run_id}.log"
    content = Path(download.path()).read_bytes()
    assert len(content) == run["log_size"]
    body = content.decode()
    assert body.index("out line 0") < body.index("err line 1") < body.index("out end")
    assert body.count("needle") == 3


def test_one_tab_per_run_marks_deleted_runs_and_survives_reload(page: Page, lab: Any) -> None:
    run_id = _mixed_run(lab, "Reused")
    other = _mixed_run(lab, "Other")
    _open_log(page, run_id)
    expect(page.locator(f'{LOG}[data-run-id="{run_id}"]')).to_have_attribute("data-finished", "true")
    # Again through the command, and through the card's last-run link: the same tab.
    _open_log(page, run_id)
    open_panel(page)
    job_card(page, "Reused").locator(".jp-scheduler-jobLast button").click()
    expect(_log_tabs(page, run_id)).to_have_count(1)
    expect(page.locator(f'{LOG}[data-run-id="{run_id}"]')).to_have_count(1)
    expect(_log_tabs(page, run_id)).to_contain_text("Reused")

    # Reload: the layout (saved by JupyterLab as it changes) brings the tab back.
    workspace = page.url.split("/lab/workspaces/")[1].split("?")[0]
    deadline = time.time() + 20
    while True:
        request = urllib.request.Request(
            f"{lab.url}lab/api/workspaces/{workspace}", headers={"Authorization": f"token {lab.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            saved = json.loads(response.read())
        if f"pipeline-scheduler-run-log:{run_id}" in json.dumps(saved):
            break
        assert time.time() < deadline, saved
        page.wait_for_timeout(300)
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=60000)
    page.evaluate("() => window.jupyterapp.restored")
    expect(_log_tabs(page, run_id)).to_have_count(1, timeout=30000)
    log = page.locator(f'{LOG}[data-run-id="{run_id}"]')
    expect(log.locator(".jp-scheduler-logText")).to_contain_text("out end", timeout=15000)
    expect(log.locator(".jp-scheduler-logText .jp-scheduler-logStderr").first).to_be_visible()

    # Deleted elsewhere while its tab is in the background: marked when shown again.
    _open_log(page, other)
    expect(page.locator(f'{LOG}[data-run-id="{other}"]')).to_be_visible()
    lab.api("DELETE", f"runs/{run_id}")
    _open_log(page, run_id)
    expect(_log_tabs(page, run_id)).to_contain_text("(deleted)", timeout=10000)
    expect(log.locator('[data-testid="run-deleted"]')).to_be_visible()
    expect(log.locator('[data-action="delete-run"]')).to_be_disabled()

    # Deleted from the Runs list of this page: its tab closes.
    open_panel(page)
    page.locator(f'{PANEL} [data-tab="runs"]').click()
    page.locator(f'{PANEL} li.jp-scheduler-run[data-run-id="{other}"] [data-action="delete-run"]').click()
    try:  # deleting a run may ask first
        page.locator(".jp-Dialog").get_by_role("button", name="Delete").click(timeout=3000)
    except PlaywrightTimeoutError:
        pass
    expect(_log_tabs(page, other)).to_have_count(0, timeout=10000)


def test_schedule_toolbar_button_on_an_open_python_file(page: Page, lab: Any) -> None:
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute('docmanager:open', {path: 'etl/quick.py'}); }"
    )
    editor = page.locator("#jp-main-dock-panel .jp-FileEditor").first
    expect(editor).to_be_visible(timeout=20000)
    widget = page.locator("#jp-main-dock-panel .jp-Document:visible")
    button = widget.locator(".jp-scheduler-toolbarButton")
    expect(button).to_be_visible()
    expect(button).to_contain_text("Schedule")
    page.locator(".jp-Document:visible .jp-Toolbar").first.screenshot(
        path=str(screenshot_path("live-toolbar-button-light"))
    )
    button.click()
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form).to_be_visible()
    expect(form.locator('input[name="pipeline_path"]')).to_have_value("etl/quick.py")

    set_theme(page, "JupyterLab Dark")
    page.locator(".jp-Document:visible .jp-Toolbar").first.screenshot(
        path=str(screenshot_path("live-toolbar-button-dark"))
    )
    set_theme(page, "JupyterLab Light")

    # A notebook has the button too.
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute('docmanager:open', {path: 'report.ipynb'}); }"
    )
    expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")).to_contain_text("report.ipynb")
    notebook_button = page.locator(".jp-NotebookPanel:visible .jp-scheduler-toolbarButton")
    expect(notebook_button).to_be_visible(timeout=20000)
    notebook_button.click()
    expect(form.locator('input[name="pipeline_path"]')).to_have_value("report.ipynb")

    # A file the scheduler does not run has no button.
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute('docmanager:open', {path: 'notes.txt'}); }"
    )
    expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")).to_contain_text("notes.txt")
    expect(page.locator(".jp-Document:visible .jp-scheduler-toolbarButton")).to_be_hidden()


def test_public_token_opens_the_form_and_lists_jobs(page: Page, lab: Any) -> None:
    _job(lab, name="Listed", pipeline_path="hello.py")
    answer = page.evaluate(
        """async () => {
            const app = window.jupyterapp;
            const registry = app.pluginRegistry ?? app;
            const plugins = registry._plugins ?? registry._pluginMap;
            const entry = plugins.get
                ? plugins.get('@amphi/pipeline-scheduler:plugin')
                : plugins['@amphi/pipeline-scheduler:plugin'];
            const scheduler = entry.service;
            let changed = 0;
            scheduler.jobsChanged.connect(() => { changed++; });
            const jobs = await scheduler.listJobs();
            scheduler.openJobForm('hello.py');
            return { names: jobs.map(j => j.name), changed, token: entry.provides.name };
        }"""
    )
    assert answer["names"] == ["Listed"]
    assert answer["changed"] >= 1
    assert answer["token"] == "@amphi/pipeline-scheduler:IPipelineScheduler"
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form.locator('input[name="pipeline_path"]')).to_have_value("hello.py")
