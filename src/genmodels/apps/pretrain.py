"""CNN pretraining with convolutional RBMs: a ConvDBN learns filters from every training image (labels unused),
then a CNN whose layers compute the same pooled probabilities is fine-tuned on the first N labelled images
(stratified, fixed by the seed), beside the same CNN from a random start; test accuracy of both."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data import DataInfo, Dataset
from ..errors import DataError
from ..io import write_json
from ..models import ConvDBN
from ..models.base import epochs_for
from ..nn.conv_rbm import ConvRBMClassifier
from ..report.plots import save_figure, save_image_grid
from .augment import stratified_subset

FINETUNE_STEPS = 2000  # Adam updates per fine-tuning run unless epochs are given (clipped to 3..200 epochs)
FINETUNE_LR = 3e-3  # Adam; the sigmoid units of a ConvRBM-shaped CNN learn slowly at 1e-3


def pretrain_model(train: Dataset, params: dict[str, Any] | None = None, seed: int = 0,
                   budget: float | None = None, quiet: bool = False) -> ConvDBN:
    """The ConvDBN fitted on every training image: its recommended settings for the data, then `params`."""
    settings = {**ConvDBN.recommended(DataInfo.of(train)), "seed": seed, "verbose": 0 if quiet else 1,
                **(params or {})}
    return ConvDBN(**settings).fit(train.X, time_budget=budget)


def finetune(dbn: ConvDBN | None, like: ConvDBN, X: torch.Tensor, y: np.ndarray, n_classes: int, seed: int,
             epochs: int | None = None, batch_size: int = 32, lr: float = FINETUNE_LR,
             deadline: float | None = None, steps: int = FINETUNE_STEPS) -> ConvRBMClassifier:
    """Fine-tune the CNN shaped like `like`'s stack on (X, y): from `dbn`'s filters and biases, or when dbn is
    None from random filters (PyTorch's default) with the biases a ConvRBM starts from. Adam with a cosine-decayed learning rate; stops early at `deadline` (perf_counter time)."""
    torch.manual_seed(seed)
    net = ConvRBMClassifier(like.image_shape_, like.n_filters, like.filter_size, like.pool, n_classes)
    if dbn is not None:
        net.load_nets(dbn.module_)
    else:  # random filters, but the hidden biases a ConvRBM starts from (PyTorch's default biases saturate the
        # pooled sigmoids, and the CNN then stays at chance for thousands of updates)
        t = float(like.sparsity_target)
        with torch.no_grad():
            for conv, p in zip(net.convs, net.pools, strict=True):
                conv.bias.fill_(math.log(t / (p * p * (1 - t))))
    net = net.to(X.device)
    labels = torch.as_tensor(y, dtype=torch.long, device=X.device)
    epochs = int(epochs or epochs_for(steps, batch_size, len(X), 3, 200))
    steps_per_epoch = math.ceil(len(X) / batch_size)
    total = epochs * steps_per_epoch
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    net.train()
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=g).to(X.device)
        for b in range(steps_per_epoch):
            idx = order[b * batch_size: (b + 1) * batch_size]
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(net(X[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
        if deadline is not None and time.perf_counter() > deadline:
            break
    return net.eval()


def accuracy(net: ConvRBMClassifier, X: torch.Tensor, y: np.ndarray, batch: int = 1000) -> float:
    with torch.no_grad():
        pred = torch.cat([net(X[i: i + batch]).argmax(1) for i in range(0, len(X), batch)])
    return float((pred.cpu().numpy() == np.asarray(y)).mean())


def check_results_folder(out: Path, overwrite: bool) -> None:
    """Refuse a folder that already holds pretraining results unless `overwrite` (nothing is written)."""
    if (Path(out) / "results.json").exists() and not overwrite:
        raise DataError(f"{out} already holds pretraining results; choose another folder or overwrite it "
                        "(--overwrite, overwrite=True)")


def pretrain_run(train: Dataset, test: Dataset, out: str | Path, labels: Sequence[int] = (100, 1000),
                 seeds: Sequence[int] = (0, 1, 2), budget: float | None = None, params: dict[str, Any] | None = None,
                 finetune_epochs: int | None = None, finetune_lr: float = FINETUNE_LR,
                 finetune_steps: int = FINETUNE_STEPS, overwrite: bool = False,
                 quiet: bool = False, progress: Callable[[dict[str, Any]], None] | None = None,
                 model: ConvDBN | None = None) -> dict[str, Any]:
    """Pretrain a ConvDBN on every training image (labels unused; seed = the first seed), then for each label
    budget and seed fine-tune the CNN from its filters and from a random start on the same stratified subset;
    test accuracy of both (`model`: an already pretrained ConvDBN to use instead). `budget` (seconds): half for pretraining, the rest shared by the fine-tuning runs.
    Writes OUT/results.json ("rows": labels, seed, pretrained_acc, random_acc), OUT/filters.png and
    OUT/accuracy.png; a folder that already holds results is refused unless `overwrite`."""
    out = Path(out)
    check_results_folder(out, overwrite)
    if train.y is None or test.y is None:
        raise DataError("pretrain needs labelled data (train and test labels) to fine-tune and score the CNN")
    if train.X.ndim != 4:
        raise DataError(f"pretrain needs images (N, C, H, W); {train.name} has rows of shape {train.X.shape[1:]}")
    labels = [int(n) for n in labels]
    if min(labels) < len(np.unique(train.y)) or max(labels) > len(train):
        raise DataError(f"--labels: each budget must be between the number of classes and {len(train)}; got {labels}")
    seeds = [int(s) for s in seeds]
    started, cpu_started = time.perf_counter(), time.process_time()
    dbn = model or pretrain_model(train, params, seeds[0], None if budget is None else budget / 2, quiet)
    pretrain_seconds = time.perf_counter() - started
    X_train, X_test = dbn._images(train.X), dbn._images(test.X)  # standardised as the first layer's input
    n_classes = int(max(train.y.max(), test.y.max())) + 1
    rows = []
    runs_left = len(labels) * len(seeds)
    for n in labels:
        for seed in seeds:
            index = stratified_subset(train.y, n, seed)
            row: dict[str, Any] = {"labels": n, "seed": seed}
            for name, source in (("pretrained", dbn), ("random", None)):
                deadline = None
                if budget is not None:
                    left = started + budget - time.perf_counter()
                    deadline = time.perf_counter() + max(left, 0.0) / (2 * runs_left)
                t0 = time.perf_counter()
                net = finetune(source, dbn, X_train[index], train.y[index], n_classes, seed, finetune_epochs,
                               lr=finetune_lr, deadline=deadline, steps=finetune_steps)
                row[f"{name}_acc"] = accuracy(net, X_test, test.y)
                row[f"{name}_seconds"] = round(time.perf_counter() - t0, 2)
            runs_left -= 1
            rows.append(row)
            if progress is not None:
                progress(row)
    summary = {"rows": rows, "data": train.name, "n_train": len(train), "n_test": len(test),
               "pretrain_seed": seeds[0], "pretrain_seconds": round(pretrain_seconds, 2),
               "seconds": round(time.perf_counter() - started, 2),
               "cpu_seconds": round(time.process_time() - cpu_started, 2), "threads": torch.get_num_threads(),
               "convdbn": dbn.get_params(), "finetune_epochs": finetune_epochs, "finetune_lr": finetune_lr,
               "finetune_steps": finetune_steps,
               "means": mean_rows(rows)}
    out.mkdir(parents=True, exist_ok=True)
    write_filters_png(dbn.components_, out / "filters.png")
    write_accuracy_png(summary["means"], out / "accuracy.png")
    write_json(out / "results.json", summary)
    return summary


def mean_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over the seeds, per label budget."""
    means = []
    for n in sorted({r["labels"] for r in rows}):
        got = [r for r in rows if r["labels"] == n]
        entry: dict[str, Any] = {"labels": n, "seeds": len(got)}
        for key in ("pretrained_acc", "random_acc"):
            values = np.array([r[key] for r in got])
            entry[key] = round(float(values.mean()), 4)
            entry[key.replace("_acc", "_std")] = round(float(values.std()), 4)
        means.append(entry)
    return means


def write_filters_png(filters: np.ndarray, path: Path) -> Path:
    """The first layer's filters as images, each scaled to [0, 1] (grey, or colour for 3 channels)."""
    w = np.asarray(filters, np.float32)
    if w.shape[1] not in (1, 3):
        w = w.reshape(-1, 1, *w.shape[2:])
    lo, hi = w.min((1, 2, 3), keepdims=True), w.max((1, 2, 3), keepdims=True)
    return save_image_grid(path, (w - lo) / np.maximum(hi - lo, 1e-8))


def write_accuracy_png(means: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    x = [m["labels"] for m in means]
    for key, name in (("pretrained", "ConvDBN-pretrained CNN"), ("random", "same CNN, random start")):
        ax.errorbar(x, [100 * m[f"{key}_acc"] for m in means], yerr=[100 * m[f"{key}_std"] for m in means],
                    marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training images")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = ["labels\tseed\tpretrained_acc\trandom_acc"]
    lines += [f"{r['labels']}\t{r['seed']}\t{r['pretrained_acc']:.4f}\t{r['random_acc']:.4f}" for r in rows]
    return "\n".join(lines)
