"""The job form in a real JupyterLab: errors at their fields in the person's units, drafts
that survive the panel closing, questions before discarding or deleting, the time zone
picker, DST days, editing a one-off job that already ran, and Run now on a stale .ampln."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, expect
from ui_helpers import (
    PANEL,
    card_action,
    choose_kind,
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

DIALOG = ".jp-Dialog"


def api_job(lab: Any, **fields: Any) -> dict[str, Any]:
    spec = {
        "name": "Job",
        "pipeline_path": "etl/quick.py",
        "schedule_type": "cron",
        "cron_expression": "*/5 * * * *",
        "timezone": "Europe/Paris",
    }
    return lab.api("POST", "jobs", {**spec, **fields})  # type: ignore[no-any-return]


def field_error(form: Locator, field: str) -> Locator:
    return form.locator(f'[data-field="{field}"] [data-testid="field-error"]')


def spring_forward_day() -> date:
    """Next year's last Sunday of March: Europe/Paris skips 02:00-03:00 that night."""
    year = datetime.now().year + 1
    day = date(year, 3, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def test_server_field_error_shows_at_its_field_in_the_chosen_unit(page: Page, lab: Any) -> None:
    form = new_job_form(page)
    fill_basics(form, "Too rare", "hello.py")
    choose_kind(form, "interval")
    form.locator('input[name="interval_value"]').fill("4000")
    form.locator('select[name="interval_unit"]').select_option("days")
    error = field_error(form, "interval_seconds")
    # From the live preview already, and again from the save: in days, as chosen.
    expect(error).to_have_text("Choose from 1 day to 3,660 days, not 4,000 days.", timeout=10000)
    expect(form.locator('input[name="interval_value"]')).to_have_attribute("aria-invalid", "true")
    save(form)
    expect(error).to_have_text("Choose from 1 day to 3,660 days, not 4,000 days.")
    expect(form.locator('[data-testid="save-error"]')).to_have_count(0)
    text = form.inner_text()
    for api_words in ("interval_seconds", "316224000", "{", '"'):
        assert api_words not in text, api_words
    screenshot(page, "job-form-field-error-light")
    assert lab.api("GET", "jobs")["jobs"] == []

    # An advanced option's limit sits at its own field.
    form.locator('select[name="interval_unit"]').select_option("hours")
    form.locator('input[name="interval_value"]').fill("2")
    form.locator('[data-action="toggle-advanced"], .jp-scheduler-advancedToggle').first.click()
    timeout_input = form.locator("#jp-scheduler-timeout")
    timeout_input.fill("0")
    save(form)
    expect(field_error(form, "timeout_seconds")).to_have_text(
        "Choose from 1 second to 604,800 seconds, not 0 seconds."
    )
    assert lab.api("GET", "jobs")["jobs"] == []


def test_a_draft_survives_closing_and_reopening_the_panel(page: Page) -> None:
    form = new_job_form(page)
    fill_basics(form, "Half typed", "hello.py")
    choose_kind(form, "cron")
    form.locator('input[name="cron_expression"]').fill("15 7 * * *")
    # Another sidebar view, then the Scheduler's tab again.
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    expect(page.locator(PANEL)).to_be_hidden()
    page.locator('.jp-SideBar [data-id="pipeline-scheduler-panel"]').click()
    expect(page.locator(PANEL)).to_be_visible()
    # Collapsed and opened again through its command.
    page.locator('.jp-SideBar [data-id="pipeline-scheduler-panel"]').click()
    expect(page.locator(PANEL)).to_be_hidden()
    open_panel(page)
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form.locator('input[name="name"]')).to_have_value("Half typed")
    expect(form.locator('input[name="cron_expression"]')).to_have_value("15 7 * * *")
    expect(form.locator('select[name="kind"]')).to_have_value("cron")


def test_escape_and_leaving_ask_only_when_the_form_changed(page: Page) -> None:
    form = new_job_form(page)
    # Nothing changed: Escape closes without a question.
    form.locator('input[name="name"]').press("Escape")
    expect(form).to_have_count(0)
    expect(page.locator(DIALOG)).to_have_count(0)

    form = new_job_form(page)
    fill_basics(form, "Worth keeping", "hello.py")
    form.locator('input[name="name"]').press("Escape")
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text("Discard the changes?")
    screenshot(page, "job-form-discard-light")
    dialog.get_by_role("button", name="Keep editing").click()
    expect(dialog).to_have_count(0)
    expect(form.locator('input[name="name"]')).to_have_value("Worth keeping")

    # Cancel and another view of the Scheduler ask too; Discard leaves.
    form.get_by_role("button", name="Cancel").click()
    page.locator(DIALOG).get_by_role("button", name="Keep editing").click()
    expect(form).to_be_visible()
    page.locator(f'{PANEL} [data-tab="runs"]').click()
    page.locator(DIALOG).get_by_role("button", name="Discard").click()
    expect(form).to_have_count(0)
    expect(page.locator(f'{PANEL} [data-tab="runs"]')).to_have_attribute("aria-selected", "true")


def test_zone_picker_defaults_to_the_browser_zone_and_moves_the_preview(page: Page, lab: Any) -> None:
    form = new_job_form(page)
    fill_basics(form, "Tokyo morning", "hello.py")
    choose_kind(form, "daily")
    form.locator('input[name="time"]').fill("08:00")
    zone = form.locator('select[name="timezone"]')
    expect(zone).to_have_value("Europe/Paris")  # the browser's (the test context's) zone
    hint = form.locator('[data-field="timezone"] .jp-scheduler-hint')
    expect(hint).to_have_text("Times are in Europe/Paris (your browser's zone).")
    preview = expect_preview(form, r"08:00 \(Europe/Paris\)")
    expect(preview.locator(".jp-scheduler-previewTimes li").first).to_contain_text("08:00")

    zone.select_option("Asia/Tokyo")
    expect(hint).to_have_text("Times are in Asia/Tokyo (chosen for this job).")
    preview = expect_preview(form, r"08:00 \(Asia/Tokyo\)")
    # The next runs are shown in the job's zone, as its fields are.
    expect(preview.locator(".jp-scheduler-previewTimes li").first).to_contain_text("08:00")
    screenshot(page, "job-form-zone-light")
    save(form)
    expect(job_card(page, "Tokyo morning")).to_be_visible()
    job = lab.api("GET", "jobs")["jobs"][0]
    assert job["timezone"] == "Asia/Tokyo"
    assert job["next_run_time"].endswith("+09:00") and job["next_run_time"][11:16] == "08:00", job

    card_action(page, "Tokyo morning", "edit")
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form.locator('select[name="timezone"]')).to_have_value("Asia/Tokyo")
    expect(form.locator('[data-field="timezone"] .jp-scheduler-hint')).to_have_text(
        "Times are in Asia/Tokyo (the job's zone)."
    )


def test_seconds_are_shown_where_the_schedule_has_them(page: Page) -> None:
    form = new_job_form(page)
    fill_basics(form, "Sub-minute", "hello.py")
    choose_kind(form, "cron")
    form.locator('input[name="cron_expression"]').fill("30 */5 * * * *")
    preview = expect_preview(form, r".+")
    expect(preview.locator(".jp-scheduler-previewTimes li").first).to_contain_text(
        re.compile(r"\d\d:\d\d:30")
    )
    form.locator('input[name="cron_expression"]').fill("*/5 * * * *")
    preview = expect_preview(form, r"5 minutes")
    expect(preview.locator(".jp-scheduler-previewTimes li").first).not_to_contain_text(
        re.compile(r"\d\d:\d\d:\d\d")
    )


def test_a_time_the_dst_change_skips_is_flagged_at_the_time_field(page: Page, lab: Any) -> None:
    day = spring_forward_day().isoformat()
    form = new_job_form(page)
    fill_basics(form, "Spring forward", "hello.py")
    choose_kind(form, "once")
    form.locator('input[name="date"]').fill(day)
    form.locator('input[name="time"]').fill("02:30")
    error = field_error(form, "time")
    expect(error).to_have_text(
        f"02:30 does not exist on {day} in Europe/Paris: the clocks jump from 02:00 to 03:00. "
        "Choose another time.",
        timeout=10000,
    )
    screenshot(page, "job-form-dst-light")
    save(form)
    expect(error).to_be_visible()
    assert lab.api("GET", "jobs")["jobs"] == []

    # A daily 02:30 is fine, with a note about that day.
    choose_kind(form, "daily")
    note = form.locator('[data-field="time"] [data-testid="field-note"]')
    expect(note).to_contain_text(
        re.compile(r"02:30 does not exist that day: it runs at 03:00|02:30 happens twice")
    )
    expect(error).to_have_count(0)
    # 03:30 is untouched by the change.
    form.locator('input[name="time"]').fill("03:30")
    expect(note).to_have_count(0)


def test_editing_a_one_off_job_that_already_ran(page: Page, lab: Any) -> None:
    when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    job = api_job(
        lab,
        name="One-off",
        pipeline_path="etl/quick.py",
        schedule_type="date",
        date_type="once",
        run_date=when.isoformat().replace("+00:00", "Z"),
    )
    deadline = time.time() + 30
    while lab.api("GET", f"jobs/{job['id']}")["next_run_time"] is not None:
        assert time.time() < deadline, "the one-off job never fired"
        time.sleep(0.2)
    bodies: list[Any] = []

    def record(request: Request) -> None:
        if request.method == "PUT" and "/pipeline-scheduler/jobs/" in request.url:
            bodies.append(json.loads(request.post_data or "{}"))

    page.on("request", record)
    open_panel(page)
    card_action(page, "One-off", "edit")
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form.locator('[data-testid="fired-once"]')).to_contain_text("Saving keeps it as it is")
    fill_basics(form, "One-off, renamed")
    save(form)
    expect(job_card(page, "One-off, renamed")).to_be_visible()
    assert lab.api("GET", f"jobs/{job['id']}")["name"] == "One-off, renamed"
    assert bodies and "run_date" not in bodies[-1], bodies

    # Rescheduling it to a future date works too.
    card_action(page, "One-off, renamed", "edit")
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    future = (date.today() + timedelta(days=30)).isoformat()
    form.locator('input[name="date"]').fill(future)
    form.locator('input[name="time"]').fill("09:45")
    expect_preview(form, r"09:45")
    save(form)
    expect(job_card(page, "One-off, renamed").locator(".jp-scheduler-nextRun")).to_contain_text("09:45")
    answer = lab.api("GET", f"jobs/{job['id']}")
    assert answer["next_run_time"].startswith(future), answer


def test_deleting_a_job_says_its_history_goes_and_a_run_asks_first(page: Page, lab: Any) -> None:
    job = api_job(lab, name="History")
    run_id = lab.api("POST", f"run/{job['id']}", {"wait": True})["run_id"]
    open_panel(page)
    page.locator(f'{PANEL} [data-tab="runs"]').click()
    row = page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="{run_id}"]')
    expect(row).to_be_visible()
    row.locator('[data-action="delete-run"]').click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text(f'Delete run {run_id} of "History" and its log?')
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()
    assert [r["id"] for r in lab.api("GET", "runs")["runs"]] == [run_id]

    # From the log view too.
    row.locator(".jp-scheduler-runOpen").click()
    log = page.locator(".jp-scheduler-log")
    expect(log).to_be_visible()
    log.locator('[data-action="delete-run"]').click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text(f"Delete run {run_id}")
    dialog.get_by_role("button", name="Delete").click()
    expect(log).to_have_count(0)
    assert lab.api("GET", "runs")["runs"] == []

    # Deleting the job says what happens to its history (the server deletes it).
    lab.api("POST", f"run/{job['id']}", {"wait": True})
    page.locator(f'{PANEL} [data-tab="jobs"]').click()
    card_action(page, "History", "delete")
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text("its whole run history and logs are deleted with it")
    dialog.get_by_role("button", name="Delete").click()
    expect(job_card(page, "History")).to_have_count(0)
    assert lab.api("GET", "runs")["runs"] == []


def test_a_job_whose_file_was_deleted_is_flagged_on_its_card(page: Page, lab: Any) -> None:
    (lab.root / "doomed.py").write_text("print('soon gone')\n")
    api_job(lab, name="Soon broken", pipeline_path="doomed.py")
    open_panel(page)
    card = job_card(page, "Soon broken")
    expect(card).to_be_visible()
    expect(card.locator('[data-testid="file-missing"]')).to_have_count(0)
    # Deleted through JupyterLab (as the file browser does).
    page.evaluate("() => window.jupyterapp.serviceManager.contents.delete('doomed.py')")
    # At once, or at the latest when the folder's 15 s listing is read again (a delete
    # while the first listing is on its way).
    expect(card.locator('[data-testid="file-missing"]')).to_contain_text(
        "no longer in the workspace", timeout=20000
    )
    screenshot(page, "job-file-missing-light")
    # Back on disk: the flag goes after the next look.
    (lab.root / "doomed.py").write_text("print('back')\n")
    page.evaluate(
        "() => window.jupyterapp.serviceManager.contents.save('doomed.py',"
        " {type: 'file', format: 'text', content: \"print('back')\\n\"})"
    )
    expect(card.locator('[data-testid="file-missing"]')).to_have_count(0, timeout=10000)


def test_run_now_on_a_stale_ampln_snapshot_asks(page: Page, lab: Any) -> None:
    code = "print('stored or fresh code ran')\n"
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

    ampln = lab.root / "customers_fr.ampln"
    data = json.loads(ampln.read_text())
    data["id"] = f"changed-{uuid.uuid4().hex}"  # new content whatever an earlier test wrote
    ampln.write_text(json.dumps(data, indent=2))
    refresh(page)
    expect(card.locator(".jp-scheduler-changed")).to_be_visible(timeout=10000)
    generated = page.evaluate("() => window.__generatedFrom.length")

    card.locator('[data-action="run"]').click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text("was changed after the code of")
    for label in ("Cancel", "Run the stored code", "Regenerate code and run"):
        expect(dialog.get_by_role("button", name=label)).to_be_visible()
    screenshot(page, "run-now-stale-light")
    dialog.get_by_role("button", name="Cancel").click()
    assert lab.api("GET", "runs")["runs"] == []

    card.locator('[data-action="run"]').click()
    page.locator(DIALOG).get_by_role("button", name="Run the stored code").click()
    badge = card.locator(".jp-scheduler-jobLast .jp-scheduler-status")
    expect(badge).to_have_attribute("data-status", "success", timeout=20000)
    assert page.evaluate("() => window.__generatedFrom.length") == generated
    assert lab.api("GET", f"jobs/{job['id']}")["pipeline_changed"] is True

    card.locator('[data-action="run"]').click()
    page.locator(DIALOG).get_by_role("button", name="Regenerate code and run").click()
    expect(card.locator(".jp-scheduler-changed")).to_have_count(0, timeout=20000)
    assert page.evaluate("() => window.__generatedFrom.length") == generated + 1
    assert lab.api("GET", f"jobs/{job['id']}")["pipeline_changed"] is False


def test_form_reads_well_in_the_dark_theme(page: Page, lab: Any) -> None:
    set_theme(page, "JupyterLab Dark")
    form = new_job_form(page)
    fill_basics(form, "Dark", "hello.py")
    choose_kind(form, "once")
    form.locator('input[name="date"]').fill(spring_forward_day().isoformat())
    form.locator('input[name="time"]').fill("02:30")
    expect(field_error(form, "time")).to_be_visible(timeout=10000)
    screenshot(page, "job-form-dst-dark")
    choose_kind(form, "interval")
    form.locator('input[name="interval_value"]').fill("4000")
    form.locator('select[name="interval_unit"]').select_option("days")
    expect(field_error(form, "interval_seconds")).to_be_visible(timeout=10000)
    screenshot(page, "job-form-field-error-dark")
    choose_kind(form, "daily")
    form.locator('input[name="time"]').fill("02:30")
    expect(form.locator('[data-field="time"] [data-testid="field-note"]')).to_be_visible()
    screenshot(page, "job-form-zone-dark")
    set_theme(page, "JupyterLab Light")


def test_every_n_days_keeps_its_time_and_duplicate_conditions_are_refused(page: Page, lab: Any) -> None:
    upstream = api_job(lab, name="Upstream")
    form = new_job_form(page)
    fill_basics(form, "Every three days", "hello.py")
    choose_kind(form, "every_x_days")
    form.locator('input[name="interval_days"]').fill("3")
    form.locator('input[name="date"]').fill("")
    form.locator('input[name="time"]').fill("18:45")
    expect(form.locator('[data-field="time"] .jp-scheduler-hint')).to_contain_text(
        "next time the clock reads"
    )
    expect_preview(form, r"3 days")
    save(form)
    expect(job_card(page, "Every three days")).to_be_visible()
    job = next(j for j in lab.api("GET", "jobs")["jobs"] if j["name"] == "Every three days")
    assert job["next_run_time"][11:16] == "18:45", job

    form = new_job_form(page)
    fill_basics(form, "After upstream", "hello.py")
    choose_kind(form, "trigger")
    form.locator('[data-action="add-condition"]').click()
    form.locator('[data-action="add-condition"]').click()
    form.locator('select[name="condition_job_0"]').select_option(upstream["id"])
    form.locator('select[name="condition_job_1"]').select_option(upstream["id"])
    duplicate = form.locator('[data-testid="duplicate-condition"]')
    expect(duplicate).to_contain_text("Condition 2 repeats an earlier one")
    writes: list[str] = []
    page.on(
        "request", lambda r: writes.append(r.url) if r.method == "POST" and r.url.endswith("/jobs") else None
    )
    save(form)
    expect(duplicate).to_be_visible()
    page.wait_for_timeout(300)  # a POST would have been sent by now
    assert writes == []
    form.locator('select[name="condition_on_1"]').select_option("failure")
    expect(duplicate).to_have_count(0)
    save(form)
    expect(job_card(page, "After upstream")).to_be_visible()
    job = next(j for j in lab.api("GET", "jobs")["jobs"] if j["name"] == "After upstream")
    assert job["trigger_conditions"] == [
        {"job_id": upstream["id"], "on": "success"},
        {"job_id": upstream["id"], "on": "failure"},
    ]
