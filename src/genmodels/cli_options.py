"""Options the CLI's commands spell the same way (cli.py and the command groups beside it share them)."""

from __future__ import annotations

from pathlib import Path

import click

from .train.tblog import LOGGERS

DATA_HELP = "digits | mnist:DIR | csv:FILE | parquet:FILE | images:DIR | npz:FILE | npy:FILE | text:FILE"


PathArg = click.Path(path_type=Path)


def run_options(folder: str):
    """The options every training command spells the same way; `folder` names the option holding the run."""
    options = [
        click.option("--config", "-c", type=PathArg, help="YAML/JSON file of hyperparameters"),
        click.option("--param", "-p", multiple=True, help="hyperparameter key=value (repeatable), e.g. -p epochs=5"),
        click.option("--seed", type=int, help="random seed"),
        click.option("--resume", is_flag=True, help=f"continue the run in {folder} from its last checkpoint"),
        click.option("--overwrite", is_flag=True, help=f"replace the run that {folder} already holds"),
        click.option("--quiet", "-q", is_flag=True, help="no progress bar: one summary line per phase"),
        click.option("--log", type=click.Choice(LOGGERS), default="none", show_default=True,
                     help=f"live training log: tensorboard writes curves and sample grids to {folder}/tb"),
    ]

    def apply(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


