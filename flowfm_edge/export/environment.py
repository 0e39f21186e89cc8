"""The manifest's descriptive parts: model identity, signal contract, build environment, torch files."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import shutil
import subprocess
from pathlib import Path

from ..data.contract import CHANNELS, RATE_HZ, UNITS, WINDOW_S
from ..solvers import nfe
from ..bundle.manifest import SCHEMA_VERSION, file_entry
from ..bundle.targets import SAMPLER_GRAPHS
from .onnx.convert import OPSET

TORCH_FILES = ("config.json", "ema.safetensors", "head.safetensors", "head.json", "prior.safetensors", "prior.json")


def package_version(dist: str) -> str | None:
    """The installed version of distribution ``dist``, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The commit of the flowfm-edge source tree, when it is a git checkout."""
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def environment() -> dict:
    from .. import __version__

    return {"flowfm_edge": __version__, "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}", "torch": package_version("torch"),
            "onnx": package_version("onnx"), "onnxscript": package_version("onnxscript"), "onnxruntime": package_version("onnxruntime"),
            "onnx_opset": OPSET, "numpy": package_version("numpy"), "litert": package_version("ai-edge-litert"),
            "tensorrt": package_version("tensorrt")}


def copy_torch_checkpoint(src: Path, dst: Path, bundle: Path) -> list[dict]:
    """Copy the run's config, EMA weights, head and prior into the bundle, so the torch backend needs nothing else."""
    dst.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in TORCH_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
            entries.append(file_entry(bundle, dst / name))
    return entries


def build_manifest(job, specs, artefacts: list[dict], golden: dict, torch_files: list[dict],
                   prior: dict | None = None) -> dict:
    """The manifest of ``job`` (an :class:`~.job.ExportJob`) and its graphs' ``specs``; ``prior`` is the section
    :func:`~.prior.write_prior` returned (None: the run has no prior)."""
    cfg, config, target, opts = job.model.cfg, job.config, job.target, job.opts
    data = config.get("data", {})
    samplers = [{"name": s.name, **s.sampler, "nfe": s.sampler.get("nfe") or nfe(s.sampler["solver"], s.sampler["steps"])}
                for s in specs if s.graph in SAMPLER_GRAPHS]
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": "flowfm", "objective": cfg.objective, "preset": cfg.preset, "run": job.run.name,
                  "train_step": config.get("step"), "config_hash": cfg.hash(), "config": cfg.to_dict(),
                  "training_data": {"source": data.get("source"), "hash": data.get("hash"),
                                    "n_windows": data.get("n_windows")},
                  "git_commit": git_commit()},
        "signal": {"sample_rate_hz": RATE_HZ, "window": cfg.window, "window_s": WINDOW_S, "channels": list(CHANNELS),
                   "units": UNITS, "layout": "(batch, channel, time)",
                   "normalisation": {"mean": cfg.norm_mean, "std": cfg.norm_std,
                                     "applied": "inside every graph that takes or returns x; velocity works in "
                                                "normalised units z = (x - mean) / std"}},
        "classes": job.classes,
        "target": {"name": target.name, "format": target.format, "backends": list(target.backends)},
        "graphs": {s.name: {"graph": s.graph, **s.to_dict()} for s in specs},
        "samplers": samplers,
        "calibration": None if job.calibration is None else {**job.calibration, "method": opts.calib_method},
        "gates": opts.limits.to_dict(),
        "artefacts": artefacts,
        "golden": golden,
        "torch": {"path": "torch", "files": torch_files},
        "prior": prior,
        "environment": environment(),
    }
