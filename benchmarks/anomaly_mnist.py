"""One-class MNIST (the standard image anomaly protocol): train on one digit's training images, score all
10,000 test images, anomaly = any other digit; ROC AUC per digit and its mean, for each family.

    python benchmarks/anomaly_mnist.py [--families vae,rbm,gan,ensemble] [--digits 0-9] [--epochs 3] [--trim 0] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import print_table, write_result
from genmodels import load_dataset
from genmodels.apps.anomaly import FAMILIES, AnomalyDetector, combine_scores, robust_stats
from genmodels.data import data_root
from genmodels.metrics import anomaly_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="vae,rbm,gan,ensemble")
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--trim", type=float, default=0.0,
                        help="AnomalyDetector trim; 0 as the protocol's training digits are clean")
    parser.add_argument("--quick", action="store_true", help="digits 0 and 1, 2 epochs, 2000 test images")
    args = parser.parse_args()
    spec = f"mnist:{data_root() / 'mnist'}"
    train, test = load_dataset(spec, "train"), load_dataset(spec, "test")
    digits = [int(d) for d in args.digits.split(",")]
    if args.quick:
        digits, args.epochs, test = [0, 1], 2, test.subset(np.arange(2000))
    families = args.families.split(",")
    results = {f: {} for f in families}
    for digit in digits:
        normal = train.X[train.y == digit]
        y = (test.y != digit).astype(int)
        fitted = {}
        for family in families:
            started = time.perf_counter()
            if family == "ensemble" and all(f in fitted for f in FAMILIES):
                # the ensemble detector would refit these same three models (same seed and settings):
                # combine their scores the way AnomalyDetector(model="ensemble") does instead
                scores = combine_scores({f: fitted[f][1] for f in FAMILIES},
                                        {f: robust_stats(fitted[f][0].decision_scores_) for f in FAMILIES})
                seconds = sum(results[f][digit]["seconds"] for f in FAMILIES)
            else:
                det = AnomalyDetector(model=family, epochs=args.epochs, trim=args.trim, seed=0).fit(normal)
                scores = det.decision_function(test.X)
                fitted[family] = (det, scores)
                seconds = time.perf_counter() - started
            auc = anomaly_metrics(y, scores)["roc_auc"]
            results[family][digit] = {"roc_auc": auc, "seconds": seconds}
            print(f"digit {digit} {family:9s} AUROC {auc:.3f} ({seconds:.0f} s)", flush=True)
    rows = [{"family": f, **{str(d): round(results[f][d]["roc_auc"], 3) for d in digits},
             "mean": round(float(np.mean([results[f][d]["roc_auc"] for d in digits])), 3)} for f in families]
    table = print_table(rows, f"One-class MNIST ROC AUC ({args.epochs} epochs per model)")
    write_result("anomaly_mnist_quick" if args.quick else "anomaly_mnist",
                 {"settings": vars(args), "results": results, "rows": rows, "table": table})


if __name__ == "__main__":
    main()
