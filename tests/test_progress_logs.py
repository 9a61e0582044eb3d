"""Live training logs and progress: the TensorBoard logger's scalars read back equal to metrics.jsonl, its
one-line errors, `--log tensorboard` on the CLI, the time-budget bar counting seconds, and the summary line a
phase logs when no bar is shown."""

from __future__ import annotations

import json
import logging
import re

import pytest

from genmodels.cli import main
from genmodels.errors import DataError
from genmodels.models import VAE
from genmodels.train import tblog

SMALL_VAE = {"latent_dim": 4, "hidden_dims": (32,), "batch_size": 32, "verbose": 0, "sample_every": 1}


def _events(folder):
    pytest.importorskip("tensorboard", reason="the TensorBoard logger needs tensorboard (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_tensorboard_scalars_equal_metrics_jsonl(digits_binary, tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    VAE(epochs=2, **SMALL_VAE).fit(digits_binary[0].X[:320], run_dir=run, logger="tensorboard")
    acc = _events(run / "tb")
    records = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    expected = {}
    for r in records:
        prefix = {"epoch": "epoch", "stop": "stop"}.get(r.get("kind", ""), "train")
        for k, v in r.items():
            if k not in ("step", "kind", "reason", "epoch"):
                expected[(f"{prefix}/{k}", r["step"])] = v
    got = {(tag, e.step): e.value for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)
           if tag.split("/")[0] in ("train", "epoch", "stop")}
    assert set(got) == set(expected) and len(got) >= 8  # loss, recon, kl (+ seconds) at two steps, two kinds
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6), key  # event files hold float32
    tags = acc.Tags()["scalars"]
    assert {"speed/seconds_per_step", "speed/samples_per_s", "lr/0"} <= set(tags)
    assert acc.Scalars("lr/0")[-1].value == pytest.approx(VAE().lr)
    assert [e.step for e in acc.Images("samples")] == [10, 20]  # one grid per epoch (sample_every=1)


def test_logger_errors_are_one_line(digits_binary, tmp_path, monkeypatch):
    X = digits_binary[0].X[:64]
    with pytest.raises(DataError, match="logger must be one of"):
        VAE(epochs=1, **SMALL_VAE).fit(X, run_dir=tmp_path / "a", logger="wandb")
    with pytest.raises(DataError, match="give the run folder"):
        VAE(epochs=1, **SMALL_VAE).fit(X, logger="tensorboard")
    monkeypatch.setattr(tblog.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pip install 'genmodels\[log\]'") as info:
        VAE(epochs=1, **SMALL_VAE).fit(X, run_dir=tmp_path / "b", logger="tensorboard")
    assert "\n" not in str(info.value) and not (tmp_path / "b").exists()  # refused before anything is written


def test_cli_log_tensorboard_and_quiet_summary_lines(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    code = main(["train", "vae", "-o", str(out), "--epochs", "1", "-q", "--log", "tensorboard",
                 "-p", "hidden_dims=[32]", "-p", "latent_dim=4", "-p", "batch_size=256"])
    assert code == 0
    assert list((out / "tb").glob("events.out.tfevents.*"))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(r"genmodels: VAE \([\d.]+ s\): \d+ steps \(epoch 1 of 1, "
                                            r"[\d.k]+ img/s\), loss [\d.]+", lines[0]), lines


def test_time_budget_bar_counts_seconds(digits_binary, monkeypatch, capsys, caplog):
    monkeypatch.setenv("CI", "false")  # bars on, as for a person at a terminal
    with caplog.at_level(logging.INFO, logger="genmodels.progress"):
        model = VAE(epochs=100_000, **{**SMALL_VAE, "verbose": 1, "sample_every": 0})
        model.fit(digits_binary[0].X[:320], time_budget=0.6)
    err = capsys.readouterr().err
    assert re.search(r"VAE: +\d+%\|.*\| \d\.\d/0\.6 s", err), err  # elapsed / total seconds, not epochs
    assert "/100000" not in err and "3.20M" not in err  # not the epoch upper bound
    summary = [r for r in caplog.records if r.name == "genmodels.progress"]
    assert len(summary) == 1 and summary[0].bars is True and "time budget spent" in summary[0].getMessage()


@pytest.mark.parametrize("command", [["train", "vae"], ["synth", "x.csv"], ["recommend", "train"]])
def test_every_training_command_has_log_option(command, capsys):
    assert main([*command, "--help"]) == 0
    assert re.search(r"--log \[none\|tensorboard\]", capsys.readouterr().out)
