"""The command line end to end: train, sample, evaluate write the files they promise (demo and compare:
test_compare.py)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

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
