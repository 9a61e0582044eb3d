"""The GAN family: it learns (FID falls far below the untrained generator's, conditional samples are of
the asked class), its encoder gives anomaly scores and reconstructions, it follows the scikit-learn
contract, is reproducible, resumes exactly and round-trips through save/load."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from genmodels import GAN, DataError, load, load_dataset
from genmodels.metrics import feature_network, fid, sample_quality
from genmodels.nn.gan_nets import DCGANDiscriminator, DCGANGenerator

FAST = {"hidden_dims": (128, 256), "latent_dim": 16, "batch_size": 64, "verbose": 0}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


@pytest.fixture(scope="module")
def network(tmp_path_factory, digits):
    old = os.environ.get("GENMODELS_CACHE")
    os.environ["GENMODELS_CACHE"] = str(tmp_path_factory.getbasetemp() / "genmodels-cache")
    yield feature_network(digits[0])
    if old is None:
        os.environ.pop("GENMODELS_CACHE")
    else:
        os.environ["GENMODELS_CACHE"] = old


@pytest.fixture(scope="module")
def fitted(digits):
    return GAN(conditional=True, epochs=20, **FAST).fit(digits[0])


def quality(model, network, test, n=600):
    labels = np.arange(n) % 10 if model.is_conditional() else None
    return sample_quality(network, test.X, model.sample(n, y=labels, seed=1), labels)


def test_trained_gan_beats_the_untrained_one_on_fid(fitted, network, digits):
    untrained = GAN(conditional=True, epochs=0, **FAST).fit(digits[0])
    trained_q, untrained_q = quality(fitted, network, digits[1]), quality(untrained, network, digits[1])
    assert trained_q["fid"] < untrained_q["fid"] / 4, (trained_q["fid"], untrained_q["fid"])
    assert trained_q["conditional_accuracy"] > 0.7  # samples are of the class asked for
    assert trained_q["classes_covered"] == 10


@pytest.mark.parametrize("params", [{"loss": "hinge", "spectral_norm": True},
                                    {"loss": "wgan-gp", "betas": (0.5, 0.9), "lr_g": 1e-3, "lr_d": 1e-3}])
def test_other_losses_learn(params, network, digits):
    model = GAN(epochs=10, encoder=False, **FAST, **params).fit(digits[0])
    untrained = GAN(epochs=0, encoder=False, **FAST, **params).fit(digits[0])
    real = network.features(digits[1].X)
    trained_fid = fid(real, network.features(model.sample(600, seed=0)))
    untrained_fid = fid(real, network.features(untrained.sample(600, seed=0)))
    assert trained_fid < untrained_fid / 2, (trained_fid, untrained_fid)


def test_score_samples_ranks_real_rows_above_corrupted_ones(fitted, digits):
    test = digits[1].X
    noise = np.random.default_rng(0).random(test.shape, dtype=np.float32)
    inverted = 1.0 - test
    scores = {name: fitted.score_samples(x) for name, x in [("real", test), ("noise", noise), ("inv", inverted)]}
    for bad in ("noise", "inv"):
        auroc = roc_auc_score(np.r_[np.ones(len(test)), np.zeros(len(test))], np.r_[scores["real"], scores[bad]])
        assert auroc > 0.9, (bad, auroc)


def test_reconstruct_is_closer_than_a_random_sample(fitted, digits):
    test = digits[1]
    recon = fitted.reconstruct(test.X)
    assert recon.shape == test.X.shape
    random = fitted.sample(len(test.X), y=test.y, seed=3)  # even of the right class
    assert ((recon - test.X) ** 2).mean() < 0.7 * ((random - test.X) ** 2).mean()


def test_discriminator_features_are_a_useful_representation(fitted, digits):
    train, test = digits
    clf = LogisticRegression(max_iter=2000).fit(fitted.transform(train.X), train.y)
    assert clf.score(fitted.transform(test.X), test.y) > 0.85


def test_sklearn_contract_and_save_load_round_trip(fitted, digits, tmp_path):
    assert clone(fitted).get_params() == fitted.get_params()
    assert not hasattr(clone(fitted), "module_")
    fitted.save(tmp_path / "gan")
    loaded = load(tmp_path / "gan")
    np.testing.assert_array_equal(loaded.sample(8, y=3, seed=5), fitted.sample(8, y=3, seed=5))
    np.testing.assert_allclose(loaded.score_samples(digits[1].X[:20]), fitted.score_samples(digits[1].X[:20]),
                               rtol=1e-5)


def test_same_seed_same_weights_and_exact_resume(digits, tmp_path):
    small = digits[0].subset(np.arange(256))
    params = {**FAST, "conditional": True, "checkpoint_every": 3}
    a = GAN(epochs=2, **params).fit(small)
    b = GAN(epochs=2, **params).fit(small)
    GAN(epochs=1, **params).fit(small, run_dir=tmp_path / "run")
    c = GAN(epochs=2, **params).fit(small, run_dir=tmp_path / "run", resume=True)
    for other in (b, c):
        for (name, x), y in zip(a.module_.state_dict().items(), other.module_.state_dict().values(), strict=True):
            assert torch.equal(x, y), name


def test_dcgan_nets_match_the_pytorch_example_and_odd_sizes():
    # PyTorch's DCGAN example (64x64 RGB, nz=100, ngf=ndf=64) has 3,576,704 and 2,765,568 parameters
    g, d = DCGANGenerator(100, (3, 64, 64), 64), DCGANDiscriminator((3, 64, 64), 64)
    assert sum(p.numel() for p in g.parameters()) == 3_576_704
    assert sum(p.numel() for p in d.parameters()) == 2_765_568
    g28 = DCGANGenerator(16, (1, 28, 28), 8, n_classes=10)
    x = g28(torch.randn(4, 16), torch.arange(4))
    assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1
    assert DCGANDiscriminator((1, 28, 28), 8, n_classes=10)(x, torch.arange(4)).shape == (4,)


def test_dcgan_trains_on_images(digits):
    small = digits[0].subset(np.arange(128))
    images = np.kron(small.X, np.ones((1, 1, 2, 2), np.float32))  # 16x16: the conv path
    model = GAN(epochs=1, g_channels=8, d_channels=8, **FAST).fit(images)
    assert model.module_.g.__class__.__name__ == "DCGANGenerator"
    assert model.sample(5).shape == (5, 1, 16, 16)
    assert model.reconstruct(images[:3]).shape == (3, 1, 16, 16)


def test_cli_train_sample_evaluate(network, tmp_path):
    from genmodels.cli import main

    run = tmp_path / "run"
    assert main(["train", "gan", "--data", "digits", "--epochs", "2", "--out", str(run), "-q",
                 "-p", "conditional=true", "-p", "hidden_dims=[64, 64]"]) == 0
    assert main(["sample", str(run), "-n", "10", "--label", "7", "-o", str(tmp_path / "sevens.png")]) == 0
    assert (tmp_path / "sevens.png").stat().st_size > 0
    assert main(["evaluate", str(run)]) == 0
    import json

    metrics = json.loads((run / "metrics.json").read_text())
    assert {"fid", "precision", "recall", "conditional_accuracy", "classes_covered"} <= set(metrics)
    assert metrics["feature_net_accuracy"] == pytest.approx(network.accuracy)  # the cached network
    assert main(["train", "gan", "--data", "digits", "--out", str(tmp_path / "bad"), "-q", "-p", "loss=nope"]) == 2


def test_bad_input_is_a_data_error(fitted, digits):
    with pytest.raises(DataError, match="labels"):
        GAN(conditional=True, **FAST).fit(digits[0].X)
    with pytest.raises(DataError, match="loss"):
        GAN(loss="wasserstein", **FAST).fit(digits[0])
    with pytest.raises(DataError, match="features"):
        fitted.score_samples(np.zeros((3, 10), np.float32))
    with pytest.raises(DataError, match="unknown class"):
        fitted.sample(3, y=42)
    with pytest.raises(DataError, match="encoder"):
        GAN(encoder=False, epochs=0, **FAST).fit(digits[0]).reconstruct(digits[1].X)
