"""Backfill, "Run with…" and Re-run in a real JupyterLab: the dialogs show the server's
refusal at its field and keep what was typed, a backfill started from the job detail runs
each fire time of the range (read in the job's zone) and shows its progress there, a
"Run with…" run is given the values changed in its dialog, and a re-run from the runs
list keeps the run's logical time and overrides."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect
from ui_helpers import PANEL, open_panel

VIEW = "#pipeline-scheduler-view"
OPEN_VIEW = "pipeline-scheduler:open-view"
DIALOG = ".jp-Dialog"


def wait_for(probe: Any, timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def open_detail(page: Page, job_id: str) -> Any:
    page.evaluate(f"async () => {{ await window.jupyterapp.commands.execute('{OPEN_VIEW}'); }}")
    page.locator(f'{VIEW} [role="row"][data-job-id="{job_id}"]').click()
    detail = page.locator(f'{VIEW} .jp-PipelineScheduler-detail[data-job-id="{job_id}"]')
    expect(detail.locator("[data-testid=job-definition]")).to_be_visible()
    return detail


def test_backfill_run_with_and_rerun_from_the_ui(page: Page, lab: Any) -> None:
    job = lab.api(
        "POST",
        "jobs",
        {
            "name": "Morning load",
            "pipeline_path": "etl/quick.py",
            "schedule_type": "cron",
            "cron_expression": "0 6 * * *",
            "timezone": "America/New_York",
            "parameters": {"LIMIT": 10},
            "timeout_seconds": 600,
        },
    )
    detail = open_detail(page, job["id"])

    # Backfill…: a range ending in the future is refused at its field, the values stay.
    detail.locator('[data-action="backfill"]').click()
    dialog = page.locator(DIALOG)
    expect(dialog.locator("[data-testid=backfill-form]")).to_be_visible()
    expect(dialog).to_contain_text("America/New_York")
    dialog.locator('input[name="start"]').fill("2025-10-31T00:00")
    dialog.locator('input[name="end"]').fill("2099-01-01T00:00")
    dialog.locator('input[name="max_active"]').fill("2")
    dialog.locator(".jp-mod-accept").click()
    expect(dialog.locator('[data-error-for="end"]')).to_contain_text("future")
    expect(dialog.locator('input[name="start"]')).to_have_value("2025-10-31T00:00")
    # Across New York's change to winter time (2025-11-02): one run a day at 06:00.
    dialog.locator('input[name="end"]').fill("2025-11-03T12:00")
    dialog.locator(".jp-mod-accept").click()
    expect(page.locator(DIALOG)).to_have_count(0)

    section = detail.locator("[data-testid=backfill-section]")
    expect(section.locator("[data-testid=backfill-progress]")).to_have_text(
        re.compile(r"^4 success$"), timeout=60000
    )
    expect(section.locator("li[data-status=done]")).to_have_count(1)

    def backfill_runs() -> list[dict[str, Any]]:
        runs = lab.api("GET", f"runs?job_id={job['id']}")["runs"]
        return sorted((r for r in runs if r["triggered_by"] == "backfill"), key=lambda r: r["id"])

    assert [r["scheduled_for"] for r in backfill_runs()] == [
        "2025-10-31T10:00:00+00:00",
        "2025-11-01T10:00:00+00:00",
        "2025-11-02T11:00:00+00:00",
        "2025-11-03T11:00:00+00:00",
    ]

    # Run with…: prefilled with the job's values; only what changed is sent.
    detail.locator('[data-action="run-with"]').click()
    dialog = page.locator(DIALOG)
    expect(dialog.locator('input[name="parameters_key_0"]')).to_have_value("LIMIT")
    expect(dialog.locator('input[name="parameters_value_0"]')).to_have_value("10")
    expect(dialog.locator('input[name="timeout_seconds"]')).to_have_value("600")
    dialog.locator('input[name="timeout_seconds"]').fill("0")
    dialog.locator(".jp-mod-accept").click()
    expect(dialog.locator('[role="alert"]')).to_contain_text("at least 1")
    dialog.locator('input[name="timeout_seconds"]').fill("120")
    dialog.locator('input[name="parameters_value_0"]').fill("42")
    dialog.locator(".jp-mod-accept").click()
    expect(page.locator(DIALOG)).to_have_count(0)

    def manual_run() -> dict[str, Any] | None:
        runs = lab.api("GET", f"runs?job_id={job['id']}")["runs"]
        found = [r for r in runs if r["triggered_by"] == "manual" and r["status"] == "success"]
        return found[0] if found else None

    manual = wait_for(manual_run, what="the Run with… run")
    assert manual["overrides"] == {"parameters": {"LIMIT": 42}, "timeout_seconds": 120}

    # The runs list labels them, and Re-run runs one again.
    open_panel(page)
    page.locator(f'{PANEL} [data-tab="runs"]').click()
    first = backfill_runs()[0]
    backfill_row = page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="{first["id"]}"]')
    expect(backfill_row).to_contain_text("backfill")
    backfill_row.locator('[data-action="rerun"]').click()

    def rerun() -> dict[str, Any] | None:
        runs = lab.api("GET", f"runs?job_id={job['id']}")["runs"]
        found = [r for r in runs if r["triggered_by"] == "rerun" and r["status"] == "success"]
        return found[0] if found else None

    again = wait_for(rerun, what="the re-run")
    assert again["scheduled_for"] == first["scheduled_for"]
    expect(page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="{again["id"]}"]')).to_contain_text(
        "re-run", timeout=20000
    )
