"""Training throughput of genmodels' VAE against pythae's VAE, side by side in one process.

Same MLP networks (784-512-256-z / z-256-512-784), same batch size, Adam with the same learning rate, same
float32 MNIST array, same threads. pythae runs through its documented TrainingPipeline; genmodels through
`VAE.fit` with its loop's extras on (run folder, checkpoint every epoch, metrics log, NaN guard); a bare
PyTorch loop over the same network and fused Adam shows the floor.

Swept over batch sizes (64 is pythae's default `per_device_train_batch_size`).

    python benchmarks/vae_throughput.py [--batches 64,128,256] [--epochs 2] [--n 60000] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from _common import print_table, write_result
from genmodels import VAE, load_dataset
from genmodels.data import data_root

HIDDEN, LATENT, LR = (512, 256), 16, 1e-3


def pythae_fit(X: np.ndarray, epochs: int, batch: int, out: str) -> float:
    from pythae.models import VAE as PVAE
    from pythae.models import VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, HIDDEN[0]), nn.ReLU(),
                                      nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU())
            self.mean, self.logvar = nn.Linear(HIDDEN[1], LATENT), nn.Linear(HIDDEN[1], LATENT)

        def forward(self, x):
            h = self.body(x)
            return ModelOutput(embedding=self.mean(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(LATENT, HIDDEN[1]), nn.ReLU(), nn.Linear(HIDDEN[1], HIDDEN[0]),
                                      nn.ReLU(), nn.Linear(HIDDEN[0], 784))

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.body(z)).view(-1, 1, 28, 28))

    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce")
    model = PVAE(config, encoder=Encoder(), decoder=Decoder())
    train_config = BaseTrainerConfig(output_dir=out, num_epochs=epochs, learning_rate=LR,
                                     per_device_train_batch_size=batch, optimizer_cls="Adam", no_cuda=True)
    started = time.perf_counter()
    TrainingPipeline(training_config=train_config, model=model)(train_data=X, eval_data=None)
    return time.perf_counter() - started


def bare_fit(X: np.ndarray, epochs: int, batch: int, out: str) -> float:
    """The floor: the same network and fused Adam in a plain PyTorch loop, with nothing else (no run folder,
    checkpoint, logging or NaN guard). genmodels' loop at this speed means its extras cost nothing."""
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, HIDDEN[0]), nn.ReLU(), nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU(),
                        nn.Linear(HIDDEN[1], 2 * LATENT))
    dec = nn.Sequential(nn.Linear(LATENT, HIDDEN[1]), nn.ReLU(), nn.Linear(HIDDEN[1], HIDDEN[0]), nn.ReLU(),
                        nn.Linear(HIDDEN[0], 784))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=LR, fused=True)
    data = torch.from_numpy(X).reshape(len(X), -1)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(data))
        for b in range(0, len(data), batch):
            x = data[order[b: b + batch]]
            mean, logvar = enc(x).chunk(2, 1)
            z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
            recon = F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").sum(1).mean()
            loss = recon + 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - started


def genmodels_fit(X: np.ndarray, epochs: int, batch: int, out: str) -> float:
    model = VAE(hidden_dims=HIDDEN, latent_dim=LATENT, arch="mlp", batch_size=batch, lr=LR, epochs=epochs,
                verbose=0, device="cpu")
    started = time.perf_counter()
    model.fit(X, run_dir=out)
    model.save(out)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n", type=int, default=60000, help="training images")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batches", default="64,128,256", help="comma-separated batch sizes")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5000 images, 1 epoch, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.n, args.epochs, args.repeats = 5000, 1, 1
    logging.disable(logging.INFO)  # pythae logs every epoch to stdout
    torch.set_num_threads(torch.get_num_threads())
    X = load_dataset(f"mnist:{data_root() / 'mnist'}", "train").binarize("stochastic", seed=0).X[: args.n]
    batches = [int(b) for b in args.batches.split(",")]
    fits = (("pythae", pythae_fit), ("genmodels", genmodels_fit), ("bare torch loop", bare_fit))
    rows, times = [], {b: {name: [] for name, _ in fits} for b in batches}
    for batch in batches:
        for rep in range(args.repeats):  # alternate so drifts in machine speed hit both
            for name, fit in fits:
                with tempfile.TemporaryDirectory() as out:
                    torch.manual_seed(rep)
                    seconds = fit(X, args.epochs, batch, out)
                times[batch][name].append(seconds)
                print(f"batch {batch} repeat {rep}: {name:9s} {seconds:7.2f} s  "
                      f"{args.n * args.epochs / seconds:8.0f} samples/s", flush=True)
        best = {k: min(v) for k, v in times[batch].items()}
        for name, _ in fits:
            rows.append({"batch": batch, "library": name, "samples/s": round(args.n * args.epochs / best[name]),
                         "speed vs pythae": round(best["pythae"] / best[name], 2)})
    table = print_table(rows, f"VAE training throughput, MNIST {args.n}x784, {args.epochs} epochs, "
                              f"{torch.get_num_threads()} threads (best of {args.repeats})")
    ratios = {b: min(t["pythae"]) / min(t["genmodels"]) for b, t in times.items()}
    write_result("vae_throughput", {"settings": vars(args) | {"hidden": HIDDEN, "latent": LATENT, "lr": LR},
                                    "seconds": times, "rows": rows, "ratio_by_batch": ratios, "table": table})


if __name__ == "__main__":
    main()
