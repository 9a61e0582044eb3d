"""DBN: greedy pretraining helps a classifier with few labels; classifier and generative surfaces; save/load."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from genmodels import DBN, DataError, load


def flat(data) -> np.ndarray:
    return data.X.reshape(len(data), -1)


def few_labels(y: np.ndarray, per_class: int) -> np.ndarray:
    """Keep `per_class` labels per class; the other rows become -1 (unlabelled, pretraining only)."""
    rng = np.random.default_rng(0)
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
    out = np.full_like(y, -1)
    out[keep] = y[keep]
    return out


def test_pretrained_dbn_beats_the_same_mlp_without_pretraining_at_100_labels(digits_binary):
    train, test = digits_binary
    y = few_labels(train.y, 10)
    params = dict(layers=(256, 256), pretrain_epochs=20, pretrain_lr=0.1, batch_size=10, epochs=100, seed=0,
                  verbose=0)
    pretrained = DBN(**params, lr=1e-3).fit(flat(train), y).score(flat(test), test.y)
    scratch = [DBN(**params, pretrain=False, lr=lr).fit(flat(train), y).score(flat(test), test.y)
               for lr in (1e-3, 1e-2)]  # the baseline gets its better learning rate of two
    assert pretrained > max(scratch) + 0.03, (pretrained, scratch)


def test_classifier_surface_and_save_load(digits_binary, tmp_path):
    train, test = digits_binary
    dbn = DBN(layers=(64, 32), pretrain_epochs=3, epochs=20, lr=1e-2, batch_size=20, verbose=0).fit(train)
    proba = dbn.predict_proba(test)
    assert proba.shape == (len(test), 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert dbn.score(test, test.y) > 0.85
    assert set(dbn.predict(test)) <= set(dbn.classes_)
    assert dbn.transform(test).shape == (len(test), 32)
    assert dbn.sample(5, seed=0).shape == (5, 1, 8, 8)
    assert clone(dbn).get_params() == dbn.get_params()
    dbn.save(tmp_path)
    loaded = load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(test), proba, rtol=1e-5, atol=1e-6)
    assert loaded.get_params() == dbn.get_params()


def test_unsupervised_dbn_samples_reconstructs_and_scores(digits_binary, tmp_path):
    train, test = digits_binary
    X = flat(train)
    dbn = DBN(layers=(64, 64), pretrain_epochs=10, batch_size=10, burn_in=100, verbose=0).fit(X, run_dir=tmp_path)
    assert (tmp_path / "layer_1" / "checkpoint.safetensors").exists() and (tmp_path / "layer_2").is_dir()
    samples = dbn.sample(16, seed=1)
    assert samples.shape == (16, 64) and samples.min() >= 0 and samples.max() <= 1
    recon = dbn.reconstruct(flat(test))
    assert np.mean((recon - flat(test)) ** 2) < np.mean((flat(test) - X.mean(0)) ** 2)
    scores = dbn.score_samples(flat(test))
    noise = np.random.default_rng(0).random((50, 64)).round().astype(np.float32)
    assert np.median(scores) > np.median(dbn.score_samples(noise))  # digits are more normal than noise
    with pytest.raises(DataError, match="without labels"):
        dbn.predict(flat(test))


def test_dbn_bad_inputs(digits_binary):
    train, _ = digits_binary
    X = flat(train)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        DBN(layers=(8,), verbose=0).fit(X * 3)
    with pytest.raises(DataError, match="unlabelled"):
        DBN(layers=(8,), verbose=0).fit(X, np.full(len(X), -1))
    with pytest.raises(DataError, match="layers"):
        DBN(layers=(), verbose=0).fit(X)
    dbn = DBN(layers=(8,), pretrain_epochs=1, epochs=1, verbose=0).fit(X, train.y)
    with pytest.raises(DataError, match="features"):
        dbn.predict(X[:, :5])
