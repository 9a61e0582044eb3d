"""Synthetic tables end to end: `synth_run` (read a CSV, fit a tabular synthesizer, sample, write the CSV, report;
what `genmodels synth` runs) and the synthesis report: how faithful and how private a synthetic table is, as
report.json + report.html."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import write_json, write_text
from ..metrics.privacy import privacy_report
from ..metrics.tabular import as_float, check_frames, discrete_columns_of, fidelity_report, ml_efficacy
from ..report import image_tag, table, write_report
from ..report.plots import save_figure

HOLDOUT_FRACTION = 0.2
SEED = 0
TOP_CATEGORIES = 20  # bars per categorical plot; the rest pooled as "other"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slug(name: str, i: int) -> str:
    return f"{i:02d}_" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_.") or "column")[:40]


def _plot_continuous(path: Path, column: str, real: pd.Series, synth: pd.Series, score: float) -> Path:
    r, s = as_float(real, column), as_float(synth, column)
    rf, sf = r[~np.isnan(r)], s[~np.isnan(s)]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if len(rf):
        edges = np.histogram_bin_edges(rf, bins=40)
        # synthetic values outside the real range land in the edge bins rather than vanishing
        for values, n, label, color in ((rf, len(r), "real", "#1f77b4"), (sf, len(s), "synthetic", "#ff7f0e")):
            ax.hist(np.clip(values, edges[0], edges[-1]), bins=edges, weights=np.full(len(values), 1 / n),
                    histtype="step", linewidth=1.6, label=label, color=color)
    missing = f"; missing real {np.isnan(r).mean():.1%}, synthetic {np.isnan(s).mean():.1%}" \
        if np.isnan(r).any() or np.isnan(s).any() else ""
    ax.set_title(f"{column}: 1-KS = {score:.3f}{missing}", fontsize=9)
    ax.set_ylabel("fraction of rows")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _plot_categorical(path: Path, column: str, real: pd.Series, synth: pd.Series, score: float) -> Path:
    def freq(s: pd.Series) -> pd.Series:
        keys = s.astype(object).where(s.notna(), "(missing)").astype(str)
        return keys.value_counts(normalize=True)

    fr, fs = freq(real), freq(synth)
    cats = list(fr.index[:TOP_CATEGORIES])
    pr = [fr.get(c, 0.0) for c in cats]
    ps = [fs.get(c, 0.0) for c in cats]
    if len(set(fr.index) | set(fs.index)) > len(cats):
        cats.append("other")
        pr.append(max(0.0, 1.0 - sum(pr)))
        ps.append(max(0.0, 1.0 - sum(ps)))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(cats) + 2), 3.4))
    x = np.arange(len(cats))
    ax.bar(x - 0.2, pr, width=0.4, label="real", color="#1f77b4")
    ax.bar(x + 0.2, ps, width=0.4, label="synthetic", color="#ff7f0e")
    ax.set_xticks(x)
    ax.set_xticklabels([c[:18] for c in cats], rotation=60, ha="right", fontsize=7)
    ax.set_title(f"{column}: 1-TV = {score:.3f}", fontsize=9)
    ax.set_ylabel("fraction of rows")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)


def _plot_pairs(path: Path, report: dict[str, Any], columns: list[str]) -> Path:
    idx = {c: i for i, c in enumerate(columns)}
    mat = np.full((len(columns), len(columns)), np.nan)
    for p in report["pair_scores"]:
        i, j = idx[p["column_1"]], idx[p["column_2"]]
        mat[i, j] = mat[j, i] = p["score"]
    plt = _pyplot()
    size = 2.5 + 0.35 * len(columns)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(mat, vmin=0.5, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(columns)))
    ax.set_yticks(range(len(columns)))
    ax.set_xticklabels([str(c)[:16] for c in columns], rotation=70, ha="right", fontsize=7)
    ax.set_yticklabels([str(c)[:16] for c in columns], fontsize=7)
    ax.set_title(f"pair similarity (mean {report['pair_similarity']:.3f})", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def _split(real: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """80/20 split of the real rows (fixed seed), stratified on the target when every class has 2+ rows."""
    from sklearn.model_selection import train_test_split

    y = real[target].astype(object).where(real[target].notna(), "<NA>").astype(str)
    stratify = y if y.value_counts().min() >= 2 else None
    tr, te = train_test_split(np.arange(len(real)), test_size=HOLDOUT_FRACTION, random_state=SEED, stratify=stratify)
    return real.iloc[np.sort(tr)], real.iloc[np.sort(te)]


def _fmt_metrics(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()}


def write_synth_report(real: pd.DataFrame, synth: pd.DataFrame, out_dir: Path, discrete_columns: Sequence[str],
                       target: str | None = None, model_info: dict | None = None,
                       holdout: pd.DataFrame | None = None) -> dict[str, Any]:
    """Fidelity, ML efficacy (when `target` is given) and privacy of `synth` against `real` (the rows the
    generator was trained on); writes out_dir/report.json, out_dir/report.html (self-contained, one
    histogram or bar chart per column) and out_dir/columns/*.png; returns what report.json holds.

    `holdout`: real rows the generator never saw. With it, ML efficacy tests on it and the privacy part
    includes the membership-inference AUC. Without it, ML efficacy holds out 20% of `real` (seed 0;
    the generator has seen those rows, which flatters the synthetic score slightly) and the DCR baseline
    is the leave-one-out distance within `real`.
    """
    check_frames(real, synth)
    if holdout is not None:
        check_frames(real, holdout, ("real", "hold-out"))
    if target is not None and target not in real.columns:
        raise DataError(f"target column {target!r} not in the data (columns: {list(real.columns)})")
    out_dir = Path(out_dir)
    discrete = discrete_columns_of(real, discrete_columns)
    columns = list(real.columns)

    fidelity = fidelity_report(real, synth, discrete)
    result: dict[str, Any] = {"model": dict(model_info or {}), "n_real": len(real), "n_synthetic": len(synth),
                              "n_holdout": None if holdout is None else len(holdout),
                              "discrete_columns": discrete, "fidelity": fidelity}
    if target is not None:
        if holdout is not None:
            train, test, how = real, holdout, "given hold-out"
        else:
            train, test = _split(real, target)
            how = f"{HOLDOUT_FRACTION:.0%} of the real rows held out (seed {SEED}); the generator saw them"
        eff = ml_efficacy(train, test, target, synth, discrete)
        eff["test_rows"] = how
        result["ml_efficacy"] = eff
    result["privacy"] = privacy_report(real, synth, discrete, holdout, seed=SEED)

    # pictures
    fig_dir = out_dir / "columns"
    tags = []
    for i, c in enumerate(columns):
        score = fidelity["column_scores"][c]["score"]
        plot = _plot_categorical if c in discrete else _plot_continuous
        path = plot(fig_dir / f"{_slug(c, i)}.png", c, real[c], synth[c], score)
        tags.append(image_tag(path, f"{c} ({'categorical' if c in discrete else 'continuous'})"))
    pairs_png = _plot_pairs(out_dir / "pair_similarity.png", fidelity, columns) if len(columns) > 1 else None
    result["figures"] = sorted(str(p.relative_to(out_dir)) for p in fig_dir.glob("*.png"))

    write_json(out_dir / "report.json", result)
    write_report(out_dir / "report.html", "genmodels synthetic data report", _sections(result, tags, pairs_png),
                 config=result["model"] or None)
    return result


def _sections(result: dict[str, Any], tags: list[str], pairs_png: Path | None) -> list[tuple[str, str]]:
    fid, priv = result["fidelity"], result["privacy"]
    summary = [{"measure": "column fidelity (mean 1-KS / 1-TV)", "value": fid["column_fidelity"]},
               {"measure": "pair similarity (mean)", "value": fid["pair_similarity"]},
               {"measure": "overall fidelity", "value": fid["overall"]}]
    if "ml_efficacy" in result:
        eff = result["ml_efficacy"]
        for k in ("accuracy", "f1", "f1_macro", "roc_auc"):
            if k in eff["real"]:
                summary.append({"measure": f"ML efficacy {k}: real -> synthetic",
                                "value": f"{eff['real'][k]:.4f} -> {eff['synthetic'][k]:.4f}"})
    d = priv["dcr"]
    summary += [{"measure": f"DCR 5th percentile: synthetic / {d['baseline'].replace('_', ' ')}",
                 "value": d["ratio_p5"]}]
    if "overfit_ratio_median" in d:
        summary.append({"measure": "synthetic rows' median distance to training / to hold-out rows (1 = no "
                        "preference)", "value": d["overfit_ratio_median"]})
    summary += [
                {"measure": "exact copies of training rows", "value": f"{priv['exact_copies']['synthetic']:.2%}"},
                {"measure": "membership-inference AUC (0.5 = no leak)",
                 "value": priv["membership_inference"]["auc"] if priv["membership_inference"]["auc"] is not None
                 else priv["membership_inference"]["reason"]}]
    spent = result["model"].get("privacy_spent") if result["model"] else None
    if spent:
        summary.append({"measure": "differential privacy spent", "value": str(spent)})
    sections = [("Summary", f"<p>{result['n_real']} real rows, {result['n_synthetic']} synthetic rows"
                 + (f", {result['n_holdout']} hold-out rows" if result["n_holdout"] else "") + ".</p>"
                 + table(summary, "summary"))]
    col_rows = [{"column": c, "metric": v["metric"], "score": v["score"]} for c, v in fid["column_scores"].items()]
    sections.append(("Column fidelity", table(col_rows, "columns")))
    sections.append(("Columns: real vs synthetic", "".join(tags)))
    if pairs_png is not None:
        worst = sorted(fid["pair_scores"], key=lambda p: p["score"])[:10]
        sections.append(("Pair similarity", image_tag(pairs_png, "pair similarity (1 = same joint distribution)")
                         + "<p>Least similar pairs:</p>" + table(worst, "pairs")))
    if "ml_efficacy" in result:
        eff = result["ml_efficacy"]
        rows = [{"trained on": k, **_fmt_metrics(eff[k])} for k in ("real", "synthetic")]
        sections.append(("ML efficacy", f"<p>Target <b>{eff['target']}</b> (positive class {eff['positive']!s}); "
                         f"test rows: {eff['test_rows']} ({eff['n_test']}). Classifier: {eff['classifier']}.</p>"
                         + table(rows, "efficacy")))
    base = d["baseline"]
    rows = [{"rows": "synthetic -> train", **_fmt_metrics(d["synthetic_to_train"])},
            {"rows": base.replace("_", " "), **_fmt_metrics(d[base])}]
    if "synthetic_to_holdout" in d:
        rows += [{"rows": "synthetic -> as many train rows as hold-out rows",
                  **_fmt_metrics(d["synthetic_to_train_same_size"])},
                 {"rows": "synthetic -> hold-out", **_fmt_metrics(d["synthetic_to_holdout"])}]
    sections.append(("Privacy", "<p>Distance to the closest training row (standardised continuous, one-hot "
                     "categorical). Synthetic rows much closer to the training rows than to unseen rows "
                     "suggest memorised rows; rows close to both only sit in dense regions.</p>"
                     + table(rows, "dcr")
                     + table([{"measure": k, "value": v} for k, v in priv["exact_copies"].items()], "copies")
                     + table([_fmt_metrics(priv["membership_inference"])], "mia")))
    return sections


def synth_run(file_or_frame: str | os.PathLike | pd.DataFrame, rows: int, output: str | os.PathLike, *,
              model: str | None = None, params: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
              epochs: int | None = None, batch_size: int | None = None, epsilon: float | None = None,
              delta: float | None = None, target: str | None = None, discrete: Sequence[str] | None = None,
              seed: int | None = None, resume: bool = False, overwrite: bool = False,
              save_model: str | os.PathLike | None = None, quiet: bool = False,
              log: str | None = None) -> dict[str, Any]:
    """Fit a TabularSynthesizer on a table (a CSV file or a DataFrame), write `rows` synthetic rows to the CSV
    `output` (atomically) and the report (report.json, report.html, columns/*.png) next to it; returns what
    report.json holds (its "model" section: the settings, the fit time, the privacy spent, the files written).

    Hyperparameters, later ones winning: a resumed run's own, `config` (e.g. a YAML file's mapping), `params`,
    then the named arguments (`model`: "gan" (CTGAN) or "vae" (TVAE), default "gan"; `epochs`, `batch_size`,
    `epsilon`, `delta`, `seed`). `discrete`: the discrete columns (default: detected); `target`: a label column
    for the report's ML efficacy. With `save_model`, the model trains in that folder as its run folder
    (checkpoints, metrics) and is saved there, so `resume=True` continues an interrupted run; a folder that
    already holds a run is refused unless `resume` or `overwrite`. `log="tensorboard"` (needs `save_model`):
    live curves in the run folder's tb/."""
    from ..models import TabularSynthesizer
    from ..train import check_run_folder
    from ..train.tblog import check_logger
    from .train import make_model, saved_params

    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise DataError(f"rows must be a positive integer, got {rows!r}")
    output = Path(output)
    run_dir = Path(save_model) if save_model is not None else None
    check_run_folder(run_dir, resume, overwrite)
    check_logger(log, run_dir)
    saved = saved_params(run_dir, TabularSynthesizer, "resuming needs the --save-model folder of an interrupted "
                         "run") if resume else None
    named = {"model": model, "epochs": epochs, "batch_size": batch_size, "epsilon": epsilon, "delta": delta,
             "seed": seed}
    synthesizer = make_model(TabularSynthesizer, saved=saved, config=config, quiet=quiet, params=params,
                             named=named)  # a bad value fails before the table is read

    if isinstance(file_or_frame, pd.DataFrame):
        real, source = file_or_frame, "DataFrame"
    else:
        from ..data.tabular import read_csv_table

        real, source = read_csv_table(file_or_frame), str(file_or_frame)
    if target is not None and target not in real.columns:
        raise DataError(f"target {target!r} is not a column of {source} ({', '.join(map(str, real.columns[:10]))})")
    started = time.perf_counter()
    synthesizer.fit(real, list(discrete) if discrete else None, run_dir=run_dir, resume=resume, overwrite=overwrite,
                    logger=log)
    fit_seconds = time.perf_counter() - started
    fake = synthesizer.sample(rows)
    write_text(output, fake.to_csv(index=False))
    if run_dir is not None:
        synthesizer.save(run_dir)
    info = {"model": synthesizer.model, "epochs": synthesizer.epochs, "batch_size": synthesizer.batch_size,
            "seed": synthesizer.seed, "rows": rows, "fit_seconds": round(fit_seconds, 2),
            "device": str(synthesizer.device_), "source": source, "output": str(output),
            "saved_model": None if run_dir is None else str(run_dir), "resumed": bool(resume),
            "privacy_spent": getattr(synthesizer, "privacy_spent_", None)}
    return write_synth_report(real, fake, output.parent, synthesizer.discrete_columns_, target, info)
