"""Pure metrics for generated images: Fréchet distance, an Inception-Score-style score, k-NN manifold precision and
recall (Kynkäänniemi et al. 2019), nearest-neighbour distances and class coverage.

The features and class probabilities come from whatever extractor the caller chooses (deepaudit uses its own CNN
classifier trained on the same data, see ``generative_extractor``), so nothing is downloaded.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg

from audit.errors import InvalidInputError

__all__ = [
    "feature_stats",
    "frechet_distance",
    "inception_score",
    "nearest_distances",
    "kth_neighbour_radii",
    "knn_precision_recall",
    "class_shares",
    "total_variation_distance",
    "classes_covered",
]

_CHUNK = 1024


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples) of a feature matrix.

    Args:
        features: (n, d) with n >= 2.

    Returns:
        ``(mu (d,), sigma (d, d))`` in float64.

    Raises:
        InvalidInputError: not 2-D or fewer than 2 rows.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise InvalidInputError(f"The 'features' argument must have shape (n, d) with n >= 2. Got shape {f.shape} instead.")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between two Gaussians: ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrt(S1 S2))``.

    The matrix square root is ``scipy.linalg.sqrtm`` (real part); when it is not finite (near-singular covariances)
    ``eps`` is added to both diagonals, as in the reference FID implementation.

    Args:
        mu1: mean (d,).
        sigma1: covariance (d, d).
        mu2: mean (d,).
        sigma2: covariance (d, d).
        eps: diagonal offset used only when the plain square root fails.

    Returns:
        The distance (>= 0 up to rounding).

    Raises:
        InvalidInputError: shapes do not match.

    Example:
        >>> round(frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)), 6)
        2.0
    """
    m1, m2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = m1.shape[0]
    if m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise InvalidInputError(
            f"The means must have shape (d,) and the covariances (d, d) with the same d = {d}. "
            f"Got {m2.shape}, {s1.shape} and {s2.shape}."
        )
    diff = m1 - m2
    with warnings.catch_warnings():  # singular products (dead ReLU features) are expected; the trace stays accurate
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(d) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """``exp(E_x[KL(p(y|x) || p(y))])`` for class probabilities of generated samples.

    Equals the number of classes when every sample is classified with certainty and the classes are used equally,
    and 1 when every sample gets the same distribution.

    Args:
        probs: (n, k) rows summing to 1.
        eps: floor inside the logarithms.

    Returns:
        The score, in [1, k].

    Raises:
        InvalidInputError: not (n, k) with n >= 1, or rows that are not probabilities.

    Example:
        >>> round(inception_score(np.eye(4)), 6)
        4.0
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise InvalidInputError(f"The 'probs' argument must have shape (n, k) with n >= 1. Got shape {p.shape} instead.")
    if p.min() < -1e-6 or np.abs(p.sum(axis=1) - 1).max() > 1e-3:
        raise InvalidInputError("The 'probs' argument must hold probabilities: rows in [0, 1] summing to 1.")
    p = np.clip(p, 0.0, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    kl = np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def _as_tensor(name: str, a: np.ndarray) -> torch.Tensor:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim < 2 or len(arr) == 0:
        raise InvalidInputError(f"The '{name}' argument must have shape (n, ...) with n >= 1. Got shape {arr.shape} instead.")
    return torch.from_numpy(np.ascontiguousarray(arr.reshape(len(arr), -1)))


def nearest_distances(a: np.ndarray, b: np.ndarray, chunk: int = _CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance from each row of ``a`` to its nearest row of ``b`` (rows flattened), in chunks.

    Args:
        a: (n, ...) queries.
        b: (m, ...) references, same number of values per row.
        chunk: query rows per ``torch.cdist`` call (bounds memory to chunk x m distances).

    Returns:
        ``(distances (n,), indices (n,))`` of the nearest reference rows.

    Raises:
        InvalidInputError: empty inputs or rows of different sizes.

    Example:
        >>> nearest_distances(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [1.0, 0.0]]))[0].tolist()
        [1.0]
    """
    ta, tb = _as_tensor("a", a), _as_tensor("b", b)
    if ta.shape[1] != tb.shape[1]:
        raise InvalidInputError(f"The rows of 'a' and 'b' must have the same size. Got {ta.shape[1]} and {tb.shape[1]}.")
    dists, idx = [], []
    for start in range(0, ta.shape[0], chunk):
        d = torch.cdist(ta[start : start + chunk], tb)
        value, where = d.min(dim=1)
        dists.append(value)
        idx.append(where)
    return torch.cat(dists).numpy(), torch.cat(idx).numpy().astype(np.int64)


def kth_neighbour_radii(features: np.ndarray, k: int, chunk: int = _CHUNK) -> np.ndarray:
    """Distance from each row to its k-th nearest other row of the same set.

    Raises:
        InvalidInputError: ``k`` < 1 or not smaller than the number of rows.
    """
    t = _as_tensor("features", features)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < t.shape[0]:
        raise InvalidInputError(f"The 'k' argument must be an int in [1, {t.shape[0] - 1}]. Got {k!r} instead.")
    radii = []
    for start in range(0, t.shape[0], chunk):
        d = torch.cdist(t[start : start + chunk], t)
        radii.append(torch.kthvalue(d, k + 1, dim=1).values)  # the first is the row itself (distance 0)
    return torch.cat(radii).numpy()


def _coverage(queries: torch.Tensor, refs: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    inside = []
    for start in range(0, queries.shape[0], chunk):
        d = torch.cdist(queries[start : start + chunk], refs)
        inside.append((d <= radii[None, :]).any(dim=1))
    return float(torch.cat(inside).double().mean())


def knn_precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, chunk: int = _CHUNK) -> tuple[float, float]:
    """Improved precision and recall of generated samples (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its points with radius the distance to the k-th nearest
    neighbour in the same set. Precision: share of fake points inside the real manifold (fidelity). Recall: share
    of real points inside the fake manifold (diversity).

    Args:
        real: real features (n, d).
        fake: generated features (m, d).
        k: neighbour defining the radii.
        chunk: rows per distance call.

    Returns:
        ``(precision, recall)`` in [0, 1].

    Raises:
        InvalidInputError: shapes disagree or ``k`` is too large for a set.

    Example:
        >>> x = np.arange(10.0).reshape(5, 2)
        >>> knn_precision_recall(x, x, k=1)
        (1.0, 1.0)
    """
    tr, tf = _as_tensor("real", real), _as_tensor("fake", fake)
    if tr.shape[1] != tf.shape[1]:
        raise InvalidInputError(f"The rows of 'real' and 'fake' must have the same size. Got {tr.shape[1]} and {tf.shape[1]}.")
    r_real = torch.from_numpy(kth_neighbour_radii(tr.numpy(), k, chunk))
    r_fake = torch.from_numpy(kth_neighbour_radii(tf.numpy(), k, chunk))
    return _coverage(tf, tr, r_real, chunk), _coverage(tr, tf, r_fake, chunk)


def class_shares(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Share of each class among ``labels`` (class indices), length ``n_classes``.

    Raises:
        InvalidInputError: empty labels or labels outside ``[0, n_classes)``.
    """
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if y.size == 0 or y.min() < 0 or y.max() >= n_classes:
        raise InvalidInputError(f"The 'labels' argument must be non-empty class indices in [0, {n_classes - 1}].")
    return np.bincount(y, minlength=n_classes) / y.size


def total_variation_distance(p: np.ndarray, q: np.ndarray) -> float:
    """``0.5 * sum |p - q|`` between two distributions over the same classes.

    Example:
        >>> total_variation_distance(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
        0.5
    """
    a, b = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if a.shape != b.shape:
        raise InvalidInputError(f"The distributions must have the same shape. Got {a.shape} and {b.shape}.")
    return float(0.5 * np.abs(a - b).sum())


def classes_covered(shares: np.ndarray, min_share: float = 0.02) -> int:
    """Number of classes holding at least ``min_share`` of the samples.

    Example:
        >>> classes_covered(np.array([0.97, 0.02, 0.01]))
        2
    """
    return int(np.sum(np.asarray(shares) >= min_share - 1e-12))
