"""Bad hyperparameters through `genmodels train`, table-driven over every registered array family and every
hyperparameter it declares: for each constraint of a parameter, the constraint's own bad value (skipped where
another constraint of the same parameter accepts it). Each gives exit code 2, one line on stderr naming the
parameter, and no run folder: the check runs before the data is read, so nothing trains."""

from __future__ import annotations

import json

import pytest

from genmodels.cli import main
from genmodels.models import FAMILIES, ArrayModel
from genmodels.train import holds_run


def _cases() -> list[tuple[str, str, object]]:
    cases = []
    for family, cls in sorted(FAMILIES.items()):
        if not (issubclass(cls, ArrayModel) or "text" in cls.capabilities):  # what `train` fits
            continue
        for name, constraints in sorted(cls._parameter_constraints.items()):
            for constraint in constraints:
                bad = constraint.bad_value()
                if not any(other.ok(bad) for other in constraints):
                    cases.append((family, name, bad))
    return cases


CASES = _cases()


def test_every_array_family_and_parameter_has_a_case():
    covered = {(family, name) for family, name, _ in CASES}
    for family, cls in FAMILIES.items():
        if issubclass(cls, ArrayModel):
            assert set(cls._parameter_constraints) == set(cls().get_params(deep=False))
            assert {(family, name) for name in cls._parameter_constraints} <= covered, family


@pytest.mark.parametrize(("family", "name", "bad"), CASES, ids=[f"{f}-{n}={b!r}" for f, n, b in CASES])
def test_bad_hyperparameter_exits_2_with_one_line_and_no_run(tmp_path, capsys, family, name, bad):
    out = tmp_path / "run"
    code = main(["train", family, "--data", "digits", "--out", str(out), "-q", "-p", f"{name}={json.dumps(bad)}"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("genmodels: error:") and f": {name} must be " in lines[0], err
    assert not out.exists() and not holds_run(out)


@pytest.mark.parametrize("argv", [["--epochs", "-1"], ["--batch-size", "0"], ["--seed", "-2"],
                                  ["--checkpoint-every", "-5"], ["--device", "tpu"]])
def test_bad_explicit_option_exits_2(tmp_path, capsys, argv):
    out = tmp_path / "run"
    assert main(["train", "vae", "--data", "digits", "--out", str(out), "-q", *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and argv[0].lstrip("-").replace("-", "_") in lines[0], lines
    assert not out.exists()


def _family_cases(cls) -> list[tuple[str, object]]:
    return [(name, c.bad_value()) for name, constraints in sorted(cls._parameter_constraints.items())
            for c in constraints if not any(other.ok(c.bad_value()) for other in constraints)]


@pytest.fixture
def small_files(tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("x,kind\n" + "".join(f"{i * 0.5},{'ab'[i % 2]}\n" for i in range(40)))
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("user,item,rating\n" + "".join(f"{u},{i},{1 + (u + i) % 5}\n" for u in range(8)
                                                      for i in range(6)))
    return table, ratings


def _commands(table, ratings, out, name, bad):
    value = f"{name}={json.dumps(bad)}"
    return {"synth": ["synth", str(table), "--rows", "5", "-o", str(out.parent / "synth.csv"), "--save-model",
                      str(out), "-q", "-p", value],
            "recommend": ["recommend", "train", "--ratings", f"csv:{ratings}", "--out", str(out), "-q", "-p", value]}


@pytest.mark.parametrize("command", ["synth", "recommend"])
def test_bad_hyperparameters_of_the_table_and_ratings_commands_exit_2_with_one_line(tmp_path, capsys, small_files,
                                                                                  command):
    """The same table over `synth` (TabularSynthesizer) and `recommend train` (RatingsRBM): every parameter."""
    from genmodels.models import RatingsRBM, TabularSynthesizer

    cls = TabularSynthesizer if command == "synth" else RatingsRBM
    cases = _family_cases(cls)
    assert {name for name, _ in cases} == set(cls._parameter_constraints)
    for name, bad in cases:
        out = tmp_path / f"run-{name}"
        code = main(_commands(*small_files, out, name, bad)[command])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and f": {name} must be " in lines[0], (name, bad, lines)
        assert not holds_run(out), name
