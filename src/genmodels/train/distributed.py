"""Device choice and DDP set-up. Under `torchrun` (WORLD_SIZE > 1) training joins a process group:
gloo on CPU, nccl on GPU; rank 0 alone writes files."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..errors import DataError


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' picks CUDA when present (this process's local rank under torchrun), else CPU."""
    name = str(device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DataError(f"device={device!r} but no CUDA GPU is available; use device='cpu' or 'auto'")
        if name == "cuda":
            name = f"cuda:{local_rank % torch.cuda.device_count()}"
    elif name not in ("cpu", "mps"):
        raise DataError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return torch.device(name)


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the torchrun process group once; returns (rank, world_size), (0, 1) when not distributed."""
    if not launched_by_torchrun():
        return 0, 1
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_mean(tensors: list[torch.Tensor]) -> None:
    """In-place mean across ranks (for updates computed without autograd, e.g. RBM contrastive divergence)."""
    if not is_distributed():
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for t in tensors:
        t.copy_(flat[offset: offset + t.numel()].view_as(t))
        offset += t.numel()
