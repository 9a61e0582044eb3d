"""Run under `torchrun --nproc_per_node 2`: fit the tabular GAN and VAE on a 400-row mixed table with gradients
averaged across ranks; every rank writes its parameters and the table rows it could draw / was handed, and
the one-line error a DP fit gives under torchrun."""

import json
import os
import sys

import numpy as np
import pandas as pd

from genmodels import DataError, TabularSynthesizer
from genmodels.io import save_tensors

out = sys.argv[1]
rank = os.environ["RANK"]
rng = np.random.default_rng(0)
n = 400
table = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n),
                      "k": rng.choice(["u", "v"], n, p=[0.8, 0.2]), "y": rng.gamma(2.0, 3.0, n)})
small = dict(epochs=2, batch_size=50, embedding_dim=16, generator_dim=(32, 32), discriminator_dim=(32, 32),
             compress_dims=(32,), decompress_dims=(32,), seed=0, verbose=0, device="cpu")
record: dict = {}

# the GAN: the rows its training-by-sampling can draw, and those it drew, as indices of the table
gan = TabularSynthesizer(model="gan", **small)
drawn: set[int] = set()
step = gan._gan_training_step


def gan_step(batch, info):
    sampler = gan._sampler
    if info.step == 0:
        record["gan_can_draw"] = sorted({int(i) for i in gan._shard[sampler.rows.cpu().numpy()]})
        real_rows = sampler.real_rows

        def traced(col, opt):
            local = real_rows(col, opt)
            drawn.update(int(i) for i in gan._shard[local.cpu().numpy()])
            return local

        sampler.real_rows = traced
    return step(batch, info)


gan._gan_training_step = gan_step
gan.fit(table, run_dir=os.path.join(out, "gan"))
record["gan_drew"] = sorted(drawn)
# parameters (not batch-norm running statistics, which each rank keeps from its own batches)
save_tensors(os.path.join(out, f"gan_rank{rank}.safetensors"), dict(gan.module_.named_parameters()))

# the VAE: the rows of each epoch's batches, found by their encoded bytes (every encoded row is distinct)
vae = TabularSynthesizer(model="vae", **small)
seen: dict[int, set[int]] = {}
vae_step = vae._vae_training_step


def traced_vae_step(batch, info):
    if info.step == 0:
        encoded = vae.encoder_.transform(table)
        vae._row_of = {encoded[i].tobytes(): i for i in range(len(encoded))}
    rows = batch[0].cpu().numpy()
    seen.setdefault(info.epoch, set()).update(vae._row_of[r.tobytes()] for r in rows)
    return vae_step(batch, info)


vae._vae_training_step = traced_vae_step
vae.fit(table, run_dir=os.path.join(out, "vae"))
record["vae_seen"] = {str(e): sorted(s) for e, s in seen.items()}
save_tensors(os.path.join(out, f"vae_rank{rank}.safetensors"), dict(vae.module_.named_parameters()))

try:
    TabularSynthesizer(model="vae", epsilon=1.0, **small).fit(table)
    record["dp_error"] = None
except DataError as e:
    record["dp_error"] = str(e)
with open(os.path.join(out, f"rows_rank{rank}.json"), "w") as f:
    json.dump(record, f)
