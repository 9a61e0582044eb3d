"""Run under `torchrun --nproc_per_node 2`: fit every family named on the command line on a small table of unique
rows; every rank writes, per family, its parameters and a fingerprint of each training row it was handed in the
first epoch (so the test can check the ranks agree and that each saw only its own shard)."""

import hashlib
import json
import os
import sys

import numpy as np
import torch

from genmodels.io import save_tensors
from genmodels.models import FAMILIES

rng = np.random.default_rng(0)
X = (rng.random((256, 16)) < 0.4).astype(np.float32)
X[:, :8] = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float32)  # 256 distinct rows
y = (X[:, 8] > 0).astype(np.int64)

CASES = {  # family -> (hyperparameters, uses labels)
    "vae": ({"hidden_dims": (16,), "latent_dim": 2, "batch_size": 16}, False),
    "gan": ({"hidden_dims": (16, 16), "latent_dim": 4, "batch_size": 16, "conditional": True}, True),
    "rbm": ({"n_hidden": 8, "persistent": True, "momentum": 0.5, "batch_size": 16}, False),
    "dbn": ({"layers": (8, 4), "pretrain_epochs": 1, "batch_size": 16}, True),
}


def fingerprint(row) -> str:
    return hashlib.sha1(np.ascontiguousarray(row.cpu().numpy()).tobytes()).hexdigest()


out, rank = sys.argv[1], os.environ["RANK"]
for family in sys.argv[2:]:
    params, labelled = CASES[family]
    model = FAMILIES[family](**params, epochs=2, verbose=0, device="cpu", seed=3)
    seen: list[str] = []
    step = model._training_step

    def recording_step(batch, info, step=step, seen=seen):
        if info.epoch == 0:
            seen.extend(fingerprint(r) for r in batch[0].flatten(1))
        return step(batch, info)

    model._training_step = recording_step
    model.fit(X, y if labelled else None, run_dir=os.path.join(out, family))
    # parameters (not batch-norm running statistics, which each rank keeps from its own batches)
    save_tensors(os.path.join(out, f"{family}.rank{rank}.safetensors"),
                 {k: v.detach().contiguous() for k, v in model.module_.named_parameters()})
    with open(os.path.join(out, f"{family}.rank{rank}.json"), "w") as f:
        json.dump({"seen": seen, "all": [fingerprint(r) for r in torch.as_tensor(X)]}, f)
