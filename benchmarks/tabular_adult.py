"""Synthetic UCI Adult: genmodels TabularSynthesizer (GAN, VAE) beside ctgan's CTGAN and TVAE.

Train on adult.data (32,561 rows), test on adult.test (16,281 rows). Every model gets the same epochs,
batch size 500 and torch threads. For each: fit time (wall and process CPU), ML efficacy for `income`
(HistGradientBoosting trained on the synthetic rows, tested on adult.test, beside the same trained on
adult.data), column fidelity, pair similarity, DCR, exact copies and the membership-inference AUC
(members = adult.data rows, non-members = adult.test rows). "genmodels GAN small" / "VAE small" are the same
models with half-width networks (SMALL below), what genmodels can trade for speed. Then genmodels with
epsilon = 1 and 5.
`--part scaling`: fit time on 10k, 30k and all 32,561 rows (genmodels GAN vs CTGAN at a few epochs) and time
and peak memory for sampling 10k, 100k and 1M rows.
`--part floor`: the time genmodels' default (ctgan-sized) networks spend in matrix multiplies alone, one
epoch under torch.profiler, times the epochs: no implementation of these networks on this CPU and thread
count fits faster, so ctgan's fit time from the quality part over it bounds the possible speed-up.

    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/tabular_adult.py --part quality
    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/tabular_adult.py --part dp
    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/tabular_adult.py --part scaling
    flock /tmp/genmodels-cpu.lock .venv/bin/python benchmarks/tabular_adult.py --part floor
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import threading
import time
import warnings

from _common import RESULTS, print_table, write_result

PARTS = ("quality", "dp", "scaling", "floor")
DEFAULT_EPOCHS = 30
# half-width networks (and the lazy gradient penalty for the GAN): what genmodels trades for speed
PEER = {"GAN": "CTGAN", "VAE": "TVAE"}  # the ctgan model each genmodels model is timed against
SMALL = {"gan": {"generator_dim": (128, 128), "discriminator_dim": (128, 128), "gp_every": 4},
         "vae": {"embedding_dim": 32, "compress_dims": (64,), "decompress_dims": (64,)}}
# DP-SGD settings for the VAE ("genmodels VAE dp"): the small network (less noise in total, the same clipping
# norm), 4x the batch (the noise's share of the averaged gradient falls with it) and 10x the learning rate
DP_VAE = {"embedding_dim": 32, "compress_dims": (64,), "decompress_dims": (64,), "batch_size": 2000, "lr_vae": 1e-2}


class PeakRSS:
    """Peak resident memory above the level at entry, polled every 5 ms from /proc (sees torch and numpy
    allocations alike, which tracemalloc would not). Freed heap pages are handed back first (malloc_trim),
    or memory kept by an earlier call would hide this call's peak."""

    def __enter__(self):
        with contextlib.suppress(OSError):  # not glibc: the peak may then be understated
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        self._page = os.sysconf("SC_PAGE_SIZE")
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.mb = (self.peak - self.base) / 2**20


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def load(quick: bool):
    from genmodels.data.tabular import ADULT_DISCRETE, load_adult

    train, test = load_adult(split="train"), load_adult(split="test")
    if quick:
        train = train.sample(2000, random_state=0).reset_index(drop=True)
        test = test.sample(1000, random_state=0).reset_index(drop=True)
    return train, test, list(ADULT_DISCRETE)


def single_process_ctgan() -> None:
    """ctgan's DataTransformer.transform fans its columns out to joblib worker processes on every core; run
    it in-process so that both libraries use the same --threads (on 2 cores this also spares ctgan the
    worker start-up, so it helps ctgan's time)."""
    from ctgan.data_transformer import DataTransformer

    DataTransformer._parallel_transform = DataTransformer._synchronous_transform


def warmup(train, discrete, models) -> None:
    """One tiny fit and sample per library before anything is timed: imports and first-call set-up."""
    small = train.sample(min(len(train), 600), random_state=1).reset_index(drop=True)
    for name in models:
        _, fit, sample = make(name, 1)
        fit(small, discrete)
        sample(100)


def peer_of(name: str) -> str:
    """The ctgan model a genmodels model is timed against ("genmodels VAE small" -> "ctgan TVAE")."""
    return f"ctgan {PEER[name.split()[1]]}"


def speedups(models: dict) -> dict:
    """{"<genmodels model> vs <its ctgan peer>": peer fit seconds / genmodels fit seconds} for the pairs run."""
    return {f"{a} vs {peer_of(a)}": models[peer_of(a)]["fit_seconds"] / models[a]["fit_seconds"]
            for a in models if a.startswith("genmodels") and peer_of(a) in models}


def make(name: str, epochs: int, epsilon: float | None = None, seed: int = 0):
    """A fresh model with the shared settings; returns (fit(df, discrete), sample(n)). "genmodels GAN small" /
    "genmodels VAE small": the SMALL networks; "genmodels VAE dp": the DP_VAE settings."""
    if name.startswith("genmodels"):
        from genmodels import TabularSynthesizer

        family = name.split()[1].lower()
        params = {"batch_size": 500, **(SMALL[family] if name.endswith(" small") else {}),
                  **(DP_VAE if name == "genmodels VAE dp" else {})}
        m = TabularSynthesizer(model=family, epochs=epochs, epsilon=epsilon, seed=seed, verbose=0, device="cpu",
                               **params)
        return m, (lambda df, d: m.fit(df, d)), (lambda n: m.sample(n, seed=seed))
    from ctgan import CTGAN, TVAE

    m = {"ctgan CTGAN": CTGAN, "ctgan TVAE": TVAE}[name](epochs=epochs, batch_size=500)
    m.set_random_state(seed)
    return m, (lambda df, d: m.fit(df, d)), (lambda n: m.sample(n))


def evaluate(train, test, synth, discrete, threads: int) -> dict:
    from genmodels.metrics.privacy import privacy_report
    from genmodels.metrics.tabular import fidelity_report, ml_efficacy

    synth = synth[list(train.columns)]
    fid = fidelity_report(train, synth, discrete)
    eff = ml_efficacy(train, test, "income", synth, discrete, positive=">50K", n_threads=threads)
    priv = privacy_report(train, synth, discrete, holdout=test, seed=0)
    return {"column_fidelity": fid["column_fidelity"], "pair_similarity": fid["pair_similarity"],
            "column_scores": {c: v["score"] for c, v in fid["column_scores"].items()},
            "fidelity_seconds": fid["seconds"], "ml_real": eff["real"], "ml_synthetic": eff["synthetic"],
            "privacy": priv}


def row(name: str, r: dict) -> dict:
    syn, p = r["ml_synthetic"], r["privacy"]
    return {"model": name, "fit s": r["fit_seconds"], "fit CPU s": r["fit_cpu_seconds"],
            "accuracy": syn["accuracy"], "F1 >50K": syn["f1"], "ROC AUC": syn["roc_auc"],
            "column fidelity": r["column_fidelity"], "pair similarity": r["pair_similarity"],
            "DCR p5 (synth/holdout)": p["dcr"]["ratio_p5"], "DCR median ratio": p["dcr"]["ratio_median"],
            "DCR train/holdout": p["dcr"]["overfit_ratio_median"],
            "exact copies": p["exact_copies"]["synthetic"], "MIA AUC": p["membership_inference"]["auc"]}


def part_quality(args, train, test, discrete, previous: dict | None = None) -> dict:
    """`previous`: an earlier quality result at the same epochs and threads; its models that are not rerun
    now are kept (so the peers and genmodels can be timed in separate lock holds)."""
    out: dict = {"epochs": args.epochs, "batch_size": 500, "threads": args.threads, "seed": args.seed, "models": {}}
    if previous and previous.get("epochs") == args.epochs and previous.get("threads") == args.threads:
        out["models"] = {k: v for k, v in previous["models"].items() if k not in args.models}
    for name in args.models:
        _, fit, sample = make(name, args.epochs, seed=args.seed)
        _, wall, cpu = timed(lambda fit=fit: fit(train, discrete))
        synth, s_wall, _ = timed(lambda sample=sample: sample(len(train)))
        res = {"fit_seconds": wall, "fit_cpu_seconds": cpu, "sample_seconds": s_wall,
               **evaluate(train, test, synth, discrete, args.threads)}
        out["models"][name] = res
        print(f"{name}: fit {wall:.1f}s (CPU {cpu:.1f}s), F1 {res['ml_synthetic']['f1']:.3f}, "
              f"column fidelity {res['column_fidelity']:.3f}", flush=True)
    order = ["genmodels GAN", "genmodels GAN small", "ctgan CTGAN", "genmodels VAE", "genmodels VAE small",
             "ctgan TVAE"]
    models = out["models"] = dict(sorted(out["models"].items(),
                                         key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))
    rows = [row(n, r) for n, r in models.items()]
    first = next(iter(models.values()))
    rows.append({"model": "real adult.data (reference)", "accuracy": first["ml_real"]["accuracy"],
                 "F1 >50K": first["ml_real"]["f1"], "ROC AUC": first["ml_real"]["roc_auc"],
                 "column fidelity": 1.0, "pair similarity": 1.0,
                 "exact copies": first["privacy"]["exact_copies"].get("holdout")})
    out["speedup"] = speedups(models)
    out["table"] = print_table(rows, f"Adult, {args.epochs} epochs, batch 500, {args.threads} thread(s)")
    print("fit-time speed-up (peer seconds / genmodels seconds):", json.dumps(out["speedup"]))
    return out


def dp_row(name: str, res: dict) -> dict:
    r = row(name, res)
    return {"model": name, "epochs": res.get("epochs"), "spent ε": res["privacy_spent"]["epsilon"],
            "δ": res["privacy_spent"]["delta"],
            **{k: v for k, v in r.items() if k != "model"}}


def part_dp(args, train, test, discrete, previous: dict | None = None, save=None) -> dict:
    """`save(partial)` is called after every model: a DP fit takes minutes, a killed run keeps what it made.
    `previous`: an earlier DP result; its models that are not rerun now are kept (each records its epochs)."""
    out: dict = {"epochs": args.dp_epochs, "models": {}}
    rows = []
    if previous:
        for key, res in previous["models"].items():
            if key.rsplit(" eps=", 1)[0] not in args.dp_models:
                out["models"][key] = res
                rows.append(dp_row(key.replace(" eps=", " ε="), res))
    for name in args.dp_models:
        for eps in args.epsilons:
            m, fit, sample = make(name, args.dp_epochs, epsilon=eps)
            _, wall, cpu = timed(lambda fit=fit: fit(train, discrete))
            synth = sample(len(train))
            res = {"epsilon": eps, "epochs": args.dp_epochs, "privacy_spent": dict(m.privacy_spent_),
                   "fit_seconds": wall,
                   "fit_cpu_seconds": cpu, **evaluate(train, test, synth, discrete, args.threads)}
            out["models"][f"{name} eps={eps}"] = res
            rows.append(dp_row(f"{name} ε={eps}", res))
            print(rows[-1], flush=True)
            if save is not None:
                save(out)
    out["table"] = print_table(rows, "Adult with differential privacy")
    return out


def part_scaling(args, train, discrete) -> dict:
    out: dict = {"epochs": args.scaling_epochs, "fit": [], "sample": []}
    sizes = [s for s in args.fit_rows if s <= len(train)] or [len(train)]
    fitted = {}
    for n in sizes:
        sub = train.sample(n, random_state=0).reset_index(drop=True) if n < len(train) else train
        rec = {"rows": n}
        for name in ("genmodels GAN", "ctgan CTGAN"):
            _, fit, sample = make(name, args.scaling_epochs)
            _, wall, cpu = timed(lambda fit=fit, sub=sub: fit(sub, discrete))
            rec[f"{name} s"] = wall
            rec[f"{name} CPU s"] = cpu
            fitted[name] = sample
        rec["speed-up"] = rec["ctgan CTGAN s"] / rec["genmodels GAN s"]
        out["fit"].append(rec)
        print(rec, flush=True)
    for n in args.sample_rows:  # the models fitted on the largest size
        rec = {"rows": n}
        for name, sample in fitted.items():
            with PeakRSS() as mem:
                frame, wall, _ = timed(lambda sample=sample, n=n: sample(n))
            rec[f"{name} s"] = wall
            rec[f"{name} peak MB"] = mem.mb
            rec[f"{name} frame MB"] = frame.memory_usage(deep=True).sum() / 2**20
            del frame
            rec[f"{name} µs/row"] = 1e6 * wall / n
        out["sample"].append(rec)
        print(rec, flush=True)
    out["fit_table"] = print_table(out["fit"], f"Fit time vs rows ({args.scaling_epochs} epochs)")
    out["sample_table"] = print_table(out["sample"], "Sampling time and peak memory above the pre-call level")
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def part_floor(args, train, discrete, quality: dict | None) -> dict:
    from torch.profiler import ProfilerActivity, profile

    out: dict = {"epochs": args.epochs, "models": {}}
    rows = []
    for name in ("genmodels GAN", "genmodels VAE"):
        fit = make(name, 1)[1]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fit(train, discrete)
        ops = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
        matmul = sum(v for k, v in ops.items() if k in ("aten::mm", "aten::addmm", "aten::bmm", "aten::addmv"))
        peer = peer_of(name)
        peer_s = ((quality or {}).get("models", {}).get(peer) or {}).get("fit_seconds")
        rec = {"matmul s/epoch": matmul, "torch ops s/epoch": sum(ops.values()), "floor s": matmul * args.epochs,
               "peer": peer, "peer fit s": peer_s, "max speed-up": peer_s / (matmul * args.epochs) if peer_s else None}
        out["models"][name] = rec
        rows.append({"model": name, **rec})
    out["table"] = print_table(rows, f"Matrix-multiply floor of the default networks, {args.epochs} epochs, "
                                     f"{args.threads} thread(s)")
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=[*PARTS, "all"], default="all")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="quality part, every model (ctgan default: 300)")
    p.add_argument("--dp-epochs", type=int, default=None, help="DP runs (default: --epochs)")
    p.add_argument("--scaling-epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="quality part: every model's seed")
    p.add_argument("--models", default="genmodels GAN,genmodels GAN small,ctgan CTGAN,genmodels VAE,"
                                        "genmodels VAE small,ctgan TVAE")
    p.add_argument("--dp-models", default="genmodels GAN,genmodels VAE")
    p.add_argument("--epsilons", default="1,5")
    p.add_argument("--fit-rows", default="10000,30000,32561")
    p.add_argument("--sample-rows", default="10000,100000,1000000")
    p.add_argument("--ctgan-parallel-transform", action="store_true",
                   help="leave ctgan's transform on all cores (default with --threads 1: one process)")
    p.add_argument("--quick", action="store_true", help="2,000 training rows, 2 epochs, small sizes: a smoke run")
    args = p.parse_args(argv)
    args.models = [s.strip() for s in args.models.split(",") if s.strip()]
    args.dp_models = [s.strip() for s in args.dp_models.split(",") if s.strip()]
    args.epsilons = [float(e) for e in args.epsilons.split(",")]
    args.fit_rows = [int(s) for s in args.fit_rows.split(",")]
    args.sample_rows = [int(s) for s in args.sample_rows.split(",")]
    if args.quick:
        args.epochs, args.scaling_epochs = 2, 1
        args.fit_rows, args.sample_rows = [1000, 2000], [1000, 10000]
    args.dp_epochs = args.dp_epochs or args.epochs

    import torch

    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)  # numpy/scikit-learn BLAS and OpenMP too (ctgan's mixture fits use them)
    warnings.filterwarnings("ignore", category=UserWarning)  # opacus and ctgan's chatter
    warnings.filterwarnings("ignore", category=FutureWarning)
    train, test, discrete = load(args.quick)
    if args.threads == 1 and not args.ctgan_parallel_transform:
        single_process_ctgan()
    warmup(train, discrete, sorted({"genmodels GAN", *args.models} if args.part != "dp" else args.dp_models))

    name = "tabular_adult_quick" if args.quick else "tabular_adult"
    path = RESULTS / f"{name}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    # parts run separately share one file; a quality run at other than the default epochs gets its own key
    payload = {k: v for k, v in previous.items() if k not in ("benchmark", "machine")}
    parts = PARTS if args.part == "all" else (args.part,)
    for part in parts:
        t0 = time.perf_counter()
        key = part if part != "quality" or args.epochs == DEFAULT_EPOCHS else f"quality_{args.epochs}_epochs"
        key += f"_seed{args.seed}" if part == "quality" and args.seed else ""
        if part == "quality":
            res = part_quality(args, train, test, discrete, previous.get(key))
        elif part == "dp":
            res = part_dp(args, train, test, discrete, previous.get("dp"),
                          save=lambda partial: write_result(name, {**payload, "dp": partial}))
        elif part == "floor":
            res = part_floor(args, train, discrete, payload.get("quality"))
        else:
            res = part_scaling(args, train, discrete)
        res["seconds"] = time.perf_counter() - t0
        res["command"] = f"python benchmarks/tabular_adult.py --part {part} --epochs {args.epochs} " \
                         f"--threads {args.threads}" + (" --quick" if args.quick else "")
        res["rows"] = {"train": len(train), "test": len(test)}
        payload[key] = res
    write_result(name, payload)


if __name__ == "__main__":
    main()
