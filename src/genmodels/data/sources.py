"""Data specs shared by Python and the CLI: digits, mnist:DIR, csv:FILE, parquet:FILE, images:DIR, npz:FILE, npy:FILE,
text:FILE (one sentence a line; data/text.py).

Each loader returns a validated Dataset; `split` picks the train or test part (MNIST has its own split, the others
a fixed, stratified 80/20 split so that `train` and `evaluate` on the same spec never share rows).
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset, as_dataset

SPLITS = ("train", "test", "all")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def data_root() -> Path:
    """Where the shared benchmark data lives: $GENMODELS_DATA, else ../shared/data next to the checkout."""
    env = os.environ.get("GENMODELS_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def parse_spec(spec: str) -> tuple[str, str]:
    """'kind:path' -> (kind, path). A bare path is recognised by its suffix; a bare folder is an image folder."""
    spec = str(spec).strip()
    if spec == "digits":
        return "digits", ""
    kind, sep, path = spec.partition(":")
    if sep and kind in {"mnist", "csv", "parquet", "images", "npz", "npy", "text"}:
        if not path:
            raise DataError(f"data spec {spec!r}: missing the path after '{kind}:'")
        return kind, path
    suffix = Path(spec).suffix.lower()
    by_suffix = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".npz": "npz", ".npy": "npy"}
    if suffix in by_suffix:
        return by_suffix[suffix], spec
    if Path(spec).is_dir():
        return "images", spec
    raise DataError(
        f"unknown data spec {spec!r}: use digits, mnist:DIR, csv:FILE, parquet:FILE, images:DIR, npz:FILE, npy:FILE or text:FILE"
    )


def load_dataset(spec: str, split: str = "train", *, label: str | None = None, binarize: str | None = None,
                 seed: int = 0) -> Dataset:
    """Load a data spec (see module doc). `label` names the label column of a CSV/Parquet file."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")
    kind, path = parse_spec(spec)
    if kind == "mnist":
        data = load_mnist(path, split)
    elif kind == "text":  # one file is one split: the train and test sentences come as separate files
        from .text import load_text

        data = load_text(path)
    else:
        loader = {"digits": lambda _: load_digits(), "csv": lambda p: load_table(p, label, "csv"),
                  "parquet": lambda p: load_table(p, label, "parquet"), "images": load_image_folder,
                  "npz": load_npz, "npy": load_npy}[kind]
        data = split_fixed(loader(path), split)
    data.name = spec if split == "all" else f"{spec} [{split}]"
    return data.binarize(binarize, seed=seed)


def split_fixed(data: Dataset, split: str, test_fraction: float = 0.2) -> Dataset:
    """Deterministic 80/20 split, stratified by label when every class has at least two rows."""
    if split == "all" or len(data) < 5:
        return data
    rng = np.random.default_rng(12345)
    n = len(data)
    if data.y is not None and np.bincount(data.y).min() >= 2:
        test = np.concatenate([
            idx[: max(1, round(len(idx) * test_fraction))]
            for idx in (rng.permutation(np.flatnonzero(data.y == c)) for c in np.unique(data.y))
        ])
    else:
        test = rng.permutation(n)[: max(1, round(n * test_fraction))]
    mask = np.zeros(n, bool)
    mask[test] = True
    return data.subset(np.flatnonzero(mask if split == "test" else ~mask))


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images), scaled to [0, 1], shaped (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    return Dataset((d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64), "digits",
                   list(range(10)))


# --- MNIST IDX -----------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip or raw), checking the magic number and that the payload size matches the header."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: corrupt IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path}: corrupt IDX file: header says {dims} ({expected} bytes), found {len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims)


def _find_idx(folder: Path, prefix: str, what: str) -> list[Path]:
    """The file(s) for e.g. prefix 'train-images': whole (raw or gz, '-' or '.' before idx) or split in parts."""
    pattern = re.compile(rf"^{prefix}[-.]idx\d-ubyte(\.part(\d+)of(\d+))?(\.gz)?$")
    found = [(p, pattern.match(p.name)) for p in sorted(folder.iterdir())]
    found = [(p, m) for p, m in found if m]
    whole = [p for p, m in found if not m.group(1)]
    if whole:
        return whole[:1]
    parts = sorted(((int(m.group(2)), int(m.group(3)), p) for p, m in found), key=lambda t: t[0])
    if parts:
        total = parts[0][1]
        if [k for k, _, _ in parts] != list(range(total)):
            raise DataError(f"{folder}: {prefix} parts are incomplete (found {len(parts)} of {total})")
        return [p for _, _, p in parts]
    raise DataError(f"{folder}: no {what} file ({prefix}-idx?-ubyte[.gz]) found")


def load_mnist(folder: str | Path, split: str = "train") -> Dataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"mnist:{folder}: folder not found")
    parts = []
    for name in (["train", "t10k"] if split == "all" else ["train" if split == "train" else "t10k"]):
        images = np.concatenate([read_idx(p) for p in _find_idx(folder, f"{name}-images", f"{name} images")])
        labels = np.concatenate([read_idx(p) for p in _find_idx(folder, f"{name}-labels", f"{name} labels")])
        if images.ndim != 3 or len(images) != len(labels):
            raise DataError(f"{folder}: {name} images {images.shape} and labels {labels.shape} do not match")
        parts.append((images, labels))
    X = np.concatenate([p[0] for p in parts]).astype(np.float32)[:, None] / 255.0
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return Dataset(X, y, "mnist", list(range(10)))


# --- tables, arrays, images ----------------------------------------------------------------------------------

def load_table(path: str, label: str | None, kind: str) -> Dataset:
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{kind}:{path}: file not found")
    try:
        if kind == "parquet":
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, sep="\t" if p.suffix.lower() == ".tsv" else ",")
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{kind}:{path}: cannot read as {kind.upper()} ({str(e).splitlines()[0]})") from None
    if df.empty:
        raise DataError(f"{kind}:{path}: the table is empty")
    y = None
    if label is not None:
        if label not in df.columns:
            raise DataError(f"{kind}:{path}: no label column {label!r} (columns: {list(df.columns)[:10]})")
        y = df.pop(label)
    data = as_dataset(df, y, what=f"{kind}:{path}")
    data.name = path
    return data


def _load_array_file(path: str, kind: str):
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{kind}:{path}: file not found")
    try:
        return np.load(p, allow_pickle=False)  # never unpickle user files
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{kind}:{path}: not a valid {kind.upper()} file without pickled objects ({e})") from None


def load_npz(path: str) -> Dataset:
    with _load_array_file(path, "npz") as archive:
        try:
            keys = list(archive.keys())
            x_key = next((k for k in ("X", "x", "data", "images") if k in keys), keys[0] if len(keys) == 1 else None)
            if x_key is None:
                raise DataError(f"npz:{path}: no array named X (found {keys})")
            y_key = next((k for k in ("y", "labels", "targets") if k in keys), None)
            X = archive[x_key]
            y = archive[y_key] if y_key else None
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
            if "allow_pickle" in str(e):
                raise DataError(f"npz:{path}: holds pickled Python objects, which genmodels never loads; "
                                "save plain numeric arrays") from None
            raise DataError(f"npz:{path}: corrupt NPZ file ({e})") from None
    return _arrays_to_dataset(X, y, f"npz:{path}")


def load_npy(path: str) -> Dataset:
    return _arrays_to_dataset(_load_array_file(path, "npy"), None, f"npy:{path}")


def _arrays_to_dataset(X: np.ndarray, y: np.ndarray | None, what: str) -> Dataset:
    if X.dtype == np.uint8 and X.ndim >= 3:  # 8-bit images
        X = X.astype(np.float32) / 255.0
    data = as_dataset(X, y, what=what)
    data.name = what
    return data


def load_image_folder(folder: str) -> Dataset:
    """PNG/JPEG files; class sub-folders become labels. All images must share one size."""
    from PIL import Image, UnidentifiedImageError

    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"images:{folder}: folder not found")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"images:{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    class_names = sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1})
    images, sizes, modes = [], set(), set()
    for p in files:
        try:
            with Image.open(p) as im:
                im.load()
                modes.add(im.mode)
                images.append(im.copy())
                sizes.add(im.size)
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise DataError(f"images:{folder}: cannot read {p.name} ({e})") from None
    if len(sizes) > 1:
        raise DataError(f"images:{folder}: images have mixed sizes {sorted(sizes)[:4]}; resize them to one size first")
    gray = modes <= {"L", "1", "I", "I;16", "LA"}
    arrays = np.stack([np.asarray(im.convert("L" if gray else "RGB"), dtype=np.float32) / 255.0 for im in images])
    X = arrays[:, None] if gray else arrays.transpose(0, 3, 1, 2)
    y = None
    if class_names:
        if any(len(p.relative_to(root).parts) == 1 for p in files):
            raise DataError(f"images:{folder}: mix of loose images and class sub-folders; use one or the other")
        y = np.array([class_names.index(p.relative_to(root).parts[0]) for p in files], np.int64)
    return Dataset(np.ascontiguousarray(X), y, f"images:{folder}", class_names)
