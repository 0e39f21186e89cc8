"""What one bundle export works on (:class:`ExportJob`), and what a model family brings to it (:class:`ModelKit`).

``export_bundle`` resolves the run, the target, the options and the windows once into an
``ExportJob`` and hands it, with each graph's spec and :class:`~.inputs.GraphKit`, to the
target's ``export_graph``. A ``ModelKit`` says which graphs a model family exports, over which
sampler schedules, and what it adds to the manifest: FlowFM's is :data:`.flowfm.FLOWFM`, the
diffusion twin's :data:`.diffusion.TWIN`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..bundle.targets import Target
from .graphs import GraphSpec
from .inputs import GraphKit, Windows
from .options import ExportOptions


@dataclass
class ExportJob:
    """One export: the run and its model, the target, the options asked for, the windows, where it writes."""

    run: Path
    config: dict  # the run's checkpoint/config.json
    model: Any  # the run's model (EMA weights), eval mode
    head: Any  # its classifier head (torch), or None
    classes: list[str] | None  # the head's class names
    text: dict | None  # a text run's ``text`` section of its config (embedder, prompts, ...), else None
    target: Target
    opts: ExportOptions  # precisions, solvers, steps, gates, seed, ...
    windows: Windows  # calibration and validation windows
    calibration: dict | None  # their description for the manifest; None without real windows
    schedules: list[tuple[str, int]]  # (solver, steps) of every fused sampler
    prompts: tuple[list[str], np.ndarray] | None  # a text run's (texts, embeddings (K, text_dim)), else None
    log: Callable[[str], None]
    bundle: Path | None = None  # the directory written: a temporary sibling of the bundle until every artefact passed

    @property
    def norm(self) -> tuple[list[float], list[float]]:
        """The model's per-channel (mean, std), in which the quality gates measure errors."""
        return self.model.cfg.norm_mean, self.model.cfg.norm_std


class ModelKit:
    """How a model family exports: its sampler schedules, its graphs, each with its graph kit, and its manifest.

    A subclass overrides what differs; :meth:`check` refuses what the family cannot export before
    anything is written.
    """

    name: str

    def check(self, target: Target, opts: ExportOptions) -> None:
        """Raise ValueError for a target or an option this family cannot export."""

    def schedules(self, opts: ExportOptions) -> list[tuple[str, int]]:
        """The (solver, steps) of every fused sampler asked for."""
        raise NotImplementedError

    def graphs(self, job: ExportJob, names: list[str]) -> list[tuple[GraphSpec, GraphKit]]:
        """The spec of every graph of the bundle (one per sampler schedule), with the kit that feeds and builds it."""
        raise NotImplementedError

    def manifest_section(self, manifest: dict, job: ExportJob) -> dict:
        """The manifest with what this family adds to it; returns the manifest."""
        return manifest
