"""Sample-quality metrics: the Fréchet distance is the closed form, FID separates real from noise on the
library's own feature network (cached by data hash), precision/recall and mode coverage catch a collapse."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from genmodels import DataError
from genmodels.metrics import (
    class_coverage,
    feature_network,
    fid,
    frechet_distance,
    precision_recall,
    sample_quality,
)


@pytest.fixture(scope="module")
def digits_network(tmp_path_factory, digits_binary):
    import os

    old = os.environ.get("GENMODELS_CACHE")
    os.environ["GENMODELS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from genmodels import load_dataset

    train = load_dataset("digits", "train")
    yield feature_network(train), train, load_dataset("digits", "test")
    if old is None:
        os.environ.pop("GENMODELS_CACHE")
    else:
        os.environ["GENMODELS_CACHE"] = old


def test_frechet_distance_matches_closed_form_for_known_gaussians():
    # diagonal covariances: ||m1 - m2||^2 + sum (s1 + s2 - 2 sqrt(s1 s2))
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = 1 + 0 + 4 + (1 + 9 - 6) + (4 + 1 - 4) + 0
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, abs=1e-9)
    # full, non-commuting covariances: against scipy's general matrix square root
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    c1, c2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    reference = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real)
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, size=(20000, 4))
    b = rng.normal(0.5, 2.0, size=(20000, 4))
    assert fid(a, b) == pytest.approx(4 * 0.25 + 4 * (1 + 4 - 4), rel=0.05)  # = 5


def test_fid_real_vs_real_is_far_below_real_vs_noise(digits_network):
    network, train, test = digits_network
    assert network.accuracy > 0.9  # a useful feature network, trained by the library
    real_real = fid(network.features(train.X), network.features(test.X))
    noise = np.random.default_rng(0).random(test.X.shape, dtype=np.float32)
    real_noise = fid(network.features(noise), network.features(test.X))
    assert real_real < real_noise / 20, (real_real, real_noise)


def test_feature_network_is_cached_by_data_hash(digits_network):
    network, train, test = digits_network
    again = feature_network(train)  # from the cache: same key, same features
    assert again.key == network.key
    np.testing.assert_array_equal(again.features(test.X[:50]), network.features(test.X[:50]))
    other = train.subset(np.arange(len(train) - 1))
    from genmodels.metrics.fid import data_key

    assert data_key(other) != network.key


def test_mode_coverage_detects_a_planted_collapse(digits_network):
    network, _, test = digits_network
    healthy = class_coverage(network.predict_codes(test.X), 10)
    collapsed_rows = test.X[test.y == 3]
    collapsed = class_coverage(network.predict_codes(collapsed_rows), 10)
    assert healthy["classes_covered"] == 10 and healthy["class_entropy"] > 0.95 * np.log(10)
    assert collapsed["classes_covered"] <= 2 and collapsed["class_entropy"] < 0.3


def test_precision_recall_separate_fidelity_from_diversity(digits_network):
    network, train, test = digits_network
    real = network.features(test.X)
    p_real, r_real = precision_recall(real, network.features(train.X[:359]))
    p_col, r_col = precision_recall(real, network.features(train.X[train.y == 3]))
    assert p_real > 0.8 and r_real > 0.7
    assert p_col > 0.8 and r_col < 0.3  # a collapse: realistic samples, little of the data covered


def test_sample_quality_reports_conditional_accuracy(digits_network):
    network, train, test = digits_network
    right = sample_quality(network, test.X, train.X[:300], train.y[:300])
    wrong = sample_quality(network, test.X, train.X[:300], (train.y[:300] + 1) % 10)
    assert right["conditional_accuracy"] > 0.9 > 0.1 > wrong["conditional_accuracy"]
    assert {"fid", "precision", "recall", "class_entropy", "classes_covered"} <= set(right)


def test_feature_network_needs_labels():
    from genmodels import Dataset

    with pytest.raises(DataError, match="class labels"):
        feature_network(Dataset(np.zeros((10, 4), np.float32)))


def test_feature_network_ignores_the_callers_rng(tmp_path, monkeypatch):
    """The same data and seed give the same network whatever the global RNG state was (the initial weights
    once came from it, so a test's outcome depended on which tests ran before)."""
    import torch

    from genmodels import load_dataset

    data = load_dataset("digits", "train")
    weights = []
    for i, global_seed in enumerate((1, 2)):
        monkeypatch.setenv("GENMODELS_CACHE", str(tmp_path / str(i)))
        torch.manual_seed(global_seed)
        weights.append(feature_network(data).net.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])

