"""`genmodels compare`: the GAN, VAE, RBM and DBN trained under the same time budget on the same data, then
measured side by side on everything each can do; one self-contained report.html (images embedded), report.md
and results.json with the same numbers.

Image data in [0, 1] is binarized at 0.5 first, so every family sees the same binary images (Bernoulli units
need values in [0, 1]). Each family is built from its own recipe, `cls.recommended(DataInfo.of(train), budget,
task="compare")` (models/*.py: network sizes, Bernoulli or Gaussian units by the data's range, a conditional
GAN only with labels, an epoch count the budget cuts short).

The class-conditional sampler that supplies labelled images for augmentation follows one rule, asked of the
model and its class, never of a family's name:
  - a main model that is itself class-conditional (the GAN, with labels) is its own sampler: the whole budget;
  - a family that can be conditional but whose compare recipe is not (the VAE) trains a conditional twin, the
    same recipe with conditional=True, on SAMPLER_SHARE of the budget (a CVAE's code leaves the class to its
    label, so its features make a poor probe: the unconditional model is the one measured);
  - a family that cannot be conditional gets one model per class (PerClassModel) when it recommends one for
    compare (`task="compare-per-class"`: the RBM), also on SAMPLER_SHARE of the budget split over the classes;
    a family that recommends none (the DBN, trained unsupervised) has no sampler and no augmentation number.
The measurements are in compare_measure.py, the pages in genmodels/report/compare_page.py.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataInfo, Dataset, load_dataset
from ..errors import DataError
from ..progress import Phase
from ..report.compare_page import markdown_table, summary_rows, write_compare_report
from .compare_measure import (
    METRIC_KEYS,
    METRICS,
    Context,
    Measured,
    Measurements,
    Metric,
    Settings,
    is_number,
    phase_ends,
)

FAMILIES = ("gan", "vae", "rbm", "dbn")
SAMPLER_SHARE = 0.25  # of the budget: the class-conditional sampler beside an unconditional main model
_NOT_RECORDED = ("verbose", "device", "checkpoint_every", "sample_every")  # params that do not shape a result


# --- winners -----------------------------------------------------------------------------------------------
MIN_RECALL = 1e-3  # below it a family's precision is shown but not credited (see `uncredited`)


def uncredited(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """family -> metric -> why, for numbers shown but never counted as a win: precision of a family whose
    recall is (about) 0, since a few samples sitting on the manifold while covering none of it score 1.0."""
    out: dict[str, dict[str, str]] = {}
    for f, v in results.items():
        recall = v.get("recall")
        if is_number(v.get("precision")) and is_number(recall) and recall < MIN_RECALL:
            out.setdefault(f, {})["precision"] = (f"not counted as a win: recall is {recall:.2g}, and precision "
                                                  "without coverage says nothing")
    return out


def winners(results: dict[str, dict[str, Any]], metrics: Sequence[Metric] = METRICS) -> dict[str, list[str]]:
    """Per metric, the families with the best numeric value (ties share the row; none when no family has a
    number or the metric has no direction). Values listed by `uncredited` take no part."""
    out: dict[str, list[str]] = {}
    skip = uncredited(results)
    for m in metrics:
        values = {f: v[m.key] for f, v in results.items()
                  if is_number(v.get(m.key)) and m.key not in skip.get(f, {})}
        if not m.better or not values:
            out[m.key] = []
            continue
        best = (max if m.better == "higher" else min)(values.values())
        out[m.key] = [f for f, v in values.items() if math.isclose(v, best, rel_tol=1e-9, abs_tol=1e-12)]
    return out


# --- the comparison ----------------------------------------------------------------------------------------
def compare(data: str = "digits", budget: float = 300, out: str | Path = "runs/compare",
            families: Sequence[str] = FAMILIES, seed: int = 0, quiet: bool = False,
            overwrite: bool = False) -> dict[str, Any]:
    """Train each family for `budget` seconds on `data` (a data spec), measure it, and write out/report.html,
    out/report.md and out/results.json (each family's run folder is out/<family>). Returns the results dict.
    A family whose training or a measurement fails gets None with the reason; the others go on. A folder that
    already holds a compare report or runs is refused (nothing written) unless `overwrite=True`."""
    families = _check_families(families)
    if not is_number(budget) or budget <= 0:
        raise DataError(f"budget must be a positive number of seconds, got {budget!r}")
    out = Path(out)
    if not overwrite and _holds_comparison(out, families):
        raise DataError(f"{out} already holds a compare report or runs; choose another folder or overwrite it "
                        "(--overwrite, overwrite=True)")
    started = time.perf_counter()
    from ..train.trainer import progress_enabled

    say = _Say(progress_enabled(not quiet))
    train, test = load_dataset(data, "train", seed=seed), load_dataset(data, "test", seed=seed)
    seen = _what_models_see(train)
    if seen == "binarized":
        train, test = train.binarize("threshold", seed=seed), test.binarize("threshold", seed=seed)
    settings = Settings.for_data(train.n_features)
    labelled = train.y is not None and test.y is not None and len(np.unique(train.y)) >= 2
    network = None
    if labelled:
        from ..metrics import feature_network

        say(f"feature network for FID on {train.name} (trained once, then cached)")
        network = feature_network(train, seed=0, verbose=say.on)
    ctx = Context(train, test, settings, labelled, network, seen == "binarized", int(seed))
    results: dict[str, dict[str, Any]] = {}
    reasons: dict[str, dict[str, str]] = {}
    details: dict[str, dict[str, Any]] = {}
    figures: dict[str, list[tuple[str, str]]] = {}
    panels: dict[str, tuple[str, str] | None] = {"real": _real_panel(test, out)}
    for i, family in enumerate(families):
        say(f"[{i + 1}/{len(families)}] {family}: training for {budget:g} s")
        phase = Phase(f"compare {family} ({i + 1}/{len(families)})", verbose=0)  # its bars are the phases inside
        run = _FamilyRun(family, out / family, ctx, float(budget), say, overwrite)
        run.execute()
        m = run.measured
        phase.done(_family_summary(m))
        results[family], reasons[family], details[family], figures[family] = m.values, m.reasons, m.details, m.figures
        panels[family] = m.panel
    for family, notes in uncredited(results).items():
        reasons[family].update(notes)
    summary = {
        "data": data, "data_seen": seen, "n_train": len(train), "n_test": len(test),
        "budget_seconds_per_family": float(budget), "seed": int(seed), "families": list(families),
        "metrics": [{"key": m.key, "label": m.label, "better": m.better, "about": m.about} for m in METRICS],
        "results": results, "reasons": reasons, "winners": winners(results), "details": details,
        "feature_net_accuracy": None if network is None else network.accuracy, "settings": settings.__dict__,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_compare_report(out, summary, figures, panels)
    say(f"report: {out / 'report.html'}")
    return summary


def _real_panel(test: Dataset, out: Path) -> tuple[str, str] | None:
    """The side-by-side figure's first panel: real test images (a row per class when labelled), at the scale
    of the families' panels."""
    from ..report.plots import PANEL_PAD, panel_rows, panel_scale, save_image_grid

    if test.X.ndim != 4:
        return None
    panel = panel_rows(test.X, test.y)
    path = save_image_grid(out / "real_test.png", panel, ncol=5, scale=panel_scale(panel), pad_value=PANEL_PAD)
    return str(path), "real test images" + (", a row per class" if test.y is not None else "")


def _family_summary(m: Measured) -> str:
    """The family's summary line: steps, training and measuring time, and the first measured number."""
    if m.values.get("train_seconds") is None:
        return "training failed"
    main = next(((x.label, m.values[x.key]) for x in METRICS if is_number(m.values.get(x.key))
                 and x.key not in ("train_seconds", "train_steps")), None)
    text = (f"trained {m.values['train_steps']:.0f} steps in {m.values['train_seconds']:.1f} s, measured in "
            f"{m.details.get('eval_seconds', 0):.1f} s")
    return text + (f"; {main[0]} {main[1]:.4g}" if main else "")


def _check_families(families: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(families, str):
        families = [f for f in families.split(",") if f.strip()]
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in families))
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown or not chosen:
        raise DataError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown) or '(none given)'}; "
                        f"choose from {', '.join(FAMILIES)}")
    return chosen


def _holds_comparison(out: Path, families: Sequence[str]) -> bool:
    """results.json, or a run in a family's folder or one level below it (a DBN's layers, a sampler)."""
    from ..train import holds_run

    if (out / "results.json").exists():
        return True
    folders = [d for f in families for d in (out / f, *sorted((out / f).glob("*"))) if d.is_dir()]
    return any(holds_run(d) for d in folders)


def _what_models_see(train: Dataset) -> str:
    lo, hi = float(np.min(train.X)), float(np.max(train.X))
    return "binarized" if lo >= 0 and hi <= 1 else "raw"


class _Say:
    def __init__(self, on: bool):
        self.on = on

    def __call__(self, msg: str) -> None:
        if self.on:
            print(f"genmodels compare: {msg}", file=sys.stderr, flush=True)


class _FamilyRun:
    """Trains one family (main model and class-conditional sampler, see the module doc) within the budget,
    then measures it into `measured` (compare_measure.Measured)."""

    def __init__(self, family: str, run_dir: Path, ctx: Context, budget: float, say: Callable[[str], None],
                 overwrite: bool = False):
        from ..models import FAMILIES as REGISTRY

        self.family, self.cls, self.run_dir, self.ctx = family, REGISTRY[family], run_dir, ctx
        self.budget, self.say, self.overwrite = budget, say, overwrite
        self.measured = Measured()
        self.no_sampler_why = "n/a: no class-conditional sampler"
        self.main_share, self.sampler_kind = 1.0, ""

    def execute(self) -> None:
        m = self.measured
        self.run_dir.mkdir(parents=True, exist_ok=True)
        verbose = 1 if getattr(self.say, "on", False) else 0
        try:
            started = time.perf_counter()
            model, sampler = self.fit(verbose)
            m.values["train_seconds"] = round(time.perf_counter() - started, 2)
        except Exception as e:
            reason = f"training failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            m.na(METRIC_KEYS, reason)
            self.say(f"{self.family}: {reason}")
            return
        history = [r for r in model.history_ if isinstance(r, dict)]
        ends = phase_ends(history)
        steps = sum(int(r["step"]) for r in ends)
        m.values["train_steps"] = float(steps)
        m.details.update({"params": {k: v for k, v in model.get_params(deep=False).items() if k not in _NOT_RECORDED},
                          "budget_exhausted": bool(getattr(model, "budget_exhausted_", False)),
                          "stop_reason": getattr(model, "stop_reason_", None),
                          "epochs_done": round(sum(float(r.get("epoch", 0)) for r in ends), 2),
                          "setup": self.setup(model, sampler)})
        self.say(f"{self.family}: trained {steps} steps in {m.values['train_seconds']:.1f} s; measuring")
        eval_started = time.perf_counter()
        Measurements(self.family.upper(), model, sampler, self.no_sampler_why, history, self.run_dir, self.ctx,
                     m).run()
        m.details["eval_seconds"] = round(time.perf_counter() - eval_started, 1)

    # --- training ------------------------------------------------------------------------------------------------
    def fit(self, verbose: int):
        """(main model, class-conditional sampler or None), trained by the rule in the module doc."""
        ctx, cls = self.ctx, self.cls
        info = DataInfo.of(ctx.train)
        if not ctx.labelled:  # labels the test split lacks cannot be measured: recipes see unlabelled data
            info = dataclasses.replace(info, n_classes=0)
        common = {"seed": ctx.seed, "verbose": verbose, "sample_every": 0}
        params = {**cls.recommended(info, self.budget, task="compare"), **common}
        model = cls(**params)
        model._progress_label = f"{self.family.upper()} (compare)"
        conditional = bool(model.get_params(deep=False).get("conditional", False))
        plan = None if conditional or not ctx.labelled else self._sampler_plan(info, params, common)
        self.main_share = 1 - SAMPLER_SHARE if plan is not None else 1.0
        model.fit(ctx.train.X, ctx.train.y if conditional else None, run_dir=self.run_dir,
                  overwrite=self.overwrite, time_budget=self.budget * self.main_share)
        model.save(self.run_dir)
        if model.is_conditional():
            return model, model
        if plan is None:
            self.no_sampler_why = (f"n/a: not class-conditional ({type(model).__name__} trained unsupervised, "
                                   "with no class-conditional sampler beside it)" if ctx.labelled
                                   else "n/a: the data has no class labels")
            return model, None
        try:
            return model, plan(self.budget * SAMPLER_SHARE)
        except Exception as e:  # the main model stands; only augmentation loses its sampler
            self.no_sampler_why = (f"n/a: the class-conditional sampler failed: {type(e).__name__}: "
                                   f"{str(e).splitlines()[0] if str(e) else ''}")
            return model, None

    def _sampler_plan(self, info: DataInfo, params: dict[str, Any], common: dict[str, Any]):
        """A function training the class-conditional sampler on a given budget (its description in
        `sampler_kind`), or None when the family recommends none (see the module doc)."""
        cls, X, y = self.cls, self.ctx.train.X, self.ctx.train.y
        if "conditional" in cls.capabilities:  # a conditional twin of the main recipe
            self.sampler_kind = f"a class-conditional {cls.__name__}"

            def twin(budget: float):
                sampler = cls(**{**params, "conditional": True})
                sampler._progress_label = f"{self.family.upper()} sampler (compare)"
                return sampler.fit(
                    X, y, run_dir=self.run_dir / "sampler", overwrite=self.overwrite, time_budget=budget)
            return twin
        per_class = cls.recommended(info, self.budget, task="compare-per-class")
        if not per_class:
            return None
        self.sampler_kind = f"one {cls.__name__} per class (PerClassModel)"

        def one_per_class(budget: float):
            from ..models.per_class import PerClassModel

            # PerClassModel hands fit's time_budget to every class model: the share split over the classes
            return PerClassModel(cls(**per_class, **common), seed=self.ctx.seed).fit(
                X, y, time_budget=budget / len(np.unique(y)))
        return one_per_class

    def setup(self, model, sampler) -> str:
        """How this family was trained, in words, for the report."""
        name = type(model).__name__
        if sampler is model:
            return f"class-conditional {name} on the whole budget (its own sampler for augmentation)"
        share = ("the whole budget" if self.main_share == 1
                 else f"{Fraction(self.main_share).limit_denominator(100)} of the budget")
        if sampler is None:
            return f"{name} on {share}; no class-conditional sampler"
        return (f"{name} on {share}, plus {self.sampler_kind} on the other "
                f"{Fraction(SAMPLER_SHARE).limit_denominator(100)} that samples the labelled images for augmentation")


__all__ = ["FAMILIES", "METRICS", "METRIC_KEYS", "MIN_RECALL", "SAMPLER_SHARE", "Metric", "compare",
           "markdown_table", "summary_rows", "uncredited", "winners"]
