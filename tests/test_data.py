"""Data specs load real files into validated Datasets; splits are fixed; binarization works."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genmodels import DataError, load_dataset
from genmodels.data import as_dataset, parse_spec, read_idx


def test_digits_split_is_fixed_disjoint_and_stratified():
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.X.shape[1:] == (1, 8, 8) and train.X.dtype == np.float32
    assert len(train) + len(test) == 1797
    assert train.X.min() >= 0.0 and train.X.max() <= 1.0
    assert set(np.unique(test.y)) == set(range(10))
    again = load_dataset("digits", "test")
    np.testing.assert_array_equal(test.X, again.X)
    rows = {r.tobytes() for r in train.X}
    assert sum(r.tobytes() in rows for r in test.X) < 10  # only the digits' own exact duplicates


def test_binarize_threshold_and_stochastic_are_binary_and_seeded():
    t = load_dataset("digits", binarize="threshold")
    assert set(np.unique(t.X)) <= {0.0, 1.0}
    s1 = load_dataset("digits", binarize="stochastic", seed=3)
    s2 = load_dataset("digits", binarize="stochastic", seed=3)
    np.testing.assert_array_equal(s1.X, s2.X)
    assert set(np.unique(s1.X)) <= {0.0, 1.0}


def test_mnist_split_parts_load(mnist_dir):
    test = load_dataset(f"mnist:{mnist_dir}", "test")
    assert test.X.shape == (10000, 1, 28, 28)
    assert np.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    part = read_idx(mnist_dir / "train-images-idx3-ubyte.part1of3.gz")
    assert part.shape == (20000, 28, 28) and part.dtype == np.uint8


def _write_idx(path, arr: np.ndarray, gz: bool):
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_mnist_raw_idx_folder(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (30, 28, 28)), gz=False)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 30), gz=False)
    d = load_dataset(f"mnist:{tmp_path}", "train")
    assert d.X.shape == (30, 1, 28, 28) and d.X.max() <= 1.0


def test_csv_parquet_npz_npy_images(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.random((50, 4)), columns=list("abcd"))
    df["label"] = rng.integers(0, 2, 50)
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    csv = load_dataset(f"csv:{tmp_path / 't.csv'}", "all", label="label")
    assert csv.X.shape == (50, 4) and csv.y is not None
    pq = load_dataset(str(tmp_path / "t.parquet"), "all", label="label")  # bare path, by suffix
    np.testing.assert_allclose(pq.X, csv.X, rtol=1e-6)
    np.savez(tmp_path / "a.npz", X=rng.random((20, 5)), y=rng.integers(0, 2, 20))
    assert load_dataset(f"npz:{tmp_path / 'a.npz'}", "all").y.shape == (20,)
    np.save(tmp_path / "a.npy", rng.integers(0, 256, (10, 6, 6)).astype(np.uint8))
    npy = load_dataset(f"npy:{tmp_path / 'a.npy'}", "all")
    assert npy.X.shape == (10, 1, 6, 6) and npy.X.max() <= 1.0
    for cls in ("cat", "dog"):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (9, 7), dtype=np.uint8)).save(tmp_path / "img" / cls / f"{i}.png")
    imgs = load_dataset(f"images:{tmp_path / 'img'}", "all")
    assert imgs.X.shape == (6, 1, 9, 7) and imgs.classes == ["cat", "dog"] and imgs.y.tolist() == [0, 0, 0, 1, 1, 1]


def test_as_dataset_accepts_tensors_frames_and_nhwc():
    import torch

    assert as_dataset(torch.rand(5, 3)).X.shape == (5, 3)
    assert as_dataset(pd.DataFrame(np.ones((4, 2)))).X.shape == (4, 2)
    assert as_dataset(np.zeros((2, 10, 12, 3))).X.shape == (2, 3, 10, 12)
    d = as_dataset(np.zeros((3, 2)), ["b", "a", "b"])
    assert d.classes == ["a", "b"] and d.y.tolist() == [1, 0, 1]


def test_parse_spec_rejects_unknown():
    with pytest.raises(DataError, match="unknown data spec"):
        parse_spec("foo:bar")
