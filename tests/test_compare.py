"""`genmodels compare` and the time budget it rests on: every family and metric in results.json (a number, or
None with the reason), a self-contained report.html, the winner logic, the CLI, and budget stop + resume."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
import torch

from genmodels.apps.compare import (
    FAMILIES,
    METRIC_KEYS,
    METRICS,
    MIN_RECALL,
    Metric,
    compare,
    uncredited,
    winners,
)
from genmodels.cli import main
from genmodels.data import DataInfo
from genmodels.errors import DataError
from genmodels.models import DBN, GAN, RBM, VAE

SMALL_VAE = {"latent_dim": 4, "hidden_dims": (32,), "batch_size": 32, "verbose": 0, "sample_every": 0}


# --- the time budget ---------------------------------------------------------------------------------------
def test_budget_stops_a_long_run_in_time(digits_binary, tmp_path):
    model = VAE(epochs=100_000, **SMALL_VAE)
    started = time.perf_counter()
    model.fit(digits_binary[0], run_dir=tmp_path / "run", time_budget=1.0)
    assert time.perf_counter() - started < 1.0 + 1.5  # a step boundary, the checkpoint and saving
    assert model.budget_exhausted_ and "time budget of 1 s" in model.stop_reason_
    assert model.history_[-1]["kind"] == "stop" and model.history_[-1]["reason"] == model.stop_reason_
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["finished"] is False and state["step"] == model.history_[-1]["step"]
    stops = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in stops if r.get("kind") == "stop"] == ["stop"]


def test_resume_after_a_budget_stop_is_exact(digits_binary, tmp_path):
    X = digits_binary[0].X[:320]
    whole = VAE(epochs=3, **SMALL_VAE).fit(X)
    assert whole.budget_exhausted_ is False and whole.stop_reason_ is None
    first = VAE(epochs=3, **SMALL_VAE).fit(X, run_dir=tmp_path / "run", time_budget=1e-6)
    assert first.budget_exhausted_ and first.history_[-1]["step"] == 1  # one step always runs
    resumed = VAE(epochs=3, **SMALL_VAE).fit(X, run_dir=tmp_path / "run", resume=True)
    assert not resumed.budget_exhausted_ and [h["epoch"] for h in resumed.history_] == [1, 2, 3]
    for (name, a), b in zip(whole.module_.state_dict().items(), resumed.module_.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert json.loads((tmp_path / "run" / "state.json").read_text())["finished"] is True


def test_dbn_shares_the_budget_over_its_phases(digits_binary):
    train = digits_binary[0]
    model = DBN(layers=(32, 16), pretrain_epochs=100_000, epochs=100_000, batch_size=32, verbose=0)
    started = time.perf_counter()
    model.fit(train.X, train.y, time_budget=1.5)
    assert time.perf_counter() - started < 1.5 + 1.5
    assert model.budget_exhausted_
    stops = [r for r in model.history_ if r.get("kind") == "stop"]
    assert len(stops) == 3  # layer 1, layer 2, fine-tuning: each stopped on its share
    assert model.stop_reason_.count("time budget") == 3 and model.stop_reason_.startswith("layer 1: ")
    assert model.predict(train.X[:5]).shape == (5,)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "soon"])
def test_bad_time_budget_is_a_data_error(digits_binary, bad):
    with pytest.raises(DataError, match="time_budget"):
        VAE(epochs=1, **SMALL_VAE).fit(digits_binary[0].X[:64], time_budget=bad)
    with pytest.raises(DataError, match="time_budget"):
        DBN(layers=(8,), verbose=0).fit(digits_binary[0].X[:64], time_budget=bad)


# --- the comparison --------------------------------------------------------------------------------------------
def test_results_have_every_family_and_metric(compare_report):
    results = json.loads((compare_report / "results.json").read_text())
    assert results["families"] == list(FAMILIES)
    for family in FAMILIES:
        values, reasons = results["results"][family], results["reasons"][family]
        assert set(values) == set(METRIC_KEYS), family
        for key, value in values.items():
            assert (isinstance(value, float) and np.isfinite(value)) or (value is None and reasons[key]), (family, key)
        assert values["train_seconds"] < 1.5 + 3.0  # the same budget for each (plus build, save)
        assert (compare_report / family / "samples.png").stat().st_size > 0
    # metrics each family has by construction (a failure here means a measurement broke)
    assert all(results["results"][f]["fid"] is not None for f in FAMILIES)
    assert results["results"]["gan"]["nll_nats"] is None and "density" in results["reasons"]["gan"]["nll_nats"]
    assert results["results"]["vae"]["nll_nats"] > 0 and results["results"]["rbm"]["nll_nats"] > 0
    assert results["results"]["dbn"]["augment_gain"] is None
    for family in ("vae", "rbm", "dbn"):  # features of a trained model beat chance (10%) by a wide margin
        assert results["results"][family]["linear_probe_acc"] > 0.5, family


def test_report_files_agree_and_html_is_self_contained(compare_report):
    results = json.loads((compare_report / "results.json").read_text())
    html = (compare_report / "report.html").read_text()
    md = (compare_report / "report.md").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert html.count("data:image/png;base64,") >= 2 * len(FAMILIES)  # samples and losses at least
    assert 'id="summary"' in html
    for m in METRICS:
        assert f'data-metric="{m.key}"' in html and m.label in md
    fid = results["results"]["vae"]["fid"]
    assert f"{fid:.4g}" in md and f"{fid:.4g}" in html  # the same numbers in all three


def test_winner_logic():
    metrics = (Metric("fid", "FID", "lower", ""), Metric("acc", "acc", "higher", ""),
               Metric("secs", "time", "", ""), Metric("none", "n/a everywhere", "higher", ""))
    results = {"gan": {"fid": 30.0, "acc": 0.9, "secs": 1.0, "none": None},
               "vae": {"fid": 10.0, "acc": 0.95, "secs": 2.0, "none": None},
               "rbm": {"fid": None, "acc": 0.95, "secs": 0.5, "none": None},
               "dbn": {"fid": float("nan"), "acc": 0.1, "secs": 3.0}}
    assert winners(results, metrics) == {"fid": ["vae"], "acc": ["vae", "rbm"], "secs": [], "none": []}


def test_precision_without_recall_wins_nothing():
    # the DBN case: a few samples all on the manifold (precision 1.0) that cover none of it (recall 0)
    results = {"gan": {"precision": 0.8, "recall": 0.5}, "vae": {"precision": 0.9, "recall": 0.3},
               "rbm": {"precision": 0.7, "recall": None}, "dbn": {"precision": 1.0, "recall": 0.0}}
    assert winners(results) == {**{k: [] for k in METRIC_KEYS}, "precision": ["vae"], "recall": ["gan"]}
    assert set(uncredited(results)) == {"dbn"} and "recall is 0" in uncredited(results)["dbn"]["precision"]
    results["dbn"]["recall"] = MIN_RECALL / 2  # "about 0" counts as 0
    assert winners(results)["precision"] == ["vae"]
    results["dbn"]["recall"] = 0.01  # some coverage: its precision competes again
    assert winners(results)["precision"] == ["dbn"] and uncredited(results) == {}
    # only family with a precision, but no recall: no winner rather than a hollow one
    assert winners({"dbn": {"precision": 1.0, "recall": 0.0}})["precision"] == []


def test_a_failing_family_gets_na_and_the_rest_go_on(monkeypatch, tmp_path):
    from genmodels.apps import compare as mod

    real_fit = mod._FamilyRun.fit

    def fit(self, verbose):
        if self.family == "gan":
            raise FloatingPointError("generator diverged")
        return real_fit(self, verbose)

    monkeypatch.setattr(mod._FamilyRun, "fit", fit)
    results = mod.compare("digits", budget=0.3, out=tmp_path / "c", families=("gan", "rbm"), quiet=True)
    assert all(v is None for v in results["results"]["gan"].values())
    assert "generator diverged" in results["reasons"]["gan"]["fid"]
    assert results["results"]["rbm"]["fid"] is not None
    assert "rbm" in results["winners"]["fid"]


# --- recipes, samplers, overwrite ------------------------------------------------------------------------
def _old_recipes(small: bool, bernoulli: bool, labelled: bool) -> dict[str, dict]:
    """The parameters compare wrote out family by family before the recipes moved into the families'
    `recommended(..., task="compare")` (epoch caps, seed, verbose and sample_every were compare's own)."""
    rbm = {"visible": "bernoulli" if bernoulli else "gaussian", "cd_k": 1, "persistent": False,
           "lr": 0.05 if bernoulli else 0.01, "momentum": 0.5, "burn_in": 200, "ais_runs": 100, "ais_betas": 2000,
           "batch_size": 32 if small else 100, "epochs": 100_000}
    return {
        "gan": {"latent_dim": 32 if small else 64, "hidden_dims": (128, 256) if small else (256, 512), "arch": "mlp",
                "conditional": labelled, "encoder": True, "batch_size": 64, "epochs": 100_000},
        "vae": {"latent_dim": 8 if small else 16, "hidden_dims": (256, 128) if small else (512, 256), "arch": "mlp",
                "likelihood": "bernoulli" if bernoulli else "gaussian", "iwae_k": 20,
                "batch_size": 32 if small else 128, "epochs": 100_000},
        "rbm": {"n_hidden": 128 if small else 500, **rbm},
        "rbm-per-class": {"n_hidden": 32 if small else 100, **rbm},
        "dbn": {"layers": (128, 64) if small else (500, 500), "pretrain_epochs": 100_000, "pretrain_lr": 0.05,
                "cd_k": 1, "persistent": False, "momentum": 0.5, "burn_in": 200, "batch_size": 32 if small else 100},
    }


@pytest.mark.parametrize("small", [True, False])
@pytest.mark.parametrize("bernoulli", [True, False])
@pytest.mark.parametrize("labelled", [True, False])
def test_family_recipes_are_the_parameters_compare_used(small, bernoulli, labelled):
    shape = (1, 8, 8) if small else (1, 28, 28)
    info = DataInfo(1000, shape, n_classes=10 if labelled else 0, unit_interval=bernoulli, binary=bernoulli)
    old = _old_recipes(small, bernoulli, labelled)
    for name, cls in {"gan": GAN, "vae": VAE, "rbm": RBM, "dbn": DBN}.items():
        assert cls.recommended(info, 1.5, task="compare") == old[name], name
    assert RBM.recommended(info, 1.5, task="compare-per-class") == old["rbm-per-class"]
    for cls in (GAN, VAE, DBN):  # no per-class sampler recipe: the conditional ones train a twin, the DBN none
        assert cls.recommended(info, 1.5, task="compare-per-class") == {}
    assert "epochs" not in VAE.recommended(info, None, task="compare")  # no budget: the default epochs stand


FAMILY_PARAMS = {  # what compare trained on the bundled digits (binarized, labelled) before and after the split
    "gan": {"arch": "mlp", "batch_size": 64, "betas": [0.5, 0.999], "conditional": True, "d_channels": 64,
            "d_steps": None, "ema_decay": 0.999, "encoder": True, "epochs": 100000, "g_channels": 64,
            "gp_weight": 10.0, "hidden_dims": [128, 256], "latent_dim": 32, "loss": "non-saturating",
            "lr_d": 0.0002, "lr_g": 0.0002, "precision": "fp32", "seed": 0, "spectral_norm": False},
    "vae": {"arch": "mlp", "batch_size": 32, "beta": 1.0, "conditional": False, "dynamic_binarization": False,
            "epochs": 100000, "hidden_dims": [256, 128], "iwae_k": 20, "latent_dim": 8, "likelihood": "bernoulli",
            "lr": 0.001, "precision": "fp32", "seed": 0, "weight_decay": 0.0},
    "rbm": {"ais_betas": 2000, "ais_runs": 100, "batch_size": 32, "burn_in": 200, "cd_k": 1, "epochs": 100000,
            "learn_variance": False, "lr": 0.05, "lr_schedule": "constant", "momentum": 0.5, "n_hidden": 128,
            "persistent": False, "seed": 0, "standardize": True, "visible": "bernoulli", "weight_decay": 0.0},
    "dbn": {"batch_size": 32, "burn_in": 200, "cd_k": 1, "dropout": 0.0, "epochs": 30, "layers": [128, 64],
            "lr": 0.001, "momentum": 0.5, "persistent": False, "precision": "fp32", "pretrain": True,
            "pretrain_epochs": 100000, "pretrain_lr": 0.05, "seed": 0, "weight_decay": 0.0002},
}


def test_each_family_trains_its_recipe_and_the_sampler_rule(compare_report):
    results = json.loads((compare_report / "results.json").read_text())
    details = results["details"]
    for family, params in FAMILY_PARAMS.items():
        assert details[family]["params"] == params, family
    setup = {f: details[f]["setup"] for f in FAMILIES}
    assert setup["gan"].startswith("class-conditional GAN on the whole budget")  # its own sampler
    assert "VAE on 3/4 of the budget, plus a class-conditional VAE on the other 1/4" in setup["vae"]
    sampler = json.loads((compare_report / "vae" / "sampler" / "config.json").read_text())
    assert sampler["params"]["conditional"] is True and sampler["params"]["latent_dim"] == 8
    assert "RBM on 3/4 of the budget, plus one RBM per class (PerClassModel)" in setup["rbm"]
    assert setup["dbn"] == "DBN on the whole budget; no class-conditional sampler"
    assert "not class-conditional" in results["reasons"]["dbn"]["augment_gain"]
    assert details["vae"]["nll"]["method"] == "iwae" and details["vae"]["nll"]["n_runs"] == 100
    assert details["rbm"]["nll"]["method"] == "ais" and details["rbm"]["nll"]["n_betas"] == 2000
    lo, hi = details["rbm"]["nll"]["nll_interval"]
    assert lo <= results["results"]["rbm"]["nll_nats"] <= hi
    assert "AIS on its top RBM" in results["reasons"]["dbn"]["nll_nats"]  # the DBN class's own words
    assert "free energy" in details["dbn"]["anomaly"]["score"]


def test_apps_never_ask_a_family_its_name():
    from pathlib import Path

    import genmodels.apps

    pattern = re.compile(r"\.family *(==|!=|in\b)|family *== *['\"]")
    for path in sorted(Path(genmodels.apps.__file__).parent.glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not pattern.search(line), f"{path.name}:{n}: {line.strip()}"


@pytest.mark.parametrize("held", ["results.json", "vae/config.json", "dbn/layer_1/metrics.jsonl"])
def test_compare_refuses_a_folder_holding_a_report_or_runs(tmp_path, held):
    out = tmp_path / "c"
    (out / held).parent.mkdir(parents=True, exist_ok=True)
    (out / held).write_text("{}")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(DataError, match="already holds a compare report or runs") as err:
        compare("digits", budget=0.3, out=out, families=("vae", "dbn"), quiet=True)
    assert len(str(err.value).splitlines()) == 1
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing written


def test_compare_overwrite_replaces_a_previous_comparison(tmp_path):
    out = tmp_path / "c"
    compare("digits", budget=0.3, out=out, families=("vae",), quiet=True)
    first = (out / "vae" / "metrics.jsonl").read_text()
    with pytest.raises(DataError, match="overwrite"):
        compare("digits", budget=0.3, out=out, families=("vae",), quiet=True)
    again = compare("digits", budget=0.3, out=out, families=("vae",), quiet=True, overwrite=True)
    assert json.loads((out / "results.json").read_text())["total_seconds"] == again["total_seconds"]
    assert (out / "vae" / "metrics.jsonl").read_text() != first  # a fresh run, not an appended one
    assert (out / "vae" / "sampler" / "config.json").exists()


# --- command line --------------------------------------------------------------------------------------------
def test_cli_compare_and_demo(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--data", "digits", "--budget", "0.5", "-o", str(out), "--families", "vae", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "| linear-probe accuracy |" in printed and str(out / "report.html") in printed
    assert json.loads((out / "results.json").read_text())["families"] == ["vae"]
    demo = tmp_path / "demo"
    assert main(["demo", "--out", str(demo), "--budget", "0.5", "--families", "rbm", "-q"]) == 0
    assert (demo / "report.html").exists() and str(demo / "report.html") in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--families", "gan,flow"], "unknown family flow"),
    (["--budget", "-5"], "budget must be a positive"),
    (["--data", "nosuch:thing"], "unknown data spec"),
])
def test_cli_compare_bad_input_exits_2(tmp_path, capsys, args, message):
    assert main(["compare", "-o", str(tmp_path / "x"), "-q", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing trained, nothing written
