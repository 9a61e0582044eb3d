"""Applications built on the models and metrics. Each command of the CLI is one function here (`train_run`,
`sample_run`, `detect_run`, `evaluate_run`, ...), which Python code can call the same way."""

from .detect import detect_run
from .evaluate import evaluate_model, evaluate_run
from .runreport import write_loss_curve, write_run_report, write_samples_grid
from .sample import sample_run
from .synthesize import write_synth_report
from .train import array_families, train_run

__all__ = ["array_families", "detect_run", "evaluate_model", "evaluate_run", "sample_run", "train_run",
           "write_loss_curve", "write_run_report", "write_samples_grid", "write_synth_report"]
