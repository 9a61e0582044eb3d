"""The shared training loop: seeding, checkpoints, exact resume, NaN guard, progress, DDP."""

from .distributed import all_reduce_mean, is_distributed, resolve_device
from .trainer import StepInfo, Trainer, check_run_folder, epoch_order, holds_run, progress_enabled

__all__ = ["StepInfo", "Trainer", "all_reduce_mean", "check_run_folder", "epoch_order", "holds_run", "is_distributed", "progress_enabled", "resolve_device"]
