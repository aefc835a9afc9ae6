"""Counterfactual examples for tabular models: the smallest change to actionable features that flips the
prediction.

Sensitive and user-frozen features never move; values stay within the range seen in training; one-hot blocks stay
valid (exactly one category). Torch models: a batched gradient search (all rows and several sparsity weights in
one batch, categorical blocks relaxed with a softmax and projected back). Black boxes: a sampling search (values of
1-3 features copied from training rows). Every candidate is then shrunk towards the original along its change
(the smallest step that still flips) and verified by re-scoring with the model.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from audit.checks._common import module_device, seeded_torch_rng
from audit.checks.base import AuditContext, CheckOutput
from audit.checks.explain._selection import select_local
from audit.errors import ConfigError, InvalidInputError
from audit.results import Finding

__all__ = ["CounterfactualsCheck", "FeatureSpace", "gradient_search", "sampling_search", "sparsify", "shrink", "cost",
           "counterfactual_for_row", "feature_space"]

ProbaFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FeatureSpace:
    """What may move and how: groups of encoded columns, which are numeric, which may change, the value range."""

    names: list[str]
    groups: list[list[int]]
    numeric: list[bool]
    actionable: list[bool]
    low: np.ndarray
    high: np.ndarray


def cost(x: np.ndarray, cf: np.ndarray, space: FeatureSpace) -> np.ndarray:
    """Change size per row: |delta| of numeric columns (standardised units), 1 per changed categorical block, and
    0.1 per changed feature (fewer features changed wins between equal distances)."""
    total = np.zeros(len(cf))
    for g, num in zip(space.groups, space.numeric):
        diff = np.abs(cf[:, g] - x[:, g]).sum(axis=1)
        total += (diff if num else (diff > 1e-6).astype(float)) + 0.1 * (diff > 1e-6)
    return total


def sparsify(x: np.ndarray, cands: np.ndarray, space: FeatureSpace, max_features: int = 3) -> np.ndarray:
    """Candidates plus, for each, copies keeping only its 1..max_features largest group changes (n, c', d)."""
    n, c, d = cands.shape
    sizes = np.stack([np.abs(cands[:, :, g] - x[:, None, g]).sum(axis=2) for g in space.groups], axis=2)  # (n,c,m)
    order = np.argsort(-sizes, axis=2, kind="stable")
    extra = []
    for j in range(1, max_features + 1):
        keep = np.zeros(sizes.shape, dtype=bool)
        np.put_along_axis(keep, order[:, :, :j], True, axis=2)
        keep &= sizes > 1e-6
        cols = np.zeros((n, c, d), dtype=bool)
        for gi, g in enumerate(space.groups):
            cols[:, :, g] = keep[:, :, gi : gi + 1]
        extra.append(np.where(cols, cands, x[:, None, :]))
    return np.concatenate([cands, *extra], axis=1)


def gradient_search(module: nn.Module, x: np.ndarray, target: np.ndarray, space: FeatureSpace, *,
                    steps: int = 200, lr: float = 0.05, weights: tuple[float, ...] = (0.0, 0.02, 0.1, 0.5),
                    seed: int = 0) -> np.ndarray:
    """Candidates (n, len(weights), d) from a batched gradient search towards ``target`` classes.

    Loss per candidate: cross-entropy to the target class + weight * (L1 of numeric changes + categorical change
    probability); numeric columns are clipped to [low, high] and categorical blocks are softmax-relaxed, then
    projected to a one-hot vector. ``seed`` seeds torch's generators for the search only (the search itself draws
    nothing unless the module does); the global generators are restored afterwards.
    """
    device = module_device(module)
    with seeded_torch_rng(seed, device):
        return _gradient_search(module, x, target, space, steps, lr, weights, device)


def _gradient_search(module: nn.Module, x: np.ndarray, target: np.ndarray, space: FeatureSpace, steps: int, lr: float,
                     weights: tuple[float, ...], device: torch.device) -> np.ndarray:
    n, d = x.shape
    k = len(weights)
    x0 = torch.as_tensor(np.repeat(x[:, None], k, axis=1).reshape(n * k, d), dtype=torch.float32, device=device)
    lam = torch.as_tensor(np.tile(weights, n), dtype=torch.float32, device=device)
    tgt = torch.as_tensor(np.repeat(target, k), device=device)
    num_cols, cat_groups = [], []
    for g, num, a in zip(space.groups, space.numeric, space.actionable):
        if not a:
            continue
        if num:
            num_cols.extend(g)
        else:
            cat_groups.append(g)
    num_idx = torch.as_tensor(num_cols, dtype=torch.long, device=device)
    cat_idx = [torch.as_tensor(g, dtype=torch.long, device=device) for g in cat_groups]  # built once, not per step
    cat_x0 = [x0[:, idx] for idx in cat_idx]
    delta = torch.zeros(n * k, len(num_cols), device=device, requires_grad=True)
    logits = [(5.0 * xg).clone().requires_grad_() for xg in cat_x0]
    low = torch.as_tensor(space.low, dtype=torch.float32, device=device)
    high = torch.as_tensor(space.high, dtype=torch.float32, device=device)
    opt = torch.optim.Adam([delta, *logits], lr=lr)

    def build(hard: bool) -> torch.Tensor:
        z = x0.clone()
        if num_cols:
            z[:, num_idx] = torch.minimum(torch.maximum(x0[:, num_idx] + delta, low[num_idx]), high[num_idx])
        for idx, lg in zip(cat_idx, logits):
            soft = torch.softmax(lg, dim=1)
            z[:, idx] = nn.functional.one_hot(soft.argmax(1), len(idx)).float() if hard else soft
        return z

    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            z = build(hard=False)
            ce = nn.functional.cross_entropy(module(z), tgt, reduction="none")
            change = delta.abs().sum(1) if num_cols else torch.zeros_like(ce)
            for xg, lg in zip(cat_x0, logits):
                change = change + (1 - (torch.softmax(lg, 1) * xg).sum(1))
            (ce + lam * change).sum().backward()
            opt.step()
    with torch.no_grad():
        return build(hard=True).cpu().numpy().reshape(n, k, d).astype(x.dtype)


def sampling_search(proba: ProbaFn, x: np.ndarray, target: np.ndarray, space: FeatureSpace, train: np.ndarray, *,
                    n_candidates: int = 500, max_changed: int = 3, seed: int = 0) -> np.ndarray:
    """Candidates (n, n_candidates, d): 1..max_changed actionable features copied from random training rows."""
    rng = np.random.default_rng(seed)
    act = [i for i, a in enumerate(space.actionable) if a]
    n, d = x.shape
    out = np.repeat(x[:, None], n_candidates, axis=1)
    if not act:
        return out
    for i in range(n):
        sizes = rng.integers(1, min(max_changed, len(act)) + 1, size=n_candidates)
        donors = train[rng.integers(0, len(train), size=n_candidates)]
        for c in range(n_candidates):
            for gi in rng.choice(act, size=sizes[c], replace=False):
                g = space.groups[gi]
                out[i, c, g] = donors[c, g]
    return out


def shrink(proba: ProbaFn, x: np.ndarray, cands: np.ndarray, target: np.ndarray, space: FeatureSpace,
           n_grid: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Best verified counterfactual per row: each flipping candidate is moved back towards ``x`` along its numeric
    change to the smallest fraction that still flips; the cheapest wins.

    Returns:
        ``(counterfactuals (n, d), found (n,) bool)``; rows without a flip keep ``x``.
    """
    n, c, d = cands.shape
    numeric = np.zeros(d, dtype=bool)
    for g, num in zip(space.groups, space.numeric):
        numeric[g] = num
    fracs = np.linspace(0, 1, n_grid + 1)[1:]
    moved = np.where(numeric, x[:, None, None, :] + fracs[None, None, :, None] * (cands - x[:, None, :])[:, :, None, :],
                     cands[:, :, None, :])  # (n, c, f, d)
    p = np.asarray(proba(moved.reshape(-1, d).astype(x.dtype)), dtype=np.float64).reshape(n, c, len(fracs), -1)
    flips = p.argmax(axis=3) == target[:, None, None]
    best = x.copy()
    found = np.zeros(n, dtype=bool)
    for i in range(n):
        ci, fi = np.nonzero(flips[i])
        if not len(ci):
            continue
        first = {}
        for a, b in zip(ci, fi):
            first.setdefault(a, b)  # smallest fraction per candidate (fi ascending within a candidate)
        options = np.stack([moved[i, a, b] for a, b in first.items()])
        costs = cost(np.repeat(x[i : i + 1], len(options), 0), options, space)
        best[i] = options[int(np.argmin(costs))]
        found[i] = True
    return best, found


@dataclass(frozen=True)
class CounterfactualsCheck:
    """Smallest actionable changes that flip chosen predictions (tabular classification)."""

    name: str = "counterfactuals"
    title: str = "Counterfactual examples"
    kinds: frozenset[str] = frozenset({"tabular"})
    tasks: frozenset[str] = frozenset({"binary", "multiclass"})
    needs: frozenset[str] = frozenset({"proba"})
    default_options: Mapping[str, Any] = field(default_factory=lambda: {
        "n_local": 3,          # rows per automatic reason (errors, uncertain, random), as in explanations
        "frozen": [],          # features the user will not change (sensitive features never move)
        "steps": 200,          # gradient steps (torch models)
        "lr": 0.05,            # gradient step size
        "n_candidates": 400,   # sampled candidates per row (black boxes)
        "max_changed": 3,      # features changed per sampled candidate
        "search": "auto",      # "auto" | "gradient" | "sampling"
    })

    def run(self, ctx: AuditContext, options: Mapping[str, Any]) -> CheckOutput:
        """Find, verify and describe counterfactuals for the chosen rows."""
        o = dict(options)
        ds = ctx.dataset
        if o["search"] not in ("auto", "gradient", "sampling"):
            raise ConfigError(f"The option 'options.counterfactuals.search' must be 'auto', 'gradient' or 'sampling'. "
                              f"Got {o['search']!r} instead.")
        space = _space(ds, ctx.sensitive_features, list(o["frozen"]))
        local = select_local(ctx.test_proba(), ctx.test.y, ctx.test_index, n_per_reason=o["n_local"],
                             rng=ctx.rng("explain-local"), user=ctx.config.sample_indices, n_test=len(ds.test))
        x = ds.test.x[local.indices].astype(np.float32)
        proba = ctx.model.predict_proba
        p0 = proba(x)
        target = np.argsort(-p0, axis=1)[:, 1]  # the most likely other class
        use_grad = o["search"] == "gradient" or (o["search"] == "auto" and ctx.model.differentiable)
        if use_grad and not ctx.model.differentiable:
            raise InvalidInputError("The option 'options.counterfactuals.search' is 'gradient' but this model is a black "
                                    "box (no gradients). Use 'sampling' or 'auto'.")
        ctx.progress(0.1, "searching")
        # Sampled candidates copy values seen in training rows (never an unseen category); torch models add the
        # batched gradient search's candidates, and the cheapest verified flip wins.
        cands = sampling_search(proba, x, target, space, ds.train.x, n_candidates=o["n_candidates"],
                                max_changed=o["max_changed"], seed=ctx.seed)
        if use_grad:
            grad = gradient_search(ctx.model.score_module(as_proba=False), x, target, space, steps=o["steps"],
                                   lr=o["lr"], seed=ctx.seed)
            cands = np.concatenate([grad, cands], axis=1)
        ctx.progress(0.7, "verifying")
        cf, found = shrink(proba, x, sparsify(x, cands, space, o["max_changed"]), target, space)
        p1 = proba(cf)
        found &= p1.argmax(axis=1) == target  # re-scored: only verified flips count
        records = [_describe(ds, space, int(i), why, x[r], cf[r], p0[r], p1[r], bool(found[r]), ctx.model.class_names)
                   for r, (i, why) in enumerate(zip(local.indices, local.reasons))]
        violations = _violations(x, cf, space)
        return CheckOutput(metrics=_metrics(records, found, violations, use_grad, space),
                           findings=_findings(records, found))


def counterfactual_for_row(model: Any, ds: Any, x: np.ndarray, target: int, *, sensitive: list[str] | None = None,
                           frozen: list[str] | None = None, steps: int = 200, n_candidates: int = 300,
                           max_changed: int = 3, seed: int = 0) -> tuple[np.ndarray, bool]:
    """The smallest verified change of one encoded row ``x`` (d,) that makes ``model`` predict ``target``.

    Args:
        model: a ``ModelAdapter`` (gradient search is added when it is differentiable).
        ds: the tabular Dataset (feature groups, ranges, sensitive features).
        x: one encoded row.
        target: the class to reach.
        sensitive, frozen: features that never move (the data set's sensitive features never move either).

    Returns:
        ``(counterfactual row, found)``.
    """
    space = feature_space(ds, list(sensitive or []), list(frozen or []))
    row = np.asarray(x, dtype=np.float32).reshape(1, -1)
    goal = np.array([int(target)])
    cands = sampling_search(model.predict_proba, row, goal, space, ds.train.x, n_candidates=n_candidates,
                            max_changed=max_changed, seed=seed)
    if model.differentiable:
        grad = gradient_search(model.score_module(as_proba=False), row, goal, space, steps=steps, seed=seed)
        cands = np.concatenate([grad, cands], axis=1)
    sparse = sparsify(row, cands, space, max_changed)
    cf, found = shrink(model.predict_proba, row, sparse[:, cands.shape[1]:], goal, space)  # at most max_changed
    if not found[0]:  # no sparse edit flips it: the full candidates may
        cf, found = shrink(model.predict_proba, row, sparse, goal, space)
    found = bool(found[0]) and int(model.predict_proba(cf).argmax(axis=1)[0]) == int(target)
    return cf[0], found


def feature_space(ds: Any, sensitive: list[str], frozen: list[str]) -> FeatureSpace:
    """What may move: the data set's feature groups, minus sensitive and frozen features, within the train range."""
    return _space(ds, sensitive, frozen)


def _space(ds: Any, sensitive: list[str], frozen: list[str]) -> FeatureSpace:
    groups = [list(g) for g in ds.feature_groups.values()] or [[j] for j in range(ds.train.x.shape[1])]
    names = list(ds.feature_groups) or [f"x{j}" for j in range(ds.train.x.shape[1])]
    unknown = [f for f in frozen if f not in names]
    if unknown:
        raise ConfigError(f"The option 'options.counterfactuals.frozen' must name features among {names}. "
                          f"Got {unknown[0]!r} instead.")
    cont = set(ds.continuous_features)
    numeric = [(n in cont) if cont else len(g) == 1 for n, g in zip(names, groups)]
    # one-hot columns of categories never seen in training (e.g. "<unknown>") are never proposed
    seen = ds.train.x.max(axis=0) > 0
    groups = [g if num or sum(seen[g]) < 2 else [c for c in g if seen[c]] for g, num in zip(groups, numeric)]
    still = set(sensitive) | set(ds.sensitive_features) | set(frozen)
    return FeatureSpace(names, groups, numeric, [n not in still for n in names],
                        ds.train.x.min(axis=0).astype(np.float64), ds.train.x.max(axis=0).astype(np.float64))


def _original_units(ds: Any) -> dict[str, tuple[float, float]]:
    """Numeric feature -> (mean, std) when the preprocessing state is the tabular one."""
    state = ds.preprocessing or {}
    if state.get("kind") != "tabular":
        return {}
    return {f["name"]: (float(f["mean"]), float(f["std"])) for f in state.get("features", []) if f.get("type") == "numeric"}


def _describe(ds: Any, space: FeatureSpace, index: int, why: str, x: np.ndarray, cf: np.ndarray, p0: np.ndarray,
              p1: np.ndarray, found: bool, classes: list[str]) -> dict[str, Any]:
    units = _original_units(ds)
    changes = []
    for name, g, num in zip(space.names, space.groups, space.numeric):
        if np.allclose(x[g], cf[g], atol=1e-6):
            continue
        if num:
            a, b = float(x[g[0]]), float(cf[g[0]])
            rec = {"feature": name, "from": a, "to": b, "change": b - a, "units": "encoded"}
            if name in units:
                mean, std = units[name]
                rec.update({"from": a * std + mean, "to": b * std + mean, "change": (b - a) * std, "units": "original"})
        else:
            cols = ds.feature_names or [f"x{j}" for j in range(len(x))]
            label = [cols[j].split("=", 1)[-1] for j in g]
            rec = {"feature": name, "from": label[int(np.argmax(x[g]))], "to": label[int(np.argmax(cf[g]))],
                   "change": None, "units": "category"}
        changes.append(rec)
    return {"index": index, "reason": why, "found": found, "from_class": classes[int(p0.argmax())],
            "from_proba": float(p0.max()), "to_class": classes[int(p1.argmax())], "to_proba": float(p1.max()),
            "changes": changes if found else []}


def _violations(x: np.ndarray, cf: np.ndarray, space: FeatureSpace) -> int:
    bad = 0
    for g, num, act in zip(space.groups, space.numeric, space.actionable):
        moved = ~np.all(np.isclose(x[:, g], cf[:, g], atol=1e-6), axis=1)
        if not act:
            bad += int(moved.sum())
        if not num:
            bad += int((~np.isclose(cf[:, g].sum(axis=1), 1.0) & np.isclose(x[:, g].sum(axis=1), 1.0)).sum())
        bad += int(((cf[:, g] < space.low[g] - 1e-6) | (cf[:, g] > space.high[g] + 1e-6)).any(axis=1).sum())
    return bad


def _metrics(records: list[dict[str, Any]], found: np.ndarray, violations: int, use_grad: bool,
             space: FeatureSpace) -> dict[str, Any]:
    rows = []
    for r in records:
        for c in r["changes"]:
            rows.append([r["index"], f"{r['from_class']} -> {r['to_class']}", c["feature"], _num(c["from"]),
                         _num(c["to"]), _num(c["change"]), c["units"]])
        if not r["found"]:
            rows.append([r["index"], f"{r['from_class']} (no flip found)", None, None, None, None, None])
    n_changed = [len(r["changes"]) for r in records if r["found"]]
    return {
        "found_rate": float(found.mean()) if len(found) else 0.0,
        "n_rows": len(records),
        "mean_features_changed": float(np.mean(n_changed)) if n_changed else 0.0,
        "constraint_violations": violations,
        "search": "gradient" if use_grad else "sampling",
        "immutable_features": [n for n, a in zip(space.names, space.actionable) if not a],
        "samples": records,
        "tables": {"counterfactuals": {
            "title": "Smallest verified changes that flip the prediction",
            "columns": ["row", "prediction", "feature", "from", "to", "change", "units"], "rows": rows,
            "note": "Sensitive and frozen features never move; values stay in the training range; each "
                    "counterfactual is verified by re-scoring the model."}},
    }


def _num(value: Any) -> Any:
    return round(float(value), 4) if isinstance(value, (int, float, np.floating)) else value


def _findings(records: list[dict[str, Any]], found: np.ndarray) -> list[Finding]:
    out = []
    easy = [r for r in records if r["found"] and len(r["changes"]) == 1]
    if easy:
        r = easy[0]
        c = r["changes"][0]
        out.append(Finding("counterfactuals", "info",
                           f"Row {r['index']}: changing only '{c['feature']}' ({c['from']} -> {c['to']}) flips the "
                           f"prediction from {r['from_class']} to {r['to_class']}."))
    if len(found) and not found.any():
        out.append(Finding("counterfactuals", "info", "No counterfactual flipped any chosen prediction within the "
                           "actionable features and observed ranges."))
    return out
