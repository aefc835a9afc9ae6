"""How the HTML report lays out the items of one check: images in sample x part grids or galleries, token highlights
of one sample together, and bar charts of one sample (or one kind) merged into one figure.

Grouping reads the metric keys of the layout conventions (see notes/checks.md):
``<stem>_<index>_<part>`` (``local_387_saliency``, ``sample_0_adversarial``, ``closest_2_train``) is the part of one
sample; ``<stem>_<index>`` (``sample_7``, ``disc_ig_real_3``, ``traversal_4_0``) one item of a sequence; bar keys
``<word>[_<index>]_<part>`` (``global_lime``, ``local_12_deeplift``, ``selection_rate_sex``) one chart of a family.
Labels come from the items' titles ("Row 387 (most_confident_error): saliency" -> row "Row 387
(most_confident_error)", column "saliency").
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from reports._model import (
    FigureView,
    ImageCellView,
    ImageGroupView,
    ImageRowView,
    ImageView,
    TextGroupView,
    TextView,
)
from reports._multiples import BarPanel, small_multiples_figure

__all__ = ["image_groups", "text_groups", "merge_bar_figures", "split_titles"]

_PART_KEY = re.compile(r"^(?P<stem>.+?)_(?P<index>\d+)_(?P<part>[A-Za-z]\w*)$")
_SEQUENCE_KEY = re.compile(r"^(?P<stem>.+?)(?:_\d+)+$")
_BAR_KEY = re.compile(r"^(?P<stem>[A-Za-z]+(?:_\d+)?)_(?P<part>[A-Za-z]\w*)$")
_TIME_STEP = re.compile(r"^t(?:-(?P<lag>\d+)|(?P<zero>0))$")
_SQUARE_PX, _MATRIX_PX, _STRIP_PX = 112, 96, 84
_WIDE_MATRIX = 5  # from this many columns on, matrix images are drawn smaller
_ATTRIBUTION_LEGEND = "attributions: against / for the explained class · each map scaled to its own largest values"
_SIGNED_LEGEND = "negative / positive values · each map scaled to its own largest |value|"


def _norm(text: str) -> str:
    return " ".join(str(text).replace("_", " ").lower().split())


def split_titles(titles: Sequence[str]) -> tuple[str, str, list[str]]:
    """The words all ``titles`` start and end with, and what is left of each.

    Returns:
        (common prefix, common suffix, middles); the prefix and suffix are "" when the middles would be empty or
        the titles share nothing.

    Example:
        >>> split_titles(["Row 3: ig per step", "Row 3: lime per step"])
        ('Row 3:', 'per step', ['ig', 'lime'])
    """
    words = [str(t).split() for t in titles]
    if len(words) < 2:
        return "", "", [str(t) for t in titles]
    shortest = min(len(w) for w in words)
    p = 0
    while p < shortest and len({w[p] for w in words}) == 1:
        p += 1
    s = 0
    while s < shortest - p and len({w[len(w) - 1 - s] for w in words}) == 1:
        s += 1
    middles = [" ".join(w[p:len(w) - s]) for w in words]
    if any(not m for m in middles):
        return "", "", [str(t) for t in titles]
    return " ".join(words[0][:p]), " ".join(words[0][len(words[0]) - s:]), middles


def _common_caption(captions: Sequence[str]) -> str:
    counts = Counter(c for c in captions if c)
    return counts.most_common(1)[0][0] if counts else ""


def _px(image: ImageView, matrix_columns: int) -> int:
    """Display height in CSS pixels: strips lower, wide matrices smaller, squares 112."""
    if image.width >= 2 * image.height:
        return _STRIP_PX
    return _MATRIX_PX if matrix_columns >= _WIDE_MATRIX else _SQUARE_PX


def _row(images: Sequence[ImageView | None], headers: Sequence[str], fallback: str, *, matrix: bool,
         synthetic: ImageView | None = None) -> ImageRowView:
    """One row of cells: its label from the shared start of the titles (``synthetic``, the input image we added,
    takes no part), captions shown only where they differ from the row's (in a gallery: all or none)."""
    present = [im for im in images if im is not None and im is not synthetic]
    prefix, suffix, middles = split_titles([im.title for im in present])
    if len(present) == 1 and ": " in present[0].title:  # a lone image still names its sample
        head, middle = present[0].title.split(": ", 1)
        prefix, suffix, middles = head + ":", "", [middle]
    label = prefix.rstrip(":").strip() if prefix.endswith(":") else ""
    middle_of = {id(im): m for im, m in zip(present, middles)}
    captions = [im.caption for im in present]
    caption = _common_caption(captions) if matrix or len(set(captions)) == 1 else ""
    cells: list[ImageCellView | None] = []
    for im, header in zip(images, headers):
        if im is None:
            cells.append(None)
            continue
        text = "" if im is synthetic else (middle_of[id(im)] + (" " + suffix if suffix else "")) if label else im.title
        shown = "" if _norm(text) == _norm(header) else text
        cells.append(ImageCellView(image=im, label=shown, caption=im.caption if im.caption != caption else "",
                                   px=_px(im, len(headers) if matrix else 0)))
    return ImageRowView(label=label or fallback, caption=caption, cells=cells)


def _input_image(row: Sequence[ImageView], stem: str) -> ImageView | None:
    """The shared base of a row of overlays, as its own grayscale image (the input the overlays explain)."""
    if not row or any(im.kind != "overlay" or im.base is None for im in row) or any(im.base != row[0].base
                                                                                   for im in row):
        return None
    return ImageView(key=f"{stem}_input", title="input", caption="", kind="grayscale", data=row[0].base)


def _matrix(stem: str, samples: Mapping[str, dict[str, ImageView]]) -> ImageGroupView:
    parts = list(dict.fromkeys(part for cells in samples.values() for part in cells))
    inputs = {index: _input_image(list(cells.values()), f"{stem}_{index}") for index, cells in samples.items()}
    with_input = any(v is not None for v in inputs.values())
    headers = (["input"] if with_input else []) + [p.replace("_", " ") for p in parts]
    rows = []
    for index, cells in samples.items():
        images: list[ImageView | None] = ([inputs[index]] if with_input else []) + [cells.get(p) for p in parts]
        rows.append(_row(images, headers, fallback=f"{stem.replace('_', ' ')} {index}", matrix=True,
                         synthetic=inputs[index]))
    notes = []
    for j in range(len(headers)):  # what every image of a column shares moves into its header
        cells = [r.cells[j] for r in rows if r.cells[j] is not None]
        label = {c.label for c in cells}
        caption = {c.caption for c in cells}
        shared = [next(iter(s)) for s in (label, caption) if len(s) == 1 and next(iter(s))]
        if len(rows) > 1 and shared:
            for c in cells:
                c.label = "" if len(label) == 1 else c.label
                c.caption = "" if len(caption) == 1 else c.caption
        notes.append(" · ".join(shared) if len(rows) > 1 else "")
    return ImageGroupView(key=stem, title="", layout="matrix", columns=headers, rows=rows,
                          legend=_legend([c.image for r in rows for c in r.cells if c is not None]), notes=notes)


def _legend(images: Sequence[ImageView]) -> str:
    signed = [im for im in images if im.kind != "grayscale"]
    if not signed:
        return ""
    attribution = any(im.kind == "overlay" or im.key.startswith(("local_", "global_")) for im in signed)
    return _ATTRIBUTION_LEGEND if attribution else _SIGNED_LEGEND


def _gallery(key: str, images: Sequence[ImageView]) -> ImageGroupView:
    prefix, _, _ = split_titles([im.title for im in images])
    title = prefix.rstrip(":").strip() if prefix.endswith(":") else ""
    row = _row(list(images), [""] * len(images), fallback="", matrix=False)
    return ImageGroupView(key=key, title=title, layout="gallery", columns=[], rows=[row], legend=_legend(images))


def _common_key(keys: Sequence[str], fallback: str) -> str:
    """The words (``_``-separated) every key starts with: ``global_ig``, ``global_lime`` -> ``global``."""
    parts = [k.split("_") for k in keys]
    common = []
    for words in zip(*parts):
        if len(set(words)) != 1:
            break
        common.append(words[0])
    return "_".join(common) or fallback


def image_groups(images: Sequence[ImageView]) -> list[ImageGroupView]:
    """Lay out a check's images: sample x part grids, sequences and runs of other images as galleries.

    A lone image just before a sequence (e.g. the mean map before the per-image maps) opens that sequence's gallery.

    Args:
        images: the check's images, in the order the check wrote them.

    Returns:
        The groups, in the order of their first image.
    """
    order: list[tuple[str, str]] = []
    members: dict[tuple[str, str], list[tuple[str, ImageView]]] = {}
    run = 0
    previous = ""
    for im in images:
        if (m := _PART_KEY.match(im.key)) and not m["part"].isdigit():
            gid, tag = ("matrix", m["stem"]), f"{m['index']}\x00{m['part']}"
        elif m := _SEQUENCE_KEY.match(im.key):
            gid, tag = ("sequence", m["stem"]), ""
        else:
            run += previous != "run"
            gid, tag = ("run", str(run)), ""
        previous = gid[0]
        if gid not in members:
            order.append(gid)
            members[gid] = []
        members[gid].append((tag, im))
    for i, gid in enumerate(order[:-1]):  # a lone image followed by a sequence joins it
        nxt = order[i + 1]
        if gid[0] == "run" and len(members[gid]) == 1 and nxt[0] == "sequence":
            members[nxt].insert(0, members.pop(gid)[0])
    groups = []
    for gid in order:
        if gid not in members:
            continue
        items = members[gid]
        if gid[0] == "matrix":
            samples: dict[str, dict[str, ImageView]] = {}
            for tag, im in items:
                index, part = tag.split("\x00")
                samples.setdefault(index, {}).setdefault(part, im)
            groups.append(_matrix(gid[1], samples))
        else:
            key = gid[1] if gid[0] == "sequence" else _common_key([im.key for _, im in items], f"images_{gid[1]}")
            groups.append(_gallery(key, [im for _, im in items]))
    return groups


def text_groups(texts: Sequence[TextView]) -> list[TextGroupView]:
    """Token highlights of the same sample (``<stem>_<index>_<method>``) together, one line per method.

    Args:
        texts: the check's texts, in order.

    Returns:
        One group per sample (or per text that names no sample), in order of appearance.
    """
    groups: dict[str, list[tuple[str, TextView]]] = {}
    for text in texts:
        m = _PART_KEY.match(text.key)
        key = f"{m['stem']}_{m['index']}" if m else text.key
        groups.setdefault(key, []).append((m["part"] if m else "", text))
    out = []
    for key, lines in groups.items():
        views = [t for _, t in lines]
        prefix, _, _ = split_titles([t.title for t in views])
        title = prefix.rstrip(":").strip() if prefix.endswith(":") and len(views) > 1 else views[0].title
        caption = _common_caption([t.caption for t in views])
        labelled = [(part.replace("_", " ") if len(views) > 1 else "", t) for part, t in lines]
        out.append(TextGroupView(key=key, title=title, caption=caption, lines=labelled))
    return out


def _time_ordered(panel: BarPanel, timed: bool) -> BarPanel:
    """Bars over time steps ("t-23" ... "t-0") in time order, oldest first, whatever order the check chose."""
    if not timed:
        return panel

    def lag(label: Any) -> int:
        m = _TIME_STEP.match(str(label))
        return int(m["lag"]) if m and m["lag"] else 0

    order = sorted(range(len(panel.labels)), key=lambda i: -lag(panel.labels[i]))

    def pick(seq: Sequence[Any] | None) -> list[Any] | None:
        return None if seq is None else [seq[i] for i in order]

    return BarPanel(title=panel.title, labels=pick(panel.labels) or [], values=pick(panel.values) or [],
                    lower=pick(panel.lower), upper=pick(panel.upper))


def _merged(stem: str, members: Sequence[tuple[str, FigureView, Mapping[str, Any]]]) -> FigureView:
    titles = [str(spec.get("title") or fig.title) for _, fig, spec in members]
    prefix, suffix, middles = split_titles(titles)
    if prefix.endswith(":"):
        title = " ".join(w for w in (prefix.rstrip(":"), suffix) if w)
        names = middles
    elif prefix:
        title, names = f"{prefix} {', '.join(middles)}" + (f" {suffix}" if suffix else ""), middles
    else:
        title, names = stem.replace("_", " "), [part.replace("_", " ") for part, _, _ in members]
    timed = all(_TIME_STEP.match(str(label)) for _, _, spec in members for label in spec["labels"])
    vertical = timed or all(fig.kind == "steps" for _, fig, _ in members)
    panels = [_time_ordered(BarPanel(title=name, labels=list(spec["labels"]), values=list(spec["values"]),
                                     lower=spec.get("lower") if spec.get("upper") is not None else None,
                                     upper=spec.get("upper") if spec.get("lower") is not None else None), timed)
              for name, (_, _, spec) in zip(names, members)]
    figure = small_multiples_figure(panels, vertical=vertical, title=title)
    return FigureView(key=stem, title=title, kind="multiples", figure=figure, wide=True,
                      caption=members[0][1].caption, parts=[fig.key for _, fig, _ in members])


def merge_bar_figures(figures: Sequence[FigureView], specs: Mapping[str, Mapping[str, Any]]) -> list[FigureView]:
    """The figures as the report shows them: bar charts of one family (two or more keys ``<word>[_<index>]_<part>``)
    merged into one "multiples" figure at the place of the first; every other figure unchanged.

    Args:
        figures: the check's figures, in order.
        specs: bar key -> its validated ``metrics[check]["bars"][key]`` spec.

    Returns:
        The figures to draw.
    """
    families: dict[str, list[tuple[str, FigureView, Mapping[str, Any]]]] = {}
    for fig in figures:
        m = _BAR_KEY.match(fig.key) if fig.kind in ("bars", "steps") and fig.key in specs else None
        if m:
            families.setdefault(m["stem"], []).append((m["part"], fig, specs[fig.key]))
    merged = {id(fig): stem for stem, members in families.items() if len(members) > 1 for _, fig, _ in members}
    out: list[FigureView] = []
    done: set[str] = set()
    for fig in figures:
        stem = merged.get(id(fig))
        if stem is None:
            out.append(fig)
        elif stem not in done:
            done.add(stem)
            out.append(_merged(stem, families[stem]))
    return out
