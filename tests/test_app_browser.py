"""The dashboard in a real browser: Debian chromium driven by Python playwright against ``streamlit run app.py``.

Runs the quick demo audit from the page, walks through every result tab, opens the past runs, downloads the JSON,
and uploads a bad file. Screenshots go to ``test-artifacts/app/``. Skipped (with the reason) when chromium or
playwright is missing.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "app"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TABS = ("Summary", "Performance", "Explanations", "Fairness", "Robustness", "Calibration & OOD", "Generative", "Compression",
        "What-if", "Compare", "Other checks")

sync_api = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Debian chromium is not installed at {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 90.0) -> None:
    """Poll the server's health endpoint until it answers (or the process dies / the deadline passes)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError("streamlit did not become healthy in time")


def _seed_run(out: Path) -> None:
    """One small saved run in the output folder, so Open results and Compare have something besides the demo."""
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from models import load_dataset, train_model\n"
        "from audit import AuditConfig, Registry, run_audit\n"
        "from audit.checks.performance import PerformanceCheck\n"
        "from deepaudit.io import write_outputs\n"
        "from app_pages.runs import write_run_info\n"
        "import sys; out = sys.argv[1]\n"
        "ds = load_dataset('adult', max_rows=600, seed=0)\n"
        "tm = train_model('mlp', ds, seed=1, device='cpu', epochs=2, progress=False)\n"
        "reg = Registry(); reg.register(PerformanceCheck())\n"
        "res = run_audit(tm, ds, AuditConfig(seed=0, device='cpu', max_rows=100), progress=False, registry=reg)\n"
        "write_outputs(res, out); tm.save(out + '/model')\n"
        "write_run_info(__import__('pathlib').Path(out), {'data': {'source': 'bundled', 'name': 'adult', 'seed': 0, "
        "'max_rows': 600}})\n"
    )
    subprocess.run([sys.executable, "-c", code, str(out / "00-seeded-run")], cwd=ROOT, check=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    out = tmp_path_factory.mktemp("browser-runs")
    _seed_run(out)
    port = str(_free_port())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DEEPAUDIT_APP_OUT": str(out)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", port,
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://localhost:{port}"
        _wait_healthy(url, proc)
        yield url, out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def page(server: tuple[str, Path]) -> Iterator[object]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1400}, accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        context.close()
        browser.close()


def _shot(page: object, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


def _idle(page: object) -> None:
    """Wait until Streamlit has finished the current run (no 'Running' status widget)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)


def _charts_drawn(page: object) -> None:
    """Wait until every plotly chart on the page has drawn its SVG (plotly.js loads after the skeleton)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(c => c.offsetParent === null || c.querySelector('.main-svg'))", timeout=60_000)


def _tab(page: object, label: str) -> object:
    return page.get_by_role("tab", name=label, exact=True)  # type: ignore[attr-defined]


def test_dashboard_end_to_end(page: object, server: tuple[str, Path]) -> None:
    url, out = server
    page.goto(url)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Run the quick demo").wait_for()  # type: ignore[attr-defined]
    _shot(page, "01-run-page")

    # 1. the quick demo audit, with a progress bar per check, lands on the Results page
    page.get_by_role("button", name="Run the quick demo").click()  # type: ignore[attr-defined]
    header = page.get_by_role("heading", name="Audit of mlp on adult")  # type: ignore[attr-defined]
    header.wait_for(timeout=300_000)
    _idle(page)
    runs = [p for p in out.iterdir() if "quick-demo-adult-mlp" in p.name]
    assert len(runs) == 1 and (runs[0] / "result.json").is_file() and (runs[0] / "model" / "metadata.json").is_file()

    # 2. every tab, with its key element (checks that did not run say so in their tab)
    panel = "[data-testid='stTabPanel']:visible"
    expectations = {
        "Summary": "text=Worst findings",
        "What-if": f"{panel} >> text=/The smallest change found|No change of at most/",
        "Explanations": f"{panel} >> text=Explanations of row",
        "Robustness": f"{panel} >> text=Accuracy and attack success per attack and budget",
        "Compare": "text=Only what changed",
    }
    for i, label in enumerate(TABS):
        _tab(page, label).click()  # type: ignore[attr-defined]
        _idle(page)
        page.locator(expectations.get(label, f"{panel} [data-testid='stVerticalBlock'] >> nth=0")).first.wait_for()  # type: ignore[attr-defined]
        assert _tab(page, label).get_attribute("aria-selected") == "true"  # type: ignore[attr-defined]
        assert page.locator("[data-testid='stException']").count() == 0  # type: ignore[attr-defined]
        text = page.locator(panel).first.inner_text()  # type: ignore[attr-defined]
        assert text.strip(), f"the {label} tab is empty"
        if label == "What-if":
            assert "Prediction" in text and "Counterfactual" in text
        _charts_drawn(page)
        _shot(page, f"{i + 2:02d}-tab-{label.lower().replace(' & ', '-').replace(' ', '-')}")

    # 3. downloads: the JSON result
    with page.expect_download() as info:  # type: ignore[attr-defined]
        page.get_by_role("button", name=re.compile("JSON result")).click()  # type: ignore[attr-defined]
    saved = Path(info.value.path())
    assert json.loads(saved.read_text())["schema_version"].startswith("1.")

    # 4. past runs
    page.get_by_text("Open results", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_text(f"Past runs in {out}").wait_for()  # type: ignore[attr-defined]
    _idle(page)
    page.locator("[data-testid='stDataFrame']").first.wait_for()  # type: ignore[attr-defined]
    _shot(page, "12-open-results")

    # 5. a bad upload gives a message in the page, not a stack trace
    page.get_by_text("Run an audit", exact=True).click()  # type: ignore[attr-defined]
    page.get_by_text("Upload a table", exact=True).click()  # type: ignore[attr-defined]
    bad = out / "notes.txt"
    bad.write_text("this is not a table")
    page.locator("input[type='file']").first.set_input_files(str(bad))  # type: ignore[attr-defined]
    page.get_by_text("is not a CSV or Parquet table").wait_for()  # type: ignore[attr-defined]
    assert page.locator("[data-testid='stException']").count() == 0  # type: ignore[attr-defined]
    _shot(page, "13-bad-upload")
