"""The Scheduler in a real JupyterLab, driven through Chromium like a person would: the
end-to-end flows (create, run, watch live, cancel, generate Amphi code, the file browser's
menu, themes, keyboard) and the screenshots.

What one component or the model does on its own is tested with jest, faster and without a
server: pausing and resuming from a card, duplicating, editing through PUT, an .ampln job
without Amphi, the picker's extension filter and "Show all files", the runs list's paging
(src/__tests__/components/*.spec.tsx and src/__tests__/model.spec.ts)."""

from __future__ import annotations

import json
import re
import urllib.error
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from ui_helpers import (
    PANEL,
    card_action,
    choose_kind,
    contrast_ratio,
    expect_preview,
    fill_basics,
    job_card,
    new_job_form,
    open_panel,
    refresh,
    register_stand_in_generator,
    save,
    screenshot,
    set_theme,
)

pytestmark = pytest.mark.browser

CRON_JOB = {
    "name": "Every five minutes",
    "pipeline_path": "etl/quick.py",
    "schedule_type": "cron",
    "cron_expression": "*/5 * * * *",
    "timezone": "Europe/Paris",
}


def api_job(lab: Any, **fields: Any) -> dict[str, Any]:
    return lab.api("POST", "jobs", {**CRON_JOB, **fields})


def test_open_panel_from_palette(page: Page) -> None:
    expect(page.locator(PANEL)).to_be_hidden()
    page.bring_to_front()  # the modal palette closes when its page loses focus
    palette = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-input")
    item = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-item", has_text="Open Scheduler")
    header = page.locator(".jp-ModalCommandPalette .lm-CommandPalette-header", has_text="Amphi")
    # Right after start-up JupyterLab may miss the first shortcut, or close the modal
    # palette again while focus settles (even between finding the item and clicking it):
    # the whole gesture is tried a few times.
    for _ in range(10):
        try:
            if not palette.is_visible():
                page.locator("#jp-main-dock-panel").click()
                page.keyboard.press("Control+Shift+C")
            expect(palette).to_be_visible(timeout=1000)
            palette.fill("Open Scheduler")
            expect(item).to_be_visible(timeout=2000)
            # Listed under the category "Amphi".
            expect(header).to_have_count(1, timeout=500)
            item.click(timeout=2000)
            expect(page.locator(PANEL)).to_be_visible(timeout=2000)
            break
        except (AssertionError, PlaywrightTimeoutError):
            continue
    expect(page.locator(PANEL)).to_be_visible()
    expect(page.locator(f"{PANEL} .jp-scheduler-empty")).to_contain_text("No scheduled jobs")
    # Its own icon in the left sidebar.
    tab = page.locator('.jp-SideBar [data-id="pipeline-scheduler-panel"]')
    expect(tab.locator("svg")).to_have_count(1)


def test_create_cron_and_daily_jobs_show_next_runs(page: Page, lab: Any) -> None:
    form = new_job_form(page)
    fill_basics(form, "Every five minutes", "etl/quick.py")
    choose_kind(form, "cron")
    form.locator('input[name="cron_expression"]').fill("*/5 * * * *")
    preview = expect_preview(form, r"5 minutes")
    expect(preview.locator(".jp-scheduler-previewTimes li")).to_have_count(5)
    save(form)
    card = job_card(page, "Every five minutes")
    expect(card).to_be_visible()
    expect(card.locator(".jp-scheduler-nextRun")).to_contain_text(re.compile(r"in \d+ minute|in \d+ second"))

    # The daily job's pipeline is chosen with the picker dialog.
    form = new_job_form(page)
    form.locator('[data-action="browse"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-scheduler-picker")).to_be_visible()
    # Its extension filter and "Show all files": src/__tests__/components/PipelinePicker.spec.tsx.
    expect(dialog.locator('[data-path="hello.py"]')).to_be_visible()
    dialog.locator('[data-path="etl"]').click()
    dialog.locator('[data-path="etl/nightly_load.py"]').click()
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    expect(form.locator('input[name="pipeline_path"]')).to_have_value("etl/nightly_load.py")
    expect(form.locator('input[name="name"]')).to_have_value("nightly_load")
    fill_basics(form, "Morning load")
    choose_kind(form, "daily")
    form.locator('input[name="time"]').fill("08:30")
    expect_preview(form, r"08:30")
    screenshot(page, "job-form-light")
    save(form)
    card = job_card(page, "Morning load")
    expect(card.locator(".jp-scheduler-jobSchedule")).to_contain_text("08:30")
    next_run = card.locator(".jp-scheduler-nextRun")
    expect(next_run).to_contain_text(re.compile(r"(in \d+ (hours?|minutes?))|tomorrow"))
    expect(next_run).to_contain_text("08:30")
    screenshot(page, "jobs-light")

    jobs = {j["name"]: j for j in lab.api("GET", "jobs")["jobs"]}
    daily = jobs["Morning load"]
    assert daily["schedule_type"] == "date" and daily["date_type"] == "daily"
    assert daily["timezone"] == "Europe/Paris"
    assert "+01:00" in daily["next_run_time"] or "+02:00" in daily["next_run_time"]
    assert daily["next_run_time"][11:16] == "08:30"
    assert jobs["Every five minutes"]["cron_expression"] == "*/5 * * * *"


def test_every_schedule_type_is_accepted_by_the_server(page: Page, lab: Any) -> None:
    api_job(lab, name="Upstream")
    form = new_job_form(page)
    fill_basics(form, "All kinds", "hello.py")
    choose_kind(form, "once")
    form.locator('input[name="date"]').fill("2031-03-04")
    form.locator('input[name="time"]').fill("09:15")
    expect_preview(form, r".+")
    expect(form.locator(".jp-scheduler-previewTimes li").first).to_contain_text("09:15")
    choose_kind(form, "weekly")
    form.locator('select[name="weekday"]').select_option("3")
    form.locator('input[name="time"]').fill("07:00")
    expect_preview(form, re.compile(r"wed", re.I))
    choose_kind(form, "monthly")
    form.locator('select[name="dayOfMonth"]').select_option("15")
    expect_preview(form, r"15")
    choose_kind(form, "every_x_days")
    form.locator('input[name="interval_days"]').fill("3")
    expect_preview(form, r"3 days")
    choose_kind(form, "interval")
    form.locator('input[name="interval_value"]').fill("90")
    form.locator('select[name="interval_unit"]').select_option("seconds")
    expect_preview(form, r"90 seconds|1 minute|1:30|90")
    choose_kind(form, "trigger")
    form.locator('[data-action="add-condition"]').click()
    form.locator('select[name="condition_on_0"]').select_option("failure")
    expect_preview(form, re.compile(r"upstream", re.I))
    save(form)
    expect(job_card(page, "All kinds")).to_be_visible()
    job = next(j for j in lab.api("GET", "jobs")["jobs"] if j["name"] == "All kinds")
    upstream = next(j for j in lab.api("GET", "jobs")["jobs"] if j["name"] == "Upstream")
    assert job["schedule_type"] == "trigger"
    assert job["trigger_conditions"] == [{"job_id": upstream["id"], "on": "failure"}]
    assert job["logical_operator"] == "OR"

    # Editing it: the job itself is never offered as its own condition.
    card_action(page, "All kinds", "edit")
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    options = form.locator('select[name="condition_job_0"] option')
    expect(options).to_have_count(2)  # "Choose a job…" + Upstream
    expect(form.locator('select[name="condition_job_0"]')).not_to_contain_text("All kinds")


def test_bad_cron_shows_the_servers_message_at_the_field(page: Page, lab: Any) -> None:
    form = new_job_form(page)
    fill_basics(form, "Broken", "hello.py")
    choose_kind(form, "cron")
    form.locator('input[name="cron_expression"]').fill("61 * * * *")
    with pytest.raises(urllib.error.HTTPError) as err:
        lab.api("POST", "schedule/preview", {"schedule_type": "cron", "cron_expression": "61 * * * *"})
    server_message = json.loads(err.value.read())["fields"]["cron_expression"]
    # The server's own words for the field, at the cron field.
    error = form.locator('[data-field="cron_expression"] [data-testid="field-error"]')
    expect(error).to_have_text(server_message[0].upper() + server_message[1:], timeout=10000)
    cron = form.locator('input[name="cron_expression"]')
    expect(cron).to_have_attribute("aria-invalid", "true")
    save(form)
    expect(error).to_have_text(server_message[0].upper() + server_message[1:])
    expect(form.locator('[data-testid="save-error"]')).to_have_count(0)
    assert lab.api("GET", "jobs")["jobs"] == []


def test_run_now_streams_the_log_and_ends_in_success(page: Page, lab: Any) -> None:
    api_job(lab, name="Hello", pipeline_path="hello.py")
    open_panel(page)
    card = job_card(page, "Hello")
    card.locator('[data-action="run"]').click()
    # The run shows at once as running; nothing waits for it to end.
    badge = card.locator(".jp-scheduler-jobLast .jp-scheduler-status")
    expect(badge).to_have_attribute("data-status", re.compile("running|queued"), timeout=3000)
    card.locator(".jp-scheduler-jobLast button").click()
    log = page.locator(".jp-scheduler-log")
    expect(log).to_be_visible()
    text = log.locator(".jp-scheduler-logText")
    # Lines appear while the run is still going.
    expect(text).to_contain_text("hello line 1", timeout=10000)
    assert "all done" not in text.inner_text()
    assert log.get_attribute("data-finished") == "false"
    expect(text).to_contain_text("hello line 3", timeout=10000)
    expect(text).to_contain_text("all done", timeout=15000)
    expect(log).to_have_attribute("data-finished", "true", timeout=10000)
    expect(log.locator(".jp-scheduler-logTitle .jp-scheduler-status")).to_have_attribute(
        "data-status", "success"
    )
    expect(badge).to_have_attribute("data-status", "success", timeout=10000)
    toast = page.locator(".Toastify__toast", has_text="finished successfully")
    expect(toast).to_be_visible(timeout=10000)
    expect(toast.get_by_role("button", name="Open log")).to_be_visible()
    page.wait_for_timeout(800)  # let the toast finish sliding in
    screenshot(page, "run-log-light")


def test_log_autoscroll_stops_when_scrolled_up(page: Page, lab: Any) -> None:
    job = api_job(lab, name="Chatty", pipeline_path="etl/quick.py")
    (lab.root / "etl" / "chatty.py").write_text(
        "import time\n"
        "for i in range(400):\n"
        "    print(f'line {i}', flush=True)\n"
        "    time.sleep(0.02 if i < 200 else 0.03)\n"
    )
    lab.api("PUT", f"jobs/{job['id']}", {"pipeline_path": "etl/chatty.py"})
    open_panel(page)
    refresh(page)
    job_card(page, "Chatty").locator('[data-action="run"]').click()
    job_card(page, "Chatty").locator(".jp-scheduler-jobLast button").click()
    text = page.locator(".jp-scheduler-logText")
    expect(text).to_contain_text("line 150", timeout=15000)
    at_bottom = "(el) => el.scrollHeight - el.scrollTop - el.clientHeight < 30"
    assert text.evaluate(at_bottom)
    text.evaluate("(el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    expect(page.locator(".jp-scheduler-logActions")).to_contain_text("not following")
    expect(text).to_contain_text("line 260", timeout=15000)
    assert text.evaluate("(el) => el.scrollTop") < 50
    page.locator(".jp-scheduler-log").locator('[data-action="cancel-run"]').click()
    expect(page.locator(".jp-scheduler-log")).to_have_attribute("data-finished", "true", timeout=15000)


def test_failing_pipeline_shows_failure(page: Page, lab: Any) -> None:
    api_job(lab, name="Doomed", pipeline_path="fail.py")
    open_panel(page)
    card = job_card(page, "Doomed")
    card.locator('[data-action="run"]').click()
    badge = card.locator(".jp-scheduler-jobLast .jp-scheduler-status")
    expect(badge).to_have_attribute("data-status", "failure", timeout=15000)
    toast = page.locator(".Toastify__toast", has_text="Doomed")
    expect(toast).to_contain_text("failure")
    toast.get_by_role("button", name="Open log").click()
    log = page.locator(".jp-scheduler-log")
    expect(log.locator(".jp-scheduler-logText")).to_contain_text("something went wrong")
    expect(log).to_contain_text("exit code 3")
    page.locator(f'{PANEL} [data-tab="runs"]').click()
    row = page.locator(f"{PANEL} .jp-scheduler-run").first
    expect(row).to_have_attribute("data-status", "failure")


def test_delete_asks_for_confirmation(page: Page, lab: Any) -> None:
    api_job(lab, name="Doomed job")
    open_panel(page)
    card_action(page, "Doomed job", "delete")
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Doomed job")
    dialog.get_by_role("button", name="Cancel").click()
    expect(job_card(page, "Doomed job")).to_be_visible()
    assert len(lab.api("GET", "jobs")["jobs"]) == 1
    card_action(page, "Doomed job", "delete")
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(job_card(page, "Doomed job")).to_have_count(0)
    assert lab.api("GET", "jobs")["jobs"] == []


def test_schedule_from_the_file_browser_context_menu(page: Page, lab: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    listing = page.locator(".jp-DirListing-content")
    expect(listing).to_be_visible()
    # Not offered for a file the scheduler cannot run.
    listing.locator(".jp-DirListing-itemText", has_text="notes.txt").click(button="right")
    menu = page.locator(".lm-Menu").last
    expect(menu).to_be_visible()
    expect(menu.locator(".lm-Menu-itemLabel", has_text="Open")).not_to_have_count(0)
    expect(menu.locator(".lm-Menu-itemLabel", has_text="Schedule…")).to_be_hidden()
    page.keyboard.press("Escape")
    listing.locator(".jp-DirListing-itemText", has_text="hello.py").click(button="right")
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text="Schedule…").click()
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form).to_be_visible()
    expect(form.locator('input[name="pipeline_path"]')).to_have_value("hello.py")
    expect(form.locator('input[name="name"]')).to_have_value("hello")
    save(form)
    expect(job_card(page, "hello")).to_be_visible()
    assert [j["pipeline_path"] for j in lab.api("GET", "jobs")["jobs"]] == ["hello.py"]


def test_ampln_with_a_generator_creates_a_job_whose_run_succeeds(page: Page, lab: Any) -> None:
    code = "import pathlib\nprint('generated pipeline ran', pathlib.Path('data/customers.csv').exists())\n"
    register_stand_in_generator(page, code)
    form = new_job_form(page)
    fill_basics(form, "French customers", "customers_fr.ampln")
    choose_kind(form, "cron")
    form.locator('input[name="cron_expression"]').fill("0 6 * * *")
    expect_preview(form, r"06:00|6:00")
    save(form)
    card = job_card(page, "French customers")
    expect(card).to_be_visible()
    job = lab.api("GET", "jobs")["jobs"][0]
    assert lab.api("GET", f"jobs/{job['id']}")["python_code"] == code
    assert job["pipeline_changed"] is False

    card.locator('[data-action="run"]').click()
    badge = card.locator(".jp-scheduler-jobLast .jp-scheduler-status")
    expect(badge).to_have_attribute("data-status", "success", timeout=20000)
    # Run now generated the code again from the file.
    assert page.evaluate("() => window.__generatedFrom.length") == 2
    card.locator(".jp-scheduler-jobLast button").click()
    expect(page.locator(".jp-scheduler-logText")).to_contain_text("generated pipeline ran True")

    # The pipeline changes: the job says so and regenerates its code on request.
    ampln = lab.root / "customers_fr.ampln"
    data = json.loads(ampln.read_text())
    data["id"] = f"changed-{uuid.uuid4().hex}"  # new content whatever an earlier test wrote
    ampln.write_text(json.dumps(data, indent=2))
    refresh(page)
    expect(card.locator(".jp-scheduler-changed")).to_be_visible(timeout=20000)
    card.locator('[data-action="regenerate"]').click()
    expect(card.locator(".jp-scheduler-changed")).to_have_count(0, timeout=10000)
    assert lab.api("GET", f"jobs/{job['id']}")["pipeline_changed"] is False


def test_runs_view_filters_deletes_and_clears(page: Page, lab: Any) -> None:
    """End to end on a real history; paging (50 a page, "Load more" with the server's cursor)
    and the filters' requests are in src/__tests__/model.spec.ts and RunList.spec.tsx."""
    quick = api_job(lab, name="Quick")
    doomed = api_job(lab, name="Doomed", pipeline_path="fail.py")
    for _ in range(3):
        lab.api("POST", f"run/{quick['id']}", {"wait": True})
    lab.api("POST", f"run/{doomed['id']}", {"wait": True})
    open_panel(page)
    page.locator(f'{PANEL} [data-tab="runs"]').click()
    rows = page.locator(f"{PANEL} .jp-scheduler-run")
    expect(rows).to_have_count(4)
    # Newest first: the failed run was the last one started.
    expect(rows.first).to_have_attribute("data-status", "failure")
    ids = [int(x) for x in rows.evaluate_all("(els) => els.map(e => e.dataset.runId)")]
    assert ids == sorted(ids, reverse=True)
    screenshot(page, "runs-light")

    page.locator(f'{PANEL} select[name="filter_status"]').select_option("failure")
    expect(rows).to_have_count(1)
    page.locator(f'{PANEL} select[name="filter_status"]').select_option("")
    page.locator(f'{PANEL} select[name="filter_job"]').select_option(quick["id"])
    expect(rows).to_have_count(3)
    page.locator(f'{PANEL} select[name="filter_job"]').select_option("")
    expect(rows).to_have_count(4)

    # One job's runs from its card.
    page.locator(f'{PANEL} [data-tab="jobs"]').click()
    card_action(page, "Doomed", "runs")
    expect(rows).to_have_count(1)
    page.locator(f'{PANEL} select[name="filter_job"]').select_option("")
    expect(rows).to_have_count(4)

    # Delete one run (it asks first), then clear all (after a confirmation).
    first_id = rows.first.get_attribute("data-run-id")
    rows.first.locator('[data-action="delete-run"]').click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="{first_id}"]')).to_have_count(0)
    expect(rows).to_have_count(3)
    page.locator(f'{PANEL} [data-action="clear-runs"]').click()
    page.locator(".jp-Dialog").get_by_role("button", name="Cancel").click()
    expect(rows).to_have_count(3)
    page.locator(f'{PANEL} [data-action="clear-runs"]').click()
    page.locator(".jp-Dialog").get_by_role("button", name="Clear").click()
    expect(rows).to_have_count(0)
    assert lab.api("GET", "runs")["runs"] == []


def test_dark_theme_is_readable(page: Page, lab: Any) -> None:
    ok = api_job(lab, name="Nightly load", pipeline_path="etl/nightly_load.py")
    lab.api("POST", f"run/{ok['id']}", {"wait": True})
    bad = api_job(lab, name="Broken export", pipeline_path="fail.py")
    lab.api("POST", f"run/{bad['id']}", {"wait": True})
    paused = api_job(lab, name="Weekly report", pipeline_path="hello.py")
    lab.api("POST", f"jobs/{paused['id']}/pause")
    set_theme(page, "JupyterLab Dark")
    open_panel(page)
    expect(job_card(page, "Weekly report")).to_be_visible()
    page.wait_for_timeout(300)
    screenshot(page, "jobs-dark")
    for selector in (
        f"{PANEL} .jp-scheduler-jobName",
        f"{PANEL} .jp-scheduler-jobSchedule",
        f"{PANEL} .jp-scheduler-jobPath",
        f'{PANEL} .jp-scheduler-status[data-status="failure"]',
        f'{PANEL} .jp-scheduler-status[data-status="success"]',
        f"{PANEL} .jp-scheduler-pausedPill",
    ):
        assert contrast_ratio(page, selector) >= 3.0, selector
    assert contrast_ratio(page, f"{PANEL} .jp-scheduler-jobName") >= 7.0

    job_card(page, "Broken export").locator(".jp-scheduler-jobLast button").click()
    expect(page.locator(".jp-scheduler-log")).to_have_attribute("data-finished", "true")
    assert contrast_ratio(page, ".jp-scheduler-logText") >= 4.5
    screenshot(page, "run-log-dark")

    page.locator(f'{PANEL} [data-tab="runs"]').click()
    expect(page.locator(f"{PANEL} .jp-scheduler-run")).to_have_count(2)
    screenshot(page, "runs-dark")

    form = new_job_form(page)
    fill_basics(form, "Broken cron", "hello.py")
    choose_kind(form, "cron")
    form.locator('input[name="cron_expression"]').fill("61 * * * *")
    cron_error = '[data-field="cron_expression"] [data-testid="field-error"]'
    expect(form.locator(cron_error)).to_be_visible(timeout=10000)
    assert contrast_ratio(page, f"{PANEL} {cron_error}") >= 3.0
    assert contrast_ratio(page, f'{PANEL} input[name="cron_expression"]') >= 4.5
    screenshot(page, "job-form-error-dark")
    form.locator('input[name="cron_expression"]').fill("30 8 * * mon-fri")
    expect_preview(form, r".+")
    screenshot(page, "job-form-dark")
    set_theme(page, "JupyterLab Light")


def test_panel_is_keyboard_reachable(page: Page, lab: Any) -> None:
    api_job(lab, name="Keyboard")
    open_panel(page)
    expect(job_card(page, "Keyboard")).to_be_visible()
    page.locator(f'{PANEL} [data-action="new-job"]').focus()
    # Tab moves through the header, the tabs and then the job's actions.
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate(
                "() => { const el = document.activeElement;"
                " return el.dataset.action || el.dataset.tab || el.tagName; }"
            )
        )
    assert "refresh" in seen and "runs" in seen and "run" in seen and "edit" in seen, seen
    # Enter on "edit" opens the form with the name field focused.
    page.locator(f'{PANEL} [data-action="edit"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator(f'{PANEL} input[name="name"]')).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(f"{PANEL} form.jp-scheduler-form")).to_have_count(0)
    expect(job_card(page, "Keyboard")).to_be_visible()
