"""Loading and validating data: specs (digits, mnist:DIR, csv:FILE, ...) and user arrays, checked once here."""

from .dataset import DataInfo, Dataset, as_dataset, check_finite, check_unit_interval
from .ratings import check_ratings, load_movielens, load_ratings, movielens_folds
from .sources import data_root, load_dataset, parse_spec, read_idx

__all__ = ["DataInfo", "Dataset", "as_dataset", "check_finite", "check_ratings", "check_unit_interval", "data_root",
           "load_dataset", "load_movielens", "load_ratings", "movielens_folds", "parse_spec", "read_idx"]
