"""What an export is asked for (:class:`ExportOptions`), read from the command line's options
(:func:`command_options`), and the check that its target takes every option given."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from ..bundle.recipes import parse_profile
from ..bundle.targets import TARGETS, Target
from ..data.contract import WindowSet
from .validation import Limits


@dataclass
class ExportOptions:
    target: str = "cpu"
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    steps: list[int] = field(default_factory=lambda: [8])
    solvers: list[str] = field(default_factory=lambda: ["euler"])
    graphs: list[str] | None = None  # default: every graph the run can provide
    calib: str | WindowSet | None = None  # data source; default: the run's training source
    calib_method: str = "minmax"
    calib_size: int = 128
    val_size: int = 256
    guidance: bool = False  # fused samplers take a guidance weight input w
    batch_profile: tuple[int, int, int] | None = None  # jetson: TensorRT optimisation profile (min, opt, max batch)
    int8_io: bool = False  # android: full-INT8 LiteRT models keep INT8 input/output
    fixed_batch: int = 1  # android: the fixed batch LiteRT models are exported with
    limits: Limits = field(default_factory=Limits)
    threads: int | None = None
    seed: int = 0
    force: bool = False


def check_options(opts: ExportOptions, target: Target) -> None:
    """Refuse an option ``target`` does not take (one changed from its default), naming the targets that do."""
    defaults = ExportOptions()
    offered = set().union(*(t.options for t in TARGETS.values()))
    for f in fields(ExportOptions):
        if f.name in offered and f.name not in target.options and getattr(opts, f.name) != getattr(defaults, f.name):
            takers = [t.name for t in TARGETS.values() if f.name in t.options]
            raise ValueError(f"--{f.name.replace('_', '-')} is not an option of target {target.name!r}; "
                             f"targets that take it: {', '.join(takers)}")


def command_options(params: Mapping[str, Any]) -> ExportOptions:
    """The options of ``flowfm-edge export``'s parameters: comma-separated lists split, the target's precisions when
    none are given, the batch profile parsed, the gates gathered into :class:`Limits`; parameters named as a field of
    :class:`ExportOptions` or :class:`Limits` are taken as they are, the rest (the run, the output) left out."""
    p = dict(params)
    if p["target"] not in TARGETS:
        raise ValueError(f"unknown target {p['target']!r}; choose from {', '.join(TARGETS)}")
    parsed = {
        "precisions": _list(p["precision"], "precision") if p["precision"]
        else list(TARGETS[p["target"]].default_precisions),
        "batch_profile": parse_profile(p["batch_profile"]) if p["batch_profile"] else None,
        "steps": _list(p["steps"], "steps", int),
        "solvers": _list(p["solver"], "solver"),
        "graphs": _list(p["graphs"], "graphs") if p["graphs"] else None,
        "limits": Limits(**{f.name: p[f.name] for f in fields(Limits) if f.name in p}),
    }
    same = {f.name: p[f.name] for f in fields(ExportOptions) if f.name in p and f.name not in parsed}
    return ExportOptions(**same, **parsed)


def _list(value: str, what: str, cast=str) -> list:
    items = [v.strip() for v in value.split(",") if v.strip()]
    try:
        return [cast(v) for v in items]
    except ValueError:
        raise ValueError(f"--{what} {value!r}: expected a comma-separated list, e.g. --{what} "
                         f"{'4,8,16' if cast is int else 'a,b'}") from None
