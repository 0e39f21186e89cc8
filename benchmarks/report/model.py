"""What a section of the rendered index is made of, the results it reads, and how figures are written.

A :class:`Section` is one claim or target area: rows of (target, measured, met, baselines) and the result
files they came from; :class:`Results` reads those files from ``benchmarks/results/`` and remembers which
ones each section read, so the section can name their command, date and machine.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .commands import today


@dataclass
class Row:
    target: str
    measured: str
    met: bool | None  # None: a figure without a pass mark (an ablation, a baseline comparison)
    baselines: str = ""


@dataclass
class Section:
    title: str
    about: str
    rows: list[Row]
    sources: list[str] = field(default_factory=list)
    note: str = ""


class Results:
    """The JSON files under ``folder``, read once each; :meth:`used` lists those read since the last call."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._cache: dict[str, dict] = {}
        self._used: list[str] = []

    def __call__(self, name: str) -> dict:
        if name not in self._cache:
            self._cache[name] = json.loads((self.folder / name).read_text())
        if name not in self._used:
            self._used.append(name)
        return self._cache[name]

    def used(self) -> list[str]:
        out, self._used = self._used, []
        return out

    def provenance(self, name: str) -> str:
        """One line: the file, the command that produced it (in today's form), its date and machine."""
        d = self(name)
        command = today(d["command"])
        line = f"[`{name}`](results/{name}): `{command}` ({str(d['date'])[:10]}, {d['machine']})"
        return line + (f"; {d['provenance_note']}" if d.get("provenance_note") else "")


# ---- figures ----------------------------------------------------------------------------------------

def f(x: float, digits: int = 3, sign: bool = False) -> str:
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def pm(values: list[float], digits: int = 3, sign: bool = False, ddof: int = 1) -> str:
    """Mean +- SD of ``values`` (``ddof`` 1: the sample SD; 0: as a script that used np.std reported it)."""
    sd = (statistics.stdev if ddof else statistics.pstdev)(values) if len(values) > 1 else 0.0
    return f"{f(statistics.mean(values), digits, sign)} +- {sd:.{digits}f}"


def fd(frechet: dict, digits: int = 2) -> str:
    """A Frechet distance with its 95% interval."""
    return f"{frechet['fd']:.{digits}f} [{frechet['ci_low']:.{digits}f}, {frechet['ci_high']:.{digits}f}]"


def met(flag: bool | None) -> str:
    return "—" if flag is None else ("**yes**" if flag else "**no**")


# ---- rendering ------------------------------------------------------------------------------------

def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_section(s: Section, results: Results) -> str:
    lines = [f"## {s.title}", "", s.about, "", "| target | measured | met | beside it |", "|---|---|---|---|"]
    lines += [f"| {cell(r.target)} | {cell(r.measured)} | {met(r.met)} | {cell(r.baselines)} |" for r in s.rows]
    if s.note:
        lines += ["", s.note]
    lines += ["", "From:", ""] + [f"- {results.provenance(name)}" for name in s.sources]
    return "\n".join(lines)
