"""ConvRBM and ConvDBN: the CD update is the free-energy gradient, probabilistic max-pooling is a distribution
per block, exact log Z agrees with the RBM's (written out densely) and with AIS, features help a classifier.
Resume, seeds, save/load and bad input: tests/test_contract.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from genmodels.models import ConvDBN, ConvRBM
from genmodels.models.convrbm_partition import ais_log_partition, exact_log_partition
from genmodels.models.rbm_partition import exact_log_partition as rbm_exact_log_partition
from genmodels.nn.conv_rbm import ConvRBMNet
from genmodels.train import StepInfo


def digits(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    return (d.images[:n] / 16.0).astype(np.float32), d.target[:n]


def random_net(pool: int, visible: str = "bernoulli", shape=(1, 6, 6), filters=2, size=(3, 3), seed=0):
    torch.manual_seed(seed)
    net = ConvRBMNet(shape, filters, size, pool, visible)
    with torch.no_grad():
        net.weight.normal_(0, 0.5)
        net.visible_bias.normal_(0, 0.5)
        net.hidden_bias.normal_(-1, 0.5)
    return net


@pytest.mark.parametrize("pool,visible,channels", [(1, "bernoulli", 1), (2, "bernoulli", 3), (2, "gaussian", 2)])
def test_cd_update_is_the_autograd_gradient_of_the_free_energy_difference(pool, visible, channels):
    X = np.random.default_rng(0).random((12, channels, 7, 7)).astype(np.float32)
    if visible == "gaussian":
        X = X * 3 - 1
    model = ConvRBM(n_filters=3, filter_size=3, pool=pool, visible=visible, lr=1.0, momentum=0.0, weight_decay=0.0,
                    sparsity_cost=0.0, epochs=0, verbose=0).fit(X)
    net = model.module_
    with torch.no_grad():
        net.weight.normal_(0, 0.3)
    v0 = model._inputs(X)
    seen = []
    sample_visible = net.sample_visible
    net.sample_visible = lambda h, g=None: seen.append(sample_visible(h, g)) or seen[-1]  # keep v_k
    before = {k: p.detach().clone() for k, p in net.named_parameters()}
    model._training_step((v0,), StepInfo(0, 0, 0, 1, 1, 1, 0))
    vk = seen[-1]
    steps = {k: p.detach() - before[k] for k, p in net.named_parameters()}
    params = {k: p.detach().clone().requires_grad_(True) for k, p in before.items()}
    for k, p in params.items():
        setattr(net, k, torch.nn.Parameter(p))
    positions = np.prod(net.detection_shape)
    loss = (net.free_energy(v0).mean() - net.free_energy(vk).mean()) / positions
    grads = dict(zip(params, torch.autograd.grad(loss, list(net.parameters())), strict=True))
    for k in params:  # with lr 1 the update is minus the gradient
        torch.testing.assert_close(steps[k], -grads[k], rtol=1e-4, atol=1e-6)


def test_probabilistic_max_pooling_is_one_distribution_per_block_with_an_off_state():
    net = random_net(pool=3, shape=(2, 9, 10), filters=4, size=(3, 2))  # 7 x 9 maps: edge blocks are partial
    v = torch.rand(5, 2, 9, 10)
    inputs = net.hidden_input(v) * 4  # large inputs: the softmax saturates
    probs, pooled = net.hidden_probs(inputs)
    blocks = net._blocks(probs, 0.0)
    assert blocks.sum(-1).max() <= 1 + 1e-6 and probs.min() >= 0
    torch.testing.assert_close(blocks.sum(-1), pooled)  # the pooling unit is on when one unit is
    off = 1 - pooled
    assert off.min() > 0  # the 'off' state always has mass
    draws = torch.stack([net._blocks(net.sample_hidden(inputs), 0.0) for _ in range(400)])
    assert draws.sum(-1).max() == 1  # at most one unit on per block
    torch.testing.assert_close(draws.mean(0), blocks, atol=0.08, rtol=0)  # draws follow the probabilities


def test_exact_log_z_matches_the_rbm_written_out_densely():
    for visible in ("bernoulli", "gaussian"):
        net = random_net(pool=1, visible=visible, shape=(2, 4, 4), filters=2, size=(3, 3))  # 8 hidden units
        assert exact_log_partition(net) == pytest.approx(rbm_exact_log_partition(net.as_dense()), abs=1e-6)
        v = torch.rand(3, 2, 4, 4)
        torch.testing.assert_close(net.free_energy(v), net.as_dense().free_energy(v.flatten(1)))


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_ais_agrees_with_exact_log_z_by_enumeration_with_max_pooling(visible):
    net = random_net(pool=2, visible=visible)  # 2 filters of 4 x 4 maps: 8 blocks, 5^8 configurations
    exact = exact_log_partition(net)
    data = (torch.rand(200, 1, 6, 6) < 0.3).float()
    with torch.no_grad():
        log_z, lo, hi = ais_log_partition(net, n_runs=100, n_betas=2000, seed=0, base_data=data)
    assert abs(log_z - exact) < 0.1
    assert lo - 0.05 <= exact <= hi + 0.05


def test_exact_log_likelihood_is_a_normalised_distribution():
    X = (np.random.default_rng(0).random((40, 1, 3, 3)) < 0.5).astype(np.float32)
    model = ConvRBM(n_filters=2, filter_size=2, pool=2, epochs=3, batch_size=8, verbose=0).fit(X)
    every = ((np.arange(512)[:, None] >> np.arange(9)) & 1).astype(np.float32).reshape(512, 1, 3, 3)
    est = model.log_likelihood(every)
    assert est.method == "exact"
    assert np.exp(-model.free_energy(every).astype(np.float64) - est.log_z).sum() == pytest.approx(1.0, abs=1e-5)


def test_pipeline_features_beat_raw_pixels_on_digits():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = digits()
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:500], order[1200:]
    raw = LogisticRegression(max_iter=3000, C=10).fit(X[train].reshape(500, -1), y[train])
    raw_acc = raw.score(X[test].reshape(len(test), -1), y[test])
    conv = ConvRBM(n_filters=16, filter_size=2, pool=1, sparsity_target=0.2, lr=1.0, epochs=20, batch_size=10,
                   verbose=0)
    acc = make_pipeline(conv, LogisticRegression(max_iter=3000, C=10)).fit(X[train], y[train]).score(X[test], y[test])
    assert acc > raw_acc, (acc, raw_acc)


def test_colour_images_and_the_convdbn_stack():
    rgb = np.random.default_rng(0).random((64, 3, 10, 10)).astype(np.float32)
    model = ConvRBM(n_filters=5, filter_size=3, pool=2, epochs=1, batch_size=16, verbose=0).fit(rgb)
    assert model.components_.shape == (5, 3, 3, 3)
    assert model.transform(rgb[:4]).shape == (4, 5 * 4 * 4)
    assert model.sample(2, seed=0).shape == (2, 3, 10, 10)
    np.testing.assert_array_equal(model.sample(2, seed=0), model.sample(2, seed=0))
    dbn = ConvDBN(n_filters=(6, 4), filter_size=(3, 2), pool=(2, 1), epochs=1, batch_size=16, verbose=0).fit(rgb)
    maps = dbn.layers_[0].transform_maps(rgb[:4])
    assert maps.shape == (4, 6, 4, 4)
    np.testing.assert_allclose(dbn.transform(rgb[:4]), dbn.layers_[1].transform(maps.reshape(4, -1)), rtol=1e-5)
    assert dbn.transform(rgb[:4]).shape == (4, 4 * 3 * 3)
    assert dbn.reconstruct(rgb[:2]).shape == (2, 3, 10, 10)


def test_pretrain_command_runs_end_to_end_on_digits(tmp_path, capsys):
    import json

    from genmodels.cli import main

    out = tmp_path / "pretrain"
    argv = ["pretrain", "--data", "digits", "--labels", "20,50", "--seeds", "0,1", "-o", str(out),
            "--finetune-epochs", "3", "-p", "epochs=1", "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "labels\tseed\tpretrained_acc\trandom_acc" and len(printed.splitlines()) == 6
    results = json.loads((out / "results.json").read_text())
    assert [(r["labels"], r["seed"]) for r in results["rows"]] == [(20, 0), (20, 1), (50, 0), (50, 1)]
    assert all(0 <= r["pretrained_acc"] <= 1 and 0 <= r["random_acc"] <= 1 for r in results["rows"])
    assert results["convdbn"]["epochs"] == 1 and (out / "filters.png").stat().st_size > 0
    assert (out / "accuracy.png").stat().st_size > 0
    assert main(argv) == 2  # an existing OUT is refused ...
    assert "already holds" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0  # ... unless --overwrite


def test_train_command_writes_the_filters_into_the_run_report(tmp_path):
    from genmodels.cli import main

    assert main(["train", "convrbm", "--data", "digits", "-o", str(tmp_path / "run"), "--epochs", "1", "-q"]) == 0
    assert (tmp_path / "run" / "filters.png").exists()
    assert "filters" in (tmp_path / "run" / "report.html").read_text()
