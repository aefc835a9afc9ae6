"""LIME explanations: lime's own explainers (tabular, image, text) and a vectorised tabular path.

``lime_tabular_fast`` follows LIME's tabular recipe (quartile bins for continuous features, categories for the
others, a binary "same as the instance" representation, an exponential kernel on its distance, a weighted ridge
fit with intercept) but draws every sample of every feature at once, over whole feature groups (a one-hot block is
drawn as a block from one training row, so samples stay valid), and scores all samples of a chunk of rows in one
model call. ``lime_tabular`` runs lime's own loop (the oracle).
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence

import numpy as np

from audit.checks._common import require_int
from audit.errors import InvalidInputError

__all__ = ["lime_tabular", "lime_tabular_fast", "lime_image", "lime_text", "tokens_to_text"]

ScoreFn = Callable[[np.ndarray], np.ndarray]


def _check_groups(groups: Sequence[Sequence[int]] | None, d: int) -> list[list[int]]:
    groups = [list(g) for g in groups] if groups is not None else [[j] for j in range(d)]
    if sorted(j for g in groups for j in g) != list(range(d)):
        raise InvalidInputError(f"The 'groups' argument must cover every one of the {d} columns exactly once. "
                                f"Got {sum(len(g) for g in groups)} column entries instead.")
    return groups


def lime_tabular_fast(f: ScoreFn, x: np.ndarray, target: np.ndarray, *, train: np.ndarray,
                      groups: Sequence[Sequence[int]] | None = None, continuous: Sequence[bool] | None = None,
                      n_samples: int = 1000, seed: int = 0, kernel_width: float | None = None,
                      max_rows_per_call: int = 65536) -> np.ndarray:
    """Vectorised LIME over feature groups.

    Args:
        f: black-box scores: rows (r, d) -> (r, k).
        x: rows to explain (n, d).
        target: output index per row.
        train: training rows (N, d) the perturbations are drawn from.
        groups: encoded columns per feature (None: one per column).
        continuous: per group, whether it is one numeric column (quartile bins) or categorical (exact match).
            None: single-column groups with more than 2 distinct training values are continuous.
        n_samples: perturbed samples per row (the first is the row itself).
        seed: seeds the draws.
        kernel_width: of the exponential kernel (LIME's default: 0.75 * sqrt(number of features)).

    Returns:
        Ridge coefficients per group (n, m) float64.

    Raises:
        InvalidInputError: shapes, groups or budget that do not fit.
    """
    x = np.asarray(x, dtype=np.float32)
    train = np.asarray(train, dtype=np.float32)
    if x.ndim != 2 or train.ndim != 2 or train.shape[1] != x.shape[1] or len(train) < 2:
        raise InvalidInputError(f"The 'train' argument must be at least 2 rows with the inputs' {x.shape[-1]} "
                                f"columns. Got shape {train.shape} instead.")
    require_int(None, "n_samples", n_samples, 2)
    groups = _check_groups(groups, x.shape[1])
    m = len(groups)
    if continuous is None:
        continuous = [len(g) == 1 and len(np.unique(train[:, g[0]])) > 2 for g in groups]
    width = float(kernel_width) if kernel_width is not None else 0.75 * np.sqrt(m)
    edges = [np.unique(np.percentile(train[:, g[0]], [25, 50, 75])) if c else None
             for g, c in zip(groups, continuous)]
    rng = np.random.default_rng(seed)
    group_train = [np.ascontiguousarray(train[:, g]) for g in groups]
    out = np.zeros((len(x), m))
    rows_per = max(1, max_rows_per_call // n_samples)
    covers_all = sorted(c for g in groups for c in g) == list(range(x.shape[1]))
    # contiguous groups (one-hot blocks) are written through a slice, much faster than a fancy index
    slots = [slice(g[0], g[-1] + 1) if list(g) == list(range(g[0], g[-1] + 1)) else list(g) for g in groups]
    codes = [_onehot_codes(gt, x[:, g]) if len(g) > 1 and edges[gi] is None else None
             for gi, (g, gt) in enumerate(zip(groups, group_train))]
    for start in range(0, len(x), rows_per):
        xs = x[start:start + rows_per]
        r = len(xs)
        if covers_all:  # every column is overwritten by its group's draw below: no need to copy the row first
            samples = np.empty((r, n_samples, x.shape[1]), dtype=np.float32)
            samples[:, 0, :] = xs
        else:
            samples = np.repeat(xs[:, None, :], n_samples, axis=1)  # (r, s, d)
        same = np.ones((r, n_samples, m), dtype=bool)
        draws = rng.integers(0, len(train), size=(r, n_samples - 1, m))
        for gi, g in enumerate(groups):
            if codes[gi] is not None and isinstance(slots[gi], slice):
                # a valid one-hot block: write zeros and one 1 per sample (cheaper than gathering whole vectors)
                code = codes[gi][draws[:, :, gi]]  # (r, s-1)
                block = samples[:, 1:, slots[gi]]  # a view
                block[...] = 0.0
                np.put_along_axis(block, code[..., None], 1.0, axis=2)
                same[:, 1:, gi] = code == xs[:, g].argmax(axis=1)[:, None]
                continue
            values = group_train[gi][draws[:, :, gi]]  # (r, s-1, |g|): only the group's columns are gathered
            samples[:, 1:, slots[gi]] = values
            if edges[gi] is not None:
                same[:, 1:, gi] = (np.searchsorted(edges[gi], values[..., 0])
                                   == np.searchsorted(edges[gi], xs[:, g[0]])[:, None])
            elif codes[gi] is not None:  # a valid one-hot block: compare category codes, not whole vectors
                same[:, 1:, gi] = codes[gi][draws[:, :, gi]] == xs[:, g].argmax(axis=1)[:, None]
            else:
                same[:, 1:, gi] = np.all(values == xs[:, None, g], axis=-1)
        scores = np.asarray(f(samples.reshape(r * n_samples, -1)), dtype=np.float64)
        scores = scores.reshape(r, n_samples, -1)
        z = same.astype(np.float64)
        dist = np.sqrt((1.0 - z).sum(axis=2))
        weights = np.sqrt(np.exp(-(dist**2) / width**2))
        for i in range(r):
            y = scores[i, :, target[start + i]] if scores.shape[2] > 1 else scores[i, :, 0]
            out[start + i] = _weighted_ridge(z[i], y, weights[i])
    return out


def _onehot_codes(block_train: np.ndarray, block_x: np.ndarray) -> np.ndarray | None:
    """Category index per training row of a one-hot block, or None when any row (train or explained) is not
    exactly one-hot (then whole vectors are compared)."""
    for block in (block_train, block_x):
        if not (np.all((block == 0) | (block == 1)) and np.all(block.sum(axis=1) == 1)):
            return None
    return block_train.argmax(axis=1)


def _weighted_ridge(z: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """sklearn ``Ridge(alpha, fit_intercept=True)`` with sample weights, in closed form (coefficients only)."""
    sw = w / w.sum()
    zm = sw @ z
    ym = sw @ y
    zc = (z - zm) * np.sqrt(w)[:, None]
    yc = (y - ym) * np.sqrt(w)
    a = zc.T @ zc + alpha * np.eye(z.shape[1])
    return np.linalg.solve(a, zc.T @ yc)


def lime_tabular(f: ScoreFn, x: np.ndarray, target: np.ndarray, *, train: np.ndarray,
                 categorical_columns: Sequence[int] = (), n_samples: int = 1000, seed: int = 0,
                 regression: bool = False) -> np.ndarray:
    """lime's own ``LimeTabularExplainer`` on every encoded column (quartile discretisation), row by row.

    Returns:
        Coefficients per column (n, d) float64.
    """
    from lime.lime_tabular import LimeTabularExplainer  # heavy optional import

    x = np.asarray(x, dtype=np.float64)
    d = x.shape[1]
    out = np.zeros(x.shape)
    explainer = LimeTabularExplainer(np.asarray(train, dtype=np.float64), mode="regression" if regression else
                                     "classification", categorical_features=list(categorical_columns),
                                     discretize_continuous=True, random_state=seed)

    def predict(rows: np.ndarray) -> np.ndarray:
        scores = np.asarray(f(rows.astype(np.float32)), dtype=np.float64)
        return scores[:, 0] if regression else scores

    for i, row in enumerate(x):
        label = 0 if regression else int(target[i])
        exp = explainer.explain_instance(row, predict, labels=(label,), num_features=d, num_samples=n_samples)
        key = 0 if regression else label
        local = exp.local_exp[1] if regression and 1 in exp.local_exp else exp.local_exp[key]
        for j, w in local:
            out[i, j] = w
    return out


def lime_image(f: ScoreFn, images: np.ndarray, target: np.ndarray, *, n_samples: int = 300, n_segments: int = 16,
               seed: int = 0) -> np.ndarray:
    """lime's ``LimeImageExplainer`` with a SLIC segmentation that works on small images.

    Args:
        f: scores of images (r, c, h, w) -> (r, k).
        images: (n, c, h, w) in [0, 1].
        n_segments: SLIC superpixels per image.

    Returns:
        Per-pixel weights (n, c, h, w): each pixel carries its superpixel's weight / c.
    """
    from lime.lime_image import LimeImageExplainer  # heavy optional import
    from lime.wrappers.scikit_image import SegmentationAlgorithm

    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4:
        raise InvalidInputError(f"The 'images' argument must have shape (n, c, h, w). Got {images.shape} instead.")
    n, c, h, w = images.shape
    segmenter = SegmentationAlgorithm("slic", n_segments=n_segments, compactness=1, sigma=0, start_label=0)
    out = np.zeros(images.shape)

    def classify(batch: np.ndarray) -> np.ndarray:
        arr = np.asarray(batch, dtype=np.float32)
        arr = arr[..., :1] if c == 1 else arr[..., :c]
        return np.asarray(f(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))), dtype=np.float64)

    for i in range(n):
        img = images[i].transpose(1, 2, 0)
        rgb = np.repeat(img, 3, axis=2) if c == 1 else img
        explainer = LimeImageExplainer(random_state=seed + i)
        with contextlib.redirect_stderr(io.StringIO()):  # lime_image always draws a tqdm bar
            exp = explainer.explain_instance(rgb, classify, labels=(int(target[i]),), top_labels=None, hide_color=0,
                                             num_samples=n_samples, segmentation_fn=segmenter, random_seed=seed + i,
                                             batch_size=max(10, n_samples))
        weights = dict(exp.local_exp[int(target[i])])
        pixel = np.vectorize(lambda s: weights.get(int(s), 0.0))(exp.segments).astype(np.float64)
        out[i] = pixel[None, :, :] / c
    return out


def tokens_to_text(ids: np.ndarray, vocab: Sequence[str]) -> list[str]:
    """Token strings of the non-padding ids (id 0 = padding, 1 = unknown, 2.. = ``vocab``)."""
    words = []
    for t in np.asarray(ids).tolist():
        if t == 0:
            continue
        words.append(vocab[t - 2] if 2 <= t < len(vocab) + 2 else "UNKWORDZ")
    return words


def lime_text(f_texts: Callable[[list[str]], np.ndarray], token_lists: Sequence[Sequence[str]], target: np.ndarray,
              *, max_len: int, n_samples: int = 300, seed: int = 0) -> np.ndarray:
    """lime's ``LimeTextExplainer`` on texts rebuilt from tokens (one feature per token position).

    Args:
        f_texts: scores of a list of strings -> (r, k).
        token_lists: the tokens of each row (padding dropped).
        max_len: token positions of the model input.

    Returns:
        Per-position weights (n, max_len); masked words become the unknown token.
    """
    from lime.lime_text import LimeTextExplainer  # heavy optional import

    out = np.zeros((len(token_lists), max_len))
    for i, tokens in enumerate(token_lists):
        if not tokens:
            continue
        text = " ".join(tokens)
        explainer = LimeTextExplainer(bow=False, split_expression=lambda s: s.split(" "), random_state=seed + i)
        exp = explainer.explain_instance(text, lambda texts: np.asarray(f_texts(list(texts)), dtype=np.float64),
                                         labels=(int(target[i]),), num_features=len(tokens), num_samples=n_samples)
        for j, wgt in exp.local_exp[int(target[i])]:
            if j < max_len:
                out[i, j] = wgt
    return out
