"""`genmodels compare` on full MNIST: the GAN, VAE, RBM and DBN each trained for the same wall-clock budget
(default 120 s per family, one CPU thread) on the 60,000 binarized training images, then measured on the
test set: FID / precision / recall on the library's feature network, test NLL (VAE: IWAE k=100; RBM: AIS,
100 runs x 5000 temperatures) on 500 test images, anomaly ROC AUC (1000 test images vs. their mirror images),
denoising PSNR/SSIM (Gaussian noise sd 0.3, 1000 images), linear-probe accuracy (5000 training rows, 1000
test rows) and augmentation gain (200 real images, 20 per class, plus 200 synthetic).

Writes results/compare_mnist/report.md, results.json and report.html (the run folders, with weights, stay in
runs/compare_mnist). Run under the CPU lock, the feature network first (once; it is cached):

    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/compare_mnist.py --feature-net-only
    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/compare_mnist.py            # about 10 minutes
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import torch

import _common
from _common import RESULTS
from genmodels.data import data_root, load_dataset

HTML_LIMIT = 2_000_000  # bytes: a larger report.html stays in the run folder only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=120.0, help="training seconds per family")
    parser.add_argument("--families", default="gan,vae,rbm,dbn")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=_common.ROOT / "runs" / "compare_mnist")
    parser.add_argument("--feature-net-only", action="store_true", help="train and cache the feature network")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = f"mnist:{os.path.relpath(data_root() / 'mnist')}"  # relative: the report names the spec as typed
    if args.feature_net_only:
        from genmodels.metrics import feature_network

        started = time.perf_counter()
        net = feature_network(load_dataset(spec, "train", binarize="threshold", seed=args.seed), verbose=True)
        print(f"feature network: accuracy {net.accuracy:.4f}, {time.perf_counter() - started:.0f} s (now cached)")
        return
    from genmodels.apps.compare import compare, markdown_table

    # a re-run replaces the previous one (its numbers are copied into results/ below)
    summary = compare(spec, budget=args.budget, out=args.out, families=args.families.split(","), seed=args.seed,
                      overwrite=True)
    dest = RESULTS / "compare_mnist"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("report.md", "results.json"):
        shutil.copyfile(args.out / name, dest / name)
    html = args.out / "report.html"
    if html.stat().st_size <= HTML_LIMIT:
        shutil.copyfile(html, dest / "report.html")
    else:
        print(f"report.html is {html.stat().st_size / 1e6:.1f} MB: left in {args.out} only")
    print(markdown_table(summary))
    print(f"threads {torch.get_num_threads()}, {summary['total_seconds']:.0f} s in all; wrote {dest}")


if __name__ == "__main__":
    main()
