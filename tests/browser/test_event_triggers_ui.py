"""Event triggers in a real JupyterLab: a "when files arrive" job made in the job form
(a glob outside the workspace refused at its field, the preview's words, the saved job
firing when a file is dropped into its folder)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from ui_helpers import choose_kind, expect_preview, fill_basics, job_card, new_job_form, save, screenshot

pytestmark = pytest.mark.browser


def field_error(form: Locator, field: str) -> Locator:
    return form.locator(f'[data-field="{field}"] [data-testid="field-error"]')


def test_a_file_arrival_job_made_in_the_form_runs_when_a_file_arrives(page: Page, lab: Any) -> None:
    folder = f"incoming_{uuid.uuid4().hex[:8]}"
    (lab.root / folder).mkdir()
    form = new_job_form(page)
    fill_basics(form, "On arrival", "hello.py")
    choose_kind(form, "file")
    expect(form.locator('select[name="timezone"]')).to_have_count(0)
    watch = form.locator('input[name="watch_path"]')
    watch.fill("../elsewhere/*.csv")
    save(form)
    error = field_error(form, "watch_path")
    expect(error).to_contain_text("leaves the workspace", timeout=10000)
    expect(watch).to_have_attribute("aria-invalid", "true")
    assert lab.api("GET", "jobs")["jobs"] == []

    watch.fill(f"{folder}/*.csv")
    form.locator('input[name="watch_debounce_seconds"]').fill("1")
    expect_preview(form, f"When files matching {folder}/\\*.csv arrive")
    screenshot(page, "job-form-file-arrival")
    save(form)
    expect(job_card(page, "On arrival")).to_be_visible(timeout=10000)
    (job,) = lab.api("GET", "jobs")["jobs"]
    assert job["schedule_type"] == "file" and job["watch_path"] == f"{folder}/*.csv"
    assert job["watch_debounce_seconds"] == 1

    # The watch follows the save; a file dropped after it is seen once it settles.
    deadline = time.monotonic() + 30
    (lab.root / folder / "first.csv").write_text("a,b\n1,2\n")
    runs: list[dict[str, Any]] = []
    while not runs:
        runs = lab.api("GET", f"runs?job_id={job['id']}")["runs"]
        assert time.monotonic() < deadline, "no run for the dropped file"
        time.sleep(0.2)
    assert runs[0]["triggered_by"] == "file"
    assert runs[0]["event"]["paths"] == [f"{folder}/first.csv"]


VIEW = "#pipeline-scheduler-view"


def test_the_webhook_url_is_shown_once_and_starts_a_run(page: Page, lab: Any) -> None:
    import json
    import urllib.request

    job = lab.api(
        "POST",
        "jobs",
        {
            "name": "Hooked",
            "pipeline_path": "etl/quick.py",
            "schedule_type": "interval",
            "interval_seconds": 3600,
            "parameters": {"LIMIT": 1},  # a webhook call sets only declared parameters
        },
    )
    page.evaluate("async () => { await window.jupyterapp.commands.execute('pipeline-scheduler:open-view'); }")
    page.locator(f'{VIEW} [role="row"][data-job-id="{job["id"]}"]').click()
    detail = page.locator(f'{VIEW} .jp-PipelineScheduler-detail[data-job-id="{job["id"]}"]')
    section = detail.locator("[data-testid=webhook-section]")
    expect(section.locator("[data-testid=webhook-state]")).to_contain_text("Not enabled")
    section.locator('[data-action="enable-webhook"]').click()
    dialog = page.locator(".jp-Dialog")
    url = dialog.locator("[data-testid=webhook-url]")
    expect(url).to_contain_text(f"pipeline-scheduler/hooks/{job['id']}/")
    shown = url.inner_text().strip()
    screenshot(page, "job-detail-webhook-url")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    expect(dialog).to_have_count(0)
    expect(section.locator("[data-testid=webhook-state]")).to_contain_text("Enabled")
    expect(section.locator('[data-action="rotate-webhook"]')).to_be_visible()
    assert shown.split("/")[-1] not in detail.inner_text()  # the token is not shown again

    # The URL works without Jupyter's token (a browser page or another system may call it).
    request = urllib.request.Request(
        shown,
        data=json.dumps({"LIMIT": 3}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 202
        run = json.loads(reply.read())
    assert run["triggered_by"] == "webhook" and run["overrides"] == {"parameters": {"LIMIT": 3}}
