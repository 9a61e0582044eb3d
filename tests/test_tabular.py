"""TabularEncoder, TabularSynthesizer (GAN + VAE, DP) and `genmodels synth`: small frames, few epochs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
