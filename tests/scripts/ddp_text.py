"""Run under `torchrun --nproc_per_node 2`: fit the sentence families named on the command line on 100 distinct
sentences of 1 to 12 words (the length-bucketed epoch order of TextModel._epoch_order, not the Trainer's);
every rank writes, per family, its parameters and the sentences of each batch it was handed in the first two
epochs (so the test can check the ranks agree, each saw only its own shard, and the batches stayed bucketed)."""

import json
import os
import sys

from genmodels.io import save_tensors
from genmodels.models import FAMILIES

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "in", "mat", "park", "sun", "old"]
SENTENCES = [" ".join([f"s{i}", *(WORDS[(i * 7 + j) % len(WORDS)] for j in range(i % 12))]) for i in range(100)]

CASES = {  # family -> hyperparameters (word dropout and free bits on: every term of the VAE loss runs)
    "textvae": {"latent_dim": 4, "word_dropout": 0.25, "free_bits": 0.1, "kl_steps": 5},
    "textlm": {"dropout": 0.1},
}

out, rank = sys.argv[1], os.environ["RANK"]
for family in sys.argv[2:]:
    model = FAMILIES[family](**CASES[family], embed_dim=8, hidden_dim=16, batch_size=8, epochs=2, verbose=0,
                             device="cpu", seed=3)
    seen: dict[str, list[list[str]]] = {}
    step = model._training_step

    def recording_step(batch, info, step=step, seen=seen, model=model):
        seen.setdefault(str(info.epoch), []).append([model.vocab_.decode(row.tolist()) for row in batch[0]])
        return step(batch, info)

    model._training_step = recording_step
    model.fit(SENTENCES, run_dir=os.path.join(out, family))
    save_tensors(os.path.join(out, f"{family}.rank{rank}.safetensors"),
                 {k: v.detach().contiguous() for k, v in model.module_.named_parameters()})
    with open(os.path.join(out, f"{family}.rank{rank}.json"), "w") as f:
        json.dump({"batches": seen, "all": SENTENCES}, f)
