"""What an export is asked for (:class:`ExportOptions`), and the check that its target takes every option given."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

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
