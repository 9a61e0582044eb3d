"""`genmodels sample` as a Python function: draw from any saved model that can sample, into a file whose kind
follows from what the model makes (rows of an array, images, a table)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import write_bytes, write_text
from ..models import TrainedModel, load

KINDS = ("png", "csv", "npy", "txt")


def output_kind(output: str | Path, kind: str | None = None) -> str:
    """The file type to write: `kind` when given, else the output's suffix (.png, .csv or .npy)."""
    kind = (kind or Path(output).suffix.lstrip(".")).lower()
    if kind not in KINDS:
        raise DataError(f"{output}: unknown output type; use .png, .csv, .npy (or .txt for sentences)")
    return kind


def sample_run(run: str | Path | TrainedModel, n: int, output: str | Path, *, label: str | None = None,
               seed: int | None = None, kind: str | None = None) -> np.ndarray | pd.DataFrame:
    """Draw n samples from the model saved in `run` (a run folder, or a fitted model) and write them to
    `output`: for an array model a .png grid (image models only), .csv (one row per sample) or .npy; for a
    table model a .csv with the table's columns. `label`: the class to draw, for a conditional model (matched
    against the class names as text). `seed`: a repeatable draw. `kind` overrides the output's suffix.
    Returns the samples (an array, or a DataFrame for a table model)."""
    kind = output_kind(output, kind)
    model = run if isinstance(run, TrainedModel) else load(run)
    name = type(model).__name__
    if not model.supports("sample"):
        raise DataError(f"{run}: a {name} model does not sample new rows")
    if model.supports("text"):
        if kind != "txt":
            raise DataError(f"{output}: a {name} model makes sentences; write a .txt (one a line)")
        sentences = sample_sentences(model, n, seed=seed)
        write_text(output, "".join(s + "\n" for s in sentences))
        return sentences
    if model.supports("table"):
        if kind != "csv":
            raise DataError(f"{output}: a {name} model makes tables; write a .csv")
        if label is not None:
            raise DataError(f"--label: a {name} model is not class-conditional")
        table = model.sample(n, seed=seed)
        write_text(output, table.to_csv(index=False))
        return table
    if kind == "png" and len(model.data_shape_) != 3:
        raise DataError(f"{run}: the model makes vectors, not images; write .csv or .npy instead")
    samples = model.sample(n, y=_class_of(model, label), seed=seed)
    if kind == "png":
        from ..report import save_image_grid

        save_image_grid(output, samples.reshape(len(samples), *model.data_shape_))
    elif kind == "csv":
        flat = samples.reshape(len(samples), -1)
        lines = [",".join(f"x{i}" for i in range(flat.shape[1]))]
        lines += [",".join(f"{v:.6g}" for v in row) for row in flat]
        write_text(output, "\n".join(lines) + "\n")
    else:
        buf = io.BytesIO()
        np.save(buf, samples)
        write_bytes(output, buf.getvalue())
    return samples


def _class_of(model, label: str | None):
    """The class in `model.classes_` whose text is `label` (labels on the command line are text, classes may be
    numbers); None for no label."""
    if label is None:
        return None
    if not (model.supports("conditional") and model.is_conditional()):
        raise DataError(f"--label: this {type(model).__name__} was not trained as a conditional model")
    for c in model.classes_:
        if str(c) == str(label):
            return c
    known = ", ".join(str(c) for c in model.classes_[:20])
    raise DataError(f"--label {label!r}: unknown class; the model knows {known}")


def sample_sentences(run: str | Path | TrainedModel, n: int, *, seed: int | None = None,
                     temperature: float = 1.0) -> list[str]:
    """n sentences from a sentence model ("text" capability) saved in `run`: what `genmodels sample RUN -n N`
    prints when no output file is given."""
    model = run if isinstance(run, TrainedModel) else load(run)
    if not model.supports("text"):
        raise DataError("give exactly one of -o FILE(.png|.csv|.npy), --csv FILE, --npy FILE")
    return model.sample(n, temperature, seed=seed)
