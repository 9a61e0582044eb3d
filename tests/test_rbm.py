"""RBM family: AIS against exact partition functions, CD/PCD learning on digits, the scikit-learn
BernoulliRBM surface (Pipeline feature extraction), Gaussian visibles, exact resume, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from genmodels import RBM, DataError, load
from genmodels.metrics import independent_bernoulli_log_likelihood
from genmodels.models.rbm import ais_log_partition, exact_log_partition


def flat(data) -> np.ndarray:
    return data.X.reshape(len(data), -1)


@pytest.fixture(scope="module")
def tiny_data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((400, 10)) < rng.random(10)).astype(np.float32)


@pytest.mark.parametrize("weight_scale", [None, 1.5])
def test_ais_log_z_within_a_tenth_of_a_nat_of_exact(tiny_data, weight_scale):
    rbm = RBM(n_hidden=8, epochs=10, lr=0.1, seed=1, verbose=0).fit(tiny_data)
    if weight_scale:  # a harder, strongly coupled model too
        torch.manual_seed(0)
        rbm.module_.weight.normal_(0.0, weight_scale)
    exact = exact_log_partition(rbm.module_)
    log_z, low, high = ais_log_partition(rbm.module_, n_runs=100, n_betas=2000, base_data=torch.tensor(tiny_data))
    assert abs(log_z - exact) < 0.1
    assert low <= log_z <= high
    est = rbm.log_likelihood(tiny_data, n_runs=100, n_betas=2000, exact=False)
    assert est.method == "ais"
    assert abs(est.mean - rbm.log_likelihood(tiny_data, exact=True).mean) < 0.1


def test_exact_log_z_matches_brute_force_sum_over_visible_and_hidden():
    rbm = RBM(n_hidden=3, epochs=1, verbose=0).fit(np.random.default_rng(1).random((50, 4)).round())
    torch.manual_seed(0)
    net = rbm.module_
    net.weight.normal_(0, 1)
    net.hidden_bias.normal_(0, 1)
    states = lambda n: torch.tensor([[(i >> j) & 1 for j in range(n)] for i in range(2 ** n)], dtype=torch.float32)  # noqa: E731
    v, h = states(4), states(3)
    energy = -(v @ net.visible_bias)[:, None] - (h @ net.hidden_bias)[None, :] - v @ net.weight.t() @ h.t()
    assert exact_log_partition(net) == pytest.approx(float(torch.logsumexp((-energy).flatten().double(), 0)), abs=1e-5)


def test_gaussian_ais_matches_exact():
    X = np.random.default_rng(2).normal(size=(300, 6)) * [1, 2, 3, 1, 1, 5] + 3
    rbm = RBM(n_hidden=6, visible="gaussian", learn_variance=True, lr=0.01, epochs=20, verbose=0).fit(X)
    torch.manual_seed(0)
    rbm.module_.weight.normal_(0, 0.5)
    log_z, _, _ = ais_log_partition(rbm.module_, n_runs=100, n_betas=1000)
    assert abs(log_z - exact_log_partition(rbm.module_)) < 0.1


@pytest.mark.parametrize("persistent", [False, True])
def test_cd_and_pcd_raise_exact_likelihood_on_digits(digits_binary, persistent):
    train, test = digits_binary
    untrained = RBM(n_hidden=16, epochs=1, lr=0.0, verbose=0).fit(train)  # lr 0: the initial model
    rbm = RBM(n_hidden=16, persistent=persistent, epochs=30, lr=0.05, batch_size=10, seed=0, verbose=0).fit(train)
    before, after = untrained.log_likelihood(test).mean, rbm.log_likelihood(test).mean
    baseline = independent_bernoulli_log_likelihood(flat(train), flat(test))
    assert after > before + 2.0, (before, after)
    assert after > baseline + 2.0, (baseline, after)
    assert rbm.history_[-1]["recon_error"] < rbm.history_[0]["recon_error"]


def _nudged_digits():
    """scikit-learn's RBM example data: the 8x8 digits plus copies shifted by one pixel each way."""
    d = load_digits()
    images = d.images / 16.0
    shifted = [np.roll(np.pad(images, ((0, 0), (1, 1), (1, 1))), s, axis=a)[:, 1:-1, 1:-1]
               for a in (1, 2) for s in (-1, 1)]
    X = np.concatenate([images, *shifted]).reshape(-1, 64).astype(np.float32)
    return train_test_split(X, np.tile(d.target, 5), test_size=0.2, random_state=0)


def test_pipeline_rbm_features_beat_raw_pixel_logistic_regression():
    X_train, X_test, y_train, y_test = _nudged_digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        raw = LogisticRegression(C=100, max_iter=300).fit(X_train, y_train).score(X_test, y_test)
        pipe = Pipeline([("rbm", RBM(n_hidden=100, lr=0.06, epochs=10, batch_size=10, verbose=0)),
                         ("clf", LogisticRegression(C=100, max_iter=300))]).fit(X_train, y_train)
    rbm_acc = pipe.score(X_test, y_test)
    assert rbm_acc > raw + 0.05, (raw, rbm_acc)


def test_gaussian_rbm_trains_on_standardized_continuous_data():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 8)) * 3
    X = (centers[rng.integers(3, size=1500)] + rng.normal(size=(1500, 8))) * 10 + 50  # far from standardised
    X_train, X_test = X[:1200], X[1200:]
    untrained = RBM(n_hidden=8, visible="gaussian", epochs=1, lr=0.0, verbose=0).fit(X_train)
    rbm = RBM(n_hidden=8, visible="gaussian", epochs=30, lr=0.01, batch_size=20, verbose=0).fit(X_train)
    assert rbm.log_likelihood(X_test).mean > untrained.log_likelihood(X_test).mean + 1.0
    learned = RBM(n_hidden=8, visible="gaussian", learn_variance=True, persistent=True, epochs=30, lr=0.01,
                  batch_size=20, verbose=0).fit(X_train)  # learned variances want PCD: CD-1 shrinks them too far
    assert torch.isfinite(learned.module_.log_var).all()
    assert learned.log_likelihood(X_test).mean > rbm.log_likelihood(X_test).mean + 1.0
    recon = rbm.reconstruct(X_test)
    assert np.mean((recon - X_test) ** 2) < np.mean((X_test - X_train.mean(0)) ** 2)  # in the data's own units
    samples = rbm.sample(200, seed=0)
    assert abs(samples.mean() - X_train.mean()) < 0.5 * X_train.std()


def test_bernoulli_rbm_surface(digits_binary):
    train, test = digits_binary
    rbm = RBM(n_hidden=32, epochs=3, verbose=0).fit(train)
    h = rbm.transform(test)
    assert h.shape == (len(test), 32) and h.min() >= 0 and h.max() <= 1
    assert rbm.components_.shape == (32, 64)
    assert rbm.intercept_hidden_.shape == (32,) and rbm.intercept_visible_.shape == (64,)
    pl = rbm.score_samples(test)
    assert pl.shape == (len(test),) and np.all(pl <= 0)
    np.testing.assert_array_equal(pl, rbm.score_samples(test))  # same data, same score
    fe = rbm.free_energy(flat(test))
    assert fe.shape == (len(test),)
    v = rbm.gibbs(flat(test)[:5])
    assert v.shape == (5, 1, 8, 8) and set(np.unique(v)) <= {0.0, 1.0}  # rows shaped like the training rows
    assert rbm.reconstruct(test).shape == (len(test), 1, 8, 8)
    samples = rbm.sample(6, seed=3)
    assert samples.shape == (6, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, rbm.sample(6, seed=3))
    assert clone(rbm).get_params() == rbm.get_params()
    rbm.partial_fit(train)
    assert len(rbm.history_) == 4


def test_same_seed_same_model_and_exact_resume_with_persistent_chains(digits_binary, tmp_path):
    train, _ = digits_binary
    params = dict(n_hidden=16, persistent=True, momentum=0.5, epochs=2, batch_size=50, verbose=0)
    a = RBM(**params).fit(train)
    b = RBM(**params).fit(train)
    assert torch.equal(a.module_.weight, b.module_.weight)
    RBM(**{**params, "epochs": 1}).fit(train, run_dir=tmp_path)  # "interrupted" after one epoch
    resumed = RBM(**params).fit(train, run_dir=tmp_path, resume=True)
    for name, tensor in a.module_.state_dict().items():
        assert torch.equal(tensor, resumed.module_.state_dict()[name]), name
    a.save(tmp_path / "saved")
    loaded = load(tmp_path / "saved")
    np.testing.assert_array_equal(loaded.transform(train), a.transform(train))


def test_bad_inputs_give_clear_errors(digits_binary):
    train, _ = digits_binary
    X = flat(train)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        RBM(epochs=1, verbose=0).fit(X * 2)
    with pytest.raises(DataError, match="NaN"):
        RBM(epochs=1, verbose=0).fit(np.where(X > 0.5, np.nan, X))
    RBM(n_hidden=4, epochs=1, verbose=0).fit(X * 0.7)  # grey values are probabilities, as in scikit-learn
    rbm = RBM(n_hidden=8, epochs=1, verbose=0).fit(X)
    with pytest.raises(DataError, match="64"):
        rbm.transform(X[:, :10])
    with pytest.raises(DataError, match="visible"):
        RBM(visible="poisson").fit(X)
    with pytest.raises(DataError, match="n_hidden"):
        RBM(n_hidden=0).fit(X)
    RBM(n_hidden=4, visible="gaussian", epochs=1, lr=0.01, verbose=0).fit(X * 100 - 3)  # any real values


def test_cli_train_evaluate_sample_rbm(tmp_path, capsys):
    from genmodels.cli import main

    run = tmp_path / "rbm"
    args = ["train", "rbm", "--data", "digits", "--binarize", "threshold", "--epochs", "3", "-p", "n_hidden=12",
            "-p", "persistent=true", "--out", str(run), "--quiet"]
    assert main(args) == 0
    assert main(["evaluate", str(run), "--binarize", "threshold"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["ll_method"] == "exact" and metrics["test_ll_nats"] > metrics["baseline_ll_nats"]
    assert (run / "filters.png").exists() and (run / "reconstructions.png").exists()
    assert main(["sample", str(run), "-n", "8", "-o", str(tmp_path / "s.png")]) == 0
    assert main(["train", "rbm", "--data", "digits", "-p", "visible=poisson", "--out", str(tmp_path / "x"), "-q"]) == 2
    assert "visible must be" in capsys.readouterr().err
