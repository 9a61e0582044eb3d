"""Progress for people: one bar per phase (training, each DBN layer, preprocessing, AIS, the feature network),
counted in units people read (images/s, rows/s, seconds of a time budget), and one summary line per phase.

The summary line ("what ran, how long, the main number") goes to the `genmodels.progress` logger at INFO, with
`record.bars` telling whether a bar was shown. A library stays silent unless the program configures logging; the
CLI prints the lines whose phase showed no bar (--quiet, CI=true), so a log file gets one line per phase instead
of carriage-return bar updates.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

log = logging.getLogger("genmodels.progress")
log.setLevel(logging.INFO)  # no handler of its own: the program decides where (if anywhere) the lines go


def progress_enabled(verbose: bool | int) -> bool:
    """Bars are for people: off with verbose=0 (--quiet) and under CI=true."""
    return bool(verbose) and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


def rate(n: float, seconds: float, unit: str) -> str:
    """'1.2k img/s'-style throughput."""
    per_s = n / seconds if seconds > 0 else 0.0
    scaled = f"{per_s / 1000:.1f}k" if per_s >= 10_000 else f"{per_s:.0f}" if per_s >= 10 else f"{per_s:.2g}"
    return f"{scaled} {unit}/s"


class Phase:
    """One phase's bar (when `progress_enabled(verbose)`) and its summary line (`done`).

    `seconds=True` makes a time-budget bar: its total is the budget in seconds and `advance_to(elapsed)` moves
    it, so it shows elapsed / total seconds rather than a step count the budget cuts short."""

    def __init__(self, name: str, total: float | None = None, unit: str = "it", verbose: bool | int = 1,
                 seconds: bool = False, initial: float = 0):
        self.name, self.unit, self.seconds = name, unit, seconds
        self.started = time.perf_counter()
        self.bar = None
        if progress_enabled(verbose):
            from tqdm.auto import tqdm

            fmt = ("{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.4g} s{postfix}" if seconds else None)
            self.bar = tqdm(total=total, initial=initial, desc=name, unit="s" if seconds else unit,
                            unit_scale=not seconds, bar_format=fmt, dynamic_ncols=True, leave=False,
                            file=sys.stderr)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def update(self, n: float = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def advance_to(self, value: float) -> None:
        """Move the bar to an absolute position (a budget bar: the seconds spent), never past its total."""
        if self.bar is not None:
            total = self.bar.total if self.bar.total is not None else value
            self.bar.update(max(0.0, min(value, total) - self.bar.n))

    def postfix(self, values: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def done(self, summary: str) -> str:
        """Close the bar and log the phase's summary line: '<name> (<seconds> s): <summary>'."""
        self.close()
        line = f"{self.name} ({self.elapsed:.1f} s): {summary}"
        log.info(line, extra={"bars": self.bar is not None})
        return line


class SummaryLines(logging.Handler):
    """The CLI's handler: writes the summary lines of phases that showed no bar to (the current) stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "bars", False):
            print(f"genmodels: {record.getMessage()}", file=sys.stderr, flush=True)


__all__ = ["Phase", "SummaryLines", "log", "progress_enabled", "rate"]
