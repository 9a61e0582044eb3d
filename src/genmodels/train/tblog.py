"""Live training logs: `fit(..., logger="tensorboard")` mirrors every metrics.jsonl line into RUN/tb/ (TensorBoard
event files), with the learning rates, seconds per step, samples per second and the sample grids beside them.

metrics.jsonl stays the source of truth (the report, resume and the tests read it); the event files are a view of
it for people who watch training live (`tensorboard --logdir RUN/tb`). Tags: `train/<key>` for the lines logged
every `log_every` steps, `epoch/<key>` for the epoch means, `stop/<key>` for a time-budget stop, `lr/<n>`,
`speed/seconds_per_step`, `speed/samples_per_s` and the image `samples`; the x axis is the global step.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

LOGGERS = ("none", "tensorboard")
TB_FOLDER = "tb"
_NOT_SCALARS = ("step", "kind", "reason", "epoch")


def check_logger(logger: str | None, run_dir: Path | None) -> str | None:
    """The logger's name, or None for none; a one-line DataError for an unknown name, a missing run folder or a
    missing package (checked before anything is written)."""
    if logger is None or logger == "none":
        return None
    if logger not in LOGGERS:
        raise DataError(f"logger must be one of {', '.join(LOGGERS)} (or None), got {logger!r}")
    if run_dir is None:
        raise DataError(f"logger={logger!r} writes to RUN/{TB_FOLDER}/: give the run folder (run_dir; --out, or --save-model for synth)")
    if importlib.util.find_spec("tensorboard") is None:
        raise DataError("logger='tensorboard' needs the tensorboard package: pip install 'genmodels[log]' "
                        "(or pip install tensorboard)")
    return logger


class TensorBoardLog:
    """One SummaryWriter on RUN/tb/. On resume, `purge_step` makes TensorBoard drop the events that the
    resumed run writes again (those after the checkpoint), as the Trainer does for metrics.jsonl."""

    def __init__(self, run_dir: Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / TB_FOLDER), purge_step=purge_step)

    def record(self, record: dict[str, Any]) -> None:
        """One metrics.jsonl line: every numeric value under the line's kind."""
        prefix = {"epoch": "epoch", "stop": "stop"}.get(record.get("kind", ""), "train")
        step = int(record["step"])
        for key, value in record.items():
            if key not in _NOT_SCALARS and isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}/{key}", float(value), step)

    def speed(self, step: int, seconds_per_step: float, samples_per_s: float, lrs: dict[str, float]) -> None:
        self.writer.add_scalar("speed/seconds_per_step", seconds_per_step, step)
        self.writer.add_scalar("speed/samples_per_s", samples_per_s, step)
        for name, lr in lrs.items():
            self.writer.add_scalar(f"lr/{name}", lr, step)

    def images(self, images: np.ndarray, step: int) -> None:
        """A sample grid (N, C, H, W) in [0, 1], drawn as the run folder's samples/epoch_*.png."""
        from ..report.plots import image_grid

        grid = np.asarray(image_grid(images))
        self.writer.add_image("samples", grid if grid.ndim == 3 else grid[..., None], step, dataformats="HWC")

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def learning_rates(model, optimizers) -> dict[str, float]:
    """The current learning rate of each optimizer's first parameter group (`lr/0`, `lr/1`, ...); a family
    that updates without an optimizer (contrastive divergence) reports its `lr` hyperparameter."""
    if optimizers:
        return {str(i): float(opt.param_groups[0]["lr"]) for i, opt in enumerate(optimizers) if opt.param_groups}
    lr = getattr(model, "lr", None)
    return {"0": float(lr)} if isinstance(lr, int | float) else {}


__all__ = ["LOGGERS", "TB_FOLDER", "TensorBoardLog", "check_logger", "learning_rates"]
