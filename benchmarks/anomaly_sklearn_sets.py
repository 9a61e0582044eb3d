"""Write held-out anomaly sets, built from scikit-learn's bundled data (no download), as .npz files (X, y) for
anomaly_adbench.py: choices tuned on the ADBench folder are checked on data they never saw.

  digits_K: one-class sklearn digits as 64-feature vectors: every image of digit K, plus other digits as 5% of
            the rows (anomalies, y = 1).
  breast_cancer: the benign tumours plus 35 malignant ones (9%) as anomalies.

    python benchmarks/anomaly_sklearn_sets.py /tmp/anomaly-sklearn
    python benchmarks/anomaly_adbench.py /tmp/anomaly-sklearn --out anomaly_sklearn \
        --methods "genmodels ensemble,genmodels ensemble vae_score=bound,PyOD IForest"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    folder = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    X, y = load_digits(return_X_y=True)
    for digit in range(10):
        normal = np.flatnonzero(y == digit)
        other = rng.choice(np.flatnonzero(y != digit), len(normal) // 19, replace=False)
        rows = np.r_[normal, other]
        np.savez(folder / f"digits_{digit}.npz", X=X[rows].astype(np.float32), y=(y[rows] != digit).astype(int))
    X, y = load_breast_cancer(return_X_y=True)  # y: 0 = malignant, 1 = benign
    rows = np.r_[np.flatnonzero(y == 1), rng.choice(np.flatnonzero(y == 0), 35, replace=False)]
    np.savez(folder / "breast_cancer.npz", X=X[rows].astype(np.float32), y=(y[rows] == 0).astype(int))
    print(f"wrote 11 sets to {folder}")


if __name__ == "__main__":
    main()
