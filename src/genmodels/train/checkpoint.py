"""Checkpoints: weights, optimizer state, RNG state and the loop's state in ONE file, checkpoint.safetensors
(the loop state as JSON in its metadata), so a kill at any moment leaves a consistent checkpoint; state.json
is a readable copy. Optimizer state dicts are split into tensors and plain values: nothing is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from ..io import load_state_dict_checked, load_tensors_with_metadata, save_tensors, write_json

CHECKPOINT = "checkpoint.safetensors"
STATE = "state.json"


def optimizer_to_flat(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, entries in sd["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor],
                        meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            pid, key = name[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(pid), {})[key] = value
    for pid, entries in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entries)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(run_dir: Path, module: torch.nn.Module, optimizers: list[torch.optim.Optimizer],
                    extra: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    tensors = {f"model.{k}": v for k, v in module.state_dict().items()}
    tensors.update({f"extra.{k}": v for k, v in extra.items()})
    optim_meta = []
    for i, opt in enumerate(optimizers):
        t, meta = optimizer_to_flat(opt, f"optim{i}")
        tensors.update(t)
        optim_meta.append(meta)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda{i}"] = s
    state = {**state, "optimizers": optim_meta}
    save_tensors(run_dir / CHECKPOINT, tensors, metadata={"state": json.dumps(state)})
    write_json(run_dir / STATE, state)


def checkpoint_finished(run_dir: Path) -> bool:
    """Whether the checkpoint in run_dir records a finished run (read from its metadata, not the tensors)."""
    from safetensors import safe_open

    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            return bool(json.loads((f.metadata() or {}).get("state", "{}")).get("finished"))
    except (OSError, ValueError):
        return False


def load_checkpoint(run_dir: Path, module: torch.nn.Module, optimizers: list[torch.optim.Optimizer]
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore weights, optimizer state and RNG state; returns (state.json, extra tensors)."""
    source = str(run_dir / CHECKPOINT)
    tensors, metadata = load_tensors_with_metadata(run_dir / CHECKPOINT)
    try:
        state = json.loads(metadata["state"])
    except (KeyError, json.JSONDecodeError):
        raise DataError(f"{source}: not a genmodels checkpoint (no training state inside)") from None
    load_state_dict_checked(module, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, source)
    metas = state.get("optimizers", [])
    if len(metas) != len(optimizers):
        raise DataError(f"{source}: holds {len(metas)} optimizer(s), the model has {len(optimizers)}")
    try:
        for i, (opt, meta) in enumerate(zip(optimizers, metas, strict=True)):
            optimizer_from_flat(opt, f"optim{i}", tensors, meta)
    except (KeyError, ValueError, RuntimeError) as e:
        raise DataError(f"{source}: optimizer state does not match the model ({e})") from None
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return state, extra
