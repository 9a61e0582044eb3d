"""Reading tables: a CSV file with one-line errors, and the UCI Adult census table."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import DataError

ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                 "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
                 "income"]
ADULT_DISCRETE = ["workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
                  "native-country", "income"]


def load_adult(root: str | os.PathLike | None = None, split: str = "train") -> pd.DataFrame:
    """UCI Adult: split "train" (adult.data, 32,561 rows) or "test" (adult.test, 16,281 rows), columns named as
    in adult.names, "?" read as missing, `income` normalised to "<=50K" / ">50K"."""
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    if root is None:
        from .sources import data_root

        root = data_root() / "adult"
    path = Path(root) / ("adult.data" if split == "train" else "adult.test")
    if not path.is_file():
        raise DataError(f"{path}: file not found (the UCI Adult folder holds adult.data and adult.test)")
    df = pd.read_csv(path, header=None, names=ADULT_COLUMNS, sep=",", skipinitialspace=True, na_values="?",
                     skiprows=1 if split == "test" else 0, comment="|")
    df = df.dropna(how="all").reset_index(drop=True)
    df["income"] = df["income"].astype(str).str.strip().str.rstrip(".")
    return df


def read_csv_table(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV file as a DataFrame, or a DataError that says why it is not one (missing, binary, empty, unparsable)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as f:
        head = f.read(8192)
    if b"\x00" in head:
        raise DataError(f"{path}: not a CSV file (binary content)")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the CSV file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path}: not a readable CSV file ({str(e).splitlines()[0]})") from None
    if df.shape[0] == 0:
        raise DataError(f"{path}: the CSV file has a header but no rows")
    return df
