"""Shared fixtures. Real data sets come from ../shared/data (or $GENMODELS_DATA); tests that need them skip
with a reason when the folder is absent (CI always has it)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("CI", "true")  # no progress bars in test output
# The tests' batches are tiny: one thread is faster, and on a busy machine a second OpenMP thread makes them
# 10-50x slower. Subprocesses (CLI, torchrun) inherit this through the environment.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

from genmodels.data import data_root, load_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"shared data folder {root} not found (set GENMODELS_DATA)")
    return root


@pytest.fixture(scope="session")
def mnist_dir(shared_data: Path) -> Path:
    folder = shared_data / "mnist"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


@pytest.fixture(scope="session")
def digits_binary():
    """(train, test) Datasets of the bundled digits, thresholded at 0.5, images shaped (N, 1, 8, 8)."""
    return load_dataset("digits", "train", binarize="threshold"), load_dataset("digits", "test", binarize="threshold")


@pytest.fixture(scope="session")
def compare_report(tmp_path_factory) -> Path:
    """One `compare` run on the digits with a tiny budget (1.5 s per family), shared by test_compare.py and
    test_report_browser.py: the folder holding report.html, report.md, results.json and the run folders."""
    from genmodels.apps.compare import compare

    out = tmp_path_factory.mktemp("compare") / "report"
    compare("digits", budget=1.5, out=out, quiet=True)
    return out
