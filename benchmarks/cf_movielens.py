"""RBM collaborative filtering on MovieLens 100K beside scikit-surprise (SVD, SVD++, KNNBasic, BaselineOnly).

The five standard splits u1..u5 (80/20, disjoint test sets); per algorithm the mean RMSE/MAE over the folds and
the fit time relative to surprise's SVD. Both sides run single-threaded (surprise is single-threaded Cython; torch
is set to one thread), on the same train/test ratings. surprise's algorithms use their documented defaults (the
settings of surprise's own benchmark table). The user-based RatingsRBM row blends the RBM with its bias
baseline; the "pure RBM" row is the same fitted model with baseline_weight=0. The item-based RatingsRBM
(orientation="item": one RBM per item over the users who rated it) is a pure RBM, no blend; "user + item"
averages the two pure RBMs' predictions. The conditional row follows the paper's
Netflix protocol: it is told which (user, item) pairs are in the test set (not their ratings), which the
peers are not, so it is reported apart from the comparison.

    python benchmarks/cf_movielens.py            # 5 folds, with SVD++ (about 10 minutes on 2 cores)
    python benchmarks/cf_movielens.py --quick    # fold u1 only, fewer RBM epochs, no SVD++
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import print_table, write_result

RBM_PARAMS = {"n_hidden": 200, "cd_k": 1, "lr": 0.01, "momentum": 0.9, "weight_decay": 0.01, "batch_size": 32,
              "epochs": 40, "average_last": 0.5, "baseline_weight": 0.5, "seed": 0}
ITEM_PARAMS = {**RBM_PARAMS, "orientation": "item", "baseline_weight": 0.0}


def fit_genmodels(train, test, epochs: int, conditional: bool) -> dict[str, tuple]:
    from genmodels import RatingsRBM

    model = RatingsRBM(**{**RBM_PARAMS, "epochs": epochs}, verbose=0)
    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    out = {"genmodels RatingsRBM (+bias blend)": (model.predict(test[["user", "item"]]), seconds)}
    model.set_params(baseline_weight=0.0)  # a prediction-time setting: the same fitted RBM, unblended
    user_pred = model.predict(test[["user", "item"]])
    out["genmodels RatingsRBM (pure RBM)"] = (user_pred, seconds)
    model = RatingsRBM(**{**ITEM_PARAMS, "epochs": epochs}, verbose=0)
    start = time.perf_counter()
    model.fit(train)
    item_seconds = time.perf_counter() - start
    item_pred = model.predict(test[["user", "item"]])
    out["genmodels RatingsRBM item-based (pure RBM)"] = (item_pred, item_seconds)
    out["genmodels RatingsRBM user + item (mean of the two pure RBMs)"] = ((user_pred + item_pred) / 2,
                                                                         seconds + item_seconds)
    if conditional:  # the paper's Netflix protocol: which (user, item) pairs are asked about is known, not the ratings
        model = RatingsRBM(**{**RBM_PARAMS, "epochs": epochs}, conditional=True, verbose=0)
        start = time.perf_counter()
        model.fit(train, implicit=test[["user", "item"]])
        out["genmodels conditional RatingsRBM, told which test pairs exist (+bias blend)"] = (
            model.predict(test[["user", "item"]]), time.perf_counter() - start)
    return out


def fit_surprise(train, test, with_svdpp: bool) -> dict[str, tuple]:
    from surprise import SVD, BaselineOnly, Dataset, KNNBasic, Reader, SVDpp

    trainset = Dataset.load_from_df(train[["user", "item", "rating"]], Reader(rating_scale=(1, 5))).build_full_trainset()
    algorithms = {"surprise SVD": SVD(random_state=0), "surprise KNNBasic": KNNBasic(verbose=False),
                  "surprise BaselineOnly": BaselineOnly(verbose=False)}
    if with_svdpp:
        algorithms["surprise SVD++"] = SVDpp(random_state=0)
    out = {}
    for name, algo in algorithms.items():
        start = time.perf_counter()
        algo.fit(trainset)
        seconds = time.perf_counter() - start
        out[name] = (np.array([algo.predict(u, i).est for u, i in zip(test["user"], test["item"], strict=True)]),
                     seconds)
    return out


def main() -> None:
    import torch

    from genmodels.data import data_root, movielens_folds
    from genmodels.metrics.recsys import mae, rmse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fold u1 only, 15 RBM epochs, no SVD++")
    parser.add_argument("--data", default=str(data_root() / "movielens-100k"), help="the ml-100k folder")
    parser.add_argument("--no-svdpp", action="store_true", help="skip SVD++ (the slowest peer)")
    parser.add_argument("--no-conditional", action="store_true",
                        help="skip the conditional RBM that is told which test pairs exist (the paper's protocol)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # surprise is single-threaded: same threads on both sides

    folds = movielens_folds(args.data)[:1 if args.quick else 5]
    epochs = 15 if args.quick else RBM_PARAMS["epochs"]
    per_algo: dict[str, dict[str, list[float]]] = {}
    for k, (train, test) in enumerate(folds, 1):
        results = {**fit_genmodels(train, test, epochs, conditional=not (args.quick or args.no_conditional)),
                   **fit_surprise(train, test, with_svdpp=not (args.quick or args.no_svdpp))}
        truth = test["rating"].to_numpy()
        for name, (pred, seconds) in results.items():
            entry = per_algo.setdefault(name, {"rmse": [], "mae": [], "fit_seconds": []})
            entry["rmse"].append(rmse(truth, pred))
            entry["mae"].append(mae(truth, pred))
            entry["fit_seconds"].append(seconds)
        print(f"fold u{k}: " + ", ".join(f"{n} {per_algo[n]['rmse'][-1]:.4f}" for n in per_algo), flush=True)

    svd_time = float(np.sum(per_algo["surprise SVD"]["fit_seconds"]))
    rows = [{"algorithm": name, "RMSE": float(np.mean(e["rmse"])), "MAE": float(np.mean(e["mae"])),
             "RMSE per fold": " ".join(f"{v:.4f}" for v in e["rmse"]),
             "fit time / SVD's": float(np.sum(e["fit_seconds"])) / svd_time}
            for name, e in per_algo.items()]
    rows.sort(key=lambda r: r["RMSE"])
    print_table(rows, f"MovieLens 100K, folds u1..u{len(folds)} (RMSE/MAE: mean over folds)")
    write_result("cf_movielens" + ("_quick" if args.quick else ""),
                 {"folds": len(folds), "rbm_params": {**RBM_PARAMS, "epochs": epochs},
                  "item_rbm_params": {**ITEM_PARAMS, "epochs": epochs}, "rows": rows,
                  "per_fold": per_algo, "svd_fit_seconds": svd_time})


if __name__ == "__main__":
    main()
