"""RatingsRBM (collaborative filtering), the ratings loaders, the recsys metrics and `genmodels recommend`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from genmodels import DataError, RatingsRBM, load
from genmodels.apps.recommend import evaluate_recommender, train_recommender_run
from genmodels.cli import main
from genmodels.data import check_ratings, load_movielens, load_ratings
from genmodels.io import load_tensors
from genmodels.metrics.recsys import mae, ndcg_at_k, precision_at_k, recall_at_k, rmse
from genmodels.train import epoch_order

ROOT = Path(__file__).resolve().parents[1]


def low_rank_ratings(n_users: int = 150, n_items: int = 60, density: float = 0.35, seed: int = 0):
    """Ratings 1..5 from a rank-2 taste model plus noise; returns (train, test) tables (80/20 of observed)."""
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(n_users, 2))
    profile = rng.normal(size=(n_items, 2))
    score = 3.0 + 1.1 * taste @ profile.T + 0.3 * rng.normal(size=(n_users, n_items))
    rating = np.clip(np.rint(score), 1, 5)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    table = pd.DataFrame({"user": u + 1, "item": i + 101, "rating": rating[u, i]})
    test_mask = rng.random(len(table)) < 0.2
    return table[~test_mask].reset_index(drop=True), table[test_mask].reset_index(drop=True)


@pytest.fixture(scope="module")
def ratings():
    return low_rank_ratings()


@pytest.fixture(scope="module")
def fitted(ratings):
    train, _ = ratings
    return RatingsRBM(n_hidden=20, epochs=30, batch_size=16, lr=0.05, weight_decay=0.001, seed=0,
                      verbose=0).fit(train)


def test_beats_global_and_item_mean_baselines(ratings, fitted):
    train, test = ratings
    truth = test["rating"].to_numpy()
    global_rmse = rmse(truth, np.full(len(test), train["rating"].mean()))
    item_means = train.groupby("item")["rating"].mean()
    item_rmse = rmse(truth, test["item"].map(item_means).fillna(train["rating"].mean()).to_numpy())
    pred = fitted.predict(test["user"].to_numpy(), test["item"].to_numpy())
    model_rmse = rmse(truth, pred)
    assert model_rmse < 0.85 * item_rmse < global_rmse, (model_rmse, item_rmse, global_rmse)
    assert pred.min() >= 1.0 and pred.max() <= 5.0
    assert fitted.score(test) == pytest.approx(-model_rmse)


def test_item_based_orientation_learns_and_agrees_with_predict_all(ratings):
    train, test = ratings
    truth = test["rating"].to_numpy()
    item_means = train.groupby("item")["rating"].mean()
    item_rmse = rmse(truth, test["item"].map(item_means).fillna(train["rating"].mean()).to_numpy())
    model = RatingsRBM(n_hidden=20, epochs=30, batch_size=8, lr=0.05, weight_decay=0.001, orientation="item",
                       seed=0, verbose=0).fit(train)
    pred = model.predict(test["user"].to_numpy(), test["item"].to_numpy())
    assert rmse(truth, pred) < 0.85 * item_rmse
    users = np.unique(test["user"].to_numpy())[:10]  # one code path per orientation: the same numbers
    every = model.predict_all(users)
    one = model.predict(np.repeat(users, len(model.items_)), np.tile(model.items_, len(users)))
    np.testing.assert_allclose(every.ravel(), one, atol=1e-5)
    with pytest.raises(DataError, match="orientation must be one of 'user', 'item'"):
        RatingsRBM(orientation="both").fit(train)


def test_predict_shapes_and_frame_input(ratings, fitted):
    _, test = ratings
    row = test.iloc[0]
    one = fitted.predict(row["user"], row["item"])
    assert isinstance(one, float) and 1 <= one <= 5
    many = fitted.predict(test[["user", "item"]])
    assert many.shape == (len(test),) and many[0] == pytest.approx(one)
    per_user = fitted.predict(row["user"], test["item"].to_numpy()[:5])  # one user, several items
    assert per_user.shape == (5,)


def test_cold_start_falls_back_to_stated_means(ratings, fitted):
    train, _ = ratings
    g = train["rating"].mean()
    item = train["item"].iloc[0]
    stats = train[train["item"] == item]["rating"]
    shrunk = (stats.sum() + 5 * g) / (len(stats) + 5)
    assert fitted.predict(99999, item) == pytest.approx(shrunk)  # unknown user -> shrunk item mean
    user = train["user"].iloc[0]
    assert fitted.predict(user, "no-such-item") == pytest.approx(train[train["user"] == user]["rating"].mean())
    assert fitted.predict(99999, "no-such-item") == pytest.approx(g)  # both unknown -> global mean
    top = fitted.recommend(99999, n=3)  # unknown user: best shrunk item means
    assert list(top["item"]) == list(fitted.items_[np.argsort(-fitted.item_mean_, kind="stable")[:3]])


def test_recommend_excludes_seen_and_ranks_by_score(ratings, fitted):
    train, _ = ratings
    user = int(train["user"].iloc[0])
    seen = set(train[train["user"] == user]["item"])
    top = fitted.recommend(user, n=10)
    assert len(top) == 10 and not set(top["item"]) & seen
    assert np.all(np.diff(top["score"].to_numpy()) <= 0)
    assert fitted.predict(user, top["item"].iloc[0]) == pytest.approx(top["score"].iloc[0])
    with_seen = fitted.recommend(user, n=len(fitted.items_), exclude_seen=False)
    assert set(with_seen["item"]) == set(fitted.items_)
    assert fitted.recommend(str(user), n=10)["item"].tolist() == top["item"].tolist()  # "7" finds user 7


def test_same_seed_same_model_and_sklearn_contract(ratings):
    train, test = ratings
    model = RatingsRBM(n_hidden=8, epochs=2, batch_size=32, verbose=0, seed=3)
    a = model.fit(train).predict(test[["user", "item"]])
    b = clone(model).fit(train).predict(test[["user", "item"]])
    assert np.array_equal(a, b)
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(clone(model), "module_")


def test_capabilities_are_what_the_class_offers():
    model = RatingsRBM()
    assert model.supports("recommend") and not model.supports("sample") and not model.supports("partial_fit")
    assert not hasattr(model, "sample") and not hasattr(model, "partial_fit")


def test_every_parameter_is_declared_and_bad_values_are_one_line_errors(ratings):
    train, _ = ratings
    constraints = RatingsRBM._parameter_constraints
    assert set(constraints) == set(RatingsRBM().get_params())
    for name, accepted in constraints.items():
        bad = accepted[0].bad_value()
        if any(c.ok(bad) for c in accepted):
            bad = "not-a-value"
        with pytest.raises(DataError, match=f"RatingsRBM: {name} must be") as info:
            RatingsRBM(**{name: bad}).fit(train)
        assert "\n" not in str(info.value)
    for good in (1, 3, (1, 3, 5), [2, 4]):  # cd_k: one T, or a schedule of them
        assert RatingsRBM(cd_k=good).get_params()["cd_k"] == good
        RatingsRBM(cd_k=good)._validate_params()
    with pytest.raises(DataError, match="cd_k must be"):
        RatingsRBM(cd_k=(1, 0)).fit(train)
    # the rating grid relates two parameters: checked apart from the per-parameter constraints
    with pytest.raises(DataError, match="not a whole number of rating_step"):
        RatingsRBM(rating_scale=(1, 5), rating_step=0.3).fit(train)
    RatingsRBM(rating_scale=(0.5, 5), rating_step=0.5)._validate_params()


def test_save_load_roundtrip_with_text_ids(tmp_path, ratings):
    train, test = ratings
    named = train.assign(user="u" + train["user"].astype(str), item="m" + train["item"].astype(str))
    model = RatingsRBM(n_hidden=8, epochs=2, verbose=0, seed=1).fit(named)
    queries = test.assign(user="u" + test["user"].astype(str), item="m" + test["item"].astype(str))
    model.save(tmp_path / "run")
    loaded = load(tmp_path / "run")
    assert isinstance(loaded, RatingsRBM) and loaded.get_params() == model.get_params()
    assert np.allclose(loaded.predict(queries[["user", "item"]]), model.predict(queries[["user", "item"]]))
    assert loaded.recommend("u1", 5).equals(model.recommend("u1", 5))


def test_conditional_model_uses_implicit_pairs(ratings):
    train, test = ratings
    model = RatingsRBM(n_hidden=10, epochs=3, conditional=True, verbose=0)
    model.fit(train, implicit=test[["user", "item"]])
    assert model.module_.D.abs().sum() > 0  # the "which items were rated" weights learned something
    pred = model.predict(test[["user", "item"]])
    assert pred.min() >= 1 and pred.max() <= 5
    with pytest.raises(DataError, match="conditional=True"):
        RatingsRBM(verbose=0).fit(train, implicit=test[["user", "item"]])


@pytest.mark.parametrize(("table", "message"), [
    (pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [3, 6]}), "outside the scale"),
    (pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [0, 3]}), "outside the scale"),
    (pd.DataFrame({"user": [1, 2], "item": [1, 1]}), "missing column"),
    (pd.DataFrame({"user": [1, 1], "item": [4, 4], "rating": [3, 4]}), "duplicate user/item"),
    (pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [3, None]}), "not finite"),
    (pd.DataFrame({"user": [1, 2], "item": [1, 1], "rating": [3, 3.5]}), "rating grid"),
    (pd.DataFrame({"user": [], "item": [], "rating": []}), "empty"),
])
def test_bad_ratings_give_clear_errors(table, message):
    with pytest.raises(DataError, match=message):
        RatingsRBM(epochs=1, verbose=0).fit(table)


def test_csv_loader_detects_separator_and_header(tmp_path):
    (tmp_path / "h.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.0,5\n2,10,3.5,6\n")
    table = load_ratings(f"csv:{tmp_path / 'h.csv'}")
    assert list(table.columns) == ["user", "item", "rating", "timestamp"] and table["rating"].tolist() == [4.0, 3.5]
    (tmp_path / "u.tsv").write_text("1\t10\t4\n2\t11\t5\n")
    assert load_ratings(tmp_path / "u.tsv")["item"].tolist() == [10, 11]
    (tmp_path / "bad.csv").write_text("user,item,rating\n1,10,4\n1,10,5\n")
    with pytest.raises(DataError, match="duplicate"):
        load_ratings(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("user,rating\n1,4\n")
    with pytest.raises(DataError, match="missing column"):
        load_ratings(tmp_path / "cols.csv")
    with pytest.raises(DataError, match="not found"):
        load_ratings(tmp_path / "nope.csv")
    assert len(check_ratings(np.array([[1, 2, 3]]))) == 1


def test_movielens_folds_are_the_standard_splits(shared_data):
    folder = shared_data / "movielens-100k"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    train, test = load_movielens(folder, "train", fold=2), load_ratings(f"movielens:{folder}", "test", fold=2)
    assert (len(train), len(test)) == (80000, 20000)
    assert len(load_ratings(f"movielens:{folder}")) == 100000
    assert not set(zip(train.user, train.item, strict=True)) & set(zip(test.user, test.item, strict=True))


def test_recsys_metrics_known_values():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    recommended = {"a": [1, 2, 3], "b": [4, 5, 6]}
    relevant = {"a": {1, 3}, "b": {9}, "c": set()}  # c has nothing relevant: left out of the means
    assert precision_at_k(recommended, relevant, 2) == pytest.approx((1 / 2 + 0) / 2)
    assert recall_at_k(recommended, relevant, 3) == pytest.approx((1 + 0) / 2)
    ideal = 1 + 1 / np.log2(3)
    assert ndcg_at_k(recommended, relevant, 3) == pytest.approx(((1 + 1 / np.log2(4)) / ideal + 0) / 2)
    with pytest.raises(DataError):
        rmse([1, 2], [1])


def test_evaluate_recommender_ranks_liked_items_above_chance(ratings, fitted):
    _, test = ratings
    metrics = evaluate_recommender(fitted, test, k=5)
    assert metrics["rmse"] == pytest.approx(-fitted.score(test))
    # chance precision@5 = liked held-out items / unrated items per user: far below what the model reaches
    n_items = len(fitted.items_)
    liked = test[test["rating"] >= 4].groupby("user").size()
    unrated = n_items - (fitted.train_matrix_ > 0).sum(1)[fitted.user_index(liked.index.to_numpy())]
    assert metrics["precision@5"] > 1.5 * float(np.mean(liked.to_numpy() / unrated))


def test_cli_recommend_train_predict_evaluate(tmp_path, ratings, capsys):
    train, test = ratings
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    run = tmp_path / "run"
    args = ["recommend", "train", "--ratings", str(tmp_path / "train.csv"), "--out", str(run), "--epochs", "2",
            "-p", "n_hidden=8", "--quiet"]
    assert main(args) == 0
    assert main(["recommend", "predict", str(run), "--user", "1", "-n", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "item\texpected_rating" and len(lines) == 4
    assert main(["recommend", "evaluate", str(run), "--test", str(tmp_path / "test.csv")]) == 0
    assert '"rmse"' in capsys.readouterr().out and (run / "metrics.json").is_file()
    (tmp_path / "bad.csv").write_text("user,item,rating\n1,2,9\n")
    assert main(["recommend", "train", "--ratings", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "x")]) == 2
    assert "outside the scale" in capsys.readouterr().err
    # a folder holding a run: refused (nothing written), unless --overwrite or --resume
    before = load(run).predict(test[["user", "item"]])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and len(err.strip().splitlines()) == 1
    assert np.array_equal(load(run).predict(test[["user", "item"]]), before)
    assert main([*args, "--overwrite", "--seed", "4"]) == 0
    assert not np.array_equal(load(run).predict(test[["user", "item"]]), before)
    assert main([*args, "--resume", "--seed", "4"]) == 0  # a finished run resumes to itself


def test_train_recommender_run_is_the_cli_command(tmp_path, ratings):
    train, test = ratings
    train.to_csv(tmp_path / "train.csv", index=False)
    params = {"n_hidden": 8, "batch_size": 16}
    model = train_recommender_run(tmp_path / "train.csv", tmp_path / "api", params=params, config={"n_hidden": 4},
                                  epochs=2, seed=1, quiet=True)
    assert model.get_params()["n_hidden"] == 8 and model.get_params()["epochs"] == 2  # params over config
    assert main(["recommend", "train", "--ratings", str(tmp_path / "train.csv"), "--out", str(tmp_path / "cli"),
                 "--epochs", "2", "--seed", "1", "-p", "n_hidden=8", "-p", "batch_size=16", "--quiet"]) == 0
    queries = test[["user", "item"]]
    assert np.array_equal(load(tmp_path / "api").predict(queries), load(tmp_path / "cli").predict(queries))
    with pytest.raises(DataError, match="already holds a run"):
        train_recommender_run(tmp_path / "train.csv", tmp_path / "api", params=params, epochs=2, quiet=True)
    with pytest.raises(DataError, match="n_hidden must be"):
        train_recommender_run(tmp_path / "train.csv", tmp_path / "bad", params={"n_hidden": 0}, quiet=True)


def test_recommend_commands_refuse_a_run_that_is_not_a_recommender(tmp_path, capsys):
    from genmodels import RBM

    RBM(n_hidden=4, epochs=1, verbose=0).fit(np.random.default_rng(0).random((20, 6)) > 0.5).save(tmp_path / "rbm")
    for command in (["evaluate", str(tmp_path / "rbm"), "--test", "x.csv"], ["predict", str(tmp_path / "rbm"), "-u", "1"]):
        assert main(["recommend", *command]) == 2
        err = capsys.readouterr().err.strip()
        assert "holds a RBM, not a recommender" in err and len(err.splitlines()) == 1
    with pytest.raises(DataError, match="not a recommender"):
        evaluate_recommender(load(tmp_path / "rbm"), pd.DataFrame({"user": [1], "item": [1], "rating": [3.0]}))


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, ratings):
    """The Polyak average lives in the checkpoint, so a run stopped mid-averaging resumes exactly."""
    train, _ = ratings
    params = {"n_hidden": 6, "epochs": 6, "batch_size": 50, "average_last": 0.5, "verbose": 0, "seed": 2}
    whole = RatingsRBM(**params).fit(train)

    class Interrupt(Exception):
        pass

    stopped = RatingsRBM(**params, checkpoint_every=1)
    original = stopped._training_step

    def step_then_stop(batch, info):
        if info.step == 13:  # epoch 5 of 6 (3 steps each), inside the averaging window (epochs 4-6)
            raise Interrupt
        return original(batch, info)

    stopped._training_step = step_then_stop
    with pytest.raises(Interrupt):
        stopped.fit(train, run_dir=tmp_path / "run")
    assert "extra.average.W" in load_tensors(tmp_path / "run" / "checkpoint.safetensors")
    resumed = RatingsRBM(**params, checkpoint_every=1).fit(train, run_dir=tmp_path / "run", resume=True)
    for name, value in whole.module_.state_dict().items():
        assert torch.equal(value, resumed.module_.state_dict()[name]), name


def test_torchrun_ranks_train_on_their_shards_and_average_their_cd_updates(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", str(ROOT / "tests/scripts/ddp_ratings.py"),
           str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"})
    assert result.returncode == 0, result.stderr[-2000:]
    r0, r1 = load_tensors(tmp_path / "rank0.safetensors"), load_tensors(tmp_path / "rank1.safetensors")
    params = [k for k in r0 if k.startswith("param.")]
    assert params and all(torch.equal(r0[k], r1[k]) for k in params)  # one model on both ranks
    # the first update: each rank's own CD gradient differs, and both step with the mean of the two
    before = sorted(k for k in r0 if k.startswith("before."))
    assert any(not torch.equal(r0[k], r1[k]) for k in before)
    for k in before:
        mean = (r0[k] + r1[k]) / 2
        assert torch.allclose(r0[k.replace("before", "after")], mean, atol=1e-7)
        assert torch.equal(r0[k.replace("before", "after")], r1[k.replace("before", "after")])
    # each rank trained on its shard of every epoch's order (rank::2), the shards disjoint, together every row
    rows = r0["rows"].numpy()
    index = {row.tobytes(): n for n, row in enumerate(rows)}
    assert len(index) == len(rows) == 90
    for epoch in range(4):
        order = epoch_order(5, epoch, len(rows)).numpy()
        shards = [[index[row.tobytes()] for row in r[f"seen.{epoch}"].numpy()] for r in (r0, r1)]
        assert shards[0] == order[0::2].tolist() and shards[1] == order[1::2].tolist()
        assert not set(shards[0]) & set(shards[1]) and set(shards[0]) | set(shards[1]) == set(range(len(rows)))
    # the CD-k schedule and the step count follow each rank's own epoch: 45 rows at batch 8 -> 6 steps
    logs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert logs[0] == logs[1] == {"cd_k": [1.0, 1.0, 3.0, 3.0], "steps": 4 * 6}
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["world_size"] == 2 and state["finished"]


def test_recommend_train_resume_continues_with_the_runs_own_hyperparameters(tmp_path, ratings):
    """`--resume` takes the interrupted run's hyperparameters (as train and synth do), so the checkpoint fits."""
    from genmodels.cli import main

    train, _ = ratings
    table = tmp_path / "r.csv"
    train.to_csv(table, index=False)
    base = ["recommend", "train", "--ratings", f"csv:{table}", "--out", str(tmp_path / "run"), "-q"]
    assert main([*base, "-p", "n_hidden=7", "--epochs", "2"]) == 0
    assert main([*base, "--resume", "--epochs", "3"]) == 0
    resumed = load(tmp_path / "run")
    assert resumed.n_hidden == 7 and resumed.epochs == 3
