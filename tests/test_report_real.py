"""Reports of real ``run_audit`` results from tiny trained models: image overlays and adversarial rows (CNN), token
highlighting (LSTM on text), per-time-step bars (LSTM on series), each checked in the HTML and in a real browser."""
from __future__ import annotations

import base64
import os
import re
import shutil
import struct
import zlib
from collections.abc import Callable
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from torch import nn

from audit import AuditConfig, Registry, run_audit
from audit.checks.explain import ExplanationsCheck
from audit.checks.robustness import RobustnessCheck
from audit.results import AuditResult
from models.cnn import CNN, CNNConfig
from models.dataset import Dataset
from models.lstm import LSTM, LSTMConfig
from reports import build_view, render_html, write_html

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")
FAST = {"n_global": 30, "n_global_blackbox": 8, "n_boot": 20, "ig_steps": 8, "n_local": 1, "n_samples": 4,
        "lime_samples": 100, "kernel_samples": 32}
WORDS = ["the", "film", "was", "a", "movie", "plot", "actor", "scene", "story", "long"]


def _fit(make: Callable[[], nn.Module], x: np.ndarray, y: np.ndarray, steps: int) -> nn.Module:
    torch.manual_seed(0)
    net = make()
    opt = torch.optim.Adam(net.parameters(), 0.05)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    return net.eval()


def _audit(model: nn.Module, ds: Dataset, checks: list, options: dict) -> AuditResult:
    registry = Registry()
    for check in checks:
        registry.register(check)
    return run_audit(model, ds, AuditConfig(seed=0, device="cpu", options=options), registry=registry,
                     progress=False)


@pytest.fixture(scope="module")
def image_result() -> AuditResult:
    """8x8 images whose class is a bright patch; a tiny CNN; explanations (IG, saliency) and PGD examples."""
    rng = np.random.default_rng(0)
    x = (0.3 * rng.random((240, 1, 8, 8))).astype(np.float32)
    y = rng.integers(0, 2, 240)
    x[y == 1, 0, 1:4, 1:4] += 0.7
    ds = Dataset.from_arrays(np.clip(x, 0, 1), y, kind="image", class_names=["plain", "patch"], name="patch")
    model = _fit(lambda: CNN(CNNConfig(in_channels=1, n_classes=2, channels=(4,), pool_size=2, hidden=8,
                                       dropout=0.0)), ds.train.x, ds.train.y, 60)
    return _audit(model, ds, [ExplanationsCheck(), RobustnessCheck()],
                  {"explanations": {**FAST, "methods": ["integrated_gradients", "saliency"]},
                   "robustness": {"n_samples": 20, "steps": 3, "n_boot": 10, "n_images": 2}})


@pytest.fixture(scope="module")
def text_result() -> AuditResult:
    """Six-word texts labelled by the word 'great'; a tiny LSTM; layer IG and LIME token attributions."""
    rng = np.random.default_rng(1)
    texts, labels = [], []
    for _ in range(200):
        words = list(rng.choice(WORDS, size=6))
        label = int(rng.integers(0, 2))
        if label:
            words[int(rng.integers(0, 6))] = "great"
        texts.append(" ".join(words))
        labels.append(label)
    ds = Dataset.from_texts(texts, labels, class_names=["neg", "pos"], max_len=8, name="great")
    model = _fit(lambda: LSTM(LSTMConfig(vocab_size=ds.preprocessing["vocab_size"], embed_dim=8, hidden=8,
                                         dropout=0.0)), ds.train.x, ds.train.y, 80)
    return _audit(model, ds, [ExplanationsCheck()],
                  {"explanations": {**FAST, "methods": ["layer_integrated_gradients", "lime"]}})


@pytest.fixture(scope="module")
def series_result() -> AuditResult:
    """Windows of 12 steps labelled by the sign of the last step; a tiny LSTM; IG and saliency per time step."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(240, 12, 1)).astype(np.float32)
    y = (x[:, -1, 0] > 0).astype(int)
    ds = Dataset.from_arrays(x, y, kind="timeseries", class_names=["down", "up"], name="series")
    model = _fit(lambda: LSTM(LSTMConfig(input_kind="series", input_channels=1, n_classes=2, hidden=8,
                                         dropout=0.0, pooling="last")), ds.train.x, ds.train.y, 60)
    return _audit(model, ds, [ExplanationsCheck()],
                  {"explanations": {**FAST, "methods": ["integrated_gradients", "saliency"]}})


class _Images(HTMLParser):
    """``<figure data-key=...>`` -> the ``src`` and ``class`` of its ``<img>``; ``<tr>`` rows of image matrices."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.figures: dict[str, dict[str, str]] = {}
        self.matrix_rows: list[list[str]] = []
        self._figure: str | None = None
        self._in_matrix = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "image-matrix" in (a.get("class") or ""):
            self._in_matrix += 1
        elif tag == "tr" and self._in_matrix:
            self.matrix_rows.append([])
        elif tag == "figure" and a.get("data-key"):
            self._figure = a["data-key"]
            if self._in_matrix and self.matrix_rows:
                self.matrix_rows[-1].append(a["data-key"])
        elif tag == "img" and self._figure:
            self.figures[self._figure] = {"src": a.get("src") or "", "class": a.get("class") or ""}

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        elif tag == "table" and self._in_matrix:
            self._in_matrix -= 1


def _png_pixels(uri: str) -> np.ndarray:
    """Decode an 8-bit RGB, filter-0 PNG data URI (what the report writes) independently of reports.images."""
    data = base64.b64decode(uri.split(",", 1)[1])
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if tag == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + 3 * width)
    return raw[:, 1:].reshape(height, width, 3)


def test_image_explanations_are_overlays_in_a_row_per_sample(image_result):
    metrics = image_result.metrics["explanations"]["images"]
    local = {k: v for k, v in metrics.items() if k.startswith("local_")}
    rows = sorted({k.split("_")[1] for k in local}, key=list(dict.fromkeys(k.split("_")[1] for k in local)).index)
    assert local and all(v["kind"] == "overlay" and v["base"] for v in local.values())
    parser = _Images()
    parser.feed(render_html(image_result))
    for key, spec in local.items():  # every local explanation is drawn as an overlay image
        assert parser.figures[key]["class"] == "overlay"
        pixels = _png_pixels(parser.figures[key]["src"]).astype(int)
        attr = np.array(spec["data"], dtype=float)
        top = np.unravel_index(np.argmax(np.abs(attr)), attr.shape)
        red, blue = pixels[top][0], pixels[top][2]
        assert attr[top] != 0 and ((red > blue) if attr[top] > 0 else (blue > red))  # strongest pixel: its sign
    for row in rows:  # one matrix row per sample: the input first, then one overlay per method
        line = next(r for r in parser.matrix_rows if r and r[0] == f"local_{row}_input")
        assert line == [f"local_{row}_input", f"local_{row}_integrated_gradients", f"local_{row}_saliency"]
        base = np.array(local[f"local_{row}_saliency"]["base"], dtype=float)
        shown = _png_pixels(parser.figures[f"local_{row}_input"]["src"])
        np.testing.assert_array_equal(shown[..., 0], np.round(np.clip(base, 0, 1) * 255).astype(np.uint8))
    assert parser.figures["global_saliency"]["class"] == "heatmap"


def test_adversarial_examples_sit_next_to_their_originals(image_result):
    images = image_result.metrics["robustness"]["images"]
    samples = list(dict.fromkeys(k.rsplit("_", 1)[0] for k in images))
    assert len(samples) == 2
    parser = _Images()
    parser.feed(render_html(image_result))
    for stem in samples:
        assert [f"{stem}_original", f"{stem}_adversarial", f"{stem}_perturbation"] in parser.matrix_rows
    section = {s.name: s for s in build_view(image_result).sections}["robustness"]
    group = section.image_groups[0]
    assert (group.layout, group.columns) == ("matrix", ["original", "adversarial", "perturbation"])
    assert [r.label for r in group.rows] == ["Sample 0", "Sample 1"]
    adversarial_title = images["sample_0_adversarial"]["title"].split(": ", 1)[1]
    assert group.notes[1] == adversarial_title  # the attack, shared by the column, is said once in its header


def test_token_attributions_are_highlighted_per_sample(text_result):
    texts = text_result.metrics["explanations"]["texts"]
    assert {k.rsplit("_", 1)[-1] for k in texts} >= {"lime"}
    html = render_html(text_result)
    section = build_view(text_result).sections[0]
    assert len(section.text_groups) == len({k.split("_")[1] for k in texts})
    for group in section.text_groups:
        assert [label for label, _ in group.lines] == ["layer integrated gradients", "lime"]
    for key, spec in texts.items():
        block = re.search(r'<tr data-key="' + re.escape(key) + r'">(.*?)</tr>', html, re.S)
        assert block is not None, key
        spans = re.findall(r'<span class="tok" style="background-color:rgba\((\d+),\d+,(\d+),([\d.]+)\)" '
                           r'title="score ([^"]+)">([^<]*)</span>', block.group(1))
        assert [s[4] for s in spans] == spec["tokens"]
        scores = np.array([0.0 if v is None else v for v in spec["scores"]])
        strongest = int(np.argmax(np.abs(scores)))
        r, b, alpha = int(spans[strongest][0]), int(spans[strongest][1]), float(spans[strongest][2])
        assert alpha == pytest.approx(0.75) and ((r > b) if scores[strongest] > 0 else (b > r))
        assert float(spans[strongest][3]) == pytest.approx(scores[strongest], rel=1e-3)


def test_time_step_bars_of_one_sample_share_a_figure(series_result):
    bars = series_result.metrics["explanations"]["bars"]
    section = build_view(series_result).sections[0]
    merged = [f for f in section.panels if f.kind == "multiples"]
    local_rows = list(dict.fromkeys(k.split("_")[1] for k in bars if k.startswith("local_")))
    assert [f.key for f in merged] == ["global"] + [f"local_{r}" for r in local_rows]
    assert len(section.figures) == len(bars) + 1  # the dashboard keeps one figure per key (+ grouped importance)
    for fig in merged[1:]:
        row = fig.key.split("_")[1]
        assert fig.parts == [f"local_{row}_integrated_gradients", f"local_{row}_saliency"]
        traces = fig.figure.data
        assert [t.type for t in traces] == ["bar", "bar"] and traces[0].orientation in (None, "v")
        spec = bars[f"local_{row}_integrated_gradients"]
        assert list(traces[0].x) == spec["labels"] and list(traces[0].y) == pytest.approx(spec["values"])
        colours = traces[0].marker.color
        expected = ["rgb(31,119,180)" if v < 0 else "rgb(214,39,40)" for v in spec["values"]]
        assert (list(colours) if not isinstance(colours, str) else [colours] * len(expected)) == expected
    glob = merged[0].figure.data[0]  # global importance: time order t-11 .. t-0, whatever the check's order
    assert list(glob.x) == [f"t-{i}" for i in range(11, 0, -1)] + ["t-0"]
    html = render_html(series_result)
    assert html.count('class="plot-spec"') == len(section.panels)
    assert 'data-kind="multiples" data-key="local_' + local_rows[0] + '"' in html


CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM) and not shutil.which("chromium"), reason="no Debian chromium")
def test_real_reports_draw_in_a_browser(image_result, text_result, series_result, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        for name, result in (("image", image_result), ("text", text_result), ("series", series_result)):
            path = write_html(result, tmp_path / f"{name}.html")
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            page.on("console", lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-plots-ready]", state="attached", timeout=60_000)
            view = build_view(result)
            assert page.get_attribute("body", "data-plots-ready") == str(sum(len(s.panels) for s in view.sections))
            assert page.locator(".plot-failed").count() == 0
            loaded = page.eval_on_selector_all("img", "els => els.every(e => e.complete && e.naturalWidth > 0)")
            assert loaded and errors == [], errors
            if name == "image":
                assert page.locator("table.image-matrix img.overlay").count() == sum(
                    k.startswith("local_") for k in result.metrics["explanations"]["images"])
            if name == "text":
                assert page.locator(".text-item .tok").count() == sum(
                    len(t["tokens"]) for t in result.metrics["explanations"]["texts"].values())
            page.close()
        browser.close()
