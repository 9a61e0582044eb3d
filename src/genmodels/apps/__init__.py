"""Applications built on the models and metrics: evaluation and run reports (more as families land)."""

from .evaluate import evaluate_model
from .runreport import write_loss_curve, write_run_report, write_samples_grid
from .synthesize import write_synth_report

__all__ = ["evaluate_model", "write_loss_curve", "write_run_report", "write_samples_grid", "write_synth_report"]
