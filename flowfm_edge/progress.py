"""Progress of long commands: a rich bar on a terminal, a plain line now and then when no terminal is attached,
and :data:`console`, the rich console on which a job reports its lines and tables (the command line prints on it too).

A bar redrawn in place means nothing in a log file, a pipe or the systemd journal (rich draws
nothing there until the end), so when stdout is not a terminal :func:`progress_bar` prints one
plain line every ``FLOWFM_EDGE_PROGRESS_S`` seconds (default 30) instead, and
:class:`ProgressLine` does the same for work without a known end (``stream``, ``gateway``).
Imports rich only: the torch-free runtime commands use it too.

>>> with progress_bar(400, label="train") as advance:      # doctest: +SKIP
...     for step in range(400):
...         advance(loss=0.5)        # a terminal: the bar; a log: "train 120/400 (30%) 0:01:02 eta 0:02:25 loss 0.5000"
>>> line = ProgressLine("stream", file=sys.stderr)         # doctest: +SKIP
>>> line.update(windows=1200, devices=40)                  # printed when the interval has passed
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console()  # stdout, looked up at each print (a test runner's capture sees it)

EVERY_ENV = "FLOWFM_EDGE_PROGRESS_S"
DEFAULT_EVERY_S = 30.0


def every_s(default: float = DEFAULT_EVERY_S) -> float:
    """Seconds between plain progress lines: ``$FLOWFM_EDGE_PROGRESS_S``, else ``default``."""
    value = os.environ.get(EVERY_ENV)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"${EVERY_ENV}={value!r}: expected seconds between progress lines, e.g. 30") from None
    if not seconds >= 0:
        raise ValueError(f"${EVERY_ENV}={value!r}: must be >= 0")
    return seconds


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal, as rich decides it (``FORCE_TERMINAL``, ``TTY_COMPATIBLE`` and Jupyter included)."""
    return Console(file=sys.stdout).is_terminal


def _clock(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _fields(fields: dict) -> str:
    def one(v):
        if isinstance(v, float):
            return f"{v:.4f}"
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)

    return " ".join(f"{k} {one(v)}" for k, v in fields.items())


class ProgressLine:
    """Plain progress lines for logs: :meth:`update` prints one when ``every`` seconds passed since the last.

    With ``total`` the line shows done/total, the percentage, elapsed time and an estimate of
    the time left; without, the fields given (running counts). :meth:`close` prints the last state.
    """

    def __init__(self, label: str, total: int | None = None, start: int = 0, file: TextIO | None = None,
                 every: float | None = None):
        self.label, self.total, self.done, self.start = label, total, start, start
        self.file = file
        self.every = every_s() if every is None else every
        self.started = self.last = time.monotonic()
        self.fields: dict = {}
        self.printed = 0

    def update(self, advance: int = 0, done: int | None = None, **fields) -> None:
        self.done = self.done + advance if done is None else done
        self.fields.update(fields)
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.print()

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        parts = [self.label]
        if self.total is not None:
            rate = (self.done - self.start) / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            pct = 100 * self.done / self.total if self.total else 100.0
            parts += [f"{self.done:,}/{self.total:,} ({pct:.0f}%)", _clock(elapsed),
                      f"eta {_clock(eta) if eta == eta else '?'}"]
        else:
            parts.append(_clock(elapsed))
        if self.fields:
            parts.append(_fields(self.fields))
        return " ".join(parts)

    def print(self) -> None:
        print(self.line(), file=self.file or sys.stdout, flush=True)
        self.printed += 1

    def close(self) -> None:
        """Print the final state."""
        self.print()


@contextmanager
def progress_bar(total: int, start: int = 0, label: str = "work", enabled: bool = True, file: TextIO | None = None):
    """Yield ``advance(**fields)``; each call moves one step and shows ``fields``.

    A rich bar when stdout is a terminal; otherwise a plain :class:`ProgressLine` (to ``file``,
    default stdout) every ``$FLOWFM_EDGE_PROGRESS_S`` seconds and one at the end.
    """
    if not enabled:
        yield lambda **_: None
        return
    if not stdout_is_terminal():
        line = ProgressLine(label, total, start, file)
        yield lambda **fields: line.update(1, **fields)
        line.close()
        return
    columns = [TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=total, completed=start, info="")

        def advance(**fields) -> None:
            bar.update(task, advance=1, info=_fields(fields))

        yield advance
