"""VAE test NLL on binarized MNIST after a fixed CPU budget, next to published numbers.

Protocol: full MNIST 60k/10k (../shared/data/mnist); training images binarized dynamically (a fresh
Bernoulli draw every step, as Burda et al. 2016); the test set binarized stochastically once with seed 0;
one stochastic layer, MLP encoder/decoder; test NLL = -IWAE bound with k=1000 importance samples, in nats.
The budget is CPU time of the training process (all its threads; `time.process_time`), evaluation
excluded, so a run that shares the machine still gets exactly its budget of compute.

    nice -n 19 python benchmarks/vae_mnist.py [--budget-minutes 20] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from _common import print_table, write_result
from genmodels import VAE, load_dataset
from genmodels.data import data_root
from genmodels.metrics import independent_bernoulli_log_likelihood

PUBLISHED = [("VAE k=1, Burda et al. 2016 (3280 epochs)", 86.76), ("pythae VAE reproduction", 89.78)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-minutes", type=float, default=20.0)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 minute, 10k images, k=50 on 1000")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = f"mnist:{data_root() / 'mnist'}"
    train = load_dataset(spec, "train")
    test = load_dataset(spec, "test").binarize("stochastic", seed=0)
    if args.quick:
        args.budget_minutes, args.k = 1.0, 50
        train, test = train.subset(np.arange(10000)), test.subset(np.arange(1000))
    model = VAE(hidden_dims=(512, 256), latent_dim=args.latent_dim, arch="mlp", batch_size=128, lr=1e-3,
                dynamic_binarization=True, verbose=0, device="cpu", seed=0)
    budget = args.budget_minutes * 60
    started, cpu_started = time.perf_counter(), time.process_time()
    epochs = 0
    while time.process_time() - cpu_started < budget:
        model.partial_fit(train)
        epochs += 1
        print(f"epoch {epochs}: loss {model.history_[-1]['loss']:.2f} at {time.process_time() - cpu_started:.0f} "
              f"CPU s", flush=True)
    train_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    eval_started = time.perf_counter()
    nll = -model.log_likelihood(test, k=args.k).mean
    elbo_nll = -model.log_likelihood(test, k=1).mean
    eval_seconds = time.perf_counter() - eval_started
    baseline = -independent_bernoulli_log_likelihood(train.binarize("stochastic", seed=1).X, test.X)
    rows = [{"model": f"genmodels VAE, {epochs} epochs in {cpu_seconds / 60:.1f} CPU-min "
                      f"({torch.get_num_threads()} thread(s))",
             "test NLL (nats)": round(nll, 2), "k": args.k}]
    rows += [{"model": name, "test NLL (nats)": value, "k": 5000 if "Burda" in name else "?"}
             for name, value in PUBLISHED]
    rows.append({"model": "independent per-pixel Bernoulli baseline", "test NLL (nats)": round(baseline, 2),
                 "k": "exact"})
    table = print_table(rows, "VAE on binarized MNIST: test NLL")
    print(f"-ELBO (k=1): {elbo_nll:.2f} nats; evaluation took {eval_seconds:.0f} s; target <= 90 nats: "
          f"{'met' if nll <= 90 else 'NOT met'}")
    write_result("vae_mnist_quick" if args.quick else "vae_mnist", {
        "settings": vars(args), "epochs": epochs, "train_seconds": train_seconds, "train_cpu_seconds": cpu_seconds,
        "threads": torch.get_num_threads(), "test_nll_iwae": nll,
        "test_nll_elbo_k1": elbo_nll, "baseline_nll": baseline, "eval_seconds": eval_seconds,
        "target_met": bool(nll <= 90), "rows": rows, "table": table,
        "history": [{k: round(v, 4) if isinstance(v, float) else v for k, v in h.items()} for h in model.history_],
    })


if __name__ == "__main__":
    main()
