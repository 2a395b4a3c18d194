"""Small helpers shared by the browser tests: drive the Scheduler panel like a person."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

REPO = Path(__file__).resolve().parents[2]
# Where every browser test writes its screenshots: an untracked build folder, so a test run
# never touches docs/. `make screenshots` runs the browser suite and copies them into the
# tracked docs/screenshots/ on purpose. SCHEDULER_SCREENSHOTS_DIR points it elsewhere.
SCREENSHOTS = Path(os.environ.get("SCHEDULER_SCREENSHOTS_DIR") or REPO / "build" / "screenshots")
PANEL = "#pipeline-scheduler-panel"
GENERATE_CODE = "pipeline-editor:generate-code"


def screenshot_path(name: str) -> Path:
    """The file for screenshot `name` (without .png), its folder created: for element
    screenshots (`locator.screenshot(path=str(screenshot_path("x")))`)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def screenshot(page: Page, name: str, **kwargs: Any) -> Path:
    """A screenshot of the whole page into SCREENSHOTS."""
    path = screenshot_path(name)
    page.screenshot(path=str(path), **kwargs)
    return path


def open_panel(page: Page) -> Locator:
    """Open the Scheduler through its command (the palette test uses the palette)."""
    page.evaluate("() => window.jupyterapp.commands.execute('pipeline-scheduler:open')")
    panel = page.locator(PANEL)
    expect(panel).to_be_visible()
    return panel


def job_card(page: Page, name: str) -> Locator:
    return page.locator(f'{PANEL} li.jp-scheduler-job[data-job-name="{name}"]')


def refresh(page: Page) -> None:
    page.locator(f'{PANEL} [data-action="refresh"]').first.click()


def new_job_form(page: Page) -> Locator:
    open_panel(page)
    page.locator(f'{PANEL} [data-action="new-job"]').click()
    form = page.locator(f"{PANEL} form.jp-scheduler-form")
    expect(form).to_be_visible()
    return form


def fill_basics(form: Locator, name: str, path: str | None = None) -> None:
    form.locator('input[name="name"]').fill(name)
    if path is not None:
        form.locator('input[name="pipeline_path"]').fill(path)


def choose_kind(form: Locator, kind: str) -> None:
    form.locator('select[name="kind"]').select_option(kind)


def expect_preview(form: Locator, pattern: str | re.Pattern[str]) -> Locator:
    preview = form.locator('[data-testid="schedule-preview"]')
    expect(preview).to_be_visible(timeout=10000)
    expect(preview.locator(".jp-scheduler-previewDescription")).to_have_text(
        re.compile(pattern) if isinstance(pattern, str) else pattern
    )
    return preview


def save(form: Locator) -> None:
    form.locator('[data-action="save"]').click()


def card_action(page: Page, name: str, action: str) -> None:
    job_card(page, name).locator(f'[data-action="{action}"]').click()


def register_stand_in_generator(page: Page, code: str) -> None:
    """Play Amphi's pipeline editor: a command that turns the .ampln text into code."""
    page.evaluate(
        """([id, code]) => {
            window.__generatedFrom = [];
            window.jupyterapp.commands.addCommand(id, {
                label: 'Generate code (stand-in)',
                execute: args => {
                    JSON.parse(args.json);  // it must be the file's text
                    window.__generatedFrom.push(args.json.length);
                    return code;
                }
            });
        }""",
        [GENERATE_CODE, code],
    )


def set_theme(page: Page, theme: str) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    light = "true" if "Light" in theme else "false"
    page.wait_for_selector(f'body[data-jp-theme-light="{light}"]', state="attached", timeout=20000)
    page.wait_for_timeout(500)


def contrast_ratio(page: Page, selector: str) -> float:
    """WCAG contrast between an element's text colour and the first opaque background up
    its ancestors."""
    return float(
        page.evaluate(
            """(selector) => {
                const el = document.querySelector(selector);
                const parse = c => (c.match(/[\\d.]+/g) || []).map(Number);
                const lum = ([r, g, b]) => {
                    const f = v => {
                        v /= 255;
                        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
                    };
                    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
                };
                let node = el, bg = null;
                while (node && node.nodeType === 1) {
                    const c = parse(getComputedStyle(node).backgroundColor);
                    if (c.length >= 3 && (c.length === 3 || c[3] > 0.5)) { bg = c; break; }
                    node = node.parentElement;
                }
                bg = bg || [255, 255, 255];
                const fg = parse(getComputedStyle(el).color);
                const [a, b] = [lum(fg) + 0.05, lum(bg) + 0.05];
                return a > b ? a / b : b / a;
            }""",
            selector,
        )
    )
