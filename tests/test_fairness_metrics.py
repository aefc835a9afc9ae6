"""Pure fairness metrics: oracles (fairlearn's MetricFrame and hand computations with masks), properties, bad input."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, precision_score

from audit.checks.fairness import (
    METRIC_NAMES,
    bin_continuous,
    bootstrap_cell_sums,
    compute_group_frames,
    disparities,
    encode_groups,
    group_metrics,
    positive_class_calibration_error,
)
from audit.errors import InvalidInputError, InvalidTypeError
from audit.executor import Executor

FAIRLEARN_METRICS = {
    "count": count,
    "selection_rate": selection_rate,
    "accuracy": accuracy_score,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "precision": functools.partial(precision_score, zero_division=np.nan),
}


def _data(n: int = 600, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n, p=[0.4, 0.6])
    race = rng.choice(["A", "B", "C"], size=n, p=[0.6, 0.3, 0.1])
    prob = np.clip(rng.beta(2, 3, size=n) + 0.15 * (sex == "M"), 0, 1)
    y = (rng.random(n) < prob).astype(np.int64)
    pred = (prob > 0.45).astype(np.int64)
    return {"sex": sex, "race": race, "prob": prob, "y": y, "pred": pred}


def _hand(y: np.ndarray, pred: np.ndarray, prob: np.ndarray, mask: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """Every metric of one group, by hand with boolean masks and explicit bin loops."""
    yt, yp, p = y[mask], pred[mask], prob[mask]
    tp = int(((yt == 1) & (yp == 1)).sum())
    fp = int(((yt == 0) & (yp == 1)).sum())
    fn = int(((yt == 1) & (yp == 0)).sum())
    tn = int(((yt == 0) & (yp == 0)).sum())
    ece = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        in_bin = (p >= lo) & ((p < hi) if b < n_bins - 1 else (p <= hi))
        ece += abs(p[in_bin].sum() - yt[in_bin].sum())
    return {
        "count": len(yt), "selection_rate": (tp + fp) / len(yt), "accuracy": (tp + tn) / len(yt),
        "true_positive_rate": tp / (tp + fn), "false_positive_rate": fp / (fp + tn),
        "false_negative_rate": fn / (tp + fn), "precision": tp / (tp + fp), "calibration_error": ece / len(yt),
    }


@pytest.mark.parametrize("container", [list, np.asarray, pd.Series])
def test_group_metrics_equal_metricframe_and_hand(container) -> None:
    d = _data()
    got = group_metrics(container(list(d["y"])), container(list(d["pred"])), container(list(d["race"])), y_prob=d["prob"])
    mf = MetricFrame(metrics=FAIRLEARN_METRICS, y_true=d["y"], y_pred=d["pred"], sensitive_features=d["race"])
    calib = MetricFrame(metrics=positive_class_calibration_error, y_true=d["y"], y_pred=d["prob"], sensitive_features=d["race"])
    assert got.labels == ["A", "B", "C"]
    for i, label in enumerate(got.labels):
        hand = _hand(d["y"], d["pred"], d["prob"], d["race"] == label)
        for name in FAIRLEARN_METRICS:
            assert got.values[name][i] == pytest.approx(mf.by_group.loc[label, name], abs=1e-12)
            assert got.values[name][i] == pytest.approx(hand[name], abs=1e-12)
        assert got.values["calibration_error"][i] == pytest.approx(hand["calibration_error"], abs=1e-12)
        assert got.values["calibration_error"][i] == pytest.approx(calib.by_group.loc[label], abs=1e-12)


def test_intersection_frame_equals_metricframe_with_two_features() -> None:
    d = _data(800, seed=1)
    frames = compute_group_frames(d["y"], d["pred"], {"sex": d["sex"], "race": d["race"]}, y_prob=d["prob"],
                                  intersections=[("sex", "race")], n_boot=0, min_group_size=1)
    assert list(frames) == ["sex", "race", "sex x race"]
    mf = MetricFrame(metrics=FAIRLEARN_METRICS, y_true=d["y"], y_pred=d["pred"],
                     sensitive_features=pd.DataFrame({"sex": d["sex"], "race": d["race"]}))
    inter = frames["sex x race"]
    for i, label in enumerate(inter.labels):
        sex, race = label.split(" & ")
        for name in FAIRLEARN_METRICS:
            assert inter.values[name][i] == pytest.approx(mf.by_group.loc[(sex, race), name], abs=1e-12)


def test_disparities_equal_fairlearn_functions() -> None:
    d = _data(700, seed=2)
    frame = compute_group_frames(d["y"], d["pred"], {"race": d["race"]}, n_boot=0, min_group_size=1)["race"]
    kw = {"y_true": d["y"], "y_pred": d["pred"], "sensitive_features": d["race"]}
    expected = {
        "demographic_parity_difference": demographic_parity_difference(**kw),
        "demographic_parity_ratio": demographic_parity_ratio(**kw),
        "equalized_odds_difference": equalized_odds_difference(**kw),
        "equalized_odds_ratio": equalized_odds_ratio(**kw),
        "equal_opportunity_difference": equal_opportunity_difference(**kw),
    }
    for name, value in expected.items():
        assert frame.disparities[name].value == pytest.approx(value, abs=1e-12), name
    sel = frame.values["selection_rate"]
    assert frame.disparities["demographic_parity_difference"].higher == frame.labels[int(np.argmax(sel))]
    np.testing.assert_allclose(frame.four_fifths_ratio, sel / sel.max())
    assert frame.four_fifths_passed is bool(sel.min() / sel.max() >= 0.8)


def test_bootstrap_intervals_match_fairlearn_within_monte_carlo_tolerance() -> None:
    d = _data(1500, seed=3)
    ours = compute_group_frames(d["y"], d["pred"], {"sex": d["sex"]}, n_boot=1000, seed=0)["sex"]
    mf = MetricFrame(metrics={"selection_rate": selection_rate, "true_positive_rate": true_positive_rate},
                     y_true=d["y"], y_pred=d["pred"], sensitive_features=pd.Series(d["sex"], name="sex"),
                     n_boot=40, ci_quantiles=[0.025, 0.975], random_state=0)
    low, high = mf.by_group_ci
    for name in ("selection_rate", "true_positive_rate"):
        for i, label in enumerate(ours.labels):
            width = ours.upper[name][i] - ours.lower[name][i]
            assert 0 < width < 0.2
            # 40 fairlearn resamples estimate a 2.5% quantile to within about a third of the interval width
            assert abs(ours.lower[name][i] - low.loc[label, name]) < 0.35 * width
            assert abs(ours.upper[name][i] - high.loc[label, name]) < 0.35 * width
            assert ours.lower[name][i] < ours.values[name][i] < ours.upper[name][i]


def test_bootstrap_is_seeded_and_independent_of_the_executor() -> None:
    d = _data(400, seed=4)
    cells = encode_groups(d["sex"])[0] * 4 + d["y"] * 2 + d["pred"]
    a = bootstrap_cell_sums(cells, d["prob"], 8, 250, seed=7, chunk_size=50)
    b = bootstrap_cell_sums(cells, d["prob"], 8, 250, seed=7, chunk_size=50,
                            map_fn=Executor(n_jobs=2, backend="threading").map)
    c = bootstrap_cell_sums(cells, d["prob"], 8, 250, seed=8, chunk_size=50)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (250, 8) and np.all(a[0].sum(axis=1) == 400)
    # each resample's probability sums add up to the resampled rows' probabilities: total stays near the original
    assert abs(a[1].sum(axis=1).mean() - d["prob"].sum()) < 0.02 * d["prob"].sum()


def test_significance_uses_the_signed_gap() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    g = rng.choice(["a", "b"], size=n)
    y = rng.integers(0, 2, size=n)
    biased = (rng.random(n) < np.where(g == "a", 0.6, 0.3)).astype(np.int64)
    fair = np.zeros(n, dtype=np.int64)
    for label in ("a", "b"):  # exactly 45% selected in each group, at random rows
        rows = np.flatnonzero(g == label)
        fair[rng.choice(rows, size=int(0.45 * len(rows)), replace=False)] = 1
    f_biased = compute_group_frames(y, biased, {"g": g}, n_boot=300, seed=0)["g"]
    f_fair = compute_group_frames(y, fair, {"g": g}, n_boot=300, seed=0)["g"]
    dp_b = f_biased.disparities["demographic_parity_difference"]
    dp_f = f_fair.disparities["demographic_parity_difference"]
    assert dp_b.significant is True and dp_b.gap_low > 0.2 and dp_b.higher == "a"
    assert dp_f.significant is False and dp_f.gap_low < 0 < dp_f.gap_high
    assert dp_f.ci_low > 0  # the max-minus-min statistic itself never reaches 0: why the gap is tested instead


# ------------------------------------------------------------------------------------------------ properties
_rows = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from(["a", "b", "c"]),
                           st.floats(0, 1, allow_nan=False)), min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(_rows, st.randoms(use_true_random=False))
def test_group_metrics_invariant_to_row_order_and_bounded(rows, rnd) -> None:
    if len({r[2] for r in rows}) < 2:
        rows = rows + [(0, 0, "z", 0.5)]
    y, p, g, prob = (np.array(c) for c in zip(*rows))
    order = list(range(len(y)))
    rnd.shuffle(order)
    a = group_metrics(y, p, g, y_prob=prob)
    b = group_metrics(y[order], p[order], g[order], y_prob=prob[order])
    assert a.labels == b.labels
    for name in ("count", *METRIC_NAMES):
        np.testing.assert_allclose(a.values[name], b.values[name], atol=1e-12)
    assert a.values["count"].sum() == len(y)
    for name in METRIC_NAMES:
        vals = a.values[name][~np.isnan(a.values[name])]
        assert np.all((vals >= 0) & (vals <= 1 + 1e-12))
    d = disparities(a.values, np.ones(len(a.labels), dtype=bool))
    for name, value in d.items():
        assert np.isnan(value) or 0 <= value <= 1 + 1e-12, name


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=50), st.data())
def test_calibration_error_bounded(probs, data) -> None:
    y = data.draw(st.lists(st.integers(0, 1), min_size=len(probs), max_size=len(probs)))
    ece = positive_class_calibration_error(y, probs)
    assert 0 <= ece <= 1 + 1e-12


# ------------------------------------------------------------------------------------------------ bad input
def test_single_valued_sensitive_column_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match=r"'sensitive_features'.*single value 'M'.*4 rows"):
        group_metrics([0, 1, 0, 1], [0, 1, 1, 1], ["M", "M", "M", "M"])


@pytest.mark.parametrize("bad", [["a", None, "b"], ["a", np.nan, "b"], pd.Series(["a", pd.NA, "b"], dtype="string")])
def test_missing_group_labels_are_a_clear_error(bad) -> None:
    with pytest.raises(InvalidInputError, match=r"'sensitive_features'.*missing.*position 1"):
        group_metrics([0, 1, 0], [0, 1, 1], bad)


def test_mismatched_lengths_and_bad_labels_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"'sensitive_features'.*3 entries.*Got 2"):
        group_metrics([0, 1, 0], [0, 1, 1], ["a", "b"])
    with pytest.raises(InvalidInputError, match=r"'y_pred'.*3 entries.*Got 2"):
        group_metrics([0, 1, 0], [0, 1], ["a", "b", "a"])
    with pytest.raises(InvalidInputError, match=r"'y_true'.*binary.*2"):
        group_metrics([0, 2, 0], [0, 1, 1], ["a", "b", "a"])
    with pytest.raises(InvalidTypeError, match="'sensitive_features'"):
        group_metrics([0, 1], [0, 1], "ab")
    with pytest.raises(InvalidInputError, match=r"'n_boot'.*>= 0.*-1"):
        compute_group_frames([0, 1], [0, 1], {"g": ["a", "b"]}, n_boot=-1)
    with pytest.raises(InvalidInputError, match=r"'ci'.*1.5"):
        compute_group_frames([0, 1], [0, 1], {"g": ["a", "b"]}, ci=1.5)
    with pytest.raises(InvalidInputError, match=r"'intersections'.*'race'"):
        compute_group_frames([0, 1], [0, 1], {"g": ["a", "b"]}, intersections=[("g", "race")])


def test_group_of_size_one_is_insufficient_data_and_never_compared() -> None:
    y = np.array([0, 1] * 20 + [1])
    pred = np.array([0, 1] * 20 + [0])
    g = np.array(["a", "b"] * 20 + ["solo"])
    frame = compute_group_frames(y, pred, {"g": g}, n_boot=50, min_group_size=5)["g"]
    assert frame.insufficient == ["solo"]
    assert frame.values["count"].tolist() == [20, 20, 1]
    # 'a' (all predicted 0) vs 'b' (all 1): the solo group (selection 0) does not enter the comparison
    assert frame.disparities["demographic_parity_difference"].value == 1.0
    assert np.isnan(frame.four_fifths_ratio[2])
    two = compute_group_frames(y[-3:], pred[-3:], {"g": g[-3:]}, n_boot=0, min_group_size=2)["g"]
    assert np.isnan(two.disparities["demographic_parity_difference"].value)
    assert two.four_fifths_passed is None


def test_bin_continuous_labels_and_errors() -> None:
    assert bin_continuous([17, 25, 34.9, 35, 90], [25, 35]).tolist() == ["<25", "[25, 35)", "[25, 35)", ">=35", ">=35"]
    with pytest.raises(InvalidInputError, match="'edges'"):
        bin_continuous([1, 2], [3, 3])
    with pytest.raises(InvalidInputError, match="'age'.*NaN"):
        bin_continuous([1, np.nan], [3], name="age")
