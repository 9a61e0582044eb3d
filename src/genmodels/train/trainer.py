"""The one training loop every family runs on.

A model supplies `_build(data)`, `_optimizers()` and `_training_step(batch, info) -> dict` (its updates go
through the model's one update path, `_update`, or for CD families its own update without autograd, averaged
across ranks by `_average_ranks`); the loop does everything else: seeding, device, data order, epochs, progress
bar, metrics.jsonl, checkpoints, exact resume, the NaN guard, autocast and the torchrun process group.

Exact resume rests on three things saved in each checkpoint: weights + optimizer state, the torch RNG state,
and the position (epoch, step in epoch). The data order of an epoch is a function of (seed, epoch) alone, so a
resumed run replays the same batches in the same order with the same random numbers.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from ..errors import DataError, TrainingDiverged
from ..io import write_json, write_text
from ..progress import Phase, progress_enabled, rate
from ..report.plots import save_image_grid
from .checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from .distributed import init_distributed, launched_by_torchrun, resolve_device
from .tblog import TensorBoardLog, check_logger, learning_rates

if TYPE_CHECKING:
    from ..data import Dataset

METRICS = "metrics.jsonl"
RUN_FILES = ("config.json", CHECKPOINT, "model.safetensors", METRICS)  # any of them: the folder holds a run


class StepInfo(NamedTuple):
    """Where a training step stands in the loop, handed to every `_training_step` (a tuple: one is made per
    step, and at small batches a step is ~100 µs)."""

    step: int  # global step index (0-based) of this update
    epoch: int  # 0-based
    step_in_epoch: int
    steps_per_epoch: int
    total_steps: int  # epochs x steps_per_epoch: the upper bound (a time budget may stop earlier)
    world_size: int = 1
    rank: int = 0

    @property
    def progress(self) -> float:
        """step / total_steps in [0, 1]: for schedules that are a function of the step (exact on resume)."""
        return min(1.0, self.step / max(1, self.total_steps))


def is_positive_number(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        return False


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The data order of one epoch, a pure function of (seed, epoch): what makes mid-epoch resume exact."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


class Trainer:
    """Runs `model` on `data`; writes the run folder when `run_dir` is given (rank 0 only)."""

    def __init__(self, model, run_dir: str | os.PathLike | None = None, resume: bool = False,
                 log_every: int = 50, continue_training: bool = False, epochs: int | None = None,
                 time_budget: float | None = None, overwrite: bool = False, logger: str | None = None):
        """`continue_training=True` (partial_fit) runs one more epoch on an already fitted model; `epochs`
        overrides the model's own. `time_budget` (seconds of this call, building included): training stops
        at the first step boundary after it is spent (epochs stay the upper bound), writes a checkpoint that
        `resume=True` continues from, and sets `model.budget_exhausted_`; at least one step always runs.
        A `run_dir` that already holds a run is refused unless `resume` or `overwrite` (nothing is written).
        `logger="tensorboard"` also writes the metrics, learning rates, speed and sample grids to RUN/tb/
        (train/tblog.py); metrics.jsonl stays the record."""
        if time_budget is not None and not is_positive_number(time_budget):
            raise DataError(f"time_budget must be a positive number of seconds (or None), got {time_budget!r}")
        self.model = model
        self.epochs = epochs
        self.time_budget = None if time_budget is None else float(time_budget)
        self.continue_training = continue_training
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.resume = resume
        self.log_every = log_every
        if resume and self.run_dir is None:
            raise DataError("resume=True needs the run folder (run_dir) to resume from")
        self.overwrite = overwrite
        self.logger = check_logger(logger, self.run_dir)
        self.tb: TensorBoardLog | None = None
        if not launched_by_torchrun():  # under torchrun every rank checks in run(), before rank 0 writes
            self._refuse_existing_run()

    # --- helpers -------------------------------------------------------------------------------------------
    def _refuse_existing_run(self) -> None:
        check_run_folder(self.run_dir, self.resume, self.overwrite)

    def _say(self, msg: str) -> None:
        if self.model.verbose and self.rank == 0:
            print(f"genmodels: {msg}", file=sys.stderr, flush=True)

    def _writes(self) -> bool:
        return self.run_dir is not None and self.rank == 0

    def _log(self, record: dict[str, Any]) -> None:
        if self._writes():
            with open(self.run_dir / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            if self.tb is not None:
                self.tb.record(record)

    def _checkpoint(self, state: dict[str, Any]) -> None:
        if self._writes():
            state = {**state, "sums": {k: float(v) for k, v in state["sums"].items()},
                     "counters": self.model._counters()}
            save_checkpoint(self.run_dir, self.model.module_, self.optimizers, self.model._extra_state(), state)

    # --- the loop ------------------------------------------------------------------------------------------
    def run(self, data: Dataset) -> None:
        model = self.model
        self._started = time.perf_counter()  # the time budget counts from here
        device = resolve_device(model.device)
        self.rank, self.world = init_distributed(device)
        if self.world > 1:  # all ranks look before any writes, so they agree
            refused = None
            try:
                self._refuse_existing_run()
            except DataError as e:
                refused = e
            torch.distributed.barrier()
            if refused is not None:
                raise refused
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # training never disturbs the caller's global RNG
            if self.continue_training and hasattr(model, "module_"):  # partial_fit: keep weights and optimizers
                done = getattr(model, "n_partial_fits_", 1)
                torch.manual_seed(int(model.seed) + done)
                self.optimizers = model.optimizers_
                state = self._start_state()
                state["epoch"] = done  # so each call sees a fresh data order, epoch_order(seed, done)
                self._loop(data, model.device_, state, epochs=done + 1)
                model.n_partial_fits_ = done + 1
                return
            torch.manual_seed(int(model.seed))
            model.device_ = device
            model._build(data)
            model.module_.to(device)
            self.optimizers = model.optimizers_ = model._optimizers()
            state = self._start_state()
            if self.resume and (self.run_dir / CHECKPOINT).exists():
                state, extra = load_checkpoint(self.run_dir, model.module_, self.optimizers)
                model._load_extra_state(extra)
                model._restore_counters(state.get("counters", {}))
                self._truncate_metrics(state["step"])
                self._say(f"resuming {self.run_dir} at epoch {state['epoch']} step {state['step']}")
            elif self._writes():
                self.run_dir.mkdir(parents=True, exist_ok=True)
                for stale in ("stopped.json", "state.json", CHECKPOINT):  # overwrite=True: a fresh run
                    (self.run_dir / stale).unlink(missing_ok=True)
                write_text(self.run_dir / METRICS, "")
            if self._writes():
                model._write_config(self.run_dir, data)
            self._loop(data, device, state, self.epochs)

    def _start_state(self) -> dict[str, Any]:
        return {"epoch": 0, "step": 0, "step_in_epoch": 0, "sums": {}, "history": [], "train_seconds": 0.0,
                "seed": int(self.model.seed), "world_size": self.world, "finished": False}

    def _truncate_metrics(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from, so the log has no duplicates."""
        path = self.run_dir / METRICS
        if self._writes() and path.exists():
            keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= step]
            write_text(path, "".join(ln + "\n" for ln in keep))

    def _loop(self, data: Dataset, device: torch.device, state: dict[str, Any], epochs: int | None = None) -> None:
        model = self.model
        epochs, batch_size = int(epochs or model.epochs), int(model.batch_size)
        X = torch.as_tensor(data.X, device=device)
        y = torch.as_tensor(data.y, device=device) if data.y is not None else None
        per_rank = len(X) // self.world
        steps_per_epoch = max(1, math.ceil(per_rank / batch_size)) if per_rank else 0
        if steps_per_epoch == 0 or per_rank == 0:
            raise DataError(f"{len(X)} samples cannot be shared by {self.world} processes")
        if state["step"] == 0 and not self.continue_training:
            threads = f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else ""
            dist = f", {self.world} processes" if self.world > 1 else ""
            self._say(f"training {type(model).__name__} on {device}{threads}{dist}: {len(X)} samples, "
                      f"{steps_per_epoch} steps/epoch, {epochs} epochs")
        total = epochs * steps_per_epoch
        if self.logger is not None and self._writes():
            self.tb = TensorBoardLog(self.run_dir, purge_step=state["step"] or None)
        bar = self._bar(state, epochs, steps_per_epoch, per_rank, batch_size)
        speed = {"step": state["step"], "time": time.perf_counter()}
        self._loop_started = speed["time"]
        last_good = copy.deepcopy(model.module_.state_dict())
        ckpt_every = int(model.checkpoint_every or 0)
        started = time.perf_counter() - state["train_seconds"]
        module = model.module_
        module.train()
        autocast = model._autocast()
        stop: dict[str, Any] | None = None
        first_step = state["step"]
        try:
            for epoch in range(state["epoch"], epochs):
                order_of = getattr(model, "_epoch_order", None)  # e.g. text: batches bucketed by length
                order = (order_of(epoch, len(X), self.world) if order_of is not None
                         else epoch_order(model.seed, epoch, len(X)))
                order = order[self.rank: per_rank * self.world: self.world].to(device)
                sums: dict[str, Any] = state["sums"]
                for b in range(state["step_in_epoch"], steps_per_epoch):
                    if state["step"] > first_step and self._budget_spent():
                        stop = self._stop_for_budget(state, epoch, steps_per_epoch, epochs, started, last_good)
                        break
                    idx = order[b * batch_size: (b + 1) * batch_size]
                    xb = X.index_select(0, idx)  # half the cost of X[idx] (advanced indexing) on CPU
                    batch = (xb,) if y is None else (xb, y.index_select(0, idx))
                    info = StepInfo(state["step"], epoch, b, steps_per_epoch, total, self.world, self.rank)
                    if autocast is None:
                        stats = model._training_step(batch, info)
                    else:
                        with autocast:
                            stats = model._training_step(batch, info)
                    for k, v in stats.items():
                        sums[k] = sums.get(k, 0.0) + v
                    state["step"] += 1
                    state["step_in_epoch"] = b + 1
                    if state["step"] % self.log_every == 0 or b + 1 == steps_per_epoch:
                        means = self._check_finite(sums, state, last_good, weights=False)
                        self._log({"step": state["step"], "epoch": epoch + (b + 1) / steps_per_epoch, **means})
                        self._speed(speed, state["step"], len(idx) * self.world)
                        bar.postfix({k: f"{v:.4g}" for k, v in list(means.items())[:3]})
                    if self.time_budget is not None:
                        bar.advance_to(time.perf_counter() - self._started)
                    else:
                        bar.update(len(idx))
                    if ckpt_every and state["step"] % ckpt_every == 0 and b + 1 < steps_per_epoch:
                        self._check_finite(sums, state, last_good)
                        state["train_seconds"] = time.perf_counter() - started
                        self._checkpoint(state)
                if stop is not None:
                    break
                means = self._check_finite(sums, state, last_good)
                means.update(model._on_epoch_end(epoch))
                state["train_seconds"] = time.perf_counter() - started
                record = {"epoch": epoch + 1, "step": state["step"], "seconds": round(state["train_seconds"], 3),
                          **means}
                state["history"].append(record)
                state.update(epoch=epoch + 1, step_in_epoch=0, sums={})
                self._log({**record, "kind": "epoch"})
                self._preview(epoch + 1, epochs, state["step"])
                module.train()  # sampling for the grid switched to eval mode (batch norm, dropout)
                state["finished"] = epoch + 1 == epochs
                self._checkpoint(state)
                last_good = copy.deepcopy(module.state_dict())
            if stop is not None and self.tb is not None:  # the budget cut the last preview: the grid of the stop
                self._tb_images(state["step"])
        finally:
            bar.close()  # the summary line follows below, once the run ended well
            if self.tb is not None:
                self.tb.close()
                self.tb = None
        module.eval()
        history = state["history"] + ([stop] if stop is not None else [])  # the stop record ends the history
        if self.rank == 0:
            bar.done(self._summary(state, first_step, steps_per_epoch, epochs, per_rank, stop))
        model.budget_exhausted_ = stop is not None
        model.stop_reason_ = stop["reason"] if stop is not None else None
        if self.continue_training:
            model.history_ = [*getattr(model, "history_", []), *history]
            model.train_seconds_ = getattr(model, "train_seconds_", 0.0) + state["train_seconds"]
        else:
            model.history_ = history
            model.train_seconds_ = state["train_seconds"]

    # --- progress and live logs ------------------------------------------------------------------------------
    def _bar(self, state: dict[str, Any], epochs: int, steps_per_epoch: int, per_rank: int, batch_size: int) -> Phase:
        """The phase's bar: seconds of the time budget when there is one (epochs are then only an upper bound),
        else the images (rows) of all epochs."""
        model = self.model
        label = getattr(model, "_progress_label", None) or type(model).__name__
        verbose = model.verbose if self.rank == 0 else 0
        self._unit = "img" if len(getattr(model, "data_shape_", ())) == 3 else "row"
        if self.time_budget is not None:
            return Phase(label, total=self.time_budget, verbose=verbose, seconds=True)
        done = state["epoch"] * per_rank + min(per_rank, state["step_in_epoch"] * batch_size)
        return Phase(label, total=epochs * per_rank, unit=self._unit, verbose=verbose, initial=done)

    def _speed(self, last: dict[str, float], step: int, rows_per_step: int) -> None:
        """Seconds per step and samples per second since the previous log line (and the learning rates) to the
        live log; `last` is updated in place."""
        now = time.perf_counter()
        steps, seconds = step - last["step"], now - last["time"]
        if self.tb is not None and steps > 0 and seconds > 0:
            self.tb.speed(step, seconds / steps, steps * rows_per_step / seconds,
                          learning_rates(self.model, self.optimizers))
        last.update(step=step, time=now)

    def _summary(self, state: dict[str, Any], first_step: int, steps_per_epoch: int, epochs: int, per_rank: int,
                 stop: dict[str, Any] | None) -> str:
        """The phase's summary line: steps, epochs and throughput, the first logged value, and why it stopped."""
        steps = state["step"] - first_step
        seconds = time.perf_counter() - self._loop_started  # the loop's own time (building excluded)
        rows = steps * min(int(self.model.batch_size), per_rank) * self.world
        last = (state["history"] or [{}])[-1] if stop is None else stop
        main = next(((k, v) for k, v in last.items() if k not in ("epoch", "step", "seconds", "kind", "reason")
                     and isinstance(v, float)), None)
        epoch = state["epoch"] + state["step_in_epoch"] / steps_per_epoch
        text = f"{steps} steps (epoch {epoch:.3g} of {epochs}, {rate(rows, seconds, self._unit)})"
        text += f", {main[0]} {main[1]:.4g}" if main else ""
        return text + ("; time budget spent" if stop is not None else "")

    def _tb_images(self, step: int) -> None:
        preview = getattr(self.model, "preview_images", None)
        images = preview(64) if preview is not None else None
        if images is not None and self.tb is not None:
            self.tb.images(images, step)
        self.model.module_.train()

    def _budget_spent(self) -> bool:
        return self.time_budget is not None and time.perf_counter() - self._started >= self.time_budget

    def _stop_for_budget(self, state: dict[str, Any], epoch: int, steps_per_epoch: int, epochs: int,
                         started: float, last_good) -> dict[str, Any]:
        """Checkpoint where we are (mid-epoch positions resume exactly; `finished` stays False) and return
        the stop record, which also goes to metrics.jsonl."""
        means = self._check_finite(state["sums"], state, last_good)
        state["train_seconds"] = time.perf_counter() - started
        self._checkpoint(state)
        reason = (f"time budget of {self.time_budget:g} s spent after {state['step']} steps "
                  f"(epoch {epoch + 1} of {epochs})")
        record = {"epoch": round(epoch + state["step_in_epoch"] / steps_per_epoch, 4), "step": state["step"],
                  "seconds": round(state["train_seconds"], 3), **means, "kind": "stop", "reason": reason}
        self._log(record)
        self._say(f"stopped: {reason}; resume=True continues")
        return record

    def _check_finite(self, sums: dict[str, Any], state: dict[str, Any], last_good,
                      weights: bool = True) -> dict[str, float]:
        """Epoch-mean of each logged value; a NaN/inf (or, with `weights`, a non-finite weight) stops training,
        rolled back. The weights are checked before each checkpoint only: the check costs ~5 ms for 1M
        parameters, 2% of training time if made at every log line, and a NaN weight shows in the loss anyway."""
        n = max(1, state["step_in_epoch"])
        means = {k: float(v) / n for k, v in sums.items()}
        bad = [k for k, v in means.items() if not math.isfinite(v)]
        if not bad and weights:
            bad = [f"weight {k}" for k, p in self.model.module_.named_parameters() if not torch.isfinite(p).all()][:1]
        if bad:
            where = f"epoch {state['epoch'] + 1}, step {state['step']}"
            if self.run_dir is not None and (self.run_dir / CHECKPOINT).exists():
                good, _ = load_checkpoint(self.run_dir, self.model.module_, self.optimizers)
                kept = f"the last good checkpoint (step {good['step']}) is kept in {self.run_dir} and loaded"
            else:
                self.model.module_.load_state_dict(last_good)
                kept = "the weights were rolled back to the end of the last good epoch"
            if self._writes():
                write_json(self.run_dir / "stopped.json", {"reason": f"{bad[0]} became non-finite", "at": where})
            raise TrainingDiverged(
                f"training stopped: {bad[0]} became NaN/inf at {where}; {kept}. "
                "Lower the learning rate or check the data scale."
            )
        return means

    def _preview(self, epoch: int, epochs: int, step: int = 0) -> None:
        every = int(getattr(self.model, "sample_every", 0) or 0)
        if not self._writes() or not (epoch == epochs or (every and epoch % every == 0)):
            return
        preview = getattr(self.model, "preview_images", None)  # array families; tables and ratings have none
        images = preview(64) if preview is not None else None
        if images is not None:
            save_image_grid(self.run_dir / "samples" / f"epoch_{epoch:04d}.png", images)
            if self.tb is not None:
                self.tb.images(images, step)


def holds_run(folder: Path) -> bool:
    """Whether `folder` already holds a genmodels run (so that starting a new one there would lose it)."""
    return any((Path(folder) / name).exists() for name in RUN_FILES)


def check_run_folder(folder: str | os.PathLike | None, resume: bool, overwrite: bool) -> None:
    """The one rule for writing a run: resume and overwrite exclude each other, and a folder that already holds a
    run is refused (one-line DataError, nothing written) unless one of them is given."""
    if resume and overwrite:
        raise DataError("resume and overwrite contradict each other (--resume, --overwrite); choose one")
    if not resume and not overwrite and folder is not None and holds_run(Path(folder)):
        raise DataError(f"{folder} already holds a run; resume it (--resume, resume=True) or replace it "
                        "(--overwrite, overwrite=True)")


__all__ = ["StepInfo", "Trainer", "check_run_folder", "epoch_order", "holds_run", "progress_enabled"]
