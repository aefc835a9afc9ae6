"""Typed, template-shaped view data of an audit result (built by ``reports.view.build_view``).

The HTML report and the Streamlit dashboard both render these; nothing here computes audit numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
from markupsafe import Markup

from reports.images import image_rgb, png_data_uri

__all__ = [
    "MetricView",
    "CellView",
    "TableView",
    "FigureView",
    "ImageView",
    "TextView",
    "ImageCellView",
    "ImageRowView",
    "ImageGroupView",
    "TextGroupView",
    "DetailView",
    "FindingView",
    "ThresholdView",
    "SummaryView",
    "SectionView",
    "ProvenanceView",
    "ModelCardView",
    "ReportView",
]


@dataclass(frozen=True)
class MetricView:
    """One headline number of a check: ``key`` as in the metrics, ``severity`` of the worst finding naming it."""

    key: str
    label: str
    value: Any
    text: str
    severity: str | None = None


@dataclass(frozen=True)
class CellView:
    """One displayed table cell. ``kind``: "num", "text", "bool", "missing" or "insufficient"."""

    text: str
    kind: str
    interval: str | None = None


@dataclass
class TableView:
    """A convention table. ``columns``/``rows`` are the raw data (for a DataFrame); ``header``/``cells`` the
    display form, where interval columns ("x lower"/"x upper") are merged into the cell of "x"."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    header: list[str]
    cells: list[list[CellView]]
    note: str | None = None
    collapsed: bool = False
    numeric: list[bool] = field(default_factory=list)


@dataclass
class FigureView:
    """A plotly figure built by ``reports.plots``. ``kind``: "confusion", "bars", "steps", "importance",
    "curve", "reliability" or "multiples" (several bar charts of one group side by side); ``wide`` figures take a
    full row in the report. ``parts`` lists the keys of the bar charts a "multiples" figure shows."""

    key: str
    title: str
    kind: str
    figure: go.Figure
    caption: str | None = None
    wide: bool = False
    parts: list[str] = field(default_factory=list)


@dataclass
class ImageView:
    """A convention image (grayscale, signed heat map or overlay on a grayscale base)."""

    key: str
    title: str
    caption: str
    kind: str
    data: list[list[float | None]]
    base: list[list[float | None]] | None = None

    @property
    def height(self) -> int:
        return len(self.data)

    @property
    def width(self) -> int:
        return len(self.data[0]) if self.data else 0

    def rgb(self) -> Any:
        """The (h, w, 3) uint8 pixels (for ``st.image``)."""
        return image_rgb(self.data, kind=self.kind, base=self.base)

    def data_uri(self) -> str:
        """The pixels as a ``data:image/png;base64,...`` URI."""
        return png_data_uri(self.rgb())


@dataclass
class TextView:
    """Token highlighting: ``html`` is escaped ``<span>`` markup built by ``reports.plots.token_html``."""

    key: str
    title: str
    caption: str
    tokens: list[str]
    scores: list[float | None]
    html: Markup


@dataclass
class ImageCellView:
    """One image of a group: ``label`` (shown above the image only when it says more than its column header) and
    ``caption`` (shown below it only when it differs from its row's caption)."""

    image: ImageView
    label: str = ""
    caption: str = ""
    px: int = 112


@dataclass
class ImageRowView:
    """A line of images: one sample (``label`` and ``caption`` describe it), one image per column."""

    label: str
    caption: str
    cells: list[ImageCellView | None]


@dataclass
class ImageGroupView:
    """Images laid out together. ``layout`` "matrix": one row per sample, one column per part (method, original /
    adversarial / perturbation, sample / training image), headed by ``columns`` (with ``notes``: what every image of
    the column shares, e.g. the attack); "gallery": one wrapping line. ``legend`` explains the colours of heat maps
    and overlays ("" when all images are grayscale)."""

    key: str
    title: str
    layout: str
    columns: list[str]
    rows: list[ImageRowView]
    legend: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class TextGroupView:
    """The token highlights of one sample: ``lines`` of (method label, text), under a common title and caption."""

    key: str
    title: str
    caption: str
    lines: list[tuple[str, TextView]]


@dataclass(frozen=True)
class DetailView:
    """Data the conventions do not cover (or a malformed convention item), shown as pretty JSON."""

    key: str
    title: str
    json: str
    note: str | None = None


@dataclass(frozen=True)
class FindingView:
    """One finding, ready to display."""

    check: str
    check_title: str
    severity: str
    message: str
    metric: str | None
    value_text: str
    threshold_text: str


@dataclass(frozen=True)
class ThresholdView:
    """One threshold and its outcome.

    Attributes:
        metric: "check.path".
        gate: "fail" for a configured threshold (breaking it fails the audit), "warning" for a default warning.
        status: "pass", "fail", "warning" or "not evaluated".
        note: why a threshold was not evaluated, or the finding's message.
    """

    metric: str
    check: str
    bounds: dict[str, float]
    bounds_text: str
    value: float | None
    value_text: str
    status: str
    gate: str
    rationale: str = ""
    note: str = ""


@dataclass
class SummaryView:
    """The executive summary."""

    passed: bool
    counts: dict[str, int]
    check_counts: dict[str, int]
    findings: list[FindingView]
    thresholds: list[ThresholdView]
    model: dict[str, Any]
    data: dict[str, Any]


@dataclass
class SectionView:
    """One check: status, headline metrics, tables, figures, images, texts, other details and its findings.

    ``figures``, ``images`` and ``texts`` hold one item per metric key (the dashboard picks among them);
    ``panels``, ``image_groups`` and ``text_groups`` are the same items as the HTML report lays them out (bar
    charts of one sample or of one kind merged into one figure, images in sample x part grids, token highlights of
    one sample together)."""

    name: str
    anchor: str
    title: str
    status: str
    reason: str | None
    traceback: str | None
    seconds: float
    headline: list[MetricView] = field(default_factory=list)
    tables: list[TableView] = field(default_factory=list)
    figures: list[FigureView] = field(default_factory=list)
    images: list[ImageView] = field(default_factory=list)
    texts: list[TextView] = field(default_factory=list)
    details: list[DetailView] = field(default_factory=list)
    findings: list[FindingView] = field(default_factory=list)
    panels: list[FigureView] = field(default_factory=list)
    image_groups: list[ImageGroupView] = field(default_factory=list)
    text_groups: list[TextGroupView] = field(default_factory=list)


@dataclass
class ProvenanceView:
    """Where the numbers come from: settings, environment, fingerprints, timings."""

    items: list[tuple[str, str]]
    versions: dict[str, str]
    timings: dict[str, float]
    config_json: str


@dataclass
class ModelCardView:
    """The model card: ``entries`` (key, label, text) provided; ``missing`` labels of recommended parts absent."""

    entries: list[tuple[str, str, str]]
    missing: list[str]


@dataclass
class ReportView:
    """Everything a report shows, in order."""

    title: str
    schema_version: str
    summary: SummaryView
    sections: list[SectionView]
    provenance: ProvenanceView
    model_card: ModelCardView
