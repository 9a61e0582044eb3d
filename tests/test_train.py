"""The shared training loop: exact resume after kill -9, the NaN guard, DDP with two processes, run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from genmodels import VAE, DataError, TrainingDiverged
from genmodels.io import load_tensors, load_tensors_with_metadata

FAST = {"hidden_dims": (64,), "latent_dim": 4, "batch_size": 32, "verbose": 0}
ROOT = Path(__file__).resolve().parents[1]


def _train_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "genmodels", "train", "vae", "--data", "digits", "--binarize", "threshold",
            "--out", str(out), "--epochs", "12", "--checkpoint-every", "100", "-q",
            "-p", "hidden_dims=[256, 256]", "-p", "latent_dim=8", "--batch-size", "16", *extra]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_tensors(run / "model.safetensors")


def test_kill_9_then_resume_equals_uninterrupted_run(tmp_path):
    env = {**os.environ, "CI": "true"}
    full, killed = tmp_path / "full", tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (killed / "checkpoint.safetensors").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be killed"
    # the checkpoint's own metadata, the record resume reads (the kill may land before its state.json copy)
    state = json.loads(load_tensors_with_metadata(killed / "checkpoint.safetensors")[1]["state"])
    assert not state["finished"] and state["step"] < 12 * 90
    assert not (killed / "model.safetensors").exists()

    subprocess.run(_train_cmd(killed, "--resume"), env=env, check=True, capture_output=True)
    subprocess.run(_train_cmd(full), env=env, check=True, capture_output=True)
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # the log has one line per step logged, no duplicates from the replayed part
    steps = [json.loads(ln)["step"] for ln in (killed / "metrics.jsonl").read_text().splitlines()
             if "kind" not in json.loads(ln)]
    assert len(steps) == len(set(steps))


class ExplodingVAE(VAE):
    """A VAE whose weights turn NaN at step 30: the loop must stop, keep and load the last good checkpoint."""

    def _training_step(self, batch, info):
        stats = super()._training_step(batch, info)
        if info.step == 30:
            with torch.no_grad():
                self.module_.mean.weight.fill_(float("nan"))
        return stats


def test_nan_guard_stops_and_keeps_last_good_checkpoint(digits_binary, tmp_path):
    train, _ = digits_binary
    model = ExplodingVAE(epochs=5, checkpoint_every=20, **FAST)
    with pytest.raises(TrainingDiverged, match=r"NaN/inf at epoch 1, step \d+; the last good checkpoint \(step 20\)"):
        model.fit(train, run_dir=tmp_path)
    assert all(torch.isfinite(p).all() for p in model.module_.parameters())
    kept = load_tensors(tmp_path / "checkpoint.safetensors")
    assert torch.equal(kept["model.mean.weight"], model.module_.mean.weight)
    assert "non-finite" in json.loads((tmp_path / "stopped.json").read_text())["reason"]


def test_nan_guard_without_run_folder_rolls_back(digits_binary):
    train, _ = digits_binary
    model = ExplodingVAE(epochs=5, **FAST)
    with pytest.raises(TrainingDiverged, match="rolled back"):
        model.fit(train)
    assert all(torch.isfinite(p).all() for p in model.module_.parameters())


def test_run_folder_contents(digits_binary, tmp_path):
    train, _ = digits_binary
    VAE(epochs=2, sample_every=1, **FAST).fit(train, run_dir=tmp_path)
    for name in ("config.json", "checkpoint.safetensors", "state.json", "metrics.jsonl",
                 "samples/epoch_0001.png", "samples/epoch_0002.png"):
        assert (tmp_path / name).exists(), name
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["family"] == "vae" and config["params"]["epochs"] == 2 and config["fitted"]["data_shape"] == [1, 8, 8]
    epochs = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r.get("kind") == "epoch"] == [1, 2]


def test_bf16_autocast_trains_to_the_fp32_loss_and_keeps_fp32_weights(digits_binary):
    """precision="bf16" runs the forward passes under autocast in the one update path (what a GPU run uses); the
    weights and optimizer stay float32 and the final loss lands near the fp32 run's."""
    from genmodels import GAN

    train, _ = digits_binary
    fp32 = VAE(epochs=4, **FAST).fit(train)
    dtypes = set()
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, out: dtypes.add(out.dtype) if isinstance(module, torch.nn.Linear) else None)
    try:
        bf16 = VAE(epochs=4, precision="bf16", **FAST).fit(train)
    finally:
        hook.remove()
    assert dtypes == {torch.bfloat16}  # every linear layer of the training steps ran in bf16
    assert all(p.dtype == torch.float32 for p in bf16.module_.parameters())
    a, b = fp32.history_[-1]["loss"], bf16.history_[-1]["loss"]
    assert abs(a - b) / a < 0.03, (a, b)
    gan = GAN(epochs=2, precision="bf16", hidden_dims=(32, 32), latent_dim=4, batch_size=32, verbose=0).fit(train)
    assert np.isfinite(gan.sample(8, seed=0)).all()
    with pytest.raises(DataError, match="fp16"):
        VAE(epochs=1, precision="fp16", device="cpu", **FAST).fit(train)
