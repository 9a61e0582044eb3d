"""TextVAE beside an LSTM language model of the same size, each trained for the same CPU time on the Penn Treebank
(../shared/data/text/ptb), against Bowman et al. 2016 ("Generating Sentences from a Continuous Space", Table 2:
LSTM LM test NLL 100 nats per sentence, perplexity 116; VAE NLL 101 (KL 2), perplexity 119).

Test numbers: NLL per sentence in nats (the VAE's is its IWAE bound with k importance samples, an upper bound on
the NLL), per-word perplexity (exp of NLL per predicted token, <eos> included), the VAE's KL and active units
(Burda et al. 2016), on a fixed random subsample of the test sentences (--test-n; 0 = all). Each model is one
invocation (--only), so each fits in one turn of the shared CPU lock; they merge into results/text_ptb.json.

    flock /tmp/genmodels-cpu.lock python benchmarks/text_ptb.py --only lm --budget 480
    flock /tmp/genmodels-cpu.lock python benchmarks/text_ptb.py --only vae --budget 480

The defaults sweep (shorter budget, one setting per invocation, merged into results/text_ptb_sweep.json):

    flock /tmp/genmodels-cpu.lock python benchmarks/text_ptb.py --only vae --budget 120 \
        --out text_ptb_sweep.json --tag vae_wd0.25 -p word_dropout=0.25
"""

from __future__ import annotations

import argparse
import json
import time

from _common import RESULTS, machine, print_table

BOWMAN = {"lm": {"nll_per_sentence": 100.0, "perplexity": 116.0},
          "vae": {"nll_per_sentence": 101.0, "kl_per_sentence": 2.0, "perplexity": 119.0}}


def paired(scores: list[float] | None, reference: list[float] | None) -> str:
    """Mean NLL difference to the reference run on the same test sentences, with its paired standard error
    (far smaller than either NLL's own standard error: most of the spread is between sentences)."""
    if not scores or not reference or len(scores) != len(reference):
        return ""
    diff = [r - s for s, r in zip(scores, reference, strict=True)]  # NLL = -log p
    mean = sum(diff) / len(diff)
    se = (sum((d - mean) ** 2 for d in diff) / (len(diff) - 1) / len(diff)) ** 0.5
    return f"{mean:+.2f} ({se:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["lm", "vae"], required=True)
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds (each model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--test-n", type=int, default=300, help="test sentences scored (0: all 3761)")
    parser.add_argument("-k", type=int, default=100, help="IWAE importance samples (VAE)")
    parser.add_argument("-p", "--param", action="append", default=[], help="key=value hyperparameter")
    parser.add_argument("--tag", default="", help="name of this setting in the JSON (default: the model)")
    parser.add_argument("--out", default="text_ptb.json", help="JSON file in results/ the run merges into")
    parser.add_argument("--reference", default="vae_default",
                        help="the run the table's paired NLL differences are taken against")
    args = parser.parse_args()

    import numpy as np
    import torch
    import yaml

    from genmodels import TextLM, TextVAE
    from genmodels.data import data_root
    from genmodels.data.text import read_text_file

    torch.set_num_threads(args.threads)
    folder = data_root() / "text" / "ptb"
    train = read_text_file(folder / "ptb.train.txt")
    test = read_text_file(folder / "ptb.test.txt")
    if args.test_n:
        test = [test[i] for i in sorted(np.random.default_rng(0).permutation(len(test))[: args.test_n])]
    params = {kv.partition("=")[0]: yaml.safe_load(kv.partition("=")[2]) for kv in args.param}
    model = (TextVAE if args.only == "vae" else TextLM)(verbose=0, **params)
    started = time.perf_counter()
    model.fit(train, time_budget=args.budget)
    fit_seconds = time.perf_counter() - started
    steps = model.history_[-1]["step"] if model.history_ else 0
    started = time.perf_counter()
    scored = model._log_p  # keep the per-sentence log p of the one scoring pass: paired comparisons of settings
    per_sentence: list[float] = []

    def keep(tokens, k):
        out = scored(tokens, k)
        per_sentence[:] = [round(float(v), 4) for v in out]
        return out

    model._log_p = keep
    metrics = model.text_metrics(test, k=args.k)
    del model._log_p
    result = {"model": type(model).__name__, "params": {**model.get_params(), **params},
              "budget_s": args.budget, "threads": args.threads, "train_seconds": round(model.train_seconds_, 1),
              "fit_seconds": round(fit_seconds, 1), "steps": steps,
              "epochs": round(steps * model.batch_size / len(train), 2), "test_sentences": len(test),
              **metrics, "eval_seconds": round(time.perf_counter() - started, 1), "test_log_p": per_sentence,
              "samples": model.sample(10, seed=0), "bowman_2016": BOWMAN[args.only]}
    if args.only == "vae":
        result["iwae_k"] = args.k
        result["interpolations"] = [model.interpolate(test[0], test[1], 5), model.interpolate(test[2], test[3], 5)]
        result["interpolation_ends"] = [[test[0], test[1]], [test[2], test[3]]]
        result["reconstructions"] = [[s, r] for s, r in zip(test[:5], model.reconstruct(test[:5]), strict=True)]
    path = RESULTS / args.out
    merged = json.loads(path.read_text()) if path.exists() else {"benchmark": path.stem, "runs": {}}
    merged["machine"] = machine()
    merged["runs"][args.tag or args.only] = result
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2, default=str) + "\n")
    reference = merged["runs"].get(args.reference, {}).get("test_log_p")
    print_table([{"run": k, "model": r["model"], "steps": r["steps"], "epochs": r["epochs"],
                  "NLL": r["nll_per_sentence"], "se": r["nll_stderr"], "KL": r.get("kl_per_sentence", ""),
                  "active": r.get("active_units", ""), "ppl": r["perplexity"],
                  f"NLL - {args.reference} (paired se)": paired(r.get("test_log_p"), reference)}
                 for k, r in merged["runs"].items()], path.stem)
    print("\nsamples:\n  " + "\n  ".join(result["samples"]))
    for line in result.get("interpolations", []):
        print("\ninterpolation:\n  " + "\n  ".join(line))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
