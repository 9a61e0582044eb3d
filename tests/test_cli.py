"""The command line end to end and its Python twins (train_run, sample_run, detect_run): train, sample,
evaluate write the files they promise; refusals leave what exists untouched (demo and compare:
test_compare.py; bad hyperparameters: test_bad_params.py)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genmodels import DataError, RatingsRBM, TabularSynthesizer, load
from genmodels.apps import array_families, detect_run, sample_run, train_run
from genmodels.cli import main


def test_train_sample_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "vae", "--data", "digits", "--binarize", "threshold", "--epochs", "3", "--out", str(run),
            "-q", "-p", "hidden_dims=[64]", "-p", "latent_dim=4", "--seed", "3"]
    assert main(argv) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["params"]["hidden_dims"] == [64] and config["params"]["seed"] == 3
    assert config["data"]["name"] == "digits [train]"
    for name in ("model.safetensors", "metrics.jsonl", "loss_curve.png", "samples.png", "report.html"):
        assert (run / name).exists(), name

    assert main(["sample", str(run), "-n", "16", "-o", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size[0] > 8 * 4
    assert main(["sample", str(run), "-n", "5", "--npy", str(tmp_path / "s.npy"), "--seed", "1"]) == 0
    assert np.load(tmp_path / "s.npy").shape == (5, 1, 8, 8)
    assert main(["sample", str(run), "-n", "5", "-o", str(tmp_path / "s.csv")]) == 0
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 6

    capsys.readouterr()
    assert main(["evaluate", str(run), "--binarize", "threshold", "-k", "20"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 359 and metrics["test_nll_nats"] > 0 and "baseline_nll_nats" in metrics
    assert (run / "reconstructions.png").exists()
    assert "test_nll_nats" in capsys.readouterr().out


def test_resume_extends_a_finished_run(tmp_path):
    run = tmp_path / "run"
    base = ["train", "vae", "--data", "digits", "--binarize", "threshold", "--out", str(run), "-q",
            "-p", "hidden_dims=[32]"]
    assert main([*base, "--epochs", "2"]) == 0
    assert main([*base, "--epochs", "4", "--resume"]) == 0
    state = json.loads((run / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3, 4]
    assert json.loads((run / "config.json").read_text())["params"]["epochs"] == 4


def test_help_and_usage_errors(capsys):
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert main(["train", "nosuchfamily", "--out", "x"]) == 2


def _snapshot(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A small VAE run folder trained through the Python twin of `genmodels train`."""
    run = tmp_path_factory.mktemp("cli") / "vae"
    model = train_run("vae", "digits", run, params={"hidden_dims": [16], "latent_dim": 2}, epochs=1,
                      binarize="threshold", seed=5, quiet=True)
    assert model.epochs == 1 and model.seed == 5 and model.hidden_dims == (16,)
    return run


def test_refused_overwrite_leaves_the_run_byte_identical(vae_run, capsys):
    before = _snapshot(vae_run)
    assert {"config.json", "model.safetensors", "report.html", "loss_curve.png"} <= set(before)
    capsys.readouterr()
    argv = ["train", "vae", "--data", "digits", "--binarize", "threshold", "--out", str(vae_run), "-q",
            "-p", "hidden_dims=[8]", "--epochs", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0] and "--overwrite" in err[0]
    assert main([*argv, "--resume", "--overwrite"]) == 2
    assert "contradict" in capsys.readouterr().err
    assert _snapshot(vae_run) == before


def test_overwrite_replaces_the_run(tmp_path):
    run = tmp_path / "run"
    base = ["train", "rbm", "--data", "digits", "--binarize", "threshold", "--out", str(run), "-q",
            "-p", "n_hidden=8"]
    assert main([*base, "--epochs", "2", "-p", "sample_every=1"]) == 0
    assert (run / "samples" / "epoch_0002.png").exists()
    (run / "metrics.json").write_text("{}")  # what `evaluate` would leave about the old model
    assert main([*base, "--epochs", "1", "-p", "sample_every=1", "--overwrite"]) == 0
    state = json.loads((run / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]] == [1]
    assert json.loads((run / "config.json").read_text())["params"]["epochs"] == 1
    assert (run / "samples" / "epoch_0001.png").exists()
    assert not (run / "samples" / "epoch_0002.png").exists() and not (run / "metrics.json").exists()


def test_sample_writes_png_csv_npy_the_same_draw(vae_run, tmp_path, capsys):
    drawn = sample_run(vae_run, 6, tmp_path / "a.npy", seed=2)
    assert drawn.shape == (6, 1, 8, 8) and drawn.min() >= 0 and drawn.max() <= 1
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), drawn)
    assert main(["sample", str(vae_run), "-n", "6", "--seed", "2", "-o", str(tmp_path / "b.csv"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    lines = (tmp_path / "b.csv").read_text().splitlines()
    assert lines[0] == ",".join(f"x{i}" for i in range(64)) and len(lines) == 7
    np.testing.assert_allclose(np.loadtxt(tmp_path / "b.csv", delimiter=",", skiprows=1),
                               drawn.reshape(6, -1), rtol=1e-5, atol=1e-6)
    assert main(["sample", str(vae_run), "-n", "6", "--seed", "2", "--csv", str(tmp_path / "c.txt")]) == 0
    assert (tmp_path / "c.txt").read_text() == (tmp_path / "b.csv").read_text()
    assert "wrote 6 samples" in capsys.readouterr().out
    assert main(["sample", str(vae_run), "-n", "16", "-o", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size[0] > 8 * 4


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--label", "3"], "not trained as a conditional model"),
    (["-n", "0"], "positive integer"),
])
def test_sample_refusals(vae_run, tmp_path, capsys, argv, fragment):
    assert main(["sample", str(vae_run), "-o", str(tmp_path / "s.npy"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert not (tmp_path / "s.npy").exists()


def test_sample_conditional_label(tmp_path):
    run = tmp_path / "cvae"
    assert main(["train", "vae", "--data", "digits", "--binarize", "threshold", "--out", str(run), "-q",
                 "--epochs", "1", "-p", "conditional=true", "-p", "hidden_dims=[16]", "-p", "latent_dim=2"]) == 0
    a = sample_run(run, 4, tmp_path / "a.npy", label="7", seed=1)
    model = load(run)
    seven = next(c for c in model.classes_ if str(c) == "7")
    np.testing.assert_array_equal(a, model.sample(4, y=seven, seed=1))
    assert main(["sample", str(run), "--label", "11", "-o", str(tmp_path / "b.npy")]) == 2


def test_sample_refuses_a_model_that_cannot_sample(tmp_path, capsys):
    rng = np.random.default_rng(0)
    ratings = pd.DataFrame({"user": rng.integers(0, 20, 200), "item": rng.integers(0, 15, 200),
                            "rating": rng.integers(1, 6, 200).astype(float)}).drop_duplicates(["user", "item"])
    RatingsRBM(n_hidden=4, epochs=1, verbose=0).fit(ratings).save(tmp_path / "cf")
    assert main(["sample", str(tmp_path / "cf"), "-o", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not sample" in err[0]
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.skipif("table" not in TabularSynthesizer.capabilities,
                    reason="TabularSynthesizer does not declare the 'table' capability yet")
def test_sample_a_table_model_writes_its_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 120).round(1), "city": rng.choice(["a", "b"], 120)})
    TabularSynthesizer(model="vae", epochs=1, batch_size=60, verbose=0).fit(frame).save(tmp_path / "tab")
    table = sample_run(tmp_path / "tab", 7, tmp_path / "s.csv", seed=0)
    written = pd.read_csv(tmp_path / "s.csv")
    assert list(written.columns) == ["age", "city"] and len(written) == 7
    assert set(written["city"]) <= {"a", "b"} and list(table.columns) == ["age", "city"]
    assert main(["sample", str(tmp_path / "tab"), "-o", str(tmp_path / "s.png")]) == 2
    assert "write a .csv" in capsys.readouterr().err


def test_train_offers_array_families_only(capsys):
    assert set(array_families()) == {"vae", "gan", "rbm", "dbn", "convrbm", "convdbn", "textlm", "textvae"}
    assert main(["train", "--help"]) == 0
    usage = capsys.readouterr().out
    assert "{convdbn|convrbm|dbn|gan|rbm|textlm|textvae|vae}" in usage
    for family in ("tabular", "rbm_cf"):
        assert main(["train", family, "--out", "x"]) == 2
    with pytest.raises(DataError, match="unknown array family"):
        train_run("tabular", out="x")


def test_family_options_a_family_lacks_are_refused(tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["train", "gan", "--out", str(out), "--lr", "0.01", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lr_g" in err[0] and "lr_d" in err[0]
    assert not out.exists()


def test_detect_run_scores_with_a_saved_model(vae_run, tmp_path):
    from genmodels.data import load_dataset

    np.savez(tmp_path / "rows.npz", X=load_dataset("digits", "test", binarize="threshold").X[:100])
    summary = detect_run(f"npz:{tmp_path / 'rows.npz'}", tmp_path / "s.csv", run=vae_run, contamination=0.1)
    assert summary["rows"] == 100 and summary["flagged"] == 10
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "row,score,anomaly" and sum(int(ln.rsplit(",", 1)[1]) for ln in lines[1:]) == 10
    assert json.loads((tmp_path / "s.metrics.json").read_text()) == summary
    with pytest.raises(DataError, match="contamination"):
        detect_run("digits", tmp_path / "t.csv", run=vae_run, contamination=0.7)
