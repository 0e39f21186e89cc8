"""``export_bundle``: a run directory in, a validated, self-contained bundle directory out (docs/design.md#export).

It orchestrates: it reads the run once into an :class:`~.job.ExportJob`, asks the model kit of
the run's objective (:data:`MODEL_KITS`: FlowFM's, :mod:`.flowfm`, or the diffusion twin's,
:mod:`.diffusion`) for the bundle's graphs, and hands the job and each graph to its target's
package (:data:`EXPORTERS`: ``onnx`` for the cpu target, ``tensorrt`` for jetson, ``litert``
for android) through one entry point, ``export_graph(job, spec, kit)``, then ``manifest_section``
once. Text samplers (:mod:`.text_sampler`) bring their own graph kit to the ONNX path. The
run's prior over r (when it has one) goes in as ``prior/prior.npz`` with golden draws
checked against PyTorch. The bundle is built in a temporary sibling directory and moved into
place only when every artefact passed, so a failed export never leaves a half-written bundle
behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..bundle.manifest import write_manifest
from ..bundle.targets import get_target
from ..data.contract import WindowSet
from . import diffusion, litert, onnx, tensorrt, text_sampler
from .flowfm import FLOWFM
from .inputs import Windows
from .job import ExportJob, ModelKit
from .options import ExportOptions, check_options

EXPORTERS = {"cpu": onnx, "jetson": tensorrt, "android": litert}  # target -> its package
MODEL_KITS = {"flow": FLOWFM, "diffusion": diffusion.TWIN}  # objective -> its model kit (FlowFM's by default)


def export_bundle(run: str | Path, out: str | Path, opts: ExportOptions | None = None,
                  log: Callable[[str], None] = lambda s: None) -> dict:
    """Export ``run`` into the bundle directory ``out``; returns the manifest. Raises on any failed check."""
    opts = opts or ExportOptions()
    run, out = Path(run), Path(out)
    target = get_target(opts.target)
    target.check(opts.precisions, opts.solvers, opts.steps, opts.calib_method)
    check_options(opts, target)
    check_out(run, out)
    if out.exists() and any(out.iterdir()) and not opts.force:
        raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --force to replace it")
    job, kit, names = _job(run, target, opts, log)
    graphs = kit.graphs(job, names)
    exporter = EXPORTERS[target.name]
    out.parent.mkdir(parents=True, exist_ok=True)
    job.bundle = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        artefacts, golden = [], {}
        for spec, graph_kit in graphs:
            a, golden[spec.name] = exporter.export_graph(job, spec, graph_kit)
            artefacts += a
        manifest = _manifest(job, kit, [spec for spec, _ in graphs], artefacts, golden)
        write_manifest(job.bundle, manifest)
        job.bundle.chmod(0o755)  # mkdtemp makes it private
        if out.exists():
            shutil.rmtree(out)
        os.replace(job.bundle, out)
    except BaseException:
        shutil.rmtree(job.bundle, ignore_errors=True)
        raise
    log(f"wrote {out} ({len(artefacts)} artefacts)")
    return manifest


def _job(run: Path, target, opts: ExportOptions, log) -> tuple[ExportJob, ModelKit, list[str]]:
    """The run read once as an export job, the model kit of its objective and the graphs to export; what cannot
    be exported is refused before any data are read."""
    from ..training.checkpoint import checkpoint_dir, load_classifier, load_model

    model, config = load_model(run)
    head, classes = None, None
    if (checkpoint_dir(run) / "head.json").is_file():
        clf, classes = load_classifier(run)
        model, head = clf.model, clf.head
    text = config.get("text") if model.cfg.text_dim > 0 else None
    names = _graphs(opts, target, head is not None, text is not None, run)
    kit = MODEL_KITS.get(model.cfg.objective, FLOWFM)
    kit.check(target, opts)
    windows, calibration = _windows(opts, config, classes, log)
    # the run's prompt embeddings, read once: the text samplers' inputs and the bundle's text section
    prompts = text_sampler.prompt_embeddings(run, config) if "text-sampler" in names else None
    job = ExportJob(run, config, model, head, classes, text, target, opts, windows, calibration, kit.schedules(opts),
                    prompts, log)
    return job, kit, names


def _manifest(job: ExportJob, kit: ModelKit, specs, artefacts: list[dict], golden: dict) -> dict:
    """The manifest, with the torch checkpoint and the prior copied into the bundle and each section added."""
    from ..training.checkpoint import checkpoint_dir
    from .environment import build_manifest, copy_torch_checkpoint
    from .prior import write_prior

    torch_files = copy_torch_checkpoint(checkpoint_dir(job.run), job.bundle / "torch" / "checkpoint", job.bundle)
    prior = write_prior(job.bundle, getattr(job.model, "prior", None), _prior_info(job.run), job.opts.seed)
    if prior:
        job.log(f"prior: {prior['components']}-component {prior['covariance_type']} Gaussian mixture over r, "
                f"numpy vs PyTorch max |dr| {prior['parity']['value']:.1e} <= {prior['parity']['tolerance']:.0e}")
    manifest = build_manifest(job, specs, artefacts, golden, torch_files, prior)
    manifest = EXPORTERS[job.target.name].manifest_section(manifest, job)
    return kit.manifest_section(manifest, job)


def check_out(run: Path, out: Path) -> None:
    """Refuse an ``out`` that is the run, lies inside it, or holds it: replacing it would delete the run."""
    r, o = run.resolve(), out.resolve()
    if o == r or o.is_relative_to(r):
        raise ValueError(f"--out {out} is {'the run' if o == r else 'inside the run'} {run}; writing the bundle there "
                         "would replace the run it is exported from: choose an --out outside it")
    if r.is_relative_to(o):
        raise ValueError(f"--out {out} holds the run {run}; replacing it would delete the run: choose another --out")


def _prior_info(run: Path) -> dict | None:
    path = run / "checkpoint" / "prior.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _graphs(opts: ExportOptions, target, has_head: bool, is_text: bool, run: Path) -> list[str]:
    if opts.graphs is None:
        return [g for g in target.graphs if (g != "classifier" or has_head) and (g != "text-sampler" or is_text)]
    bad = [g for g in opts.graphs if g not in target.graphs]
    if bad:
        where = " (text samplers export to the cpu target)" if "text-sampler" in bad else ""
        raise ValueError(f"--graphs {','.join(bad)}: unknown graph for target {target.name!r}{where}; "
                         f"choose from {', '.join(target.graphs)}")
    if "classifier" in opts.graphs and not has_head:
        raise ValueError(f"{run}: no classifier head to export; fit one with `flowfm-edge probe {run} --data ...` "
                         "or leave classifier out of --graphs")
    if "text-sampler" in opts.graphs and not is_text:
        raise ValueError(f"{run}: not a text run, so there is no text-sampler to export; fine-tune one with "
                         f"`flowfm-edge train-text {run} --data ... --out RUN_TEXT`")
    return list(dict.fromkeys(opts.graphs))


def _windows(opts: ExportOptions, config: dict, classes: list[str] | None, log) -> tuple[Windows, dict | None]:
    """Calibration and validation windows, and their description for the manifest."""
    from ..calibration import calibration_split
    from ..data.hashing import array_hash

    needs_calib = any(p.startswith("int8") and p != "int8-dynamic" for p in opts.precisions)
    trained = config.get("data", {})  # "spec" loads again; "source" only names the windows (hapt:pretrain)
    source = opts.calib if opts.calib is not None else trained.get("spec", trained.get("source"))
    ws = None
    if isinstance(source, WindowSet):
        ws = source
    elif source is not None:
        from ..data import load_source

        try:
            ws = load_source(source, split="labelled")
        except (ValueError, OSError) as exc:
            if needs_calib or opts.calib is not None:
                whose = "" if opts.calib is not None else " (the run's training data)"
                raise ValueError(f"calibration data {source!r}{whose} could not be read ({exc}); "
                                 "pass --calib DATA (synthetic, hapt or a .npz file)") from exc
            log(f"note: the run's data {source!r} could not be read; checking with random inputs only")
    if ws is None:
        if needs_calib:
            raise ValueError("INT8 needs calibration windows: pass --calib DATA (synthetic, hapt or a .npz file)")
        return Windows(None, None, None), None
    calib_idx, val_idx = calibration_split(ws, opts.calib_size, opts.val_size, seed=opts.seed)
    labels = None
    if ws.y is not None and classes is not None:
        if ws.classes is not None and list(ws.classes) != list(classes):
            log(f"note: {ws.source} classes {ws.classes} differ from the head's {classes}; "
                "the classifier is gated on its output error instead of macro-F1")
        else:
            labels = np.asarray(ws.y)[val_idx]
    info = {"source": ws.source, "sampling": "round-robin over (class, subject) cells", "seed": opts.seed,
            "windows": int(len(calib_idx)), "hash": array_hash(ws.X[calib_idx]),
            "validation_windows": int(len(val_idx)), "validation_hash": array_hash(ws.X[val_idx]),
            "classes": int(len(np.unique(ws.y[calib_idx]))) if ws.y is not None else None,
            "subjects": int(len(np.unique(ws.pid[calib_idx])))}
    return Windows(ws.X[calib_idx], ws.X[val_idx], labels), info
