"""Synthetic tables beyond Adult: genmodels TabularSynthesizer beside ctgan's CTGAN and TVAE on ADBench sets.

Adult (benchmarks/tabular_adult.py) is one table with 6 continuous and 9 discrete columns. This script checks
that what holds there (fit speed, ML efficacy, fidelity) holds on tables of another shape, taken from
../shared/data/anomaly as plain numeric tables plus their label as a discrete column "anomaly":
satellite (6,435 rows, 36 continuous columns: a wide table, 390 encoded columns) and shuttle (49,097 rows,
9 continuous columns: a long one). Stratified 70/30 split. Every model gets the same epochs, batch 500 and
one torch thread. ML efficacy: a classifier for "anomaly" trained on the synthetic rows, tested on the
real 30% (F1 of "yes"), beside the same trained on the real 70%.

    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/tabular_tables.py
"""

from __future__ import annotations

import argparse
import json
import warnings

from _common import RESULTS, print_table, write_result
from tabular_adult import make, single_process_ctgan, speedups, timed

TABLES = ("satellite", "shuttle")
FILES = {"satellite": "30_satellite.npz", "shuttle": "32_shuttle.npz"}


def load_table(name: str, max_rows: int | None):
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from genmodels.data import data_root

    with np.load(data_root() / "anomaly" / FILES[name], allow_pickle=False) as d:
        X, y = d["X"].astype(np.float32), d["y"].astype(int)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    df["anomaly"] = np.where(y == 1, "yes", "no")
    if max_rows and len(df) > max_rows:
        df = df.sample(max_rows, random_state=0).reset_index(drop=True)
    train, test = train_test_split(df, test_size=0.3, stratify=df["anomaly"], random_state=0)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def evaluate(train, test, synth) -> dict:
    from genmodels.metrics.tabular import fidelity_report, ml_efficacy

    synth = synth[list(train.columns)]
    fid = fidelity_report(train, synth, ["anomaly"])
    eff = ml_efficacy(train, test, "anomaly", synth, ["anomaly"], positive="yes", n_threads=1)
    return {"column_fidelity": fid["column_fidelity"], "pair_similarity": fid["pair_similarity"],
            "ml_real": eff["real"], "ml_synthetic": eff["synthetic"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tables", default=",".join(TABLES))
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-rows", type=int, default=20000, help="rows kept per table before the split")
    p.add_argument("--models", default="genmodels GAN,genmodels GAN small,ctgan CTGAN,genmodels VAE,"
                                        "genmodels VAE small,ctgan TVAE")
    args = p.parse_args(argv)
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    single_process_ctgan()
    name = "tabular_tables"
    path = RESULTS / f"{name}.json"
    payload = json.loads(path.read_text()) if path.exists() else {}
    payload = {k: v for k, v in payload.items() if k not in ("benchmark", "machine")}
    key = f"epochs{args.epochs}_seed{args.seed}"
    for table in tables:
        train, test = load_table(table, args.max_rows)
        for m in models:  # a tiny fit first: imports and first-call set-up are not timed
            make(m, 1)[1](train.head(600), ["anomaly"])
        out = payload.setdefault(key, {}).setdefault(table, {"rows": {"train": len(train), "test": len(test)},
                                                             "models": {}})
        for m in models:
            _, fit, sample = make(m, args.epochs, seed=args.seed)
            _, wall, _ = timed(lambda fit=fit, train=train: fit(train, ["anomaly"]))
            res = {"fit_seconds": wall, **evaluate(train, test, sample(len(train)))}
            out["models"][m] = res
            print(f"{table} {m}: fit {wall:.1f}s F1 {res['ml_synthetic']['f1']:.3f} "
                  f"fidelity {res['column_fidelity']:.3f}", flush=True)
        rows = [{"model": m, "fit s": r["fit_seconds"], "accuracy": r["ml_synthetic"]["accuracy"],
                 "F1 anomaly": r["ml_synthetic"]["f1"], "ROC AUC": r["ml_synthetic"]["roc_auc"],
                 "column fidelity": r["column_fidelity"], "pair similarity": r["pair_similarity"]}
                for m, r in out["models"].items()]
        real = next(iter(out["models"].values()))["ml_real"]
        rows.append({"model": "real (reference)", "accuracy": real["accuracy"], "F1 anomaly": real["f1"],
                     "ROC AUC": real["roc_auc"]})
        out["speedup"] = speedups(out["models"])
        out["table"] = print_table(rows, f"{table}: {len(train)} training rows, {args.epochs} epochs, seed {args.seed}")
        print("fit-time speed-up:", json.dumps(out["speedup"]))
        payload[key][table] = out
        write_result(name, payload)


if __name__ == "__main__":
    main()
