"""Tabular fidelity and privacy metrics and the synthesis report, on small generated mixed-type tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genmodels.apps.synthesize import write_synth_report
from genmodels.errors import DataError
from genmodels.metrics.privacy import dcr, exact_copy_rate, membership_inference_auc, privacy_report
from genmodels.metrics.tabular import column_fidelity, fidelity_report, ml_efficacy, pair_similarity

DISCRETE = ["group", "color", "label"]


def make_table(n: int, seed: int) -> pd.DataFrame:
    """Correlated continuous, integer and categorical columns with missing values, and a learnable label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = 0.8 * x + 0.6 * rng.normal(size=n)
    z[rng.random(n) < 0.1] = np.nan
    group = np.where(x > 0.3, "a", np.where(x > -0.5, "b", "c"))
    color = rng.choice(np.array(["red", "green", "blue", None], dtype=object), size=n, p=[0.5, 0.3, 0.15, 0.05])
    age = (40 + 10 * x + rng.normal(scale=3, size=n)).round().astype(np.int64)
    label = np.where(x + (color == "red") + rng.normal(scale=0.5, size=n) > 0.8, "yes", "no")
    return pd.DataFrame({"x": x, "z": z, "group": group, "color": color, "age": age, "label": label})


@pytest.fixture(scope="module")
def tables():
    """train, hold-out and an independent third sample of the same distribution."""
    return make_table(2000, 0), make_table(2000, 1), make_table(2000, 2)


def shuffled_columns(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: frame[c].to_numpy()[rng.permutation(len(frame))] for c in frame.columns})


# ---------------------------------------------------------------------------------------------- fidelity

def test_identical_frames_score_one(tables):
    train = tables[0]
    rep = fidelity_report(train, train.copy(), DISCRETE)
    assert rep["column_fidelity"] == 1.0 and rep["pair_similarity"] == pytest.approx(1.0) and rep["overall"] == 1.0
    assert {c: v["metric"] for c, v in rep["column_scores"].items()} == {
        "x": "KSComplement", "z": "KSComplement", "group": "TVComplement", "color": "TVComplement",
        "age": "KSComplement", "label": "TVComplement"}
    assert len(rep["pair_scores"]) == 15


def test_known_values():
    real = pd.DataFrame({"c": ["a", "a", "b", "b"], "v": [1.0, 2.0, 3.0, 4.0]})
    synth = pd.DataFrame({"c": ["a", "a", "a", "b"], "v": [1.0, 2.0, 3.0, 10.0]})
    scores = column_fidelity(real, synth, ["c"])
    assert scores["c"]["score"] == pytest.approx(0.75)  # TV = |0.5-0.75| + |0.5-0.25| over 2
    assert scores["v"]["score"] == pytest.approx(0.75)  # CDFs differ by 1/4 on [4, 10)


def test_missing_values_count_as_a_value(tables):
    train = tables[0]
    filled = train.copy()
    filled["z"] = filled["z"].fillna(0.0)
    filled["color"] = filled["color"].fillna("red")
    scores = column_fidelity(train, filled, DISCRETE)
    missing_z, missing_color = train["z"].isna().mean(), train["color"].isna().mean()
    assert scores["z"]["score"] <= 1 - missing_z / 2
    assert scores["color"]["score"] == pytest.approx(1 - missing_color)


def test_independent_columns_lower_pair_similarity(tables):
    train, _, other = tables
    same = pair_similarity(train, other, DISCRETE)
    indep = pair_similarity(train, shuffled_columns(train), DISCRETE)
    # the marginals are untouched, only the joint structure is gone
    assert fidelity_report(train, shuffled_columns(train), DISCRETE)["column_fidelity"] == 1.0
    # 2,000 rows: sampling noise alone costs a few points on 10-bin contingency tables
    assert np.nanmean(same.to_numpy()) > 0.93
    assert np.nanmean(indep.to_numpy()) < np.nanmean(same.to_numpy()) - 0.15
    # x and z correlate at 0.8: losing it costs about 0.4 on their correlation score
    assert indep.loc["x", "z"] < 0.7 and same.loc["x", "z"] > 0.95
    assert indep.loc["x", "group"] < 0.6  # a categorical/continuous pair (contingency table)
    assert np.allclose(indep.to_numpy(), indep.to_numpy().T, equal_nan=True)


def test_dtypes_do_not_change_scores(tables):
    """pandas' string, category and object columns with the same values compare equal (pandas 3 reads CSV
    strings as its string dtype; synthesizers may return categories)."""
    train = tables[0]
    other = train.copy()
    other["group"] = other["group"].astype("category")
    other["color"] = other["color"].astype("string")
    other["age"] = other["age"].astype(np.float64)
    rep = fidelity_report(train, other, DISCRETE)
    assert rep["column_fidelity"] == 1.0 and rep["pair_similarity"] == pytest.approx(1.0)
    # string columns are discrete even when not listed
    assert set(fidelity_report(train, other)["discrete_columns"]) == set(DISCRETE)


# ---------------------------------------------------------------------------------------------- ML efficacy

def test_ml_efficacy_real_beats_shuffled_target(tables):
    train, holdout, _ = tables
    broken = train.copy()
    broken["label"] = np.random.default_rng(0).permutation(broken["label"].to_numpy())
    eff = ml_efficacy(train, holdout, "label", broken, DISCRETE, n_threads=1)
    assert eff["positive"] == "yes"  # the rarer class
    real, syn = eff["real"], eff["synthetic"]
    assert real["roc_auc"] > 0.85 and real["accuracy"] > 0.8
    assert syn["roc_auc"] < 0.6 and real["f1"] > syn["f1"] + 0.2
    # an independent sample of the same distribution is about as good as the real rows
    good = ml_efficacy(train, holdout, "label", tables[2], DISCRETE, n_threads=1)["ratio"]
    assert good["roc_auc"] > 0.97


def test_ml_efficacy_single_class_synthetic(tables):
    train, holdout, _ = tables
    one = train[train["label"] == "no"]
    eff = ml_efficacy(train, holdout, "label", one, DISCRETE, n_threads=1)
    assert eff["synthetic"]["f1"] == 0.0 and eff["synthetic"]["roc_auc"] == 0.5


# ---------------------------------------------------------------------------------------------- privacy

def test_copies_of_training_rows_are_flagged(tables):
    train, holdout, _ = tables
    d = dcr(train, train.copy(), DISCRETE, holdout)
    assert d["synthetic_to_train"]["p5"] == 0.0 and d["synthetic_to_train"]["median"] == 0.0
    assert d["holdout_to_train"]["median"] > 0.1 and d["ratio_median"] == 0.0
    assert d["overfit_ratio_median"] == 0.0
    assert exact_copy_rate(train, train, DISCRETE, holdout) == {"synthetic": 1.0, "holdout": 0.0}
    assert membership_inference_auc(train, train, holdout, DISCRETE)["auc"] > 0.95


def test_independent_sample_does_not_leak(tables):
    train, holdout, other = tables
    rep = privacy_report(train, other, DISCRETE, holdout)
    assert 0.4 < rep["membership_inference"]["auc"] < 0.6
    assert 0.7 < rep["dcr"]["ratio_median"] < 1.4 and 0.8 < rep["dcr"]["overfit_ratio_median"] < 1.25
    assert rep["exact_copies"]["synthetic"] == 0.0
    # no hold-out: the baseline is each training row's nearest other training row, and no MIA
    alone = privacy_report(train, other, DISCRETE)
    assert alone["dcr"]["baseline"] == "train_to_train_leave_one_out"
    assert 0.7 < alone["dcr"]["ratio_median"] < 1.4 and alone["membership_inference"]["auc"] is None


def test_subsampling_is_seeded(tables):
    train, holdout, other = tables
    a = dcr(train, other, DISCRETE, holdout, max_rows=300, max_reference=1000, seed=3)
    b = dcr(train, other, DISCRETE, holdout, max_rows=300, max_reference=1000, seed=3)
    assert a == b and a["n_query"] == 300 and a["n_reference"] == 1000


# ---------------------------------------------------------------------------------------------- report

def test_write_synth_report(tables, tmp_path):
    train, holdout, other = tables
    info = {"model": "independent sample", "privacy_spent": {"epsilon": 1.0, "delta": 1e-5}}
    res = write_synth_report(train, other, tmp_path, DISCRETE, target="label", model_info=info, holdout=holdout)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["fidelity"]["column_fidelity"] == pytest.approx(res["fidelity"]["column_fidelity"])
    assert saved["ml_efficacy"]["test_rows"] == "given hold-out"
    assert 0.4 < saved["privacy"]["membership_inference"]["auc"] < 0.6
    assert saved["model"] == info
    html = (tmp_path / "report.html").read_text()
    # one embedded picture per column plus the pair heatmap, nothing linked from outside
    assert html.count('src="data:image/png;base64,') == train.shape[1] + 1
    assert "ML efficacy" in html and "Privacy" in html and "membership" in html
    assert len(res["figures"]) == train.shape[1]
    assert all((tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in res["figures"])


def test_write_synth_report_without_holdout_or_target(tables, tmp_path):
    train, _, other = tables
    res = write_synth_report(train, other, tmp_path / "a", DISCRETE)
    assert "ml_efficacy" not in res and res["privacy"]["membership_inference"]["auc"] is None
    res = write_synth_report(train, other, tmp_path / "b", DISCRETE, target="label")
    assert res["ml_efficacy"]["n_test"] == 400 and "generator saw them" in res["ml_efficacy"]["test_rows"]


# ---------------------------------------------------------------------------------------------- bad input

def test_bad_input_is_a_data_error(tables, tmp_path):
    train, holdout, _ = tables
    with pytest.raises(DataError, match="different columns"):
        fidelity_report(train, train.drop(columns="x"), DISCRETE)
    with pytest.raises(DataError, match="different columns"):
        dcr(train, train[train.columns[::-1]], DISCRETE)
    with pytest.raises(DataError, match="empty"):
        column_fidelity(train, train.iloc[:0], DISCRETE)
    with pytest.raises(DataError, match="empty"):
        privacy_report(train.iloc[:0], train, DISCRETE)
    with pytest.raises(DataError, match="DataFrame"):
        fidelity_report(train.to_numpy(), train, DISCRETE)
    with pytest.raises(DataError, match="not in the data"):
        fidelity_report(train, train, ["nope"])
    with pytest.raises(DataError, match="target column 'nope'"):
        ml_efficacy(train, holdout, "nope")
    with pytest.raises(DataError, match="at least 2 classes"):
        ml_efficacy(train.assign(label="no"), holdout, "label", discrete_columns=DISCRETE)
    with pytest.raises(DataError, match="non-numbers"):
        column_fidelity(train, train.assign(x="text"), DISCRETE)
    with pytest.raises(DataError, match="target column"):
        write_synth_report(train, train, tmp_path, DISCRETE, target="nope")
    assert not (tmp_path / "report.html").exists()
