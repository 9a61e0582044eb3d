"""`genmodels detect` as a Python function: anomaly scores per row from a detector trained on the data, or
from a saved model; scores CSV, metrics JSON and, with labels, a ROC curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_dataset
from ..errors import DataError
from ..io import write_json, write_text
from ..models import load
from .anomaly import FAMILIES, AnomalyDetector, binary_labels, saved_model_score

DETECTORS = (*FAMILIES, "ensemble")


def detect_run(data: str, output: str | Path = "scores.csv", *, run: str | Path | None = None,
               family: str = "vae", contamination: float = 0.1, label: str | None = None,
               epochs: int | None = None, trim: float = 0.2, vae_score: str = "auto", binarize: str | None = None,
               seed: int = 0, quiet: bool = False) -> dict[str, Any]:
    """Score every row of the data spec `data` (higher = more anomalous) and flag the top `contamination`
    fraction: with the model saved in `run`, or else an AnomalyDetector of `family` ("vae", "rbm", "gan",
    "ensemble") trained on the data. Writes `output` (row,score,anomaly[,label]), <output>.metrics.json and,
    when the data has 0/1 labels, ROC AUC and AP in the metrics and <output>.roc.png. Returns the metrics."""
    from ..metrics import anomaly_metrics, roc_points
    from ..report import save_roc

    if not isinstance(contamination, int | float) or not 0 < contamination < 0.5:
        raise DataError(f"contamination must be in (0, 0.5), got {contamination!r}")
    output = Path(output)
    dataset = load_dataset(data, "all", label=label, binarize=binarize, seed=seed)
    y = binary_labels(dataset)
    if run is not None:
        model = load(run)
        scores = saved_model_score(model, model.rows_of(dataset, what=dataset.name), vae_score)
        threshold = float(np.quantile(scores, 1 - contamination))
    else:
        det = AnomalyDetector(model=family, contamination=contamination, trim=trim, vae_score=vae_score,
                              epochs=epochs, seed=seed, verbose=0 if quiet else 1).fit(dataset.X)
        scores, threshold = det.decision_scores_, det.threshold_
    lines = ["row,score,anomaly" + (",label" if y is not None else "")]
    lines += [f"{i},{s:.6g},{int(s > threshold)}" + (f",{int(y[i])}" if y is not None else "")
              for i, s in enumerate(scores)]
    write_text(output, "\n".join(lines) + "\n")
    summary: dict[str, Any] = {"rows": len(scores), "flagged": int((scores > threshold).sum()),
                               "threshold": threshold}
    if y is not None:
        summary.update(anomaly_metrics(y, scores))
        fpr, tpr = roc_points(y, scores)
        save_roc(output.with_suffix(".roc.png"), {f"{run or family} (AUC {summary['roc_auc']:.3f})": (fpr, tpr)})
    write_json(output.with_suffix(".metrics.json"), summary)
    return summary
