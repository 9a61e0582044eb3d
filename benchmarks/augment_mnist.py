"""Augmentation on MNIST: for real-data budgets of 100, 500 and 2000 training images (stratified draws from the
60,000), a class-conditional generator of each family (conditional GAN, CVAE, one RBM per class; MLP networks,
about 2000 updates each, `genmodels.apps.augment.default_generator`) is fitted on the budget's images alone,
and a logistic-regression classifier is trained on the real images and on real + synthetic ones (ratios 0.5,
1 and 2 synthetic per real), tested on 10,000 MNIST test images.

    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/augment_mnist.py      # about 10 minutes, 1 thread

Writes results/augment_mnist.json and results/augment_mnist.png (augment_mnist_<classifier>.* with
--classifier mlp|knn) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch

import _common
from _common import RESULTS
from genmodels.apps.augment import (
    augmentation_study,
    default_generator,
    format_table,
    write_augmentation_plot,
)
from genmodels.data import data_root, load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", default="gan,vae,rbm")
    parser.add_argument("--budgets", default="100,500,2000")
    parser.add_argument("--ratios", default="0.5,1,2")
    parser.add_argument("--classifier", default="logreg")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    spec = f"mnist:{data_root() / 'mnist'}"
    train, test = load_dataset(spec, "train"), load_dataset(spec, "test")
    budgets = [int(b) for b in args.budgets.split(",")]
    ratios = [float(r) for r in args.ratios.split(",")]
    rows, started = [], time.perf_counter()
    for family in args.families.split(","):
        t0 = time.perf_counter()
        rows += augmentation_study(
            lambda n, f=family: default_generator(f, n, seed=args.seed),
            train.X,
            train.y,
            test.X,
            test.y,
            budgets,
            ratios,
            args.seed,
            args.classifier,
            family,
            progress=lambda r: print(format_table([r]).splitlines()[1], flush=True),
        )
        print(f"{family}: {time.perf_counter() - t0:.0f} s", flush=True)
    seconds = time.perf_counter() - started
    print(format_table(rows))
    table = [
        {
            "model": r["label"],
            "real": r["n_real"],
            "ratio": r["ratio"],
            "synthetic": r["n_synthetic"],
            "acc real": round(r["acc_real"], 4),
            "acc real+syn": round(r["acc_augmented"], 4),
            "gain": round(r["gain"], 4),
            "syn label acc": round(r["synthetic_label_acc"], 3),
            "fit s": r["fit_seconds"],
        }
        for r in rows
    ]
    _common.print_table(table, f"augmentation on MNIST ({args.classifier}, {len(test)} test images)")
    name = "augment_mnist" if args.classifier == "logreg" else f"augment_mnist_{args.classifier}"
    write_augmentation_plot(
        rows,
        RESULTS / f"{name}.png",
        f"MNIST augmentation ({args.classifier} classifier, {len(test)} test images)",
    )
    _common.write_result(name, {"settings": vars(args), "seconds": round(seconds, 1), "rows": rows})


if __name__ == "__main__":
    main()
