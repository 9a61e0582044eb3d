"""`genmodels train` as a Python function: hyperparameters from a config file, key=value pairs and explicit
options (on resume, the saved ones first), the data, the fit into a run folder, and the folder's pictures and
report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_dataset
from ..errors import DataError
from ..io import read_json
from ..models import FAMILIES, ArrayModel, TrainedModel
from ..models.base import CONFIG, coerce_params
from ..models.params import check_params
from ..train import check_run_folder
from ..train.tblog import check_logger
from .runreport import write_loss_curve, write_run_report, write_samples_grid

# what an earlier run (or `evaluate` on it) left that describes the old model; replaced runs drop them
_RUN_OUTPUTS = ("metrics.json", "reconstructions.png", "filters.png", "loss_curve.png", "samples.png",
                "report.html")


def array_families() -> list[str]:
    """The registered families that `train` fits on a `--data` spec: the array families and the sentence
    models (text:FILE); not the table or ratings models, which have their own commands (synth, recommend)."""
    return sorted(name for name, cls in FAMILIES.items()
                  if (issubclass(cls, ArrayModel) and not {"table", "recommend"} & cls.capabilities)
                  or "text" in cls.capabilities)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON file holding a mapping of hyperparameters."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: config file not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid YAML/JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise DataError(f"{path}: expected a mapping of hyperparameters, got {type(loaded).__name__}")
    return loaded


def parse_param_pairs(pairs) -> dict[str, Any]:
    """`-p key=value` pairs as hyperparameters; values read as YAML (numbers, lists, true/false, null)."""
    import yaml

    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DataError(f"--param expects key=value, got {pair!r}")
        params[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return params


def build_model(family: str, out: Path, *, params: dict[str, Any] | None = None, config: str | Path | None = None,
                resume: bool = False, quiet: bool = False, **explicit: Any) -> TrainedModel:
    """The model `train_run` fits, its hyperparameters checked (one-line DataError) before any data is read.
    Precedence, lowest first: the saved run's (on resume), the config file, quiet (verbose=0), `params`,
    the explicit options that are not None."""
    if family not in array_families():
        raise DataError(f"train: unknown array family {family!r}; choose one of {', '.join(array_families())} "
                        "(tables: synth; ratings: recommend train)")
    cls = FAMILIES[family]
    known = cls().get_params(deep=False)
    for key, value in explicit.items():
        if value is not None and key not in known:  # e.g. --lr for the GAN, whose learning rates are lr_g and lr_d
            related = [k for k in sorted(known) if key in k] or sorted(known)
            raise DataError(f"--{key.replace('_', '-')}: {cls.__name__} has no {key!r} hyperparameter; "
                            f"use -p with one of {', '.join(related)}")
    return make_model(cls, saved=saved_params(out, cls, "drop --resume to start a new run") if resume else None,
                      config=read_config_file(config) if config is not None else None, quiet=quiet,
                      params=params, named=explicit)


def saved_params(run_dir: Path | None, cls: type[TrainedModel], hint: str) -> dict[str, Any]:
    """The hyperparameters of the run in `run_dir` (what a resume continues with); a one-line DataError when it
    holds none, or another family's."""
    if run_dir is None or not (Path(run_dir) / CONFIG).is_file():
        raise DataError(f"{run_dir}: nothing to resume (no {CONFIG}); {hint}")
    saved = read_json(Path(run_dir) / CONFIG)
    got = saved.get("family") if isinstance(saved, dict) else None
    if got != cls.family:
        raise DataError(f"{run_dir} holds a {got!r} run, not {cls.family!r}")
    return dict(saved.get("params") or {})


def make_model(cls: type[TrainedModel], *, saved: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
               quiet: bool = False, params: dict[str, Any] | None = None,
               named: dict[str, Any] | None = None) -> TrainedModel:
    """The model a training command fits, with its hyperparameters checked (one-line DataError) before any data is
    read. The same precedence on every command, lowest first: the resumed run's own, the config file, --quiet
    (verbose=0), -p pairs, the named options that are not None."""
    merged: dict[str, Any] = {**(saved or {}), **(config or {}), **({"verbose": 0} if quiet else {}),
                              **(params or {}), **{k: v for k, v in (named or {}).items() if v is not None}}
    model = cls(**coerce_params(cls, merged, "hyperparameters"))
    check_params(model)
    return model


def train_run(family: str, data: str = "digits", out: str | Path | None = None, *,
              params: dict[str, Any] | None = None, config: str | Path | None = None, epochs: int | None = None,
              seed: int | None = None, batch_size: int | None = None, lr: float | None = None,
              device: str | None = None, binarize: str | None = None, label: str | None = None,
              checkpoint_every: int | None = None, resume: bool = False, overwrite: bool = False, quiet: bool = False,
              log: str | None = None) -> TrainedModel:
    """Train `family` (an array family, see `array_families`) on the data spec `data` into the run folder
    `out` (default runs/<family>): config, weights, checkpoints, metrics.jsonl, loss curve, sample grid and
    report.html. A folder that already holds a run is refused (nothing written) unless `resume` (continue
    it, with its saved hyperparameters under the ones given here) or `overwrite` (replace it). `lr` is for
    families with one learning rate (the GAN's are lr_g and lr_d: give those in `params`); an option the
    family lacks is refused. `log="tensorboard"`: live curves and sample grids in out/tb/ as well. Returns the
    fitted model."""
    out = Path(out) if out is not None else Path("runs") / family
    check_run_folder(out, resume, overwrite)  # refused before anything is read or written
    check_logger(log, out)
    model = build_model(family, out, params=params, config=config, resume=resume, quiet=quiet, epochs=epochs,
                        seed=seed, batch_size=batch_size, lr=lr, device=device,
                        checkpoint_every=checkpoint_every)
    dataset = load_dataset(data, "train", label=label, binarize=binarize, seed=int(model.seed))
    started = time.time()
    model.fit(dataset, run_dir=out, resume=resume, overwrite=overwrite, logger=log)
    if overwrite:
        _drop_stale_outputs(out, started)
    model.save(out)
    write_loss_curve(out)
    write_samples_grid(out, model)
    if model.supports("transform") and np.ndim(getattr(model, "components_", None)) == 4:  # learned filters
        from .evaluate import write_filters

        write_filters(model, out)
    last = {k: v for k, v in model.history_[-1].items() if k != "kind"} if model.history_ else {}
    write_run_report(out, model, {"train_seconds": round(model.train_seconds_, 2), **last})
    return model


def _drop_stale_outputs(out: Path, started: float) -> None:
    """After an overwriting fit: the replaced run's pictures and metrics that this run did not rewrite (epoch
    grids past this run's last epoch, evaluate's outputs), so the report shows only the new model."""
    stale = [out / name for name in _RUN_OUTPUTS] + sorted((out / "samples").glob("epoch_*.png"))
    for path in stale:
        if path.is_file() and path.stat().st_mtime < started:
            path.unlink()
