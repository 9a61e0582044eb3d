"""Run under `torchrun --nproc_per_node 2`: fit a conditional GAN with gradients averaged across ranks, then
every rank writes its own parameters."""

import os
import sys

from genmodels import GAN, load_dataset
from genmodels.io import save_tensors

out = sys.argv[1]
train = load_dataset("digits", "train")
model = GAN(conditional=True, hidden_dims=(32, 32), latent_dim=8, epochs=2, batch_size=32, verbose=0, device="cpu")
model.fit(train, run_dir=os.path.join(out, "run"))
# parameters (not batch-norm running statistics, which each rank keeps from its own batches)
save_tensors(os.path.join(out, f"rank{os.environ['RANK']}.safetensors"), dict(model.module_.named_parameters()))
