"""`genmodels recommend train|predict|evaluate`: collaborative filtering from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .apps.train import parse_param_pairs, read_config_file
from .cli_options import PathArg, run_options
from .errors import DataError
from .models import load

RATINGS_HELP = "movielens:DIR (u.data, or u<fold>.base/.test with --fold) | csv:FILE of user,item,rating[,timestamp]"


@click.group()
def recommend() -> None:
    """Collaborative filtering with a ratings RBM (Salakhutdinov, Mnih & Hinton 2007)."""


@recommend.command("train")
@click.option("--ratings", "-r", required=True, help=RATINGS_HELP)
@click.option("--fold", type=int, help="MovieLens: train on u<fold>.base (default: all of u.data)")
@click.option("--out", "-o", type=PathArg, required=True, help="run folder to write")
@click.option("--epochs", type=int, help="training epochs")
@run_options("--out")
def recommend_train(ratings: str, fold: int | None, out: Path, epochs: int | None, config: Path | None,
                    param: tuple[str, ...], seed: int | None, resume: bool, overwrite: bool, quiet: bool,
                    log: str) -> None:
    """Train a RatingsRBM on a ratings table and write its run folder (a folder holding a run is refused
    unless --resume or --overwrite)."""
    from .apps.recommend import train_recommender_run

    model = train_recommender_run(ratings, out, fold=fold, params=parse_param_pairs(param),
                                  config=read_config_file(config) if config is not None else None,
                                  epochs=epochs, seed=seed, resume=resume, overwrite=overwrite, quiet=quiet, log=log)
    if not quiet:
        click.echo(f"trained rbm_cf on {int((model.train_matrix_ > 0).sum())} ratings ({len(model.users_)} users, "
                   f"{len(model.items_)} items), reconstruction MSE {model.history_[-1]['recon_mse']:.4f}; "
                   f"run folder {out}")


def _load_recommender(run: Path):
    model = load(run)
    if not model.supports("recommend"):
        raise DataError(f"{run}: holds a {type(model).__name__}, not a recommender; "
                        "train one with `genmodels recommend train`")
    return model


@recommend.command("predict")
@click.argument("run", type=PathArg)
@click.option("--user", "-u", required=True, help="user id")
@click.option("-n", "n", type=int, default=10, show_default=True, help="number of items")
@click.option("--include-seen", is_flag=True, help="also rank items the user rated in training")
def recommend_predict(run: Path, user: str, n: int, include_seen: bool) -> None:
    """Top-n items for a user, with their expected ratings (an unknown user gets the best-rated items)."""
    model = _load_recommender(run)
    top = model.recommend(user, n=n, exclude_seen=not include_seen)
    click.echo("item\texpected_rating")
    for item, score in zip(top["item"], top["score"], strict=True):
        click.echo(f"{item}\t{score:.3f}")


@recommend.command("evaluate")
@click.argument("run", type=PathArg)
@click.option("--test", "-t", "test_spec", required=True, help=RATINGS_HELP)
@click.option("--fold", type=int, default=1, show_default=True, help="MovieLens: evaluate on u<fold>.test")
@click.option("-k", "k", type=int, default=10, show_default=True, help="length of the top-k lists")
def recommend_evaluate(run: Path, test_spec: str, fold: int, k: int) -> None:
    """RMSE, MAE and precision/recall/NDCG@k on held-out ratings; also written to RUN/metrics.json."""
    from .apps.recommend import evaluate_recommender
    from .data.ratings import load_ratings
    from .io import write_json

    model = _load_recommender(run)
    is_movielens = test_spec.startswith("movielens:") or (Path(test_spec) / "u.data").is_file()
    test = load_ratings(test_spec, "test" if is_movielens else "all", fold=fold, scale=tuple(model.rating_scale))
    metrics = evaluate_recommender(model, test, k=k)
    write_json(run / "metrics.json", metrics)
    click.echo(json.dumps(metrics, indent=2))


