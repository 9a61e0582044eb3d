"""TabularEncoder, TabularSynthesizer (GAN + VAE, DP) and `genmodels synth`: small frames, few epochs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from genmodels import DataError
from genmodels.data.tabular import ADULT_DISCRETE, TabularEncoder, load_adult


def mixed_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "bimodal": rng.normal(size=n) * 3 + np.where(rng.random(n) < 0.5, 40.0, -40.0),
        "count": rng.integers(0, 5000, n),
        "level": rng.integers(1, 4, n),
        "flag": rng.random(n) < 0.3,
        "cat": pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c", "never"]),
        "text": rng.choice(np.array(["x", "y", "z"], dtype=object), n),
        "when": pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
        "gappy": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2.0, 3.0, n)),
    })
    df.loc[rng.choice(n, 30, replace=False), "text"] = np.nan
    df.loc[5, "when"] = pd.NaT
    df.loc[7, "text"] = "rare"  # occurs once: must survive without DP
    return df


# --- encoder -------------------------------------------------------------------------------------------------
def test_encoder_round_trip_exact_for_discrete_and_close_for_continuous():
    df = mixed_frame()
    enc = TabularEncoder().fit(df)
    assert enc.discrete_columns_ == ["level", "flag", "cat", "text"]  # int with 3 values is detected discrete
    X = enc.transform(df)
    assert X.dtype == np.float32 and X.shape == (len(df), enc.output_dim_)
    assert sum(w for _, w, _ in enc.output_info_) == enc.output_dim_
    back = enc.inverse_transform(X)
    assert list(back.columns) == list(df.columns)
    assert back.dtypes.tolist() == df.dtypes.tolist()
    for c in ["level", "flag", "cat", "text", "count"]:  # integers round back exactly
        pd.testing.assert_series_equal(back[c], df[c])
    assert list(back["cat"].cat.categories) == ["a", "b", "c", "never"]
    assert back["text"].isna().sum() == df["text"].isna().sum() and (back["text"] == "rare").sum() == 1
    np.testing.assert_allclose(back["bimodal"], df["bimodal"], atol=1e-4)
    assert back["gappy"].isna().equals(df["gappy"].isna())
    np.testing.assert_allclose(back["gappy"].dropna(), df["gappy"].dropna(), rtol=1e-4, atol=1e-4)
    assert back["when"].isna().equals(df["when"].isna())
    assert (back["when"] - df["when"]).abs().max() < pd.Timedelta(seconds=1)


def test_encoder_finds_both_modes_and_clips_to_range():
    df = mixed_frame()
    enc = TabularEncoder().fit(df)
    spec = next(s for s in enc.columns_ if s["name"] == "bimodal")
    means = np.asarray(spec["means"])[np.asarray(spec["weights"]) > 0.1]
    assert np.any(np.abs(means - 40) < 3) and np.any(np.abs(means + 40) < 3)
    X = enc.transform(df)
    X[:, enc.output_info_[0][0]] = 1.0  # the largest offset from every mode: decoded within [min, max]
    out = enc.inverse_transform(X)["bimodal"]
    assert out.max() <= df["bimodal"].max() and out.min() >= df["bimodal"].min()


def test_encoder_state_round_trips_through_json():
    import json

    df = mixed_frame()
    enc = TabularEncoder().fit(df)
    again = TabularEncoder.from_state(json.loads(json.dumps(enc.get_state())))
    np.testing.assert_array_equal(again.transform(df), enc.transform(df))
    assert again.output_info_ == enc.output_info_


def test_encoder_bad_input():
    with pytest.raises(DataError, match="empty"):
        TabularEncoder().fit(pd.DataFrame())
    with pytest.raises(DataError, match="all missing"):
        TabularEncoder().fit(pd.DataFrame({"a": [1.0, 2.0], "b": [np.nan, np.nan]}))
    enc = TabularEncoder().fit(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["u", "v", "u"]}))
    with pytest.raises(DataError, match="unknown category 'w'"):
        enc.transform(pd.DataFrame({"a": [1.0], "b": ["w"]}))
    with pytest.raises(DataError, match="lacks column"):
        enc.transform(pd.DataFrame({"a": [1.0]}))


def test_encoder_with_epsilon_noises_statistics_and_merges_rare_categories():
    rng = np.random.default_rng(1)
    n = 3000
    df = pd.DataFrame({"x": rng.normal(50, 10, n), "c": rng.choice(["a", "b"], n)})
    df.loc[0, "c"] = "once"
    enc = TabularEncoder(epsilon=1.0, delta=1e-5).fit(df)
    spec_c = next(s for s in enc.columns_ if s["name"] == "c")
    assert spec_c["categories"] == ["a", "b"]  # the singleton is below the stable-histogram threshold
    assert enc.epsilon_spent_ == 1.0 and 0 < enc.delta_spent_ <= 1e-5
    spec_x = next(s for s in enc.columns_ if s["name"] == "x")
    assert 10 < spec_x["min"] < 40 and 60 < spec_x["max"] < 90  # DP quantiles near 0.5% / 99.5%
    assert spec_x["min"] != df["x"].min()
    back = enc.inverse_transform(enc.transform(df))
    assert back.loc[0, "c"] in ("a", "b")
    # with metadata the continuous column costs nothing: all the budget goes to the categorical counts
    meta = {"x": {"type": "continuous", "min": 0, "max": 100}, "c": {"type": "categorical",
                                                                     "categories": ["a", "b", "once"]}}
    enc = TabularEncoder(epsilon=1.0, metadata=meta).fit(df)
    assert next(s for s in enc.columns_ if s["name"] == "x")["min"] == 0.0
    assert next(s for s in enc.columns_ if s["name"] == "c")["categories"] == ["a", "b", "once"]


def test_load_adult(shared_data):
    train, test = load_adult(shared_data / "adult"), load_adult(shared_data / "adult", "test")
    assert train.shape == (32561, 15) and test.shape == (16281, 15)
    assert set(train["income"]) == {"<=50K", ">50K"} == set(test["income"])
    assert train["workclass"].isna().sum() > 0 and train["age"].dtype.kind == "i"
    enc = TabularEncoder().fit(train.iloc[:2000], ADULT_DISCRETE)
    back = enc.inverse_transform(enc.transform(train.iloc[:2000]))
    for c in [*ADULT_DISCRETE, "age", "hours-per-week"]:
        pd.testing.assert_series_equal(back[c], train[c].iloc[:2000], check_names=False)


# --- synthesizer ---------------------------------------------------------------------------------------------
from genmodels import TabularSynthesizer, load  # noqa: E402


def dependent_frame(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """y copies x 90% of the time; z's mean is set by x: what independent columns cannot reproduce."""
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array(["a", "b", "c"], dtype=object), n, p=[0.5, 0.3, 0.2])
    y = np.where(rng.random(n) < 0.9, x, rng.choice(np.array(["a", "b", "c"], dtype=object), n))
    z = np.select([x == "a", x == "b"], [0.0, 10.0], 20.0) + rng.normal(0, 1, n)
    return pd.DataFrame({"x": x, "y": y, "z": z})


@pytest.mark.parametrize("scale", [1.0, 50.0, 1e4])  # 1e4: the span mean would overflow exp; the max is used
def test_span_activation_and_cross_entropy_match_per_span_softmax(scale):
    import torch.nn.functional as F

    from genmodels.nn.tabular import Spans

    info = [(0, 1, "tanh"), (1, 3, "softmax"), (4, 1, "tanh"), (5, 5, "softmax"), (10, 1, "softmax"), (11, 2, "softmax")]
    spans = Spans(info)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 13, generator=g) * scale
    target = torch.rand(16, 13, generator=g) * 2 - 1  # tanh columns: any value; spans: one-hot
    for s, w, kind in info:
        if kind == "softmax":
            target[:, s:s + w] = F.one_hot(torch.randint(w, (16,), generator=g), w)
    ours, ref = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    nll = spans.nll(ours, target)
    ref_nll = -sum((F.log_softmax(ref[:, s:s + w], 1) * target[:, s:s + w]).sum(1) for s, w, k in info if k == "softmax")
    nll.sum().backward()
    ref_nll.sum().backward()
    assert torch.isfinite(nll).all()
    torch.testing.assert_close(nll, ref_nll, rtol=1e-5, atol=1e-4 * scale)
    torch.testing.assert_close(ours.grad, ref.grad, rtol=1e-5, atol=1e-6)
    activated = spans(logits, gumbel=False)
    ref_act = torch.cat([torch.tanh(logits[:, s:s + w]) if k == "tanh" else F.softmax(logits[:, s:s + w], 1)
                         for s, w, k in info], 1)
    torch.testing.assert_close(activated, ref_act, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def gan_model():
    return TabularSynthesizer(model="gan", epochs=30, batch_size=100, seed=3, verbose=0).fit(mixed_frame(600))


@pytest.fixture(scope="module")
def vae_model():
    return TabularSynthesizer(model="vae", epochs=30, batch_size=100, seed=3, verbose=0).fit(mixed_frame(600))


@pytest.mark.parametrize("which", ["gan", "vae"])
def test_samples_keep_columns_dtypes_and_categories(which, gan_model, vae_model):
    model = gan_model if which == "gan" else vae_model
    df = mixed_frame(600)
    s = model.sample(300, seed=0)
    assert len(s) == 300 and list(s.columns) == list(df.columns)
    assert s.dtypes.tolist() == df.dtypes.tolist()
    assert list(s["cat"].cat.categories) == ["a", "b", "c", "never"]
    assert set(s["text"].dropna()) <= {"x", "y", "z", "rare"} and s["text"].isna().any()
    assert s["count"].between(df["count"].min(), df["count"].max()).all()
    assert s["when"].dt.year.eq(2021).all() or s["when"].isna().any()


def test_same_seed_same_model_and_same_samples(gan_model):
    again = TabularSynthesizer(model="gan", epochs=30, batch_size=100, seed=3, verbose=0).fit(mixed_frame(600))
    pd.testing.assert_frame_equal(gan_model.sample(200, seed=5), again.sample(200, seed=5))
    a, b = gan_model.module_.state_dict(), again.module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not gan_model.sample(200, seed=5).equals(gan_model.sample(200, seed=6))


@pytest.mark.parametrize("which", ["gan", "vae"])
def test_conditions_on_several_columns_return_exactly_n_matching_rows(which, gan_model, vae_model):
    model = gan_model if which == "gan" else vae_model
    s = model.sample(150, conditions={"text": "y", "flag": True, "cat": "b"}, seed=1)
    assert len(s) == 150
    assert (s["text"] == "y").all() and s["flag"].all() and (s["cat"] == "b").all()
    assert s.dtypes.tolist() == mixed_frame(600).dtypes.tolist()


def test_rare_category_survives_without_dp(gan_model):
    assert "rare" in next(c for c in gan_model.encoder_.columns_ if c["name"] == "text")["categories"]
    s = gan_model.sample(20, conditions={"text": "rare"}, seed=0)  # the condition vector asks the generator for it
    assert (s["text"] == "rare").all() and len(s) == 20


def test_condition_errors(gan_model):
    with pytest.raises(DataError, match="no category 'w'"):
        gan_model.sample(5, conditions={"text": "w"})
    with pytest.raises(DataError, match="unknown column 'nope'"):
        gan_model.sample(5, conditions={"nope": 1})
    with pytest.raises(DataError, match="continuous"):
        gan_model.sample(5, conditions={"bimodal": 1.0})
    with pytest.raises(DataError, match="positive integer"):
        gan_model.sample(0)


def test_fit_bad_input():
    with pytest.raises(DataError, match="empty"):
        TabularSynthesizer(epochs=1, verbose=0).fit(pd.DataFrame({"a": []}))
    with pytest.raises(DataError, match="all missing"):
        TabularSynthesizer(epochs=1, verbose=0).fit(pd.DataFrame({"a": [1.0, 2.0], "b": [None, None]}))
    with pytest.raises(DataError, match="multiple of pac"):
        TabularSynthesizer(epochs=1, batch_size=55, verbose=0).fit(mixed_frame(50))
    with pytest.raises(DataError, match="TabularSynthesizer: model must be one of 'gan', 'vae'; got 'rbm'"):
        TabularSynthesizer(model="rbm", verbose=0).fit(mixed_frame(50))
    with pytest.raises(DataError, match=r"TabularSynthesizer\.fit expects a pandas DataFrame"):
        TabularSynthesizer(epochs=1, verbose=0).fit(np.zeros((4, 2)))


def test_saved_model_holds_no_training_rows_and_loads_back(gan_model, tmp_path):
    df = mixed_frame(600)
    rng = np.random.default_rng(0)
    df["account"] = rng.uniform(100000.0, 900000.0, len(df)).round(2)
    planted = 424242.4242  # a unique ID-like value in the middle of its column's range
    df.loc[123, "account"] = planted
    model = TabularSynthesizer(model="gan", epochs=2, batch_size=100, verbose=0).fit(df)
    model.save(tmp_path / "m")
    blob = b"".join(p.read_bytes() for p in sorted((tmp_path / "m").iterdir()))
    for needle in (b"424242.4242", b"4242424", np.float64(planted).tobytes(), np.float32(planted).tobytes()):
        assert needle not in blob
    assert b"bimodal" in blob and b'"never"' in blob  # column names and category sets are stored
    loaded = load(tmp_path / "m")
    assert isinstance(loaded, TabularSynthesizer)
    pd.testing.assert_frame_equal(loaded.sample(100, seed=2), model.sample(100, seed=2))
    pd.testing.assert_frame_equal(loaded.sample(30, conditions={"flag": True}, seed=2),
                                  model.sample(30, conditions={"flag": True}, seed=2))


@pytest.mark.parametrize("which", ["gan", "vae"])
def test_learns_a_dependency_independent_columns_cannot(which):
    df = dependent_frame()
    # 1200 steps each (about 13 s for the GAN, 5 s for the VAE on one thread)
    epochs, batch = (80, 100) if which == "gan" else (40, 50)
    model = TabularSynthesizer(model=which, epochs=epochs, batch_size=batch, seed=0, verbose=0).fit(df)
    s = model.sample(3000, seed=0)
    agree = float((s["x"] == s["y"]).mean())  # P(y = x): 0.93 in the data
    independent = float((df["x"].value_counts(normalize=True) * df["y"].value_counts(normalize=True)).sum())
    truth = float((df["x"] == df["y"]).mean())
    if which == "gan":
        assert abs(agree - truth) < 0.08, (agree, truth)
    assert agree > independent + 0.3, (agree, truth, independent)  # independent columns: 0.37
    means = s.groupby("x")["z"].mean()  # 0, 10, 20 in the data; the same for every x if z ignored x
    assert means["a"] < means["b"] < means["c"] and means["c"] - means["a"] > 8, means.to_dict()
    freq = s["x"].value_counts(normalize=True)
    assert abs(freq["a"] - 0.5) < 0.08 and abs(freq["c"] - 0.2) < 0.08, freq.to_dict()


@pytest.mark.filterwarnings("ignore:Full backward hook")  # opacus' per-sample hooks on rows that need no gradient
@pytest.mark.parametrize("which", ["gan", "vae"])
def test_ghost_clipping_sums_the_same_clipped_gradients_as_per_sample_gradients(which):
    """The DP step's two-pass ghost clipping against opacus' per-sample gradients (noise 0, SGD lr 1: the
    update is the mean of the clipped gradients), on a batch where some samples are clipped and some not."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    clip = 4.0 if which == "gan" else 50.0  # between the smallest and largest sample norm below
    model = TabularSynthesizer(model=which, epochs=1, batch_size=100, epsilon=1.0, max_grad_norm=clip, seed=0,
                               verbose=0).fit(dependent_frame(200))
    net = (model.module_.d if which == "gan" else model.module_.vae).train()  # opacus' hooks: training mode only
    for m in net.modules():  # the two passes must see the same network: no dropout
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    width = net.net[0].in_features // net.pac if which == "gan" else net.enc[0].in_features
    rows = torch.randn(80 if which == "gan" else 40, width, generator=torch.Generator().manual_seed(0)) * 3

    def loss_of(module):
        torch.manual_seed(1)  # the VAE's reparameterisation noise, the same in both passes
        out = module(rows)
        return out.flatten() ** 2 if which == "gan" else out[0].pow(2).sum(1) + out[1].pow(2).sum(1)

    start = {k: v.clone() for k, v in net.state_dict().items()}
    updates = []
    for ghost in (True, False):
        sgd = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1.0)
        if ghost:
            opt = model._make_private(net, sgd)
            opt.noise_multiplier = 0.0
            model._backward(loss_of(model._dp_module), opt)
            wrapped, batch = model._dp_module, opt.expected_batch_size
            norms = wrapped.per_sample_gradient_norms
            assert (norms > clip).any() and (norms < clip).any(), norms
        else:
            wrapped = GradSampleModule(net)
            opt = DPOptimizer(sgd, noise_multiplier=0.0, max_grad_norm=clip, expected_batch_size=batch)
            opt.zero_grad()
            loss_of(wrapped).mean().backward()
        opt.step()
        wrapped._close()
        updates.append({k: start[k] - v for k, v in net.state_dict().items()})
        net.load_state_dict(start)
    for k in updates[0]:
        torch.testing.assert_close(updates[0][k], updates[1][k], rtol=1e-4, atol=1e-6)
    assert any(v.abs().sum() > 0 for v in updates[0].values())


@pytest.mark.parametrize("which", ["gan", "vae"])
def test_dp_run_reports_finite_epsilon_within_budget(which, tmp_path):
    df = dependent_frame(1000)
    model = TabularSynthesizer(model=which, epochs=3, batch_size=100, epsilon=3.0, delta=1e-5, seed=0,
                               verbose=0).fit(df)
    spent = model.privacy_spent_
    assert set(spent) >= {"epsilon", "delta", "encoder_epsilon", "sgd_epsilon"}
    assert np.isfinite(spent["epsilon"]) and 0 < spent["sgd_epsilon"] <= 2.4 + 1e-6
    assert spent["encoder_epsilon"] == pytest.approx(0.6) and spent["epsilon"] <= 3.0 + 1e-6
    assert spent["delta"] <= 1e-5
    s = model.sample(200, seed=0)
    assert len(s) == 200 and set(s["x"]) <= {"a", "b", "c"}
    model.save(tmp_path / "dp")
    assert load(tmp_path / "dp").privacy_spent_ == spent


def test_estimator_contract():
    from sklearn.base import clone

    m = TabularSynthesizer(model="vae", epochs=7, generator_dim=(64, 64))
    c = clone(m)
    assert c.get_params() == m.get_params() and c is not m



# --- the three classes: contract, equality with the front, resume of the DP accounting, torchrun ----------------
from genmodels.models import FAMILIES, TabularGAN, TabularVAE  # noqa: E402

TABULAR = [TabularSynthesizer, TabularGAN, TabularVAE]


@pytest.mark.parametrize("cls", TABULAR)
def test_contract_of_every_tabular_class(cls):
    from sklearn.base import clone

    m = cls(epochs=7, embedding_dim=64)
    c = clone(m)
    assert c.get_params() == m.get_params() and c is not m
    assert FAMILIES[cls.family] is cls and FAMILIES["tabular"] is TabularSynthesizer
    assert m.supports("sample") and m.supports("table")
    assert not m.supports("transform") and not m.supports("partial_fit") and not hasattr(m, "partial_fit")
    assert set(cls._parameter_constraints) == set(m.get_params())  # a constraint for every parameter


@pytest.mark.parametrize("cls", TABULAR)
def test_every_bad_hyperparameter_is_one_dataerror_line_before_training(cls, tmp_path):
    df = mixed_frame(50)
    for name, constraints in cls._parameter_constraints.items():
        bad = constraints[0].bad_value()
        model = cls(**{"epochs": 1, "verbose": 0, name: bad})
        with pytest.raises(DataError) as e:
            model.fit(df, run_dir=tmp_path / name)
        msg = str(e.value)
        assert msg.startswith(f"{cls.__name__}: {name} must be ") and "\n" not in msg, msg
        assert not hasattr(model, "module_") and not (tmp_path / name).exists()


@pytest.mark.parametrize("which", ["gan", "vae"])
def test_single_objective_classes_train_exactly_like_the_front_and_load_back(which, tmp_path):
    import json

    df = mixed_frame(300)
    cls = TabularGAN if which == "gan" else TabularVAE
    front = TabularSynthesizer(model=which, epochs=2, batch_size=100, verbose=0).fit(df)
    single = cls(epochs=2, batch_size=100, verbose=0).fit(df)
    a, b = front.module_.state_dict(), single.module_.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert front.history_ == [{**r, "seconds": front.history_[i]["seconds"]} for i, r in enumerate(single.history_)]
    pd.testing.assert_frame_equal(front.sample(50, seed=1), single.sample(50, seed=1))
    single.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["family"] == f"tabular_{which}"
    loaded = load(tmp_path / "m")
    assert type(loaded) is cls and loaded.get_params() == single.get_params()
    pd.testing.assert_frame_equal(loaded.sample(50, conditions={"flag": True}, seed=1),
                                  single.sample(50, conditions={"flag": True}, seed=1))


@pytest.mark.filterwarnings("ignore:Full backward hook")
@pytest.mark.parametrize("interruption", ["time_budget", "exception"])
def test_dp_accounting_and_weights_survive_an_interrupted_and_resumed_fit(interruption, tmp_path):
    df = dependent_frame(400)  # batch 100: 4 steps an epoch, 12 in all
    kw = dict(model="vae", epochs=3, batch_size=100, epsilon=3.0, delta=1e-5, seed=0, verbose=0, checkpoint_every=3,
              device="cpu")
    whole = TabularSynthesizer(**kw).fit(df)
    assert whole.privacy_spent_["steps"] == 12
    run = tmp_path / "run"
    first = TabularSynthesizer(**kw)
    if interruption == "time_budget":  # stops after the first step, checkpointed there
        first.fit(df, run_dir=run, time_budget=1e-9)
        assert first.budget_exhausted_ and first.privacy_spent_["steps"] == 1
    else:  # raises at step 8; the last checkpoint is the one at step 6 (checkpoint_every=3)
        step = first._vae_training_step

        def failing(batch, info):
            if info.step == 7:
                raise RuntimeError("interrupted")
            return step(batch, info)

        first._vae_training_step = failing
        with pytest.raises(RuntimeError, match="interrupted"):
            first.fit(df, run_dir=run)
    resumed = TabularSynthesizer(**kw).fit(df, run_dir=run, resume=True)
    assert resumed.privacy_spent_ == whole.privacy_spent_  # epsilon, delta, steps: exactly the same
    a, b = whole.module_.state_dict(), resumed.module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_dp_under_torchrun_is_refused_before_training(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    model = TabularSynthesizer(model="vae", epochs=1, epsilon=1.0, verbose=0)
    with pytest.raises(DataError, match="not supported under torchrun") as e:
        model.fit(mixed_frame(50), run_dir=tmp_path / "run")
    assert "\n" not in str(e.value) and not (tmp_path / "run").exists() and not hasattr(model, "module_")


def test_torchrun_two_processes_share_the_table_and_end_with_identical_weights(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from genmodels.io import load_tensors

    script = Path(__file__).parent / "scripts" / "ddp_tabular.py"
    torchrun = Path(sys.executable).parent / "torchrun"
    result = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"})
    failure = result.stderr[result.stderr.find("Traceback"):][:3000]  # the rank's error, not torchrun's summary
    assert result.returncode == 0, failure
    for which in ("gan", "vae"):
        r0, r1 = (load_tensors(tmp_path / f"{which}_rank{r}.safetensors") for r in (0, 1))
        assert r0.keys() == r1.keys() and all(torch.equal(r0[k], r1[k]) for k in r0), which
        assert json.loads((tmp_path / which / "state.json").read_text())["step"] == 2 * 4  # 200 rows a rank, batch 50
    rec = [json.loads((tmp_path / f"rows_rank{r}.json").read_text()) for r in (0, 1)]
    # the GAN's training-by-sampling draws from rows rank::2 only, and did draw from them
    assert rec[0]["gan_can_draw"] == list(range(0, 400, 2)) and rec[1]["gan_can_draw"] == list(range(1, 400, 2))
    for r in rec:
        assert set(r["gan_drew"]) <= set(r["gan_can_draw"]) and len(r["gan_drew"]) > 100
    # the VAE's batches: each epoch, half the table a rank, the halves disjoint
    for epoch in ("0", "1"):
        a, b = set(rec[0]["vae_seen"][epoch]), set(rec[1]["vae_seen"][epoch])
        assert len(a) == len(b) == 200 and not a & b and a | b == set(range(400))
    assert rec[0]["vae_seen"]["0"] != rec[0]["vae_seen"]["1"]  # a fresh split each epoch
    assert all("not supported under torchrun" in r["dp_error"] for r in rec)

# --- command line --------------------------------------------------------------------------------------------
def test_cli_synth_writes_csv_report_and_model(tmp_path, capsys):
    from genmodels.cli import main

    src = tmp_path / "table.csv"
    dependent_frame(400).to_csv(src, index=False)
    out = tmp_path / "out" / "synth.csv"
    rc = main(["synth", str(src), "--rows", "120", "-o", str(out), "--model", "vae", "--epochs", "3", "--target", "y",
               "--epsilon", "4", "--batch-size", "100", "--save-model", str(tmp_path / "model"), "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0, text
    synth = pd.read_csv(out)
    assert len(synth) == 120 and list(synth.columns) == ["x", "y", "z"]
    assert (out.parent / "report.html").is_file()
    import json

    report = json.loads((out.parent / "report.json").read_text())
    assert report["model"]["privacy_spent"]["epsilon"] <= 4 + 1e-6 and "ml_efficacy" in report
    assert "epsilon" in text and str(out) in text
    assert load(tmp_path / "model").privacy_spent_["epsilon"] == report["model"]["privacy_spent"]["epsilon"]


@pytest.mark.parametrize("content, message", [(b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a CSV"),
                                              (b"", "empty"), (b"a,b\n", "no rows")])
def test_cli_synth_rejects_a_file_that_is_not_a_csv(tmp_path, capsys, content, message):
    from genmodels.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    rc = main(["synth", str(bad), "--rows", "5", "-o", str(tmp_path / "s.csv"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert main(["synth", str(tmp_path / "missing.csv"), "--rows", "5", "-o", str(tmp_path / "s.csv")]) == 2


def test_cli_synth_config_params_resume_and_overwrite(tmp_path, capsys):
    import json

    from genmodels.cli import main

    src = tmp_path / "table.csv"
    dependent_frame(400).to_csv(src, index=False)
    (tmp_path / "hp.yaml").write_text("embedding_dim: 32\ncompress_dims: [32]\nlr_vae: 0.01\n")
    out, run = tmp_path / "out" / "synth.csv", tmp_path / "model"
    base = ["synth", str(src), "--rows", "60", "-o", str(out), "--batch-size", "100", "--save-model", str(run), "-q"]
    # a config file, then -p on top of it (same parsing as train's), then the named options
    rc = main([*base, "--model", "vae", "--epochs", "2", "-c", str(tmp_path / "hp.yaml"), "-p", "lr_vae=0.002",
               "-p", "decompress_dims=[16, 16]"])
    assert rc == 0, capsys.readouterr().err
    params = json.loads((run / "config.json").read_text())["params"]
    assert (params["model"], params["embedding_dim"], params["compress_dims"], params["lr_vae"]) == ("vae", 32, [32], 0.002)
    assert params["decompress_dims"] == [16, 16] and params["epochs"] == 2
    assert json.loads((run / "state.json").read_text())["step"] == 2 * 4
    capsys.readouterr()
    # the folder holds a run: refused (one line, nothing touched) unless --resume or --overwrite
    before = (run / "model.safetensors").read_bytes()
    assert main([*base, "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and len(err.strip().splitlines()) == 1
    assert (run / "model.safetensors").read_bytes() == before
    # --resume takes the run's own settings (a VAE, its sizes) and continues it to 3 epochs
    assert main([*base, "--epochs", "3", "--resume"]) == 0
    params = json.loads((run / "config.json").read_text())["params"]
    assert params["model"] == "vae" and params["embedding_dim"] == 32 and params["epochs"] == 3
    assert json.loads((run / "state.json").read_text())["step"] == 3 * 4
    assert len(pd.read_csv(out)) == 60
    assert main([*base, "--model", "gan", "--epochs", "1", "--overwrite"]) == 0
    assert json.loads((run / "config.json").read_text())["params"]["model"] == "gan"
    assert json.loads((run / "state.json").read_text())["step"] == 4
    capsys.readouterr()
    # bad settings: one line, exit 2, and the run that --overwrite would replace is left as it was
    before = (run / "model.safetensors").read_bytes()
    for bad, message in ((["-p", "nope=1"], "unknown TabularSynthesizer hyperparameter(s) ['nope']"),
                         (["-p", "pac=0"], "TabularSynthesizer: pac must be an integer >= 1; got 0"),
                         (["-p", "epsilon=-1"], "TabularSynthesizer: epsilon must be a number > 0 or None; got -1"),
                         (["--resume"], "contradict"),
                         (["--target", "w"], "target 'w' is not a column")):
        assert main([*base, "--overwrite", *bad]) == 2, bad
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert (run / "model.safetensors").read_bytes() == before
    assert main(["synth", str(src), "--rows", "5", "-o", str(out), "--resume", "-q"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_synth_run_on_a_frame_returns_the_report(tmp_path):
    from genmodels.apps.synthesize import synth_run

    df = dependent_frame(300)
    out = tmp_path / "s.csv"
    report = synth_run(df, 40, out, model="vae", epochs=1, batch_size=100, discrete=["x", "y"], target="y", quiet=True)
    synth = pd.read_csv(out)
    assert len(synth) == 40 and list(synth.columns) == ["x", "y", "z"]
    assert report["model"]["model"] == "vae" and report["model"]["rows"] == 40 and report["model"]["source"] == "DataFrame"
    assert report["model"]["output"] == str(out) and report["model"]["saved_model"] is None
    assert report["n_synthetic"] == 40 and "ml_efficacy" in report and (tmp_path / "report.html").is_file()
    with pytest.raises(DataError, match="rows must be a positive integer"):
        synth_run(df, 0, out)
