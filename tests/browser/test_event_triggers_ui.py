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
