"""Anomaly detection: every family finds planted outliers; the detector works in scikit-learn tooling."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score

from genmodels import DataError
from genmodels.apps.anomaly import FAMILIES, AnomalyDetector, robust_stats
from genmodels.metrics import anomaly_metrics


@pytest.fixture(scope="module")
def planted():
    """1000 normal rows near a 3-D subspace of R^10, 50 outliers spread off it."""
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(1000, 3)) @ rng.normal(size=(3, 10)) + 0.1 * rng.normal(size=(1000, 10))
    X = np.vstack([normal, 3 * rng.normal(size=(50, 10))]).astype(np.float32)
    return X, np.r_[np.zeros(1000, int), np.ones(50, int)]


@pytest.mark.parametrize("family", ["vae", "rbm", "gan", "ensemble"])
def test_each_family_finds_planted_outliers(planted, family):
    X, y = planted
    det = AnomalyDetector(model=family, contamination=0.05, epochs=10 if family == "gan" else 20).fit(X)
    assert anomaly_metrics(y, det.decision_scores_)["roc_auc"] >= 0.9
    assert det.labels_.mean() == pytest.approx(0.05, abs=0.01)
    np.testing.assert_array_equal(det.predict(X), det.labels_)
    proba = det.predict_proba(X[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(1), 1)


def test_trim_refit_sharpens_a_contaminated_fit():
    """200 of 1200 training rows are scattered outliers: the first fit widens to cover them; the refit on the
    rows it scored lowest (scaling included) leaves most of them out and ranks them higher."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 10))
    normal = rng.normal(size=(1000, 3)) @ basis + 0.1 * rng.normal(size=(1000, 10))
    X = np.vstack([normal, 1.5 * rng.normal(size=(200, 10))]).astype(np.float32)
    y = np.r_[np.zeros(1000, int), np.ones(200, int)]
    once = AnomalyDetector(model="vae", trim=0.0, epochs=20).fit(X)
    twice = AnomalyDetector(model="vae", trim=0.2, epochs=20).fit(X)
    auc_once = anomaly_metrics(y, once.decision_scores_)["roc_auc"]  # 0.912 when written
    auc_twice = anomaly_metrics(y, twice.decision_scores_)["roc_auc"]  # 0.942
    assert auc_twice >= auc_once + 0.015
    assert (twice.scalers_["vae"][1] < once.scalers_["vae"][1]).mean() > 0.8  # outliers widened the first scaling
    np.testing.assert_allclose(twice.decision_function(X), twice.decision_scores_, rtol=1e-4, atol=1e-4)


def test_ensemble_is_the_robust_mean_of_the_single_family_detectors(planted):
    """benchmarks/anomaly_mnist.py builds the ensemble from single-family fits; it must equal model="ensemble"
    (whose Gaussian VAE member scores "both": its bound and rate)."""
    X, _ = planted
    ens = AnomalyDetector(model="ensemble", epochs=5).fit(X)
    singles = {f: AnomalyDetector(model=f, epochs=5, vae_score="both").fit(X) for f in FAMILIES}
    composed = np.mean([(s.decision_scores_.astype(np.float64) - robust_stats(s.decision_scores_)[0])
                        / robust_stats(s.decision_scores_)[1] for s in singles.values()], axis=0)
    np.testing.assert_allclose(ens.decision_scores_, composed, rtol=1e-6, atol=1e-9)


def test_vae_bound_and_rate_see_different_anomalies():
    """Off-manifold outliers (noise across all 10 dims) show in the bound's reconstruction term, not in the rate;
    on-manifold ones (4-6 sd along the normal rows' 3-D subspace) show in the rate (and in the bound, which holds
    the KL term too). "both" finds the two kinds."""
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(10, 3)))[0].T  # orthonormal rows
    normal = rng.normal(size=(1000, 3)) @ basis + 0.05 * rng.normal(size=(1000, 10))
    off = 0.5 * rng.normal(size=(30, 10))
    direction = rng.normal(size=(30, 3))
    on = (direction / np.linalg.norm(direction, axis=1, keepdims=True) * rng.uniform(4, 6, (30, 1))) @ basis
    X = np.vstack([normal, off, on]).astype(np.float32)
    kind = np.r_[np.zeros(1000, int), np.ones(30, int), 2 * np.ones(30, int)]
    auc = {}
    for score in ("bound", "rate", "both"):
        s = AnomalyDetector(model="vae", vae_score=score, trim=0.0, epochs=30).fit(X).decision_scores_
        auc[score] = {k: anomaly_metrics(kind[kind != 3 - k] == k, s[kind != 3 - k])["roc_auc"] for k in (1, 2)}
    assert auc["bound"][1] > 0.9 and auc["rate"][1] < 0.6  # off-manifold: the encoder projects it away (0.94, 0.42)
    assert auc["rate"][2] > 0.95 and auc["bound"][2] > 0.95  # on-manifold extremes: far from the prior (0.98, 1.0)
    assert auc["both"][1] > 0.8 and auc["both"][2] > 0.95  # 0.87, 1.0


def test_works_in_cross_val_score_with_auroc_scorer(planted):
    X, y = planted
    scorer = make_scorer(roc_auc_score, response_method="decision_function")
    scores = cross_val_score(AnomalyDetector(model="rbm", epochs=10), X, y, scoring=scorer,
                             cv=StratifiedKFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and scores.min() > 0.9


def test_bad_input_is_refused(planted):
    X, _ = planted
    det = AnomalyDetector(model="vae", epochs=2).fit(X)
    with pytest.raises(DataError, match="features per row"):
        det.decision_function(X[:, :5])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        det.decision_function(bad)
    with pytest.raises(DataError, match="model must be"):
        AnomalyDetector(model="svm").fit(X)
    with pytest.raises(DataError, match="contamination"):
        AnomalyDetector(contamination=0.7).fit(X)
    with pytest.raises(DataError, match="trim"):
        AnomalyDetector(trim=0.5).fit(X)
    with pytest.raises(DataError, match="vae_score"):
        AnomalyDetector(vae_score="elbo").fit(X)


def test_cli_detect_trains_scores_and_measures(planted, tmp_path, capsys):
    import json

    from genmodels.cli import main

    X, y = planted
    np.savez(tmp_path / "planted.npz", X=X, y=y)
    out = tmp_path / "scores.csv"
    assert main(["detect", "--data", f"npz:{tmp_path / 'planted.npz'}", "-m", "rbm", "--epochs", "10",
                 "--contamination", "0.05", "-o", str(out), "-q"]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "row,score,anomaly,label" and len(rows) == 1051
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["roc_auc"] > 0.9 and metrics["flagged"] == pytest.approx(52, abs=2)
    assert out.with_suffix(".roc.png").stat().st_size > 1000

    # reuse a trained run: a VAE trained on normal rows scores the planted outliers
    run = tmp_path / "run"
    Xn = X[y == 0]
    np.save(tmp_path / "normal.npy", (Xn - Xn.mean(0)) / Xn.std(0))
    np.savez(tmp_path / "scaled.npz", X=((X - Xn.mean(0)) / Xn.std(0)).astype(np.float32), y=y)
    assert main(["train", "vae", "--data", f"npy:{tmp_path / 'normal.npy'}", "--epochs", "20", "--out", str(run),
                 "-p", "likelihood=gaussian", "-p", "latent_dim=3", "-q"]) == 0
    capsys.readouterr()
    for vae_score in ("auto", "both"):
        assert main(["detect", str(run), "--data", f"npz:{tmp_path / 'scaled.npz'}", "-o", str(out),
                     "--vae-score", vae_score]) == 0
        assert json.loads(capsys.readouterr().out)["roc_auc"] > 0.9


@pytest.fixture(scope="module")
def local_anomaly():
    """600 rows in four tight clusters of R^4 and one row midway between two of them: inside the data's range on
    every feature, far from all its neighbours (the last row)."""
    rng = np.random.default_rng(0)
    centres = np.array([[-3, -3, 0, 0], [3, 3, 0, 0], [-3, 3, 1, -1], [3, -3, -1, 1]], np.float64)
    normal = np.vstack([c + 0.3 * rng.normal(size=(150, 4)) for c in centres])
    return np.vstack([normal, [[0.0, 0.0, 0.0, 0.0]]]).astype(np.float32)


def test_knn_member_ranks_a_local_anomaly_first_and_is_deterministic(local_anomaly):
    X = local_anomaly
    det = AnomalyDetector(model="ensemble", neighbours=5, trim=0.0, epochs=3).fit(X)
    assert "knn" in det.score_stats_
    knn = det.knn_.kneighbors()[0].mean(1)  # the member alone: the training rows' distance to 5 other rows
    assert int(np.argmax(knn)) == len(X) - 1
    without = AnomalyDetector(model="ensemble", trim=0.0, epochs=3).fit(X)
    rank = {name: int((d.decision_scores_ > d.decision_scores_[-1]).sum()) for name, d in
            (("with", det), ("without", without))}
    assert rank["with"] < rank["without"]  # the member lifts the local anomaly in the ensemble's ranking
    again = AnomalyDetector(model="ensemble", neighbours=5, trim=0.0, epochs=3).fit(X)
    np.testing.assert_array_equal(det.decision_scores_, again.decision_scores_)
    new = det.decision_function(np.array([[0.1, -0.1, 0.0, 0.0], [-3, -3, 0, 0]], np.float32))
    assert new[0] > new[1]  # a new row between clusters scores above one at a cluster's centre


@pytest.mark.parametrize("bad", [-1, 2.5, True, "5"])
def test_bad_neighbours_is_a_one_line_data_error(local_anomaly, bad):
    with pytest.raises(DataError, match="neighbours must be an integer >= 0") as err:
        AnomalyDetector(model="ensemble", neighbours=bad).fit(local_anomaly)
    assert "\n" not in str(err.value)
