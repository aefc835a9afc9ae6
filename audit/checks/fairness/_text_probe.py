"""Text counterfactual probes: the same sentence with a different identity term, compared group by group.

Sentences that mention a category (gender, religion, ...) are rewritten once per group of that category
("substitution"). When fewer than ``min_sentences`` test sentences mention it, a neutral prefix naming the group is
added to sampled sentences instead ("template"). The score of a sentence is its positive-class probability (binary)
or the probability of the class predicted for the unmodified sentence (multiclass). The gap is the highest minus the
lowest group mean, with a paired bootstrap interval over sentences (simultaneous over the group pairs, since the
extreme pair is chosen after looking at the data).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.checks.fairness._bootstrap import gap_interval, percentile_interval
from audit.checks.fairness.identity_terms import IDENTITY_TERMS, category_pattern, substitute, with_template
from audit.errors import InvalidInputError, UnknownNameError

__all__ = ["IdentityProbeResult", "identity_probe"]

TextPredictFn = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class IdentityProbeResult:
    """Per-group scores of one identity category.

    Attributes:
        category: e.g. ``"religion"``.
        method: "substitution" (sentences that mention the category) or "template" (a prefix naming the group).
        n_sentences: sentences probed.
        groups: group names.
        mean_score, lower, upper: mean score per group and its bootstrap interval.
        positive_rate: share of sentences given the positive class (binary) or kept in their original class.
        gap: highest minus lowest group mean; ``gap_low``/``gap_high`` its paired interval (higher minus lower).
        significant: the gap interval excludes 0 (None without resamples).
        higher, lower_group: the extreme groups.
        flip_rate: share of sentences whose predicted class is not the same for every group.
        examples: a few rewritten sentences with their scores.
    """

    category: str
    method: str
    n_sentences: int
    groups: list[str]
    mean_score: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    positive_rate: np.ndarray
    gap: float
    gap_low: float
    gap_high: float
    significant: bool | None
    higher: str
    lower_group: str
    flip_rate: float
    examples: list[dict[str, Any]] = field(default_factory=list)


def identity_probe(predict_proba: TextPredictFn, texts: Sequence[str], category: str, *, rng: np.random.Generator,
                   min_sentences: int = 20, max_sentences: int = 500, template_sentences: int = 200,
                   n_boot: int = 1000, ci: float = 0.95, positive: int | None = 1, n_examples: int = 3) -> IdentityProbeResult:
    """Probe one identity category on ``texts``.

    Args:
        predict_proba: maps a list of sentences to probabilities (n, k).
        texts: test sentences.
        category: a key of ``IDENTITY_TERMS``.
        rng: seeded generator (sentence sampling and bootstrap).
        min_sentences: fewer mentioning sentences than this switches to the template method.
        max_sentences: most mentioning sentences used (sampled when more).
        template_sentences: sentences prefixed in the template method.
        n_boot: bootstrap resamples of the sentences (0: no intervals).
        ci: interval coverage.
        positive: class scored for binary models; None scores the class predicted for the unmodified sentence.
        n_examples: rewritten sentences kept as examples.

    Returns:
        ``IdentityProbeResult``.

    Raises:
        UnknownNameError: ``category`` is not a known category.
        InvalidInputError: no texts, or a predictor returning the wrong number of rows.
    """
    if category not in IDENTITY_TERMS:
        raise UnknownNameError(f"The 'category' argument must be one of {sorted(IDENTITY_TERMS)}. Got {category!r}.")
    items = [str(t) for t in texts]
    if not items:
        raise InvalidInputError("The 'texts' argument must hold at least 1 sentence. Got 0.")
    groups = list(IDENTITY_TERMS[category])
    pattern = category_pattern(category)
    mentioning = [t for t in items if pattern.search(t)]
    if len(mentioning) >= min_sentences:
        method = "substitution"
        chosen = _sample(mentioning, max_sentences, rng)
        variants = [[substitute(t, category, g) for g in groups] for t in chosen]
    else:
        method = "template"
        chosen = _sample(items, template_sentences, rng)
        variants = [[with_template(t, category, g) for g in groups] for t in chosen]
    flat = [v for row in variants for v in row] + chosen
    proba = np.asarray(predict_proba(flat), dtype=np.float64)
    n, g = len(chosen), len(groups)
    if proba.ndim != 2 or len(proba) != len(flat):
        raise InvalidInputError(f"The 'predict_proba' function must return ({len(flat)}, k) probabilities. Got shape {proba.shape}.")
    original = proba[n * g:]
    p = proba[: n * g].reshape(n, g, -1)
    cls = original.argmax(axis=1) if positive is None else np.full(n, positive)
    scores = p[np.arange(n), :, cls] if positive is None else p[:, :, positive]
    predicted = p.argmax(axis=2)
    kept = predicted == cls[:, None]
    means = scores.mean(axis=0)
    hi, lo = int(np.argmax(means)), int(np.argmin(means))
    lower = upper = np.full(g, np.nan)
    gap_low = gap_high = float("nan")
    significant: bool | None = None
    if n_boot:
        idx = rng.integers(0, n, size=(n_boot, n))
        boot = scores[idx].mean(axis=1)  # (n_boot, g)
        lower, upper = percentile_interval(boot, ci)
        gap_low, gap_high = gap_interval(float(means[hi] - means[lo]), boot[:, hi] - boot[:, lo], ci, g * (g - 1) // 2)
        significant = bool(gap_low > 0) if hi != lo and np.isfinite(gap_low) else False
    flip = float(np.mean(predicted.min(axis=1) != predicted.max(axis=1)))
    order = np.argsort(-(scores.max(axis=1) - scores.min(axis=1)), kind="stable")[:n_examples]
    examples = [{"variants": {groups[j]: variants[i][j] for j in (hi, lo)},
                 "scores": {groups[j]: float(scores[i, j]) for j in (hi, lo)}} for i in order]
    return IdentityProbeResult(category=category, method=method, n_sentences=n, groups=groups, mean_score=means,
                               lower=np.asarray(lower), upper=np.asarray(upper), positive_rate=kept.mean(axis=0),
                               gap=float(means[hi] - means[lo]), gap_low=gap_low, gap_high=gap_high,
                               significant=significant, higher=groups[hi], lower_group=groups[lo], flip_rate=flip,
                               examples=examples)


def _sample(items: list[str], limit: int, rng: np.random.Generator) -> list[str]:
    if len(items) <= limit:
        return list(items)
    keep = np.sort(rng.choice(len(items), size=limit, replace=False))
    return [items[i] for i in keep]
