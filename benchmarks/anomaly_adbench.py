"""Anomaly detection on ADBench's classical sets: genmodels' VAE, RBM, GAN and ensemble beside PyOD's
IForest, AutoEncoder, VAE and DeepSVDD (PyOD defaults), side by side in one script.

Protocol (as ADBench's unsupervised setting): fit on all of X without labels, score every row, ROC AUC and
average precision against y; every method gets the same float32 X; fixed seeds, averaged. Runs on any
folder of .npz files holding X and y (1 = anomaly).

    python benchmarks/anomaly_adbench.py [FOLDER] [--seeds 0,1,2] [--quick] [--methods "genmodels vae,PyOD VAE"]

With --methods only those methods run; the other methods' numbers are kept from the last result file of the
same seeds and folder, so a change to genmodels does not mean re-running the peers (about 30 of the 40 minutes).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits

from _common import RESULTS, print_table, write_result
from genmodels.apps.anomaly import AnomalyDetector
from genmodels.data import data_root
from genmodels.metrics import anomaly_metrics

OURS = ("vae", "rbm", "gan", "ensemble")
ABLATIONS = ("ensemble vae_score=bound", "ensemble neighbours=5")  # run only when named in --methods
PEERS = ("IForest", "AutoEncoder", "VAE", "DeepSVDD")
CLASSICAL = ("KNN", "LOF", "ECOD")  # PyOD defaults: KNN n_neighbors=5 method="largest", LOF n_neighbors=20


def pyod_scores(name: str, X: np.ndarray, seed: int) -> np.ndarray:
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.deep_svdd import DeepSVDD
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    from pyod.models.vae import VAE

    make = {"IForest": lambda: IForest(random_state=seed),
            "AutoEncoder": lambda: AutoEncoder(random_state=seed, verbose=0),
            "VAE": lambda: VAE(random_state=seed, verbose=0),
            "DeepSVDD": lambda: DeepSVDD(n_features=X.shape[1], random_state=seed, verbose=0),
            # the distance peers see standardised features (a user would; raw units let one feature decide)
            "KNN": lambda: KNN(), "LOF": lambda: LOF(), "ECOD": lambda: ECOD()}[name]
    if name in ("KNN", "LOF"):
        X = (X - X.mean(0)) / np.where(X.std(0) > 1e-8, X.std(0), 1.0)
    torch.manual_seed(seed)
    return make().fit(X).decision_scores_


def ours_scores(name: str, X: np.ndarray, seed: int) -> np.ndarray:
    model, *options = name.split()  # "ensemble vae_score=bound": a detector parameter after the model
    params = {k: int(v) if v.isdigit() else v for k, v in (o.split("=") for o in options)}
    return AnomalyDetector(model=model, seed=seed, **params).fit(X).decision_scores_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(data_root() / "anomaly"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--quick", action="store_true", help="one seed, the three smallest data sets")
    parser.add_argument("--methods", default="", help="comma-separated labels to run, e.g. 'genmodels vae'")
    parser.add_argument("--out", default="", help="result name (default anomaly_adbench[_quick])")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads for every method")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    warnings.filterwarnings("ignore")
    files = sorted(Path(args.folder).glob("*.npz"), key=lambda p: p.stat().st_size)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        files, seeds = files[:3], seeds[:1]
    methods = [(f"genmodels {m}", ours_scores, m) for m in OURS + ABLATIONS] + \
        [(f"PyOD {m}", pyod_scores, m) for m in PEERS + CLASSICAL]
    name = args.out or ("anomaly_adbench_quick" if args.quick else "anomaly_adbench")
    results: dict[str, dict[str, dict[str, float]]] = {path.stem: {} for path in files}
    if args.methods:
        wanted = args.methods.split(",")
        unknown = sorted(set(wanted) - {m[0] for m in methods})
        if unknown:
            parser.error(f"unknown methods {unknown}; choose from {[m[0] for m in methods]}")
        previous = RESULTS / f"{name}.json"
        if previous.exists():
            old = json.loads(previous.read_text())
            if old.get("seeds") == seeds and old.get("folder") == args.folder:
                results = {ds: {k: v for k, v in old["results"].get(ds, {}).items() if k not in wanted}
                           for ds in results}
        methods = [m for m in methods if m[0] in wanted]
    else:
        methods = [m for m in methods if m[2] not in ABLATIONS]
    for path in files:
        with np.load(path, allow_pickle=False) as d:
            X, y = d["X"].astype(np.float32), d["y"].astype(int)
        for label, fn, method in methods:
            aucs, aps, secs = [], [], []
            for seed in seeds:
                started = time.perf_counter()
                scores = fn(method, X, seed)
                secs.append(time.perf_counter() - started)
                m = anomaly_metrics(y, scores)
                aucs.append(m["roc_auc"])
                aps.append(m["average_precision"])
            results[path.stem][label] = {"roc_auc": float(np.mean(aucs)), "ap": float(np.mean(aps)),
                                         "fit_seconds": float(np.mean(secs)),
                                         "roc_auc_per_seed": [float(a) for a in aucs]}
            print(f"{path.stem:18s} {label:34s} AUROC {np.mean(aucs):.3f}  AP {np.mean(aps):.3f}  "
                  f"{np.mean(secs):6.1f} s", flush=True)
        write_result(name, {"seeds": seeds, "folder": args.folder, "results": results, "complete": False})
    ours, peers = [f"genmodels {m}" for m in OURS + ABLATIONS], [f"PyOD {m}" for m in PEERS + CLASSICAL]
    required = ours[:len(OURS)] + peers
    labels = [lab for lab in ours + peers if all(lab in r for r in results.values())]
    auroc_rows = [{"data set": ds, **{lab: round(r[lab]["roc_auc"], 3) for lab in labels}}
                  for ds, r in results.items()]
    mean = {lab: float(np.mean([r[lab]["roc_auc"] for r in results.values()])) for lab in labels}
    auroc_rows.append({"data set": "mean ROC AUC", **{lab: round(v, 3) for lab, v in mean.items()}})
    mean_ap = {lab: float(np.mean([r[lab]["ap"] for r in results.values()])) for lab in labels}
    auroc_rows.append({"data set": "mean AP", **{lab: round(v, 3) for lab, v in mean_ap.items()}})
    # mean rank by ROC AUC over the sets (1 = best; ties share the mean rank), among the methods shown
    ranks = [rankdata([-r[lab]["roc_auc"] for lab in labels]) for r in results.values()]
    mean_rank = {lab: float(np.mean([rk[i] for rk in ranks])) for i, lab in enumerate(labels)}
    auroc_rows.append({"data set": "mean rank", **{lab: round(v, 2) for lab, v in mean_rank.items()}})
    fit = {lab: float(np.mean([r[lab]["fit_seconds"] for r in results.values()])) for lab in labels}
    auroc_rows.append({"data set": "mean fit s", **{lab: round(v, 1) for lab, v in fit.items()}})
    sets = "ADBench classical sets" if Path(args.folder) == data_root() / "anomaly" else Path(args.folder).name
    table = print_table(auroc_rows, f"{sets}, ROC AUC (mean of seeds {seeds})")
    targets, complete = {}, set(required) <= set(labels)
    if complete:
        best_single = max(mean[f"genmodels {m}"] for m in ("vae", "rbm", "gan"))
        targets = {"best single family >= PyOD VAE": best_single >= mean["PyOD VAE"],
                   "ensemble >= IForest": mean["genmodels ensemble"] >= mean["PyOD IForest"]}
        print(targets)
    write_result(name, {"seeds": seeds, "folder": args.folder, "results": results, "mean_roc_auc": mean,
                        "mean_ap": mean_ap, "mean_rank": mean_rank, "mean_fit_seconds": fit, "targets": targets, "table": table,
                        "complete": complete})


if __name__ == "__main__":
    main()
