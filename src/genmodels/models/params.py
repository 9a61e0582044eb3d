"""Declarative hyperparameter checks, in the spirit of scikit-learn's `_parameter_constraints`: each family maps
every `__init__` parameter to the values it accepts, and `fit` checks them all before any tensor is made. A
bad value is one DataError line naming the class, the parameter, what it accepts and what it got."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from ..errors import DataError


class Constraint:
    """One kind of accepted value; a parameter accepts a value when any of its constraints does."""

    def ok(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def bad_value(self) -> Any:
        """A value this constraint refuses (the table-driven bad-input test uses it)."""
        raise NotImplementedError


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


class Interval(Constraint):
    """A number in [low, high] (either end None = unbounded); `closed` says which ends belong: "both", "left",
    "right" or "neither". kind=int accepts integers only; kind=float accepts any finite real number."""

    def __init__(self, kind: type, low: float | None, high: float | None, closed: str = "both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def ok(self, value: Any) -> bool:
        if not (_is_int(value) if self.kind is int else _is_real(value)):
            return False
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not left)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not right)))

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        lo = "[" if self.closed in ("both", "left") else "("
        hi = "]" if self.closed in ("both", "right") else ")"
        if self.low is not None and self.high is not None:
            return f"{what} in {lo}{self.low:g}, {self.high:g}{hi}"
        if self.low is not None:
            return f"{what} {'>=' if lo == '[' else '>'} {self.low:g}"
        if self.high is not None:
            return f"{what} {'<=' if hi == ']' else '<'} {self.high:g}"
        return what

    def bad_value(self) -> Any:
        if self.low is not None:
            return self.low - 1
        if self.high is not None:
            return self.high + 1
        return "not-a-number"


class Options(Constraint):
    """One of a fixed set of values (strings, usually)."""

    def __init__(self, *values: Any):
        self.values = values

    def ok(self, value: Any) -> bool:
        return isinstance(value, str | bool | type(None)) and value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def bad_value(self) -> Any:
        return "no-such-option"


class Boolean(Constraint):
    def ok(self, value: Any) -> bool:
        return isinstance(value, bool) or (_is_int(value) and value in (0, 1))

    def describe(self) -> str:
        return "true or false"

    def bad_value(self) -> Any:
        return "maybe"


class NoneValue(Constraint):
    def ok(self, value: Any) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"

    def bad_value(self) -> Any:
        return "not-none"


class Sizes(Constraint):
    """A list/tuple of integers >= `low` (layer widths), with at least `min_len` entries."""

    def __init__(self, min_len: int = 1, low: int = 1):
        self.min_len, self.low = min_len, low

    def ok(self, value: Any) -> bool:
        return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) >= self.min_len
                and all(_is_int(v) and v >= self.low for v in value))

    def describe(self) -> str:
        return (f"a list of {'at least ' + str(self.min_len) + ' ' if self.min_len > 1 else ''}"
                f"integers >= {self.low}" + (" (may be empty)" if self.min_len == 0 else ""))

    def bad_value(self) -> Any:
        return [self.low - 1]


class Numbers(Constraint):
    """A list/tuple of exactly n values, each accepted by `element` (e.g. Adam's two betas)."""

    def __init__(self, n: int, element: Interval):
        self.n, self.element = n, element

    def ok(self, value: Any) -> bool:
        return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == self.n
                and all(self.element.ok(v) for v in value))

    def describe(self) -> str:
        return f"{self.n} numbers, each {self.element.describe()}"

    def bad_value(self) -> Any:
        return [self.element.bad_value()] * self.n


class Pair(Constraint):
    """Two numbers (low, high) with low < high, each accepted by `element`."""

    def __init__(self, element: Interval):
        self.element = element

    def ok(self, value: Any) -> bool:
        return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
                and all(self.element.ok(v) for v in value) and value[0] < value[1])

    def describe(self) -> str:
        return f"two numbers (low, high), low < high, each {self.element.describe()}"

    def bad_value(self) -> Any:
        return [5, 1]


class Mapping(Constraint):
    def ok(self, value: Any) -> bool:
        return isinstance(value, dict)

    def describe(self) -> str:
        return "a mapping"

    def bad_value(self) -> Any:
        return "not-a-mapping"


POSITIVE_INT = Interval(int, 1, None)
NON_NEGATIVE_INT = Interval(int, 0, None)
POSITIVE = Interval(float, 0, None, closed="neither")
NON_NEGATIVE = Interval(float, 0, None)
UNIT = Interval(float, 0, 1)
DEVICE = Options("auto", "cpu", "cuda", "mps", *(f"cuda:{i}" for i in range(16)))
PRECISION = Options("fp32", "bf16", "fp16")

# the training hyperparameters every family shares (the Trainer reads them)
TRAINING: dict[str, list[Constraint]] = {
    "epochs": [NON_NEGATIVE_INT],  # 0: build the model untrained (a baseline)
    "batch_size": [POSITIVE_INT],
    "seed": [NON_NEGATIVE_INT],
    "device": [DEVICE],
    "verbose": [Interval(int, 0, None), Boolean()],
    "checkpoint_every": [NON_NEGATIVE_INT],
    "sample_every": [NON_NEGATIVE_INT],
}


def check_params(estimator: Any) -> None:
    """Check every hyperparameter of `estimator` against its class's `_parameter_constraints`; the first bad
    value raises DataError. A parameter without an entry is a bug in the family (the contract test says so)."""
    cls = type(estimator)
    constraints: dict[str, list[Constraint]] = cls._parameter_constraints
    if not constraints:  # a family that declares none yet (the contract test requires them)
        return
    for name, value in estimator.get_params(deep=False).items():
        accepted = constraints.get(name)
        if accepted is None:
            raise TypeError(f"{cls.__name__}._parameter_constraints has no entry for {name!r}")
        if not any(c.ok(value) for c in accepted):
            raise DataError(f"{cls.__name__}: {name} must be {' or '.join(c.describe() for c in accepted)}; "
                            f"got {value!r}")
