"""Data augmentation: class-conditional samples (conditional GAN, CVAE = VAE(conditional=True), per-class
RBM = PerClassModel(RBM())) added to a small labelled training set, judged by a downstream classifier's
test accuracy with and without them, at several real-data budgets and synthetic ratios."""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import DataError
from ..io import write_json
from ..report.plots import save_figure

CLASSIFIERS = ("logreg", "mlp", "knn")


def make_classifier(name: str = "logreg", seed: int = 0):
    """The downstream classifier on flat pixels: "logreg" (multinomial logistic regression, lbfgs, C=1: convex,
    so the accuracy reflects the data rather than optimiser luck), "mlp" (one hidden layer of 128 ReLUs, Adam,
    200 epochs) or "knn" (5 nearest neighbours)."""
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, random_state=seed)
    if name == "mlp":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=(128,), max_iter=200, random_state=seed)
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=5)
    raise DataError(f"classifier must be one of {', '.join(CLASSIFIERS)}; got {name!r}")


def synthetic_labels(y_small, n: int, seed: int = 0) -> np.ndarray:
    """n labels with the class balance of y_small: y_small repeated floor(n / len) times plus a random
    draw without replacement for the rest, shuffled (exact balance for whole-number ratios)."""
    y_small = np.asarray(y_small)
    rng = np.random.default_rng(seed)
    reps, rest = divmod(int(n), len(y_small))
    labels = np.concatenate([np.tile(y_small, reps), rng.choice(y_small, rest, replace=False)])
    return labels[rng.permutation(len(labels))]


def synthesize(model, y_small, ratio: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X_syn, y_syn): round(ratio * len(y_small)) samples of a fitted class-conditional model, row i drawn
    for label y_syn[i] exactly (the labels are passed to `model.sample`), flattened to (n, features)."""
    if not (hasattr(model, "is_conditional") and model.is_conditional()):
        raise DataError(
            f"{type(model).__name__} is not class-conditional: fit GAN/VAE(conditional=True) with "
            "labels, or wrap the family in PerClassModel"
        )
    n = round(float(ratio) * len(y_small))
    if n < 1:
        return np.empty((0, 0), np.float32), np.asarray(y_small)[:0]
    labels = synthetic_labels(y_small, n, seed)
    X = np.asarray(model.sample(n, y=labels, seed=seed), dtype=np.float32)
    return X.reshape(n, -1), labels


def _accuracy(classifier: str, X, y, X_test, y_test, seed: int) -> tuple[float, Any]:
    clf = make_classifier(classifier, seed)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # a small MLP on 100 images need not converge to be a fair comparison
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return float(clf.score(X_test, y_test)), clf


def _flat(X) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float32)
    return arr.reshape(len(arr), -1)


def augment_scores(
    model,
    X_small,
    y_small,
    X_test,
    y_test,
    ratio: float = 1.0,
    classifier: str = "logreg",
    seed: int = 0,
    _real: tuple[float, Any] | None = None,
) -> dict[str, Any]:
    """Test accuracy of the downstream classifier trained on the real rows alone (acc_real) and on real plus
    round(ratio * n_real) synthetic rows of the fitted conditional `model` (acc_augmented), gain =
    acc_augmented - acc_real; synthetic_label_acc is the real-only classifier's accuracy on the synthetic rows
    against the labels they were asked for (how recognisable the conditional samples are)."""
    X_small, X_test = _flat(X_small), _flat(X_test)
    y_small, y_test = np.asarray(y_small), np.asarray(y_test)
    if len(X_small) != len(y_small) or len(X_test) != len(y_test):
        raise DataError("X and y differ in length")
    if float(ratio) < 0:
        raise DataError(f"ratio must be >= 0, got {ratio!r}")
    acc_real, clf_real = _real or _accuracy(classifier, X_small, y_small, X_test, y_test, seed)
    X_syn, y_syn = synthesize(model, y_small, ratio, seed)
    row = {
        "ratio": float(ratio),
        "classifier": classifier,
        "n_real": len(X_small),
        "n_synthetic": len(X_syn),
        "acc_real": acc_real,
    }
    if len(X_syn) == 0:
        return {**row, "acc_augmented": acc_real, "gain": 0.0, "synthetic_label_acc": None}
    if X_syn.shape[1] != X_small.shape[1]:
        raise DataError(f"the model makes rows of {X_syn.shape[1]} features, the data has {X_small.shape[1]}")
    acc_aug, _ = _accuracy(
        classifier, np.concatenate([X_small, X_syn]), np.concatenate([y_small, y_syn]), X_test, y_test, seed
    )
    return {
        **row,
        "acc_augmented": acc_aug,
        "gain": acc_aug - acc_real,
        "synthetic_label_acc": float(clf_real.score(X_syn, y_syn)),
    }


GENERATORS = ("gan", "vae", "rbm")


def default_generator(family: str, n_rows: int, epochs: int | None = None, seed: int = 0, verbose: int = 0):
    """A class-conditional generator for augmentation: the family's own recipe (`recommended(...,
    task="augment")`: MLP networks, quick on CPU at any image size, about 2000 updates whatever the data size).
    A family that cannot condition on labels itself is wrapped in PerClassModel (one model per class, each
    seeing about a tenth of the rows)."""
    from ..data import DataInfo
    from ..models import FAMILIES
    from ..models.per_class import PerClassModel

    if family not in GENERATORS:
        raise DataError(f"model must be one of {', '.join(GENERATORS)}; got {family!r}")
    cls = FAMILIES[family]
    per_class = "conditional" not in cls.capabilities
    rows = max(1, int(n_rows) // 10) if per_class else int(n_rows)
    params = {**cls.recommended(DataInfo(rows, (1,)), task="augment"), "seed": seed, "verbose": verbose}
    if epochs is not None:
        params["epochs"] = int(epochs)
    if per_class:
        return PerClassModel(cls(**{k: v for k, v in params.items() if k != "seed"}), seed=seed)
    return cls(**params)


def stratified_subset(y, budget: int, seed: int = 0) -> np.ndarray:
    """Indices of a stratified random subset of `budget` rows (all rows when budget >= len(y))."""
    y = np.asarray(y)
    if budget >= len(y):
        return np.arange(len(y))
    n_classes = len(np.unique(y))
    if budget < n_classes:
        raise DataError(f"budget {budget} is smaller than the number of classes ({n_classes})")
    from sklearn.model_selection import train_test_split

    index, _ = train_test_split(np.arange(len(y)), train_size=int(budget), stratify=y, random_state=seed)
    return np.sort(index)


def augmentation_study(
    make_model: Callable[..., Any],
    X_train,
    y_train,
    X_test,
    y_test,
    budgets: Sequence[int] = (100, 500, 2000),
    ratios: Sequence[float] = (0.5, 1.0, 2.0),
    seed: int = 0,
    classifier: str = "logreg",
    label: str = "",
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """For each real-data budget: a stratified subset of the training rows, a fresh generator from
    `make_model()` (or `make_model(n_rows)` when it has a required argument, to size training to the subset)
    fitted on it with its labels, and `augment_scores` at every ratio. One row per (budget, ratio) with
    budget, n_real (the budget, or every row when the budget exceeds them), fit_seconds and `label` (e.g.
    the family) added; `progress` is called with each row as it is made."""
    X_train, y_train = np.asarray(X_train, dtype=np.float32), np.asarray(y_train)
    if len(X_train) != len(y_train):
        raise DataError(f"X_train has {len(X_train)} rows but y_train {len(y_train)} labels")
    if not budgets or not ratios:
        raise DataError("give at least one budget and one ratio")
    # make_model(n_rows) only when it has a required parameter (a class such as VAE is called bare)
    takes_n = any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in inspect.signature(make_model).parameters.values()
    )
    rows = []
    for budget in budgets:
        if int(budget) < 1:
            raise DataError(f"budgets must be positive integers, got {budget!r}")
        index = stratified_subset(y_train, int(budget), seed)
        X_small, y_small = X_train[index], y_train[index]
        model = make_model(len(index)) if takes_n else make_model()
        started = time.perf_counter()
        model.fit(X_small, y_small)
        fit_seconds = time.perf_counter() - started
        real = _accuracy(classifier, _flat(X_small), y_small, _flat(X_test), y_test, seed)
        for ratio in ratios:
            row = {
                "label": label,
                "budget": int(budget),
                "fit_seconds": round(fit_seconds, 2),
                **augment_scores(
                    model, X_small, y_small, X_test, y_test, ratio, classifier, seed, _real=real
                ),
            }
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The study's rows as an aligned text table."""
    head = f"{'model':<8}{'budget':>7}{'ratio':>7}{'n_syn':>7}{'acc_real':>10}{'acc_aug':>9}{'gain':>8}{'syn_acc':>9}"
    lines = [head]
    for r in rows:
        syn = "-" if r["synthetic_label_acc"] is None else f"{r['synthetic_label_acc']:.3f}"
        lines.append(
            f"{r.get('label', ''):<8}{r['n_real']:>7}{r['ratio']:>7g}{r['n_synthetic']:>7}"
            f"{r['acc_real']:>10.3f}{r['acc_augmented']:>9.3f}{r['gain']:>+8.3f}{syn:>9}"
        )
    return "\n".join(lines)


def write_augmentation_plot(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Test accuracy against the synthetic ratio (ratio 0 = real data only), one line per (model, budget)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise DataError("no augmentation results to plot")
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((str(r.get("label", "")), int(r["n_real"])), []).append(r)
    labels = sorted({k[0] for k in groups})
    styles = ["-", "--", ":", "-."]
    budgets = sorted({k[1] for k in groups})
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (label, n_real), group in sorted(groups.items()):
        group = sorted(group, key=lambda r: r["ratio"])
        xs = [0.0] + [r["ratio"] for r in group]
        ys = [group[0]["acc_real"]] + [r["acc_augmented"] for r in group]
        colour = cmap(budgets.index(n_real) / max(1, len(budgets) - 1) * 0.85)
        name = f"{label + ', ' if label else ''}{n_real} real"
        ax.plot(xs, ys, styles[labels.index(label) % len(styles)], marker="o", color=colour, label=name)
    ax.set_xlabel("synthetic rows per real row (0 = real data only)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or f"augmentation ({rows[0]['classifier']} classifier)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=max(1, math.ceil(len(groups) / 6)))
    return save_figure(fig, path)


def augment_run(
    families: Sequence[str],
    train: Dataset,
    test: Dataset,
    out_dir: str | Path,
    budgets: Sequence[int] = (100, 500, 2000),
    ratios: Sequence[float] = (0.5, 1.0, 2.0),
    epochs: int | None = None,
    classifier: str = "logreg",
    seed: int = 0,
    verbose: int = 0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """`genmodels augment`: the study for each family's default generator on train -> test; writes
    out_dir/results.json (settings and rows) and out_dir/augmentation.png."""
    if train.y is None or test.y is None:
        raise DataError(f"{train.name}: augmentation needs labelled data")
    for family in families:
        if family not in GENERATORS:
            raise DataError(f"model must be one of {', '.join(GENERATORS)}; got {family!r}")
    make_classifier(classifier)  # refuse an unknown classifier before any training
    rows = []
    for family in families:
        rows += augmentation_study(
            lambda n, f=family: default_generator(f, n, epochs, seed, verbose),
            train.X,
            train.y,
            test.X,
            test.y,
            budgets,
            ratios,
            seed,
            classifier,
            family,
            progress,
        )
    out_dir = Path(out_dir)
    write_json(
        out_dir / "results.json",
        {
            "data": train.name,
            "test": test.name,
            "n_test": len(test),
            "classifier": classifier,
            "epochs": epochs,
            "seed": seed,
            "rows": rows,
        },
    )
    write_augmentation_plot(
        rows,
        out_dir / "augmentation.png",
        f"augmentation on {train.name.split(' [')[0]} ({classifier} classifier, {len(test)} test images)",
    )
    return rows
