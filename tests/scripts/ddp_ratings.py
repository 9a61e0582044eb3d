"""Run under `torchrun --nproc_per_node 2`: fit a RatingsRBM on a small ratings table; every rank writes its
final parameters, the rows of each batch it trained on, and its first CD update before and after the ranks'
average (tests/test_rbm_cf.py checks them)."""

import json
import os
import sys

import numpy as np
import pandas as pd
import torch

from genmodels import RatingsRBM
from genmodels.io import save_tensors

out, rank = sys.argv[1], int(os.environ["RANK"])
rng = np.random.default_rng(0)
u, i = np.nonzero(rng.random((90, 40)) < 0.4)  # 90 users (45 per rank), 40 items
table = pd.DataFrame({"user": u + 1, "item": i + 1, "rating": rng.integers(1, 6, len(u)).astype(float)})
model = RatingsRBM(n_hidden=8, cd_k=(1, 3), epochs=4, batch_size=8, average_last=0.5, momentum=0.5, seed=5,
                   verbose=0, device="cpu")
seen: dict[int, list[torch.Tensor]] = {}
first: dict[str, torch.Tensor] = {}
train_step, average = model._training_step, model._average_ranks


def recording_step(batch, info):
    seen.setdefault(info.epoch, []).append(batch[0].clone())
    return train_step(batch, info)


def recording_average(tensors):
    if not first:
        first.update({f"before.{k}": t.clone() for k, t in enumerate(tensors)})
        average(tensors)
        first.update({f"after.{k}": t.clone() for k, t in enumerate(tensors)})
    else:
        average(tensors)


model._training_step, model._average_ranks = recording_step, recording_average
model.fit(table, run_dir=os.path.join(out, "run"))
tensors = {f"param.{k}": v.detach() for k, v in model.module_.state_dict().items()}
tensors.update({f"seen.{e}": torch.cat(rows) for e, rows in seen.items()}, **first)
tensors["rows"] = torch.from_numpy(model.train_matrix_)
save_tensors(os.path.join(out, f"rank{rank}.safetensors"), tensors)
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump({"cd_k": [h["cd_k"] for h in model.history_], "steps": model.history_[-1]["step"]}, f)
