"""RBM training throughput: genmodels RBM vs scikit-learn's BernoulliRBM on MNIST, side by side.

Both run the same algorithm (PCD-1 with one persistent chain per batch row, which is what BernoulliRBM does),
n_components=256, learning rate 0.1, the same batch size and epochs, on the same float32 array (the float64
row shows sklearn with numpy's default dtype), with the same threads. Also: a bare ten-line torch PCD-1 loop
(what the library's training loop must beat), a plain torch matmul of the same shapes (the bound; achieved
GFLOP/s are reported against it), learnergy's RBM where it installs, and the reconstruction error per pixel
on the MNIST test set (mean-field, the same formula for every library).

    python benchmarks/rbm_vs_sklearn.py            # full MNIST (60k rows), 1 epoch per run, batch 10 and 100
    python benchmarks/rbm_vs_sklearn.py --quick    # 10k rows
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from _common import print_table, write_result
from genmodels import RBM, load_dataset

N_HIDDEN, LR = 256, 0.1


def flops_per_sample(n_visible: int) -> float:
    """PCD-1: three matmuls (v W^T, h W, v' W^T) and two outer-product updates, 2 * V * H FLOPs each."""
    return 5 * 2 * n_visible * N_HIDDEN


def recon_error(W: np.ndarray, b_vis: np.ndarray, b_hid: np.ndarray, X: np.ndarray) -> float:
    """Mean squared error per pixel of the mean-field reconstruction sigmoid(sigmoid(X W^T + c) W + b)."""
    def sig(z):
        return 1.0 / (1.0 + np.exp(-z))

    X = X.astype(np.float64)
    h = sig(X @ W.T.astype(np.float64) + b_hid)
    return float(np.mean((sig(h @ W.astype(np.float64) + b_vis) - X) ** 2))


def run_sklearn(X: np.ndarray, batch_size: int, epochs: int) -> tuple[float, tuple]:
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=N_HIDDEN, learning_rate=LR, batch_size=batch_size, n_iter=epochs, random_state=0)
    started = time.perf_counter()
    rbm.fit(X)
    return time.perf_counter() - started, (rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_)


def run_genmodels(X: np.ndarray, batch_size: int, epochs: int, device: str = "cpu") -> tuple[float, tuple]:
    rbm = RBM(n_hidden=N_HIDDEN, lr=LR, cd_k=1, persistent=True, batch_size=batch_size, epochs=epochs, seed=0,
              device=device, verbose=0)
    started = time.perf_counter()
    rbm.fit(X)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started, (rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_)


def run_bare_torch(X: np.ndarray, batch_size: int, epochs: int) -> tuple[float, tuple]:
    """The ten-line loop: what a user would write by hand."""
    torch.manual_seed(0)
    Xt = torch.from_numpy(X)
    W, b, c = torch.randn(N_HIDDEN, X.shape[1]) * 0.01, torch.zeros(X.shape[1]), torch.zeros(N_HIDDEN)
    chains, lr = torch.zeros(batch_size, N_HIDDEN), LR / batch_size
    started = time.perf_counter()
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt)).split(batch_size):
            v0 = Xt[idx]
            h0 = torch.sigmoid(v0 @ W.T + c)
            vk = torch.bernoulli(torch.sigmoid(chains @ W + b))
            hk = torch.sigmoid(vk @ W.T + c)
            W += lr * (h0.T @ v0 - hk.T @ vk)
            b += lr * (v0.sum(0) - vk.sum(0))
            c += lr * (h0.sum(0) - hk.sum(0))
            chains = torch.bernoulli(hk)
    return time.perf_counter() - started, (W.numpy(), b.numpy(), c.numpy())


def run_learnergy(X: np.ndarray, batch_size: int, epochs: int) -> tuple[float, tuple] | None:
    try:
        from learnergy.models.bernoulli import RBM as LRBM
    except ImportError:
        return None
    data = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.zeros(len(X)))
    model = LRBM(n_visible=X.shape[1], n_hidden=N_HIDDEN, steps=1, learning_rate=LR, momentum=0, decay=0,
                 temperature=1, use_gpu=False)
    started = time.perf_counter()
    model.fit(data, batch_size=batch_size, epochs=epochs)
    return time.perf_counter() - started, (model.W.detach().numpy().T, model.a.detach().numpy(),
                                           model.b.detach().numpy())


def matmul_gflops(batch_size: int, n_visible: int, seconds: float = 1.0) -> float:
    """A plain torch matmul loop over the CD step's five shapes: the ceiling for this batch size."""
    v, h = torch.rand(batch_size, n_visible), torch.rand(batch_size, N_HIDDEN)
    W = torch.rand(N_HIDDEN, n_visible)
    for _ in range(20):
        torch.mm(v, W.T)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(v, W.T), torch.mm(h, W), torch.mm(v, W.T), torch.mm(h.T, v), torch.mm(h.T, v)
        n += 1
    return n * batch_size * flops_per_sample(n_visible) / (time.perf_counter() - started) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k training rows")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-sizes", default="10,100")
    parser.add_argument("--no-float64", action="store_true", help="skip sklearn's float64 row (the slowest)")
    args = parser.parse_args()
    folder = "mnist:" + str(__import__("genmodels").data.data_root() / "mnist")
    train, test = load_dataset(folder, "train"), load_dataset(folder, "test")
    X = np.ascontiguousarray(train.X.reshape(len(train), -1)[: 10_000 if args.quick else None], dtype=np.float32)
    X_test = test.X.reshape(len(test), -1)[:5000]
    n_samples = len(X) * args.epochs
    rows = []
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        bound = matmul_gflops(bs, X.shape[1])
        runs = {"genmodels RBM (cpu)": (run_genmodels, X), "sklearn BernoulliRBM float32": (run_sklearn, X),
                "bare torch loop": (run_bare_torch, X)}
        if not args.no_float64:
            runs["sklearn BernoulliRBM float64"] = (run_sklearn, X.astype(np.float64))
        runs["learnergy RBM (CD-1, autograd)"] = (run_learnergy, X)
        if torch.cuda.is_available():
            runs["genmodels RBM (cuda)"] = (lambda data, b, e: run_genmodels(data, b, e, "cuda"), X)
        results = {}
        for name, (fn, data) in runs.items():
            out = fn(data, bs, args.epochs)
            if out is None:
                print(f"{name}: not installed, skipped")
                continue
            seconds, params = out
            results[name] = (n_samples / seconds, recon_error(params[0], params[1], params[2], X_test))
            print(f"batch {bs} {name}: {results[name][0]:.0f} samples/s", flush=True)
        sk = results["sklearn BernoulliRBM float32"][0]
        for name, (rate, err) in results.items():
            gflops = rate * flops_per_sample(X.shape[1]) / 1e9
            rows.append({"batch": bs, "library": name, "samples/s": round(rate), "vs sklearn f32": round(rate / sk, 2),
                         "GFLOP/s": round(gflops, 1), "% of matmul": round(100 * gflops / bound, 1),
                         "recon err/pixel": round(err, 5)})
        rows.append({"batch": bs, "library": "plain torch matmul (bound)", "GFLOP/s": round(bound, 1),
                     "% of matmul": 100.0})
    table = print_table(rows, f"RBM PCD-1 throughput, MNIST {len(X)} rows x {args.epochs} epoch(s), "
                              f"{torch.get_num_threads()} threads")
    write_result("rbm_vs_sklearn", {"rows": rows, "n_train": len(X), "epochs": args.epochs, "quick": args.quick,
                                    "table": table})


if __name__ == "__main__":
    main()
