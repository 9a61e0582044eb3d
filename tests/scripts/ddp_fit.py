"""Run under `torchrun --nproc_per_node 2`: fit a VAE with DDP, then every rank writes its own weights."""

import os
import sys

from genmodels import VAE, load_dataset
from genmodels.io import save_tensors

out = sys.argv[1]
train = load_dataset("digits", "train", binarize="threshold")
model = VAE(hidden_dims=(64,), latent_dim=4, epochs=2, batch_size=32, verbose=0, device="cpu")
model.fit(train, run_dir=os.path.join(out, "run"))
save_tensors(os.path.join(out, f"rank{os.environ['RANK']}.safetensors"), model.module_.state_dict())
