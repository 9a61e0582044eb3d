"""Bad input, table-driven: each case gives a DataError with a clear message from Python, and through the CLI
exit code 2, one line on stderr, no traceback, and no damage to what was already written."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from safetensors.numpy import save_file

from genmodels import VAE, DataError, load, load_dataset
from genmodels.cli import main

MARKER = Path("/tmp/genmodels-pickle-was-executed")


class _Exploit:
    """Unpickling this would create MARKER: proves that nothing unpickles user files."""

    def __reduce__(self):
        return (Path.touch, (MARKER,))


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits_binary):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    train, _ = digits_binary
    run = d / "run"
    VAE(hidden_dims=(32,), latent_dim=2, epochs=1, verbose=0).fit(train, run_dir=run).save(run)
    (d / "empty.csv").write_text("a,b,c\n")
    pd.DataFrame({"a": [0.1, np.nan, 0.3], "b": [0.2, 0.5, 0.1]}).to_csv(d / "nan.csv", index=False)
    pd.DataFrame({"a": [0.1, 0.2, 0.3], "name": ["x", "y", "z"]}).to_csv(d / "text.csv", index=False)
    pd.DataFrame(rng.integers(0, 256, (20, 4)), columns=list("abcd")).to_csv(d / "pixels255.csv", index=False)
    np.save(d / "flat.npy", np.ones(10, np.float32))
    np.savez(d / "ten_features.npz", X=rng.random((30, 10)).astype(np.float32))
    np.savez(d / "objects.npz", X=np.array([{"a": 1}, None], dtype=object))
    (d / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (d / "mixed").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(d / "mixed" / "a.png")
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(d / "mixed" / "b.png")
    (d / "badpng").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(d / "badpng" / "a.png")
    (d / "badpng" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (d / "mnist").mkdir()
    header = bytes([0, 0, 8, 3]) + (100).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (d / "mnist" / "train-images-idx3-ubyte").write_bytes(header + bytes(1000))  # truncated payload
    (d / "mnist" / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(100))
    # checkpoints: garbage bytes, a pickle, a tampered (wrong-shape) safetensors file, broken config JSON
    for name in ("garbage", "pickled", "tampered", "badconfig"):
        (d / name).mkdir()
        (d / name / "config.json").write_text((run / "config.json").read_text())
    (d / "garbage" / "model.safetensors").write_bytes(rng.bytes(500))
    (d / "pickled" / "model.safetensors").write_bytes(pickle.dumps(_Exploit()))
    save_file({"model.mean.weight": np.zeros((3, 3), np.float32)}, str(d / "tampered" / "model.safetensors"))
    (d / "badconfig" / "model.safetensors").write_bytes((run / "model.safetensors").read_bytes())
    (d / "badconfig" / "config.json").write_text("{not json")
    (d / "config.yaml").write_text("latent_dim: [unclosed\n")
    return d


# (case id, CLI argv with {d} for the files folder and {out} for an existing output folder, message fragment).
# {out} holds a run: training into it is refused unless --overwrite, and even with --overwrite bad input must
# leave it as it was (the input is read and checked before anything is written).
CASES = [
    ("missing file", "train vae --data csv:{d}/nope.csv --out {out} --overwrite", "file not found"),
    ("empty table", "train vae --data csv:{d}/empty.csv --out {out} --overwrite", "empty"),
    ("NaN values", "train vae --data csv:{d}/nan.csv --out {out} --overwrite", "NaN"),
    ("non-numeric column", "train vae --data csv:{d}/text.csv --out {out} --overwrite", "not numeric"),
    ("outside [0, 1] for Bernoulli", "train vae --data csv:{d}/pixels255.csv --out {out} --overwrite", "[0, 1]"),
    ("1-D array (wrong rank)", "train vae --data npy:{d}/flat.npy --out {out} --overwrite", "1-D"),
    ("images of mixed sizes", "train vae --data images:{d}/mixed --out {out} --overwrite", "mixed sizes"),
    ("corrupt PNG", "train vae --data images:{d}/badpng --out {out} --overwrite", "cannot read b.png"),
    ("corrupt IDX", "train vae --data mnist:{d}/mnist --out {out} --overwrite", "corrupt IDX"),
    ("corrupt NPZ", "train vae --data npz:{d}/corrupt.npz --out {out} --overwrite", "not a valid NPZ"),
    ("pickled objects in NPZ", "train vae --data npz:{d}/objects.npz --out {out} --overwrite", "pickled"),
    ("unknown data spec", "train vae --data foo:bar --out {out} --overwrite", "unknown data spec"),
    ("unknown hyperparameter", "train vae --data digits -p latnet_dim=3 --out {out} --overwrite", "unknown"),
    ("broken config file", "train vae --data digits --config {d}/config.yaml --out {out} --overwrite",
     "not valid YAML"),
    ("bad hyperparameter value", "train vae --data digits -p latent_dim=-3 --out {out} --overwrite", "latent_dim"),
    ("negative epochs", "train vae --data digits --epochs -1 --out {out} --overwrite", "epochs"),
    ("a run there already", "train vae --data digits --out {out}", "already holds a run"),
    ("resume with nothing to resume", "train vae --data digits --resume --out {d}/nothing", "nothing to resume"),
    ("wrong feature count", "evaluate {d}/run --data npz:{d}/ten_features.npz --split all --out {out}",
     "10 features, but VAE is expecting 64"),
    ("not a run folder", "sample {d}/mixed -n 4 -o {out}/grid.png", "not a genmodels run folder"),
    ("non-safetensors checkpoint", "sample {d}/garbage -n 4 -o {out}/grid.png", "not a valid safetensors"),
    ("pickle handed to load", "sample {d}/pickled -n 4 -o {out}/grid.png", "not a valid safetensors"),
    ("tampered checkpoint", "sample {d}/tampered -n 4 -o {out}/grid.png", "do not match"),
    ("broken config.json", "sample {d}/badconfig -n 4 -o {out}/grid.png", "not valid JSON"),
    ("unknown output type", "sample {d}/run -n 4 -o {out}/grid.gif", "unknown output type"),
]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("case", "argv", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_cli_bad_input_exits_2_without_damage(files, tmp_path, capsys, case, argv, fragment):
    out = tmp_path / "existing"
    out.mkdir()
    (out / "grid.png").write_bytes(b"previous output")
    (out / "config.json").write_text('{"family": "vae"}')
    before = _snapshot(out)
    MARKER.unlink(missing_ok=True)
    code = main(argv.format(d=files, out=out).split())
    err = capsys.readouterr().err
    assert code == 2, (case, err)
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("genmodels: error:"), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert _snapshot(out) == before, "existing output was changed"
    assert not MARKER.exists(), "a pickle was executed"


def test_real_entry_point_prints_one_line_and_exits_2(files):
    result = subprocess.run([sys.executable, "-m", "genmodels", "sample", str(files / "pickled"), "-o", "x.png"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and not MARKER.exists()


@pytest.mark.parametrize(("spec", "fragment"), [
    ("csv:{d}/nope.csv", "file not found"), ("csv:{d}/nan.csv", "NaN"), ("npy:{d}/flat.npy", "1-D"),
    ("images:{d}/mixed", "mixed sizes"), ("images:{d}/badpng", "cannot read"), ("mnist:{d}/mnist", "corrupt IDX"),
    ("npz:{d}/corrupt.npz", "NPZ"), ("npz:{d}/objects.npz", "pickled"), ("csv:{d}/empty.csv", "empty"),
])
def test_python_data_errors(files, spec, fragment):
    with pytest.raises(DataError, match=None) as info:
        load_dataset(spec.format(d=files), "all")
    assert fragment in str(info.value)


def test_python_model_errors(files, digits_binary):
    train, _ = digits_binary
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        VAE(verbose=0).fit(train.X * 255)
    model = load(files / "run")
    with pytest.raises(DataError, match="10 features, but VAE is expecting 64"):
        model.transform(np.zeros((3, 10), np.float32))
    with pytest.raises(DataError, match="NaN"):
        model.score_samples(np.full((2, 64), np.nan, np.float32))
    with pytest.raises(DataError, match="empty"):
        VAE().fit(np.zeros((0, 4)))
    with pytest.raises(DataError, match="conditional=True needs class labels"):
        VAE(conditional=True).fit(train.X)
    for name in ("garbage", "pickled", "tampered", "badconfig"):
        with pytest.raises(DataError):
            load(files / name)
    assert not MARKER.exists()
    assert isinstance(DataError("x"), ValueError)
