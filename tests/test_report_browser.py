"""The report in a real browser (Debian chromium driven by playwright): no network request, no console error,
every section and figure drawn, hostile names shown as text and never executed; a screenshot for review."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from audit.results import AuditResult
from reports import build_view, diff_results, write_diff_html, write_html

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DATA = Path(__file__).parent / "data" / "sample_result.json"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
XSS = "<script>alert(1)</script>"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
                       reason=f"Debian chromium not found at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=ARGS)
        yield instance
        instance.close()


class Visit:
    """Open a local file with every network request blocked and recorded, and console errors collected."""

    def __init__(self, browser, path: Path, width: int = 1400) -> None:
        self.url = path.resolve().as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 1000})
        self.page.route("**/*", self._route)
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)
        self.page.goto(self.url)

    def _route(self, route) -> None:
        if route.request.url == self.url:
            route.continue_()
        else:
            self.requests.append(route.request.url)
            route.abort()

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def test_report_in_browser(browser, tmp_path):
    result = AuditResult.from_json(DATA)
    path = write_html(result, tmp_path / "report.html")
    visit = Visit(browser, path)
    page = visit.page
    page.wait_for_selector("body[data-plots-ready]", timeout=30_000)
    view = build_view(result)
    n_figures = sum(len(s.panels) for s in view.sections)
    assert page.get_attribute("body", "data-plots-ready") == str(n_figures)
    assert page.locator(".plot-failed").count() == 0
    assert page.locator(".plot .main-svg").count() >= n_figures
    for anchor in ["summary", "thresholds", "findings", "model-card", "provenance"] + [s.anchor for s in view.sections]:
        assert page.locator(f"#{anchor}").is_visible(), anchor
    assert page.locator("#summary .verdict-banner").inner_text().startswith("Audit failed")
    assert page.locator("table.thresholds tbody tr").count() == len(view.summary.thresholds)
    assert page.locator("#findings li.finding").count() == len(result.findings)
    # the hostile feature name is text in tables, token spans and plotly labels, and never runs
    assert page.get_by_text(XSS, exact=True).first.is_visible()
    assert page.locator(".tok", has_text=XSS).count() == 1
    assert page.locator("svg text", has_text=XSS).count() >= 1
    assert page.evaluate("document.querySelectorAll('script:not([type])').length") == 2
    page.locator("#check-7-ood").scroll_into_view_if_needed()
    assert visit.dialogs == []
    assert visit.requests == []
    assert visit.errors == []
    images = page.eval_on_selector_all(".images img", "els => els.map(e => e.complete && e.naturalWidth)")
    assert images == [8] * 11
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.close()


def test_report_narrow_window_and_diff_page(browser, tmp_path):
    old = AuditResult.from_json(DATA)
    data = json.loads(DATA.read_text(encoding="utf-8"))
    data["metrics"]["performance"]["accuracy"] = 0.5
    path = write_diff_html(diff_results(old, AuditResult.from_dict(data)), tmp_path / "diff.html")
    visit = Visit(browser, path, width=800)
    assert visit.page.locator("body[data-regression=true]").count() == 1
    assert visit.page.get_by_text("performance.accuracy", exact=True).is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    visit.page.screenshot(path=str(ARTIFACTS / "diff.png"), full_page=True)
    assert visit.requests == [] and visit.errors == [] and visit.dialogs == []
    visit.page.close()
