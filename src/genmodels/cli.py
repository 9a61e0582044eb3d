"""The command line. Thin: parse, call the library, print. Bad input: one line on stderr, exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .apps.detect import DETECTORS, detect_run
from .apps.evaluate import evaluate_run
from .apps.sample import sample_run, sample_sentences
from .apps.train import array_families, parse_param_pairs, read_config_file, train_run
from .cli_options import DATA_HELP, PathArg, run_options
from .cli_recommend import recommend
from .data import load_dataset
from .errors import DataError, TrainingDiverged
from .models import load
from .progress import SummaryLines
from .progress import log as progress_log


@click.group(help="Train, sample, evaluate and compare GANs, VAEs and RBMs.")
@click.version_option(__version__, prog_name="genmodels")
def app() -> None:
    pass


app.add_command(recommend)


@app.command()
@click.argument("family", type=click.Choice(array_families()))
@click.option("--data", "-d", default="digits", show_default=True, help=DATA_HELP)
@click.option("--out", "-o", type=PathArg, required=True, help="run folder to write")
@click.option("--epochs", type=int, help="training epochs")
@click.option("--batch-size", type=int, help="batch size")
@click.option("--lr", type=float, help="learning rate (families with one `lr`; else -p, e.g. -p lr_g=1e-4)")
@click.option("--device", help="auto | cpu | cuda")
@click.option("--binarize", type=click.Choice(["threshold", "stochastic"]), help="binarize the data first")
@click.option("--label", help="label column of a CSV/Parquet file")
@click.option("--checkpoint-every", type=int, help="also checkpoint every N steps")
@run_options("--out")
def train(family: str, data: str, out: Path, epochs: int | None, config: Path | None, param: tuple[str, ...],
          resume: bool, overwrite: bool, seed: int | None, batch_size: int | None, lr: float | None,
          device: str | None, binarize: str | None, label: str | None, checkpoint_every: int | None,
          quiet: bool, log: str) -> None:
    """Train a model and write its run folder (config, weights, checkpoints, metrics, pictures, report)."""
    params = parse_param_pairs(param)
    model = train_run(family, data, out, params=params, config=config, epochs=epochs, seed=seed,
                      batch_size=batch_size, lr=lr, device=device, binarize=binarize, label=label,
                      checkpoint_every=checkpoint_every, resume=resume, overwrite=overwrite, quiet=quiet, log=log)
    if not quiet:
        last = ", ".join(f"{k} {v:.4g}" for k, v in model.history_[-1].items() if isinstance(v, float))
        click.echo(f"trained {family}: {last}; run folder {out}")


@app.command()
@click.argument("run", type=PathArg)
@click.option("-n", "n", type=int, default=64, show_default=True, help="number of samples")
@click.option("--output", "-o", type=PathArg, help="file to write: .png grid, .csv or .npy (.txt: sentences)")
@click.option("--csv", type=PathArg, help="write samples as CSV")
@click.option("--npy", type=PathArg, help="write samples as .npy")
@click.option("--label", help="class label for a conditional model")
@click.option("--seed", type=int, help="seed for a repeatable draw")
@click.option("--quiet", "-q", is_flag=True, help="no message")
def sample(run: Path, n: int, output: Path | None, csv: Path | None, npy: Path | None, label: str | None,
           seed: int | None, quiet: bool) -> None:
    """Draw samples from a trained model (a table model writes a CSV with the table's columns)."""
    targets = [p for p in (output, csv, npy) if p is not None]
    if not targets:  # a sentence model prints its sentences (any other model needs a file)
        for sentence in sample_sentences(run, n, seed=seed):
            click.echo(sentence)
        return
    if len(targets) != 1:
        raise DataError("give exactly one of -o FILE(.png|.csv|.npy), --csv FILE, --npy FILE")
    target = targets[0]
    kind = "csv" if csv else "npy" if npy else None
    samples = sample_run(run, n, target, label=label, seed=seed, kind=kind)
    if not quiet:
        click.echo(f"wrote {len(samples)} samples to {target}")


@app.command()
@click.argument("run", type=PathArg)
@click.option("--data", "-d", help=f"{DATA_HELP} (default: the run's training spec)")
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="test", show_default=True)
@click.option("--out", "-o", type=PathArg, help="folder for metrics.json and plots (default: RUN)")
@click.option("-k", "k", type=int, default=1000, show_default=True, help="importance samples for likelihood bounds")
@click.option("--binarize", type=click.Choice(["threshold", "stochastic"]), help="binarize the data first")
@click.option("--label", help="label column of a CSV/Parquet file")
def evaluate(run: Path, data: str | None, split: str, out: Path | None, k: int, binarize: str | None,
             label: str | None) -> None:
    """Held-out metrics (likelihood, reconstruction) with sample and reconstruction grids."""
    click.echo(json.dumps(evaluate_run(run, data, split, out, k, binarize, label), indent=2))


def _run_compare(data: str, budget: float, out: Path, families: str, seed: int, quiet: bool, overwrite: bool) -> None:
    from .apps.compare import compare, markdown_table

    summary = compare(data, budget=budget, out=out, families=families, seed=seed, quiet=quiet, overwrite=overwrite)
    click.echo(markdown_table(summary))
    click.echo(f"report: {out / 'report.html'} (also report.md, results.json; "
               f"{summary['total_seconds']:.0f} s in all)")


@app.command()
@click.option("--data", "-d", default="digits", show_default=True, help=DATA_HELP)
@click.option("--budget", "-b", type=float, default=300, show_default=True, help="training seconds per family")
@click.option("--out", "-o", type=PathArg, required=True, help="folder for the report and the run folders")
@click.option("--families", "-f", default="gan,vae,rbm,dbn", show_default=True, help="comma-separated families")
@click.option("--seed", type=int, default=0, show_default=True, help="random seed")
@click.option("--overwrite", is_flag=True, help="replace the runs the folder already holds")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars: one summary line per phase")
def compare(data: str, budget: float, out: Path, families: str, seed: int, overwrite: bool, quiet: bool) -> None:
    """Train the GAN, VAE, RBM and DBN under the same time budget on the same data; one report.html with
    samples, losses and every measure side by side (plus report.md and results.json)."""
    _run_compare(data, budget, out, families, seed, quiet, overwrite)


@app.command()
@click.option("--out", "-o", type=PathArg, default=Path("runs/demo"), show_default=True, help="output folder")
@click.option("--budget", "-b", type=float, default=25, show_default=True, help="training seconds per family")
@click.option("--families", "-f", default="gan,vae,rbm,dbn", show_default=True, help="comma-separated families")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars: one summary line per phase")
def demo(out: Path, budget: float, families: str, quiet: bool) -> None:
    """The main job on the bundled digits: `compare` with a small budget (about 2 minutes), writing
    runs/demo/report.html."""
    _run_compare("digits", budget, out, families, 0, quiet, overwrite=True)  # a demo is rerun: replace it


@app.command()
@click.argument("run", required=False, type=PathArg)
@click.option("--data", "-d", required=True, help=DATA_HELP)
@click.option("--model", "-m", "family", type=click.Choice(DETECTORS), default="vae",
              show_default=True, help="family to train when no RUN is given")
@click.option("--output", "-o", type=PathArg, default=Path("scores.csv"), show_default=True)
@click.option("--contamination", type=float, default=0.1, show_default=True, help="expected anomaly fraction")
@click.option("--label", help="label column (0 normal, 1 anomaly) of a CSV/Parquet file; an NPZ's y is used")
@click.option("--epochs", type=int, help="training epochs (default: about 3000 steps)")
@click.option("--trim", type=float, default=0.2, show_default=True,
              help="refit without this fraction of highest-scoring training rows (0: fit once, for clean data)")
@click.option("--vae-score", type=click.Choice(["auto", "bound", "rate", "both"]), default="auto", show_default=True,
              help="a VAE's score: negative IWAE bound, latent rate KL(q(z|x)||p(z)), or both standardised")
@click.option("--binarize", type=click.Choice(["threshold", "stochastic"]), help="binarize the data first")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True)
def detect(run: Path | None, data: str, family: str, output: Path, contamination: float, label: str | None,
           epochs: int | None, trim: float, vae_score: str, binarize: str | None, seed: int, quiet: bool) -> None:
    """Anomaly scores per row (higher = more anomalous) and 0/1 flags; ROC AUC, AP and a ROC curve PNG when
    labels are given. Trains a detector on --data, or scores with the model of RUN."""
    summary = detect_run(data, output, run=run, family=family, contamination=contamination, label=label,
                         epochs=epochs, trim=trim, vae_score=vae_score, binarize=binarize, seed=seed, quiet=quiet)
    click.echo(json.dumps(summary))


@app.command()
@click.argument("run", type=PathArg)
@click.option("--data", "-d", required=True, help=DATA_HELP)
@click.option("--split", type=click.Choice(["train", "test", "all"]), default="test", show_default=True)
@click.option("--noise", type=click.Choice(["gaussian", "salt_pepper", "mask"]), default="gaussian", show_default=True,
              help="corruption: Gaussian noise, salt-and-pepper pixels, or a masked square")
@click.option("--level", type=float, default=0.3, show_default=True,
              help="noise std (fraction of the value range), fraction of pixels, or fraction of the area masked")
@click.option("-n", "n", type=int, default=1000, show_default=True, help="images to corrupt and restore")
@click.option("--steps", type=int, default=1, show_default=True, help="reconstruction passes")
@click.option("--out", "-o", type=PathArg, help="folder for metrics.json and denoise.png (default: RUN/denoise)")
@click.option("--binarize", type=click.Choice(["threshold", "stochastic"]), help="binarize the data first")
@click.option("--seed", type=int, default=0, show_default=True)
def denoise(run: Path, data: str, split: str, noise: str, level: float, n: int, steps: int, out: Path | None,
            binarize: str | None, seed: int) -> None:
    """Corrupt images and restore them with the model's reconstruction: PSNR and SSIM before and after."""
    from .apps.denoise import denoise_run

    model = load(run)
    dataset = load_dataset(data, split, binarize=binarize, seed=seed)
    click.echo(json.dumps(denoise_run(model, dataset, out or run / "denoise", noise, level, n, seed, steps), indent=2))


@app.command()
@click.argument("run", type=PathArg)
@click.option("--data", "-d", required=True, help=DATA_HELP + " (labelled)")
@click.option("--method", type=click.Choice(["pca", "tsne"]), default="pca", show_default=True, help="2-D map")
@click.option("--out", "-o", type=PathArg, help="folder for metrics.json and feature_map.png (default: RUN/represent)")
@click.option("--binarize", type=click.Choice(["threshold", "stochastic"]), help="binarize the data first")
@click.option("--label", help="label column of a CSV/Parquet file")
@click.option("--seed", type=int, default=0, show_default=True)
def represent(run: Path, data: str, method: str, out: Path | None, binarize: str | None, label: str | None,
              seed: int) -> None:
    """Linear-probe and 5-NN accuracy of the model's features (train split -> test split) next to raw pixels,
    and a 2-D map of the test features."""
    from .apps.represent import represent_run

    model = load(run)
    train_set = load_dataset(data, "train", label=label, binarize=binarize, seed=seed)
    test_set = load_dataset(data, "test", label=label, binarize=binarize, seed=seed + 1)
    click.echo(json.dumps(represent_run(model, train_set, test_set, out or run / "represent", method, seed), indent=2))


def _number_list(text: str, kind: type, what: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise DataError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise DataError(f"{what}: give at least one value")
    return values


@app.command()
@click.option("--data", "-d", required=True, help=DATA_HELP + " (labelled)")
@click.option("--model", "-m", "models", default="vae", show_default=True,
              help="generator(s), comma-separated: gan (conditional GAN), vae (CVAE), rbm (one RBM per class)")
@click.option("--budgets", default="100,500,2000", show_default=True, help="real training images per run")
@click.option("--ratios", default="0.5,1,2", show_default=True, help="synthetic images per real image")
@click.option("--epochs", type=int, help="generator epochs (default: about 2000 updates per model)")
@click.option("--classifier", type=click.Choice(["logreg", "mlp", "knn"]), default="logreg", show_default=True,
              help="downstream classifier")
@click.option("--out", "-o", type=PathArg, default=Path("runs/augment"), show_default=True,
              help="folder for results.json and augmentation.png")
@click.option("--binarize", type=click.Choice(["threshold", "stochastic"]), help="binarize the data first")
@click.option("--label", help="label column of a CSV/Parquet file")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="print only the final table")
def augment(data: str, models: str, budgets: str, ratios: str, epochs: int | None, classifier: str, out: Path,
            binarize: str | None, label: str | None, seed: int, quiet: bool) -> None:
    """Downstream test accuracy with and without class-conditional synthetic images, per real-data budget
    and synthetic ratio."""
    from .apps.augment import augment_run, format_table

    families = [m.strip() for m in models.split(",") if m.strip()]
    budget_list = _number_list(budgets, int, "--budgets")
    ratio_list = _number_list(ratios, float, "--ratios")
    train_set = load_dataset(data, "train", label=label, binarize=binarize, seed=seed)
    test_set = load_dataset(data, "test", label=label, binarize=binarize, seed=seed + 1)

    def progress(row: dict[str, Any]) -> None:
        if not quiet:
            click.echo(format_table([row]).splitlines()[1])

    rows = augment_run(families, train_set, test_set, out, budget_list, ratio_list, epochs, classifier, seed,
                       progress=progress)
    click.echo(format_table(rows))
    click.echo(f"wrote {out / 'results.json'} and {out / 'augmentation.png'}")


@app.command()
@click.option("--data", "-d", required=True, help=DATA_HELP + " (labelled images)")
@click.option("--labels", default="100,1000", show_default=True, help="labelled training images per fine-tuning run")
@click.option("--seeds", default="0,1,2", show_default=True, help="seeds (labelled subset, CNN start, batch order)")
@click.option("--out", "-o", type=PathArg, required=True, help="folder for results.json, filters.png, accuracy.png")
@click.option("--budget", "-b", type=float, help="seconds in all (half pretraining, half fine-tuning)")
@click.option("--finetune-epochs", type=int, help="fine-tuning epochs (default: about 2000 updates)")
@click.option("--param", "-p", multiple=True, help="ConvDBN hyperparameter key=value (repeatable)")
@click.option("--overwrite", is_flag=True, help="replace the results the folder already holds")
@click.option("--quiet", "-q", is_flag=True, help="print only the final table")
def pretrain(data: str, labels: str, seeds: str, out: Path, budget: float | None, finetune_epochs: int | None,
             param: tuple[str, ...], overwrite: bool, quiet: bool) -> None:
    """CNN test accuracy from ConvDBN-pretrained filters (unsupervised, on every training image) and from a
    random start, fine-tuned on N labelled images, per label budget and seed."""
    from .apps.pretrain import check_results_folder, format_table, pretrain_run

    label_list, seed_list = _number_list(labels, int, "--labels"), _number_list(seeds, int, "--seeds")
    check_results_folder(out, overwrite)  # refused before any data is read
    train_set, test_set = load_dataset(data, "train"), load_dataset(data, "test")

    def progress(row: dict[str, Any]) -> None:
        if not quiet:
            click.echo(format_table([row]).splitlines()[1])

    summary = pretrain_run(train_set, test_set, out, label_list, seed_list, budget, parse_param_pairs(param),
                           finetune_epochs, overwrite=overwrite, quiet=quiet, progress=progress)
    click.echo(format_table(summary["rows"]))
    click.echo(f"wrote {out / 'results.json'}, {out / 'filters.png'} and {out / 'accuracy.png'}")


@app.command()
@click.argument("file", type=PathArg)
@click.option("--rows", "-n", type=int, required=True, help="number of synthetic rows to write")
@click.option("--output", "-o", type=PathArg, required=True, help="synthetic CSV to write (report next to it)")
@click.option("--model", "-m", "family", type=click.Choice(["gan", "vae"]),
              help="CTGAN-style GAN or TVAE-style VAE  [default: gan, or the resumed run's]")
@click.option("--epochs", type=int, help="training epochs  [default: 300]")
@click.option("--epsilon", type=float, help="differential privacy budget (DP-SGD + noisy encoder statistics)")
@click.option("--delta", type=float, help="DP delta (default 1/(10 n))")
@click.option("--target", help="label column: the report adds ML efficacy for it")
@click.option("--discrete", help="comma-separated discrete columns (default: detected)")
@click.option("--batch-size", type=int, help="batch size  [default: 500]")
@click.option("--save-model", type=PathArg, help="train in this folder (checkpoints) and save the model there")
@run_options("--save-model")
def synth(file: Path, rows: int, output: Path, family: str | None, epochs: int | None, epsilon: float | None,
          delta: float | None, target: str | None, discrete: str | None, batch_size: int | None, seed: int | None,
          config: Path | None, param: tuple[str, ...], save_model: Path | None, resume: bool, overwrite: bool,
          quiet: bool, log: str) -> None:
    """Synthetic version of a CSV table (TabularSynthesizer), with a fidelity/privacy report (report.json,
    report.html) written next to the output CSV."""
    from .apps.synthesize import synth_run

    columns = [c.strip() for c in discrete.split(",") if c.strip()] if discrete else None
    report = synth_run(file, rows, output, model=family, params=parse_param_pairs(param),
                       config=read_config_file(config) if config is not None else None, epochs=epochs,
                       batch_size=batch_size, epsilon=epsilon, delta=delta, target=target, discrete=columns,
                       seed=seed, resume=resume, overwrite=overwrite, save_model=save_model, quiet=quiet, log=log)
    click.echo(f"wrote {rows} synthetic rows to {output}; report {output.parent / 'report.html'} "
               f"(and report.json)" + (f"; model {save_model}" if save_model is not None else ""))
    spent = report["model"].get("privacy_spent")
    if spent:
        click.echo(f"privacy spent: epsilon {spent['epsilon']:.3f} (encoder {spent['encoder_epsilon']:.3f}, "
                   f"DP-SGD {spent['sgd_epsilon']:.3f}), delta {spent['delta']:.2g}")
    fidelity = report.get("fidelity", {})
    if not quiet and "column_fidelity" in fidelity:
        click.echo(f"column fidelity {fidelity['column_fidelity']:.3f} (1 = same distributions as the real table)")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, with a one-line message and no traceback). Phases
    that show no progress bar (--quiet, CI=true) print one summary line each on stderr."""
    lines = SummaryLines()
    progress_log.addHandler(lines)
    try:
        rv = app.main(args=argv, prog_name="genmodels", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        return 130
    except DataError as e:
        print(f"genmodels: error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"genmodels: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        progress_log.removeHandler(lines)


def entry() -> None:
    sys.exit(main())
