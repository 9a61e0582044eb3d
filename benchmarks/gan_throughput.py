"""Training throughput (images/s) of genmodels' GAN against PyTorch's DCGAN example, written out below
(examples/dcgan/main.py: the same nets, nz=100, ngf=ndf=64, batch 64, Adam 2e-4 (0.5, 0.999), BCE loss),
on MNIST resized to 64x64 as the example does for `--dataset mnist`.

genmodels runs with its loop's extras on: run folder (metrics.jsonl, checkpoint with optimizer state and RNG
at the epoch end, sample grid), progress bar (unless CI=true), NaN guard and the generator's moving average. Its one
encoder-free difference in the maths of a step: the generator step does not compute the discriminator's
weight gradients (they are discarded by the example anyway). The two sides alternate, `--repeats` times,
and the median of each is reported.

    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/gan_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import _common  # noqa: F401  (puts src/ on the path)
from _common import print_table, write_result
from genmodels import GAN, load_dataset
from genmodels.data import data_root

NZ, NGF, NDF, NC, BATCH = 100, 64, 64, 1, 64


# --- PyTorch's DCGAN example (examples/dcgan/main.py), written out --------------------------------------------
def weights_init(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(NGF * 8), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 8, NGF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 4), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 4, NGF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF * 2), nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False), nn.BatchNorm2d(NGF), nn.ReLU(True),
            nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(NC, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, NDF * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 4, NDF * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(NDF * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)


def reference_seconds(images: torch.Tensor, seed: int) -> float:
    """One pass of the example's loop over `images` (in [-1, 1]), shuffled batches from memory."""
    torch.manual_seed(seed)
    net_g, net_d = Generator(), Discriminator()
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=0.0002, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=0.0002, betas=(0.5, 0.999))
    started = time.perf_counter()
    for idx in torch.randperm(len(images)).split(BATCH):
        real = images[idx]
        n = real.size(0)
        net_d.zero_grad()
        label = torch.full((n,), 1.0)
        output = net_d(real)
        err_d_real = criterion(output, label)
        err_d_real.backward()
        noise = torch.randn(n, NZ, 1, 1)
        fake = net_g(noise)
        label.fill_(0.0)
        output = net_d(fake.detach())
        err_d_fake = criterion(output, label)
        err_d_fake.backward()
        opt_d.step()
        net_g.zero_grad()
        label.fill_(1.0)
        output = net_d(fake)
        err_g = criterion(output, label)
        err_g.backward()
        opt_g.step()
    return time.perf_counter() - started


def genmodels_seconds(images01: np.ndarray, seed: int, encoder: bool = False) -> float:
    """GAN.fit over the same images (in [0, 1]; the model maps them to [-1, 1]) with a run folder."""
    model = GAN(latent_dim=NZ, g_channels=NGF, d_channels=NDF, batch_size=BATCH, epochs=1, encoder=encoder,
                seed=seed, verbose=1)
    with tempfile.TemporaryDirectory() as run_dir:
        started = time.perf_counter()
        model.fit(images01, run_dir=run_dir)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="training steps (batches of 64) per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--encoder", action="store_true", help="also measure genmodels with its encoder on")
    parser.add_argument("--quick", action="store_true", help="3 steps, 1 repeat (a smoke run)")
    args = parser.parse_args()
    steps, repeats = (3, 1) if args.quick else (args.steps, args.repeats)

    mnist = load_dataset(f"mnist:{data_root() / 'mnist'}", "train")
    x = torch.as_tensor(mnist.X[: steps * BATCH])
    images01 = F.interpolate(x, size=64, mode="bilinear", align_corners=False).clamp(0, 1).contiguous()
    images = images01 * 2 - 1  # the example's Normalize((0.5,), (0.5,))
    n = len(images)
    # warm-up: first calls pay for kernel selection and allocations
    reference_seconds(images[: 2 * BATCH], 0)
    genmodels_seconds(images01[: 2 * BATCH].numpy(), 0)

    sides = {"pytorch dcgan example": [], "genmodels GAN (extras on)": []}
    if args.encoder:
        sides["genmodels GAN + encoder"] = []
    for rep in range(repeats):
        sides["pytorch dcgan example"].append(n / reference_seconds(images, rep))
        sides["genmodels GAN (extras on)"].append(n / genmodels_seconds(images01.numpy(), rep))
        if args.encoder:
            sides["genmodels GAN + encoder"].append(n / genmodels_seconds(images01.numpy(), rep, encoder=True))
    reference = statistics.median(sides["pytorch dcgan example"])
    rows = [{"loop": name, "images_per_s": statistics.median(v), "ratio_vs_example": statistics.median(v) / reference,
             "runs": [round(r, 2) for r in v]} for name, v in sides.items()]
    print_table([{k: r[k] for k in ("loop", "images_per_s", "ratio_vs_example")} for r in rows],
                f"DCGAN training throughput, MNIST 64x64, batch {BATCH}, {steps} steps x {repeats}")
    if not args.quick:
        write_result("gan_throughput", {"steps": steps, "repeats": repeats, "batch": BATCH, "image": [NC, 64, 64],
                                        "rows": rows})


if __name__ == "__main__":
    main()
