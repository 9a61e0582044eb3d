"""The shared training loop: seeding, checkpoints, exact resume, NaN guard, progress, DDP."""

from .distributed import all_reduce_mean, is_distributed, resolve_device
from .trainer import Trainer, epoch_order, progress_enabled

__all__ = ["Trainer", "all_reduce_mean", "epoch_order", "is_distributed", "progress_enabled", "resolve_device"]
