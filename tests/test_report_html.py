"""The HTML report as text: one self-contained file, escaping, embedded figures and images, atomic writes."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from audit.errors import InvalidTypeError
from audit.results import AuditResult
from reports import build_view, render_html, write_html
from reports.html import script_json

DATA = Path(__file__).parent / "data" / "sample_result.json"
XSS = "<script>alert(1)</script>"


def sample() -> AuditResult:
    return AuditResult.from_json(DATA)


class _Collector(HTMLParser):
    """Collects tags, attributes, element ids and the script elements of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._buffer: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script, self._buffer = dict(attrs), []

    def handle_data(self, data):
        if self._script is not None:
            self._buffer.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._buffer)))
            self._script = None


@pytest.fixture(scope="module")
def page() -> tuple[str, _Collector]:
    html = render_html(sample())
    parser = _Collector()
    parser.feed(html)
    return html, parser


def test_one_self_contained_file(page):
    html, parser = page
    assert len(html.encode("utf-8")) < 8 * 1024 * 1024
    for tag, attrs in parser.tags:
        assert tag not in ("link", "iframe", "object", "embed"), tag
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("#", "data:")), f"<{tag} {name}={value[:60]}>"
    assert "@import" not in html and "url(http" not in html and "@font-face" not in html
    bundles = [body for attrs, body in parser.scripts if get_plotlyjs()[:200] in body]
    assert len(bundles) == 1  # plotly.js inline, exactly once
    csp = [a for t, a in parser.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_user_strings_are_escaped_everywhere(page):
    html, parser = page
    assert XSS not in html                             # never raw: not in tables, not in figure JSON, not in tokens
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;not&lt;/b&gt; valid" in html     # model card text
    assert "<b>great</b>" not in html
    # every executable script is ours: the plotly bundle and the small renderer (no user text)
    executable = [body for attrs, body in parser.scripts if attrs.get("type") != "application/json"]
    assert len(executable) == 2 and all("alert(1)" not in body for body in executable)


def test_figures_are_embedded_as_parseable_json(page):
    html, parser = page
    specs = [(attrs, body) for attrs, body in parser.scripts if attrs.get("type") == "application/json"]
    view = build_view(sample())
    assert len(specs) == sum(len(s.panels) for s in view.sections) == 6
    ids = {attrs["id"] for tag, attrs in parser.tags if "id" in attrs}
    for attrs, body in specs:
        assert attrs["data-target"] in ids
        spec = json.loads(body)
        assert spec["data"] and "layout" in spec
    labels = [json.loads(body) for attrs, body in specs if "importance" in body]
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert any(escaped in trace.get("y", []) for spec in labels for trace in spec["data"])


def test_script_json_cannot_close_the_script_element():
    text = str(script_json({"name": "</script><script>alert(1)</script>", "amp": "a&b"}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "amp": "a&b"}


def test_images_are_png_data_uris(page):
    html, parser = page
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert len(images) == 5 + 6
    assert all(attrs["src"].startswith("data:image/png;base64,") for attrs in images)


def test_sections_and_navigation(page):
    html, parser = page
    ids = [attrs["id"] for tag, attrs in parser.tags if "id" in attrs]
    for anchor in ("summary", "thresholds", "findings", "model-card", "provenance"):
        assert anchor in ids
    sections = [a for t, a in parser.tags if t == "section" and "data-check" in a]
    assert [a["data-check"] for a in sections] == list(sample().checks)
    links = {a["href"][1:] for t, a in parser.tags if t == "a" and a.get("href", "").startswith("#")}
    assert {a["id"] for a in sections} <= links
    assert "Skipped: applies to [&#39;image&#39;] data, not &#39;tabular&#39;" in html
    assert "The check failed: RuntimeError: attack diverged" in html
    assert "Pre-screening of loan applications" in html
    assert "insufficient data (n &lt; 20)" in html


def test_render_is_deterministic_and_title_is_used():
    assert render_html(sample()) == render_html(sample())
    assert "<title>Nightly &lt;audit&gt; · deepaudit</title>" in render_html(sample(), title="Nightly <audit>")


def test_write_html_is_atomic_and_returns_the_path(tmp_path):
    target = tmp_path / "nested" / "report.html"
    written = write_html(sample(), target)
    assert written == target and target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temp file left behind


def test_report_without_figures_has_no_plotly_bundle():
    data = json.loads(DATA.read_text(encoding="utf-8"))
    data["metrics"] = {"calibration": {"ece": 0.02}}
    data["checks"] = {"calibration": data["checks"]["calibration"]}
    data["findings"] = []
    html = render_html(AuditResult.from_dict(data))
    assert len(html) < 100_000 and "Audit passed" in html
    assert re.search(r'data-check="calibration"', html)


def test_write_html_rejects_bad_arguments(tmp_path):
    with pytest.raises(InvalidTypeError, match="'result' argument"):
        write_html({"passed": True}, tmp_path / "r.html")
    with pytest.raises(InvalidTypeError, match="'path' argument"):
        write_html(sample(), 42)
