"""Every array family under `torchrun --nproc_per_node 2` (gloo on CPU): the ranks end with identical parameters,
and each rank trained on its own half of the rows (the one update path averages the gradients, or the CD
statistics, across ranks). The text families (bucketed epoch order) are tested below; the tabular and ratings
families have their own torchrun tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from genmodels.io import load_tensors

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("vae", "gan", "rbm", "dbn")


def test_every_array_family_trains_under_torchrun_with_identical_ranks_and_disjoint_shards(tmp_path):
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests/scripts/ddp_families.py"), str(tmp_path), *FAMILIES]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"})
    assert result.returncode == 0, result.stderr[-3000:]
    for family in FAMILIES:
        r0, r1 = (load_tensors(tmp_path / f"{family}.rank{r}.safetensors") for r in (0, 1))
        assert r0.keys() == r1.keys() and r0, family
        for name in r0:
            assert torch.equal(r0[name], r1[name]), f"{family}: {name} differs between the ranks"
        seen0, seen1 = (json.loads((tmp_path / f"{family}.rank{r}.json").read_text()) for r in (0, 1))
        rows = set(seen0["all"])
        assert len(rows) == 256
        assert not set(seen0["seen"]) & set(seen1["seen"]), f"{family}: the ranks shared rows"
        assert set(seen0["seen"]) | set(seen1["seen"]) == rows, f"{family}: some rows were never trained on"
        assert len(seen0["seen"]) == len(seen1["seen"]) == 128
        state = json.loads((tmp_path / family / "state.json").read_text())
        assert state["world_size"] == 2 and state["finished"]


TEXT = ("textvae", "textlm")


def test_the_text_families_train_under_torchrun_with_identical_ranks_and_disjoint_bucketed_shards(tmp_path):
    """The sentence families deal their own epoch order (batches bucketed by length, TextModel._epoch_order):
    under 2 ranks each step's bucket is split between them, so the shards are disjoint, cover every sentence,
    and a rank's batch is as short-spread as the bucket."""
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests/scripts/ddp_text.py"), str(tmp_path), *TEXT]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "CI": "true"})
    assert result.returncode == 0, result.stderr[-3000:]
    for family in TEXT:
        r0, r1 = (load_tensors(tmp_path / f"{family}.rank{r}.safetensors") for r in (0, 1))
        assert r0.keys() == r1.keys() and r0, family
        for name in r0:
            assert torch.equal(r0[name], r1[name]), f"{family}: {name} differs between the ranks"
        seen0, seen1 = (json.loads((tmp_path / f"{family}.rank{r}.json").read_text()) for r in (0, 1))
        sentences = set(seen0["all"])
        assert len(sentences) == 100
        for epoch in ("0", "1"):
            b0, b1 = seen0["batches"][epoch], seen1["batches"][epoch]
            assert len(b0) == len(b1) == 7  # 50 sentences a rank, batches of 8
            s0, s1 = [s for b in b0 for s in b], [s for b in b1 for s in b]
            assert len(s0) == len(set(s0)) == len(s1) == len(set(s1)) == 50, f"{family}: a rank saw a repeat"
            assert not set(s0) & set(s1), f"{family}: the ranks shared sentences in epoch {epoch}"
            assert set(s0) | set(s1) == sentences, f"{family}: some sentences were never trained on"
            # bucketed: the two ranks' batches of a step come from one length-sorted bucket of 16 sentences
            for x, y in zip(b0, b1, strict=True):
                lengths = [len(s.split()) for s in x + y]
                assert max(lengths) - min(lengths) <= 2, f"{family}: a step's batches were not bucketed"
        assert seen0["batches"]["0"] != seen0["batches"]["1"]  # a fresh order each epoch
        state = json.loads((tmp_path / family / "state.json").read_text())
        assert state["world_size"] == 2 and state["finished"]
