"""Job history in a real JupyterLab: a job edited through the sidebar's form shows both
versions in the Scheduler view's job detail (who, which field), and restoring the old one
after the confirmation brings its schedule back, recorded as a new version."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect
from ui_helpers import card_action, open_panel, save, screenshot_path

VIEW = "#pipeline-scheduler-view"


def _wait_for_version(lab: Any, job_id: str, version: int) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        job = lab.api("GET", f"jobs/{job_id}")
        if job["version"] == version:
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"still version {job['version']}, not {version}"
        time.sleep(0.1)


def test_edit_then_restore_the_old_version_brings_its_schedule_back(page: Page, lab: Any) -> None:
    job = lab.api(
        "POST",
        "jobs",
        {
            "name": "Hourly export",
            "pipeline_path": "etl/quick.py",
            "schedule_type": "interval",
            "interval_seconds": 3600,
        },
    )
    old_schedule = job["schedule_description"]

    # Edit it in the sidebar's form: every 5 minutes.
    open_panel(page)
    card_action(page, "Hourly export", "edit")
    form = page.locator("form.jp-scheduler-form")
    expect(form).to_be_visible()
    form.locator('input[name="interval_value"]').fill("5")
    form.locator('select[name="interval_unit"]').select_option("minutes")
    save(form)
    edited = _wait_for_version(lab, job["id"], 2)
    assert edited["interval_seconds"] == 300
    assert edited["schedule_description"] != old_schedule

    # The job detail of the Scheduler view lists both versions.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('pipeline-scheduler:open-view'); }")
    page.locator(f'{VIEW} [role="row"][data-job-id="{job["id"]}"]').click()
    detail = page.locator(f'{VIEW} .jp-PipelineScheduler-detail[data-job-id="{job["id"]}"]')
    expect(detail.locator("[data-testid=job-definition]")).to_contain_text(edited["schedule_description"])
    versions = detail.locator("[data-testid=job-versions] li")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_have_attribute("data-version", "2")
    expect(versions.nth(0).locator("[data-testid=version-changes]")).to_contain_text("interval_seconds")
    expect(versions.nth(0)).to_contain_text("current")
    expect(versions.nth(1)).to_contain_text("created")
    # The version's time is shown as the rest of the UI shows times (the browser's zone).
    expect(versions.nth(1).locator("time")).to_have_text(re.compile(r"\d"))

    # Restore version 1, after the confirmation.
    versions.nth(1).locator('[data-action="restore-version"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Restore version 1?")
    dialog.locator(".jp-Dialog-button.jp-mod-warn").click()
    expect(dialog).to_have_count(0)

    expect(versions).to_have_count(3)
    expect(versions.nth(0)).to_have_attribute("data-version", "3")
    expect(versions.nth(0).locator("[data-testid=version-changes]")).to_contain_text(
        "restored from version 1: interval_seconds"
    )
    expect(detail.locator("[data-testid=job-definition]")).to_contain_text(old_schedule)
    restored = lab.api("GET", f"jobs/{job['id']}")
    assert restored["version"] == 3 and restored["interval_seconds"] == 3600
    assert restored["schedule_description"] == old_schedule

    # A run of the restored job says which version it ran.
    run = lab.api("POST", f"run/{job['id']}", {"wait": True})
    assert lab.api("GET", f"runs/{run['run_id']}")["job_version"] == 3
    page.locator(f'{VIEW} [data-action="refresh-view"]').click()
    expect(detail.locator("[data-testid=run-history]")).to_contain_text("version 3")
    history = detail.locator("[data-testid=history-section]")
    history.scroll_into_view_if_needed()
    history.screenshot(path=str(screenshot_path("view-job-history")))
