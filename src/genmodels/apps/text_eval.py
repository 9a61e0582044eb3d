"""`genmodels evaluate` for a sentence model ("text" capability): NLL per sentence, perplexity and (for a latent
model) KL and active units on the test sentences, with a table of samples and of interpolations, into
metrics.json and report.html."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..data import Dataset
from ..io import write_json
from ..report import table
from .runreport import write_loss_curve, write_run_report

N_SAMPLES = 10


def evaluate_text(model, test: Dataset, out_dir: str | Path, k: int = 100) -> dict[str, Any]:
    """Text metrics of `model` on the sentences of `test` (k: importance samples of an IWAE bound), plus
    samples and, where the model has a latent space ("transform"), interpolations between test sentences."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sentences = list(test.X)
    metrics: dict[str, Any] = {"data": test.name, **model.text_metrics(sentences, k=k)}
    if metrics.get("ll_method") == "iwae":
        metrics["iwae_k"] = int(k)
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    samples = model.sample(N_SAMPLES, seed=0)
    sections = [("Samples", table([{"#": i + 1, "sentence": s} for i, s in enumerate(samples)]))]
    interpolations = []
    if model.supports("transform") and len(sentences) >= 4:
        for a, b in ((sentences[0], sentences[1]), (sentences[2], sentences[3])):
            line = model.interpolate(a, b, 5)
            interpolations.append({"from": a, "to": b, "steps": line})
            rows = [{"t": f"{i / 4:.2f}", "sentence": s} for i, s in enumerate(line)]
            sections.append((f"Interpolation: {a[:40]} -> {b[:40]}", table(rows)))
    write_json(out_dir / "metrics.json", {**metrics, "samples": samples, "interpolations": interpolations})
    write_loss_curve(out_dir)
    write_run_report(out_dir, model, metrics, extra=sections)
    return {**metrics, "samples": samples, "interpolations": interpolations}
