"""Representation learning: each family's features (`transform`: VAE posterior means, RBM/DBN hidden
probabilities, GAN discriminator features) judged by a linear probe and k-NN against raw pixels, and drawn
as a 2-D map (PCA or t-SNE) coloured by label."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import DataError
from ..io import write_json
from ..report.plots import save_figure

KNN_K = 5


def features(model, X) -> np.ndarray:
    """The model's representation of X as (N, F) rows: `transform`, reshaped to the model's input shape
    when X holds the same values in another layout (flat rows for an image model, say)."""
    if not hasattr(model, "transform"):
        raise DataError(f"{type(model).__name__} has no transform method, so it has no features")
    arr = np.asarray(X, dtype=np.float32)
    shape = getattr(model, "input_shape_", None)
    if shape is not None and arr.ndim >= 2 and math.prod(shape) == math.prod(arr.shape[1:]):
        arr = arr.reshape(len(arr), *shape)
    out = np.asarray(model.transform(arr), dtype=np.float32)
    return out.reshape(len(out), -1)


def _probe_accuracies(
    F_train: np.ndarray, y_train, F_test: np.ndarray, y_test, seed: int
) -> tuple[float, float]:
    """(linear probe, 5-NN) test accuracy on standardised features; both see the same standardisation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=min(KNN_K, len(F_train))))
    return (
        float(linear.fit(F_train, y_train).score(F_test, y_test)),
        float(knn.fit(F_train, y_train).score(F_test, y_test)),
    )


def probe_scores(
    model, X_train, y_train, X_test, y_test, seed: int = 0, max_train: int | None = None
) -> dict[str, Any]:
    """Test accuracy of a logistic-regression probe (lbfgs, up to 5000 iterations) and of 5-nearest-neighbours
    on the model's standardised features (linear_probe_acc, knn_acc), and of the same two classifiers on the
    raw pixels for reference (raw_linear_acc, raw_knn_acc). `max_train` caps the training rows (a stratified
    draw fixed by `seed`) to keep the probe quick on large sets."""
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    X_train, X_test = np.asarray(X_train, dtype=np.float32), np.asarray(X_test, dtype=np.float32)
    if len(X_train) != len(y_train) or len(X_test) != len(y_test):
        raise DataError(
            f"X and y differ in length: train {len(X_train)} vs {len(y_train)}, "
            f"test {len(X_test)} vs {len(y_test)}"
        )
    if len(np.unique(y_train)) < 2:
        raise DataError("y_train: a probe needs at least two classes")
    if max_train is not None and len(X_train) > max_train:
        from sklearn.model_selection import train_test_split

        X_train, _, y_train, _ = train_test_split(
            X_train, y_train, train_size=int(max_train), stratify=y_train, random_state=seed
        )
    F_train, F_test = features(model, X_train), features(model, X_test)
    lin, knn = _probe_accuracies(F_train, y_train, F_test, y_test, seed)
    raw_lin, raw_knn = _probe_accuracies(
        X_train.reshape(len(X_train), -1), y_train, X_test.reshape(len(X_test), -1), y_test, seed
    )
    return {
        "linear_probe_acc": lin,
        "knn_acc": knn,
        "raw_linear_acc": raw_lin,
        "raw_knn_acc": raw_knn,
        "n_features": int(F_test.shape[1]),
        "n_train": len(X_train),
        "n_test": len(X_test),
        "chance_acc": float(np.max(np.unique(y_test, return_counts=True)[1]) / len(y_test)),
    }


def embed_2d(F: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates of the rows of F by PCA or t-SNE (on standardised features)."""
    from sklearn.preprocessing import StandardScaler

    if method not in ("pca", "tsne"):
        raise DataError(f"method must be 'pca' or 'tsne', got {method!r}")
    F = StandardScaler().fit_transform(np.asarray(F, dtype=np.float64).reshape(len(F), -1))
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(F)
    from sklearn.manifold import TSNE

    return TSNE(
        n_components=2, perplexity=min(30.0, max(2.0, (len(F) - 1) / 3)), init="pca", random_state=seed
    ).fit_transform(F)


def save_feature_map(
    features: np.ndarray,
    y,
    path: str | Path,
    method: str = "pca",
    seed: int = 0,
    max_points: int = 2000,
    title: str = "",
) -> Path:
    """A PNG scatter of the features in 2-D (PCA or t-SNE), one colour per label; at most `max_points`
    rows (a random draw fixed by `seed`) so t-SNE stays quick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    F, y = np.asarray(features), np.asarray(y)
    if len(F) != len(y) or len(F) < 3:
        raise DataError(f"need at least 3 rows and one label per row, got {len(F)} rows and {len(y)} labels")
    if len(F) > max_points:
        keep = np.random.default_rng(seed).choice(len(F), max_points, replace=False)
        F, y = F[keep], y[keep]
    xy = embed_2d(F, method, seed)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    classes = np.unique(y)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        at = y == c
        ax.scatter(xy[at, 0], xy[at, 1], s=6, color=cmap(i % cmap.N), label=str(c), alpha=0.8)
    ax.set_title(title or f"features ({'PCA' if method == 'pca' else 't-SNE'})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(markerscale=2, fontsize=7, loc="best", ncol=2 if len(classes) > 10 else 1)
    return save_figure(fig, path)


def represent_run(
    model,
    train: Dataset,
    test: Dataset,
    out_dir: str | Path,
    method: str = "pca",
    seed: int = 0,
    max_train: int | None = 20_000,
) -> dict[str, Any]:
    """`genmodels represent`: probe scores of the model's features (train split -> test split) into
    out_dir/metrics.json, and the test features' 2-D map into out_dir/feature_map.png."""
    if train.y is None or test.y is None:
        raise DataError(f"{train.name}: representation probes need labelled data")
    X_train = model.rows_of(train, what=train.name).reshape(len(train), -1)
    X_test = model.rows_of(test, what=test.name).reshape(len(test), -1)
    labels = np.asarray(test.classes, dtype=object)[test.y] if test.classes else test.y
    scores = {
        "data": test.name,
        "family": getattr(model, "family", type(model).__name__),
        **probe_scores(model, X_train, train.y, X_test, test.y, seed=seed, max_train=max_train),
    }
    out_dir = Path(out_dir)
    save_feature_map(features(model, X_test), labels.astype(str), out_dir / "feature_map.png", method, seed)
    write_json(out_dir / "metrics.json", scores)
    return scores
