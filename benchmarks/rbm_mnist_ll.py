"""RBM test log-likelihood on binarized MNIST by AIS, next to the published number.

500 hidden units trained with PCD-1 (linear lr decay) on MNIST binarized stochastically (fixed seed); the
test log-likelihood is estimated by AIS (Salakhutdinov & Murray 2008: base-rate model, 14,500 temperatures,
100 runs) and compared with their -86.34 nats (CD-25, 500 hidden) and the independent-pixel baseline.

    python benchmarks/rbm_mnist_ll.py            # 60k rows, 40 epochs (CPU budget: see the printed minutes)
    python benchmarks/rbm_mnist_ll.py --quick    # 10k rows, 5 epochs, 3,000 temperatures
"""

from __future__ import annotations

import argparse
import time

import torch

from _common import print_table, write_result
from genmodels import RBM, load_dataset
from genmodels.data import data_root
from genmodels.metrics import independent_bernoulli_log_likelihood

PUBLISHED = {"RBM 500h CD-25 (Salakhutdinov & Murray 2008)": -86.34, "RBM 500h CD-3 (same paper)": -105.50,
             "RBM 500h CD-1 (same paper)": -125.53}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--check-betas", type=int, default=58000, help="a second AIS run with more temperatures")
    parser.add_argument("--save", default="runs/rbm_mnist_ll", help="folder for the trained model")
    args = parser.parse_args()
    epochs = 5 if args.quick else args.epochs
    spec = f"mnist:{data_root() / 'mnist'}"
    train = load_dataset(spec, "train", binarize="stochastic", seed=0)
    test = load_dataset(spec, "test", binarize="stochastic", seed=1)
    X_train = train.X.reshape(len(train), -1)[: 10_000 if args.quick else None]
    X_test = test.X.reshape(len(test), -1)
    rbm = RBM(n_hidden=500, persistent=True, cd_k=1, lr=args.lr, lr_schedule="linear", momentum=0.5,
              weight_decay=1e-4, batch_size=100, epochs=epochs, seed=0, device=args.device, verbose=1)
    started = time.perf_counter()
    rbm.fit(X_train)
    train_minutes = (time.perf_counter() - started) / 60
    started = time.perf_counter()
    n_betas = 3000 if args.quick else 14500
    estimate = rbm.log_likelihood(X_test, n_runs=100, n_betas=n_betas)
    ais_minutes = (time.perf_counter() - started) / 60
    rbm.save(args.save)
    train_ll = rbm.log_likelihood(X_train[:10_000], n_runs=100, n_betas=n_betas)
    check_betas = 6000 if args.quick else args.check_betas
    check = rbm.log_likelihood(X_test, n_runs=100, n_betas=check_betas)  # does log Z move with more betas?
    baseline = independent_bernoulli_log_likelihood(X_train, X_test)
    rows = [{"model": f"genmodels RBM 500h PCD-1, {epochs} epochs ({rbm.module_.weight.device.type})",
             "test LL (nats)": round(estimate.mean, 2),
             "AIS interval": f"[{estimate.interval[0]:.2f}, {estimate.interval[1]:.2f}]",
             "train LL (nats)": round(train_ll.mean, 2), "log Z": round(estimate.log_z, 2),
             "train min": round(train_minutes, 1), "AIS min": round(ais_minutes, 1)}]
    rows.append({"model": f"same model, AIS with {check_betas} temperatures", "test LL (nats)": round(check.mean, 2),
                 "AIS interval": f"[{check.interval[0]:.2f}, {check.interval[1]:.2f}]",
                 "log Z": round(check.log_z, 2)})
    rows += [{"model": name, "test LL (nats)": value} for name, value in PUBLISHED.items()]
    rows.append({"model": "independent pixels (Laplace-smoothed marginals)", "test LL (nats)": round(baseline, 2)})
    table = print_table(rows, f"RBM test log-likelihood on binarized MNIST ({len(X_train)} training rows, "
                              f"{torch.get_num_threads()} threads)")
    write_result("rbm_mnist_ll" + ("_quick" if args.quick else ""),
                 {"rows": rows, "epochs": epochs, "n_betas": n_betas, "n_runs": 100, "target": -95.0,
                  "stderr_over_test_rows": estimate.stderr, "table": table})


if __name__ == "__main__":
    main()
