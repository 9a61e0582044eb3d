"""ConvRBM on MNIST: (a) CD-1 training throughput beside learnergy 2.0.2's ConvRBM (autograd CD) on the same
float32 array, same filters, same threads, same process; (b) CNN pretraining: test error at 100, 1000 and
60000 labels, from ConvDBN-pretrained filters vs the same CNN from a random start, with CPU time.

Lee, Grosse, Ranganath & Ng (2009), Table 3 (two-layer CDBN features + linear SVM): 2.62% error with 1000
labels and 0.82% with all 60000 (no 100-label number). Each part is its own locked job and merges into
benchmarks/results/convrbm_mnist.json:

    python benchmarks/convrbm_mnist.py --only throughput
    python benchmarks/convrbm_mnist.py --only pretrain --labels 100,1000 --seeds 0,1,2
    python benchmarks/convrbm_mnist.py --only pretrain --labels 60000 --seeds 0 --finetune-epochs 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from _common import RESULTS, machine, print_table
from genmodels import load, load_dataset
from genmodels.data import data_root
from genmodels.models import ConvDBN, ConvRBM

OUT = RESULTS / "convrbm_mnist.json"
CACHE = Path("/tmp/genmodels_convdbn_mnist")  # the pretrained ConvDBN, shared by the pretraining jobs


def merge(key: str, value) -> None:
    payload = json.loads(OUT.read_text()) if OUT.exists() else {"benchmark": "convrbm_mnist"}
    payload["machine"] = machine()
    if key == "pretrain":  # rows accumulate over jobs (one per labels/seed), replaced when rerun
        old = payload.get("pretrain", {}).get("rows", [])
        keep = [r for r in old if (r["labels"], r["seed"]) not in {(n["labels"], n["seed"]) for n in value["rows"]}]
        value = {**payload.get("pretrain", {}), **value, "rows": sorted(keep + value["rows"],
                                                                         key=lambda r: (r["labels"], r["seed"]))}
        from genmodels.apps.pretrain import mean_rows

        value["means"] = mean_rows(value["rows"])
    payload[key] = value
    OUT.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"merged {key} into {OUT}")


def throughput(X: np.ndarray, n: int, filters: int, size: int, batch: int) -> list[dict]:
    """Images per second of CPU time, 1 epoch of CD-1 over n images, each library's documented fit."""
    from learnergy.models.bernoulli import ConvRBM as LearnergyConvRBM
    from torch.utils.data import TensorDataset

    x = X[:n]
    dataset = TensorDataset(torch.from_numpy(x), torch.zeros(n))
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for repeat in range(2):  # alternate the two sides
            for side in ("genmodels", "genmodels (pool 2, sparsity)", "learnergy"):
                if repeat and side.startswith("genmodels ("):
                    continue
                torch.manual_seed(0)
                t0, c0 = time.perf_counter(), time.process_time()
                if side == "learnergy":
                    m = LearnergyConvRBM(visible_shape=(28, 28), filter_shape=(size, size), n_filters=filters,
                                         n_channels=1, steps=1, learning_rate=0.1)
                    m.fit(dataset, batch_size=batch, epochs=1)
                else:
                    pooled = "pool" in side
                    ConvRBM(n_filters=filters, filter_size=size, pool=2 if pooled else 1, lr=0.1, momentum=0.0,
                            weight_decay=0.0, sparsity_cost=0.5 if pooled else 0.0, epochs=1, batch_size=batch,
                            verbose=0).fit(x)
                cpu, wall = time.process_time() - c0, time.perf_counter() - t0
                rows.append({"library": side, "threads": threads, "repeat": repeat, "images/s (CPU)": n / cpu,
                             "images/s (wall)": n / wall})
                print(rows[-1], flush=True)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for threads in (1, 2):
        best = {lib: max(r["images/s (wall)"] for r in rows if r["library"] == lib and r["threads"] == threads)
                for lib in dict.fromkeys(r["library"] for r in rows)}
        for lib, v in best.items():
            out.append({"threads": threads, "library": lib, "images/s (best wall)": round(v),
                        "ratio vs learnergy": round(v / best["learnergy"], 2)})
    return out


def pretrained(train, args) -> ConvDBN:
    if CACHE.exists():
        print(f"using the pretrained ConvDBN in {CACHE}")
        return load(CACHE)
    torch.set_num_threads(args.threads)
    c0 = time.process_time()
    dbn = ConvDBN(n_filters=(32, 64), filter_size=(5, 5), pool=(2, 2), epochs=args.pretrain_epochs, seed=0,
                  verbose=1).fit(train.X)
    dbn.save(CACHE)
    (CACHE / "cpu_seconds.json").write_text(json.dumps({"cpu_seconds": time.process_time() - c0,
                                                          "train_seconds": dbn.train_seconds_}))
    return dbn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["throughput", "pretrain"], required=True)
    parser.add_argument("--n", type=int, default=10_000, help="images per throughput epoch")
    parser.add_argument("--filters", type=int, default=32)
    parser.add_argument("--size", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128, help="throughput batch (learnergy's default)")
    parser.add_argument("--labels", default="100,1000")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--finetune-epochs", type=int)
    parser.add_argument("--finetune-steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    spec = f"mnist:{data_root() / 'mnist'}"
    train, test = load_dataset(spec, "train"), load_dataset(spec, "test")
    if args.only == "throughput":
        rows = throughput(np.ascontiguousarray(train.X), args.n, args.filters, args.size, args.batch)
        table = print_table(summarise(rows), f"ConvRBM CD-1 throughput, {args.filters} filters {args.size}x{args.size}, "
                                             f"batch {args.batch}, {args.n} MNIST images")
        merge("throughput", {"rows": rows, "summary": summarise(rows), "table": table,
                             "settings": vars(args)})
        return
    from genmodels.apps.pretrain import pretrain_run

    dbn = pretrained(train, args)
    torch.set_num_threads(args.threads)
    out = Path("/tmp/genmodels_pretrain_out")
    summary = pretrain_run(train, test, out, [int(v) for v in args.labels.split(",")],
                           [int(v) for v in args.seeds.split(",")], finetune_epochs=args.finetune_epochs,
                           finetune_steps=args.finetune_steps, overwrite=True, model=dbn, progress=lambda r: print(r, flush=True))
    cpu = json.loads((CACHE / "cpu_seconds.json").read_text()) if (CACHE / "cpu_seconds.json").exists() else {}
    for r in summary["rows"]:
        r["finetune_epochs"] = args.finetune_epochs
        r["finetune_steps"] = None if args.finetune_epochs else args.finetune_steps
    merge("pretrain", {"rows": summary["rows"], "pretrain_cpu_seconds": cpu.get("cpu_seconds"),
                       "pretrain_epochs_per_layer": args.pretrain_epochs, "convdbn": summary["convdbn"],
                       "finetune_lr": summary["finetune_lr"], "threads": args.threads,
                       "lee_2009_error_pct": {"1000": 2.62, "60000": 0.82}})
    import shutil

    for name in ("filters.png", "accuracy.png"):
        shutil.copy(out / name, RESULTS / f"convrbm_mnist_{name}")
    print_table([{k: v for k, v in r.items()} for r in summary["rows"]], "CNN test accuracy")


if __name__ == "__main__":
    main()
