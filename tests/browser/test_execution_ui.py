"""The execution engine's options in the UI (issue 4): cancel, the Advanced section of the
job form, notebooks and their executed copy, retries, the new statuses, standby."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, expect
from ui_helpers import (
    PANEL,
    SCREENSHOTS,
    card_action,
    contrast_ratio,
    fill_basics,
    job_card,
    new_job_form,
    open_panel,
    refresh,
    save,
    screenshot,
    set_theme,
)

pytestmark = pytest.mark.browser

CRON = {"schedule_type": "cron", "cron_expression": "0 3 * * *", "timezone": "Europe/Paris"}
SECRET = "sup3r-s3cret-value-42"


def api_job(lab: Any, name: str, path: str, **fields: Any) -> dict[str, Any]:
    return lab.api("POST", "jobs", {"name": name, "pipeline_path": path, **CRON, **fields})


def proc_alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_for(predicate: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def open_advanced(form: Locator) -> Locator:
    advanced = form.locator('[data-testid="advanced"]')
    expect(advanced).not_to_have_attribute("open", "")  # closed by default
    advanced.locator('[data-action="toggle-advanced"]').click()
    expect(advanced).to_have_attribute("open", "")
    return advanced


def add_row(advanced: Locator, field: str, key: str, value: str) -> None:
    rows = advanced.locator(f'[data-field="{field}"] li')
    index = rows.count()
    advanced.locator(f'[data-action="add-{field}"]').click()
    advanced.locator(f'input[name="{field}_key_{index}"]').fill(key)
    advanced.locator(f'input[name="{field}_value_{index}"]').fill(value)


def field_error(form: Locator, field: str) -> Locator:
    return form.locator(f'[data-field="{field}"] [data-testid="field-error"]')


def show_runs(page: Page) -> Locator:
    page.locator(f'{PANEL} [data-tab="runs"]').click()
    return page.locator(f"{PANEL} .jp-scheduler-run")


def test_cancel_running_and_queued_runs_from_the_runs_view(page: Page, lab: Any) -> None:
    pids_file = lab.root / "family.pids"
    pids_file.unlink(missing_ok=True)
    family = api_job(lab, "Family", "family.py", env={"PIDS_FILE": str(pids_file)})
    sleeper = api_job(lab, "Sleeper", "sleep.py")
    family_run = lab.api("POST", f"run/{family['id']}", {"wait": False})
    pids = [
        int(p) for p in wait_for(lambda: pids_file.exists() and pids_file.read_text(), what="pids").split()
    ]
    assert len(pids) == 2 and all(proc_alive(p) for p in pids)
    # Fill the server's slots (max_concurrent_runs: the number of CPUs) so that one waits.
    slots = os.cpu_count() or 2
    for _ in range(slots):
        lab.api("POST", f"run/{sleeper['id']}", {"wait": False})

    def statuses() -> list[dict[str, Any]] | None:
        runs = lab.api("GET", "runs")["runs"]
        return runs if sum(r["status"] == "running" for r in runs) == slots else None

    queued = next(r for r in wait_for(statuses, what="full slots") if r["status"] == "queued")

    open_panel(page)
    rows = show_runs(page)
    family_row = page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="{family_run["id"]}"]')
    queued_row = page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="{queued["id"]}"]')
    expect(family_row).to_have_attribute("data-status", "running")
    expect(queued_row).to_have_attribute("data-status", "queued")
    expect(queued_row.locator(".jp-scheduler-status")).to_have_text("queued")
    # Active runs offer Stop/Cancel instead of Delete.
    expect(family_row.locator('[data-action="delete-run"]')).to_have_count(0)
    expect(rows.locator('[data-action="delete-run"]')).to_have_count(0)

    queued_row.locator('[data-action="cancel-run"]').click()
    expect(queued_row).to_have_attribute("data-status", "cancelled", timeout=10000)
    expect(queued_row.locator(".jp-scheduler-runMessage")).to_contain_text("Cancelled")
    assert lab.api("GET", f"runs/{queued['id']}")["started_at"] is None

    family_row.locator('[data-action="cancel-run"]').click()
    expect(family_row).to_have_attribute("data-status", "cancelled", timeout=15000)
    expect(family_row.locator(".jp-scheduler-status")).to_have_text("cancelled")
    expect(family_row.locator('[data-action="delete-run"]')).to_be_visible()
    # The pipeline and the child it started are gone.
    wait_for(lambda: not any(proc_alive(p) for p in pids), 10, "the processes to end")
    assert lab.api("GET", f"runs/{family_run['id']}")["status"] == "cancelled"

    # The log view agrees, and no longer offers to stop it.
    family_row.locator(".jp-scheduler-runOpen").click()
    log = page.locator(".jp-scheduler-log")
    expect(log).to_have_attribute("data-finished", "true", timeout=10000)
    expect(log.locator(".jp-scheduler-logTitle .jp-scheduler-status")).to_have_attribute(
        "data-status", "cancelled"
    )
    expect(log.locator('[data-action="cancel-run"]')).to_have_count(0)
    expect(log.locator(".jp-scheduler-logText")).to_contain_text("started child")


def test_advanced_options_timeout_env_and_secret(page: Page, lab: Any) -> None:
    form = new_job_form(page)
    fill_basics(form, "Advanced", "sleepy.py")
    advanced = open_advanced(form)
    advanced.locator('input[name="timeout_seconds"]').fill("1")
    advanced.locator('input[name="max_retries"]').fill("0")
    advanced.locator('input[name="max_instances"]').fill("1")
    advanced.locator('select[name="catchup"]').select_option("none")
    add_row(advanced, "env", "GREETING", "hello-from-env")
    add_row(advanced, "secret_env", "API_KEY", SECRET)
    add_row(advanced, "parameters", "LIMIT", "100")
    add_row(advanced, "parameters", "MODE", "full")
    advanced.locator('input[name="working_dir"]').fill("etl")
    advanced.locator('input[name="webhook_url"]').fill("http://127.0.0.1:9/alerts")
    expect(advanced.locator('input[name="secret_env_value_0"]')).to_have_attribute("type", "password")
    # Not a notebook: no kernel field.
    expect(advanced.locator('input[name="kernel_name"]')).to_have_count(0)
    advanced.locator('input[name="max_retries"]').fill("3")
    advanced.locator('input[name="retry_delay_seconds"]').fill("30")
    expect(advanced.locator('[data-testid="retry-delays"]')).to_have_text("Here: 30 s, 1 min, 2 min.")
    advanced.scroll_into_view_if_needed()
    screenshot_section(page, form, "job-form-advanced-light")
    advanced.locator('input[name="max_retries"]').fill("0")
    expect(advanced.locator('[data-testid="retry-delays"]')).to_have_count(0)

    posted: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.method in ("POST", "PUT") and re.search(
            r"/pipeline-scheduler/jobs(/[^/?]+)?/?(\?.*)?$", request.url
        ):
            posted.append(json.loads(request.post_data or "{}"))

    page.on("request", record)
    save(form)
    card = job_card(page, "Advanced")
    expect(card).to_be_visible()
    assert posted and posted[0]["secret_env"] == {"API_KEY": SECRET}
    assert posted[0]["parameters"] == {"LIMIT": 100, "MODE": "full"}
    job = next(j for j in lab.api("GET", "jobs")["jobs"] if j["name"] == "Advanced")
    assert job["timeout_seconds"] == 1 and job["max_retries"] == 0 and job["max_instances"] == 1
    assert job["catchup"] == "none" and job["working_dir"] == "etl"
    assert job["env"] == {"GREETING": "hello-from-env"}
    assert job["secret_env_keys"] == ["API_KEY"] and "secret_env" not in job
    assert job["parameters"] == {"LIMIT": 100, "MODE": "full"}
    assert job["webhook_url"] == "http://127.0.0.1:9/alerts"

    # 1 s timeout on a pipeline that sleeps a minute.
    card.locator('[data-action="run"]').click()
    badge = card.locator(".jp-scheduler-jobLast .jp-scheduler-status")
    expect(badge).to_have_attribute("data-status", "timeout", timeout=20000)
    expect(badge).to_have_text("timed out")
    card.locator(".jp-scheduler-jobLast button").click()
    log = page.locator(".jp-scheduler-log")
    expect(log).to_have_attribute("data-finished", "true", timeout=10000)
    text = log.locator(".jp-scheduler-logText")
    expect(text).to_contain_text("greeting: hello-from-env")
    expect(text).to_contain_text("LIMIT=100")
    expect(text).to_contain_text("cwd: etl")
    expect(text).to_contain_text("secret: ***")
    expect(log.locator('[data-testid="run-message"]')).to_be_visible()
    # The secret's value is nowhere in the log view (nor in the page).
    assert SECRET not in log.inner_text()
    assert SECRET not in page.content()

    # Editing: the stored secret shows as set, and is not sent unless changed.
    posted.clear()
    card_action(page, "Advanced", "edit")
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form.locator('[data-testid="advanced"] .jp-scheduler-count')).to_be_visible()
    advanced = open_advanced(form)
    expect(advanced.locator('input[name="timeout_seconds"]')).to_have_value("1")
    expect(advanced.locator('input[name="parameters_value_0"]')).to_have_value("100")
    secret_value = advanced.locator('input[name="secret_env_value_0"]')
    expect(secret_value).to_have_value("")
    expect(secret_value).to_have_attribute("placeholder", "set — leave empty to keep")
    expect(advanced.locator('input[name="secret_env_key_0"]')).to_have_value("API_KEY")
    advanced.locator('input[name="timeout_seconds"]').fill("")
    save(form)
    expect(page.locator(f"{PANEL} form.jp-scheduler-form")).to_have_count(0)
    assert posted and "secret_env" not in posted[0], posted
    assert posted[0]["timeout_seconds"] is None
    job = lab.api("GET", f"jobs/{job['id']}")
    assert job["secret_env_keys"] == ["API_KEY"]
    assert "timeout_seconds" not in job or job["timeout_seconds"] is None


def screenshot_section(page: Page, form: Locator, name: str) -> None:
    """The whole form (sidebar width), tall enough to show the Advanced section."""
    size = page.viewport_size
    page.set_viewport_size({"width": 1400, "height": 2300})
    page.wait_for_timeout(300)
    page.locator(PANEL).screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    if size:
        page.set_viewport_size(size)


def test_bad_advanced_fields_show_the_servers_message_at_the_field(page: Page, lab: Any) -> None:
    form = new_job_form(page)
    fill_basics(form, "Misplaced", "hello.py")
    advanced = open_advanced(form)
    advanced.locator('input[name="working_dir"]').fill("../x")
    with pytest.raises(urllib.error.HTTPError) as err:
        api_job(lab, "Misplaced", "hello.py", working_dir="../x")
    message = json.loads(err.value.read())["error"]
    assert message.startswith("working_dir:")
    # Closed again: the error opens it.
    advanced.locator('[data-action="toggle-advanced"]').click()
    save(form)
    # The server's message, at its field, without the API's field name.
    expect(field_error(form, "working_dir")).to_have_text(message.removeprefix("working_dir:").strip())
    expect(advanced).to_have_attribute("open", "")
    expect(advanced.locator('input[name="working_dir"]')).to_have_attribute("aria-invalid", "true")
    expect(form.locator('[data-testid="save-error"]')).to_have_count(0)
    assert lab.api("GET", "jobs")["jobs"] == []

    # Typing in the field clears its error; a range error lands at its own field.
    advanced.locator('input[name="working_dir"]').fill("etl")
    expect(field_error(form, "working_dir")).to_have_count(0)
    advanced.locator('input[name="timeout_seconds"]').fill("0")
    save(form)
    # A range in the field's own unit.
    expect(field_error(form, "timeout_seconds")).to_have_text(
        "Choose from 1 second to 604,800 seconds, not 0 seconds."
    )
    advanced.locator('input[name="timeout_seconds"]').fill("")
    advanced.locator('input[name="python_executable"]').fill("python3")
    save(form)
    expect(field_error(form, "python_executable")).to_contain_text("not an absolute path")
    # Secrets: a value without a name is caught before asking the server.
    advanced.locator('input[name="python_executable"]').fill("")
    add_row(advanced, "env", "", "orphan")
    save(form)
    expect(field_error(form, "env")).to_contain_text("name")
    advanced.locator('[data-action="remove-env"]').click()
    save(form)
    expect(job_card(page, "Misplaced")).to_be_visible()
    assert lab.api("GET", "jobs")["jobs"][0]["working_dir"] == "etl"


def test_notebook_job_runs_and_offers_the_executed_notebook(page: Page, lab: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    listing = page.locator(".jp-DirListing-content")
    listing.locator(".jp-DirListing-itemText", has_text="report.ipynb").click(button="right")
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text="Schedule…").click()
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form.locator('input[name="pipeline_path"]')).to_have_value("report.ipynb")
    expect(form.locator('input[name="name"]')).to_have_value("report")
    expect(form).to_contain_text("nbclient")
    # The pipeline picker lists notebooks too.
    form.locator('[data-action="browse"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator('[data-path="report.ipynb"]')).to_be_visible()
    expect(dialog.locator('[data-path="notes.txt"]')).to_have_count(0)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    advanced = open_advanced(form)
    kernel = advanced.locator('input[name="kernel_name"]')
    expect(kernel).to_be_visible()
    kernel.fill("python3")
    # The installed kernels are offered.
    assert "python3" in kernel.evaluate("(el) => Array.from(el.list.options).map(o => o.value)")
    save(form)
    card = job_card(page, "report")
    expect(card).to_be_visible()
    assert lab.api("GET", "jobs")["jobs"][0]["kernel_name"] == "python3"

    card.locator('[data-action="run"]').click()
    badge = card.locator(".jp-scheduler-jobLast .jp-scheduler-status")
    expect(badge).to_have_attribute("data-status", "success", timeout=60000)
    card.locator(".jp-scheduler-jobLast button").click()
    log = page.locator(".jp-scheduler-log")
    expect(log).to_have_attribute("data-finished", "true", timeout=10000)
    expect(log.locator(".jp-scheduler-logText")).to_contain_text("notebook says hello")
    run_id = int(log.get_attribute("data-run-id") or 0)

    with page.expect_download() as info:
        log.locator('[data-action="download-notebook"]').click()
    download = info.value
    assert download.suggested_filename == f"report-run-{run_id}.ipynb"
    notebook = json.loads(Path(download.path()).read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    assert any("notebook says hello" in "".join(o.get("text", "")) for o in outputs), outputs
    assert any("".join(o.get("data", {}).get("text/plain", "")) == "42" for o in outputs), outputs

    # The runs view offers it too.
    row = show_runs(page).first
    expect(row).to_have_attribute("data-run-id", str(run_id))
    with page.expect_download() as info:
        row.locator('[data-action="download-notebook"]').click()
    assert info.value.suggested_filename == f"report-run-{run_id}.ipynb"
    screenshot(page, "run-log-notebook-light")


def test_retries_show_attempt_numbers(page: Page, lab: Any) -> None:
    flaky = api_job(lab, "Flaky", "fail.py", max_retries=2, retry_delay_seconds=0)
    open_panel(page)
    card = job_card(page, "Flaky")
    card.locator('[data-action="run"]').click()
    wait_for(
        lambda: (
            len(lab.api("GET", f"runs?job_id={flaky['id']}")["runs"]) == 3
            and all(r["status"] == "failure" for r in lab.api("GET", f"runs?job_id={flaky['id']}")["runs"])
        ),
        20,
        "three failed attempts",
    )
    rows = show_runs(page)
    refresh_runs = page.locator(f'{PANEL} [data-action="refresh-runs"]')
    refresh_runs.click()
    expect(rows).to_have_count(3)
    attempts = rows.locator(".jp-scheduler-attempt")
    expect(attempts).to_have_text(["attempt 3 of 3", "attempt 2 of 3"])
    expect(rows.nth(2).locator(".jp-scheduler-attempt")).to_have_count(0)
    expect(rows.nth(0).locator(".jp-scheduler-runMeta")).to_contain_text("retry")
    expect(rows.nth(2).locator(".jp-scheduler-runMeta")).to_contain_text("manual")
    expect(rows.nth(0).locator(".jp-scheduler-runMessage")).to_contain_text("Exited with code 3")
    rows.nth(0).locator(".jp-scheduler-runOpen").click()
    log = page.locator(".jp-scheduler-log")
    expect(log.locator(".jp-scheduler-logTitle .jp-scheduler-attempt")).to_have_text("attempt 3 of 3")
    expect(log.locator(".jp-scheduler-logText")).to_contain_text("attempt 3")


def test_standby_notice(page: Page, lab: Any) -> None:
    state = {"value": "standby"}

    def config(route: Any) -> None:
        answer = lab.api("GET", "config")
        answer["scheduler_state"] = state["value"]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))

    page.route(re.compile(r".*/pipeline-scheduler/config(\?.*)?$"), config)
    open_panel(page)
    notice = page.locator(f'{PANEL} [data-testid="standby-notice"]')
    expect(notice).to_have_text(
        "Another Jupyter server runs this workspace's schedules; this one serves the API."
    )
    # It goes away when this server takes over (seen at the next refresh).
    state["value"] = "active"
    refresh(page)
    expect(notice).to_have_count(0)
    assert lab.api("GET", "config")["scheduler_state"] == "active"


def _run(run_id: int, job: dict[str, Any], status: str, **fields: Any) -> dict[str, Any]:
    now = time.time()
    iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 600 + run_id * 30))
    base = {
        "id": run_id,
        "job_id": job["id"],
        "job_name": job["name"],
        "pipeline_path": job["pipeline_path"],
        "status": status,
        "triggered_by": "schedule",
        "attempt": 1,
        "scheduled_for": iso,
        "created_at": iso,
        "started_at": iso,
        "finished_at": None if status in ("running", "queued") else iso,
        "exit_code": None,
        "duration_seconds": None if status in ("running", "queued") else 12.5,
        "log_size": 10,
        "log_truncated": False,
        "pipeline_changed": None,
        "message": None,
        "has_notebook": False,
    }
    base.update(fields)
    if base["triggered_by"] == "manual":
        base["scheduled_for"] = None
    if base["started_at"] is None:
        base["duration_seconds"] = None
    return base


def test_every_status_is_readable_light_and_dark(page: Page, lab: Any) -> None:
    """Display only: the runs list is a fixed answer holding one run of every status and
    marker (an 'interrupted' run needs a killed server), the rest of the UI is real."""
    nightly = api_job(lab, "Nightly load", "etl/nightly_load.py", max_retries=2)
    report = api_job(lab, "Daily report", "report.ipynb")
    french = {"id": "job_fr", "name": "French customers", "pipeline_path": "customers_fr.ampln"}
    runs = [
        _run(12, nightly, "queued", started_at=None, triggered_by="manual"),
        _run(11, nightly, "running", triggered_by="manual"),
        _run(
            10,
            nightly,
            "timeout",
            attempt=3,
            triggered_by="retry",
            message="Stopped after the 600 s timeout.",
        ),
        _run(
            9, nightly, "failure", attempt=2, triggered_by="retry", exit_code=1, message="Exited with code 1."
        ),
        _run(8, report, "success", exit_code=0, has_notebook=True),
        _run(7, french, "success", exit_code=0, pipeline_changed=True),
        _run(6, nightly, "cancelled", triggered_by="manual", message="Cancelled."),
        _run(
            5,
            nightly,
            "skipped",
            started_at=None,
            message="Skipped: 1 run(s) of this job were still active (max_instances is 1).",
        ),
        _run(4, nightly, "interrupted", message="The server stopped while this run was active."),
        _run(
            3,
            report,
            "skipped",
            triggered_by="catchup",
            started_at=None,
            message="Skipped: the server was not running at this fire time (catch-up policy 'skip').",
        ),
    ]

    def answer(route: Any) -> None:
        route.fulfill(
            status=200, content_type="application/json", body=json.dumps({"runs": runs, "next_cursor": None})
        )

    page.route(re.compile(r".*/pipeline-scheduler/runs(\?.*)?$"), answer)
    open_panel(page)
    rows = show_runs(page)
    expect(rows).to_have_count(len(runs))
    for status in ("queued", "running", "timeout", "cancelled", "skipped", "interrupted"):
        expect(page.locator(f'{PANEL} .jp-scheduler-run[data-status="{status}"]').first).to_be_visible()
    row = page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="10"]')
    expect(row.locator(".jp-scheduler-attempt")).to_have_text("attempt 3 of 3")
    expect(
        page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="7"] [data-testid="pipeline-changed"]')
    ).to_be_visible()
    expect(
        page.locator(f'{PANEL} .jp-scheduler-run[data-run-id="5"] .jp-scheduler-runMessage')
    ).to_contain_text("max_instances")
    page.set_viewport_size({"width": 1400, "height": 1000})
    panel = page.locator(PANEL)
    panel.screenshot(path=str(SCREENSHOTS / "runs-statuses-light.png"))
    statuses = ("queued", "running", "success", "failure", "timeout", "cancelled", "skipped", "interrupted")

    def check_contrast() -> None:
        for status in statuses:
            selector = f'{PANEL} .jp-scheduler-run[data-status="{status}"] .jp-scheduler-status'
            assert contrast_ratio(page, selector) >= 4.5, (status, contrast_ratio(page, selector))
        for selector in (
            f'{PANEL} .jp-scheduler-run[data-run-id="10"] .jp-scheduler-attempt',
            f'{PANEL} [data-testid="pipeline-changed"]',
            f'{PANEL} .jp-scheduler-run[data-run-id="5"] .jp-scheduler-runMessage',
        ):
            assert contrast_ratio(page, selector) >= 4.5, selector

    check_contrast()
    set_theme(page, "JupyterLab Dark")
    check_contrast()
    panel.screenshot(path=str(SCREENSHOTS / "runs-statuses-dark.png"))

    # The Advanced section in the dark theme, with a stored secret (edit form).
    lab.api(
        "PUT",
        f"jobs/{nightly['id']}",
        {
            "timeout_seconds": 600,
            "retry_delay_seconds": 30,
            "env": {"REGION": "eu-west-1"},
            "secret_env": {"DB_PASSWORD": "not-shown"},
            "parameters": {"LIMIT": 100},
            "catchup": "run_once",
            "working_dir": "etl",
        },
    )
    page.locator(f'{PANEL} [data-tab="jobs"]').click()
    card_action(page, "Nightly load", "edit")
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    advanced = open_advanced(form)
    expect(advanced.locator('input[name="secret_env_value_0"]')).to_have_attribute(
        "placeholder", "set — leave empty to keep"
    )
    for selector in (
        f'{PANEL} input[name="timeout_seconds"]',
        f"{PANEL} [data-testid=advanced] .jp-scheduler-hint",
        f'{PANEL} input[name="secret_env_key_0"]',
    ):
        assert contrast_ratio(page, selector) >= 4.5, selector
    screenshot_section(page, form, "job-form-advanced-dark")
    set_theme(page, "JupyterLab Light")
