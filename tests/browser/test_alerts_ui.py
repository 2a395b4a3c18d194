"""Deadlines and alerts in a real JupyterLab: the job form's "Deadlines and alerts" fields
(a bad deadline shows the server's message at its field and saves nothing; a good one is
saved with the max duration, e-mails and what raises alerts), the job detail of the
Scheduler view shows the deadline, and an alert's run link
(``lab?pipeline-scheduler-run=ID``) opens that run's log."""

from __future__ import annotations

import time
import uuid
from typing import Any

from playwright.sync_api import Page, expect
from ui_helpers import fill_basics, new_job_form, save

VIEW = "#pipeline-scheduler-view"


def _job_named(lab: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        jobs = [j for j in lab.api("GET", "jobs")["jobs"] if j["name"] == name]
        if jobs:
            return jobs[0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"no job named {name!r}"
        time.sleep(0.1)


def test_a_deadline_set_in_the_form_is_saved_and_shown(page: Page, lab: Any) -> None:
    form = new_job_form(page)
    fill_basics(form, "Morning report", "etl/quick.py")
    form.locator('[data-action="toggle-advanced"]').click()
    alerts = form.locator('[data-testid="deadlines-and-alerts"]')
    expect(alerts).to_be_visible()
    expect(alerts).to_contain_text("Europe/Paris")  # the deadline is in the job's zone

    # A time the server refuses: its message at the field, nothing saved.
    alerts.locator('input[name="deadline_time"]').fill("7:3")
    save(form)
    error = alerts.locator('[data-field="deadline_time"] [data-testid="field-error"]')
    expect(error).to_contain_text("HH:MM")
    expect(alerts.locator('input[name="deadline_time"]')).to_have_attribute("aria-invalid", "true")
    assert [j for j in lab.api("GET", "jobs")["jobs"] if j["name"] == "Morning report"] == []

    alerts.locator('input[name="deadline_time"]').fill("07:30")
    alerts.locator('input[name="max_duration_minutes"]').fill("45")
    alerts.locator('input[name="alert_emails"]').fill("ops@example.org, data@example.org")
    alerts.locator('input[name="alert_on_recovery"]').uncheck()
    save(form)
    expect(form).to_have_count(0, timeout=15000)
    job = _job_named(lab, "Morning report")
    assert job["deadline_time"] == "07:30"
    assert job["max_duration_minutes"] == 45
    assert job["alert_emails"] == ["ops@example.org", "data@example.org"]
    assert job["alert_on"] == ["failure", "deadline"]

    # The Scheduler view's job detail shows it.
    page.evaluate("async () => { await window.jupyterapp.commands.execute('pipeline-scheduler:open-view'); }")
    page.locator(f'{VIEW} [role="row"][data-job-id="{job["id"]}"]').click()
    definition = page.locator(f'{VIEW} .jp-PipelineScheduler-detail[data-job-id="{job["id"]}"]').locator(
        "[data-testid=job-definition]"
    )
    expect(definition).to_contain_text("succeeded by 07:30 (Europe/Paris) each day")
    expect(definition).to_contain_text("45 min")


def test_a_run_link_opens_the_run_log(page: Page, lab: Any) -> None:
    job = lab.api(
        "POST",
        "jobs",
        {
            "name": "Linked",
            "pipeline_path": "etl/quick.py",
            "schedule_type": "interval",
            "interval_seconds": 3600,
        },
    )
    run = lab.api("POST", f"run/{job['id']}", {"wait": True})
    run_id = run["run_id"]
    page.goto(
        f"{lab.url}lab/workspaces/t{uuid.uuid4().hex[:12]}?pipeline-scheduler-run={run_id}&token={lab.token}"
    )
    log = page.locator(f'#pipeline-scheduler-run-{run_id} .jp-scheduler-log[data-run-id="{run_id}"]')
    expect(log).to_be_visible(timeout=60000)
    expect(log).to_contain_text("Linked")
