"""``export_bundle``: a run directory in, a validated, self-contained bundle directory out (SPEC 6).

For every graph the target offers: export FP32 ONNX, check it against PyTorch, quantise to
each INT8 precision asked for, check those against their gates, and write golden inputs and
outputs; the run's prior over r (when it has one) goes in as ``prior/prior.npz`` with golden
draws checked against PyTorch. The bundle is built in a temporary sibling directory and moved into place only
when every artefact passed, so a failed export never leaves a half-written bundle behind.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.contract import WindowSet
from .graphs import GraphSpec, build_graph, graph_spec
from .inputs import Windows, example_args, feeds, reference
from ..bundle.manifest import file_entry, write_manifest
from ..bundle.metrics import FP32_REL_TOLERANCE
from ..bundle.targets import SAMPLER_GRAPHS, get_target
from .validation import INT8_DRIFT_TOLERANCE, Limits, check_artefact, run_onnx_many

GOLDEN_ROWS = 4


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
    batch_profile: tuple[int, int, int] | None = None  # TensorRT optimisation profile (min, opt, max batch)
    int8_io: bool = False  # android: full-INT8 LiteRT models keep INT8 input/output
    fixed_batch: int = 1  # android: the fixed batch LiteRT models are exported with
    limits: Limits = field(default_factory=Limits)
    threads: int | None = None
    seed: int = 0
    force: bool = False


def export_bundle(run: str | Path, out: str | Path, opts: ExportOptions | None = None,
                  log: Callable[[str], None] = lambda s: None) -> dict:
    """Export ``run`` into the bundle directory ``out``; returns the manifest. Raises on any failed check."""
    from ..models.layers import check_guidance
    from ..training.checkpoint import checkpoint_dir, load_classifier, load_model

    opts = opts or ExportOptions()
    run, out = Path(run), Path(out)
    target = get_target(opts.target)
    target.check(opts.precisions, opts.solvers, opts.steps, opts.calib_method)
    check_out(run, out)
    if out.exists() and any(out.iterdir()) and not opts.force:
        raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --force to replace it")
    model, config = load_model(run)
    head, classes = None, None
    if (checkpoint_dir(run) / "head.json").is_file():
        clf, classes = load_classifier(run)
        model, head = clf.model, clf.head
    text = config.get("text") if model.cfg.text_dim > 0 else None
    graphs = _graphs(opts, head is not None, text is not None, run)
    windows, calib_info = _windows(opts, config, classes, log)
    schedules = [(s, n) for s in opts.solvers for n in opts.steps]
    specs = [graph_spec(g, model.cfg, n_classes=len(classes or [])) for g in graphs if g not in SAMPLER_GRAPHS]
    if "sampler" in graphs:
        r_guidance = opts.guidance
        if opts.guidance and model.cfg.p_dgs == 0:
            if text is None:
                check_guidance(model.cfg, 1.0)  # refuses: no r = 0 velocity to guide against
            r_guidance = False  # a text run: --guidance is for its text samplers
            log("r-conditioned samplers exported without guidance: the run was trained with p_dgs = 0")
        specs += [graph_spec("sampler", model.cfg, solver=s, steps=n, guidance=r_guidance) for s, n in schedules]
    text_kit = None
    if "text-sampler" in graphs:  # the sentence embedding is an input; the text model stays on the host
        from . import text_sampler as text_export

        texts, E = text_export.prompt_embeddings(run, config)
        text_kit = text_export.kit(E)
        specs += [text_export.text_sampler_spec(model.cfg, s, n, opts.guidance, text["embedder"]) for s, n in schedules]

    hooks = importlib.import_module(target.hooks) if target.hooks else None
    twin = None
    if model.cfg.objective == "diffusion":  # the twin's denoiser and fused DDIM samplers
        from . import diffusion as twin

        twin.check_target(target)
        specs = twin.graph_specs(graphs, model.cfg, len(classes or []), opts)
        hooks = None
    export_graph = twin.export_graph if twin else hooks.export_graph if hooks else _export_graph
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        artefacts, golden = [], {}
        for spec in specs:
            if spec.graph == "text-sampler":
                a, g = _export_graph(spec, model, head, windows, schedules, opts, target.name, tmp, log, text_kit)
            else:
                a, g = export_graph(spec, model, head, windows, schedules, opts, target.name, tmp, log)
            artefacts += a
            golden[spec.name] = g
        from .environment import build_manifest, copy_torch_checkpoint
        from ..bundle.prior import write_prior

        torch_files = copy_torch_checkpoint(checkpoint_dir(run), tmp / "torch" / "checkpoint", tmp)
        prior = write_prior(tmp, getattr(model, "prior", None), _prior_info(run), opts.seed)
        if prior:
            log(f"prior: {prior['components']}-component {prior['covariance_type']} Gaussian mixture over r, "
                f"numpy vs PyTorch max |dr| {prior['parity']['value']:.1e} <= {prior['parity']['tolerance']:.0e}")
        manifest = build_manifest(run, config, model, classes, target, specs, artefacts, golden, torch_files,
                                  calib_info, opts, prior)
        if hooks:
            manifest = hooks.manifest_section(manifest, opts)
        if twin:
            manifest = twin.manifest_section(manifest, opts, model)
        if text_kit:
            manifest["text"] = text_export.bundle_section(tmp, config, texts, E)
        write_manifest(tmp, manifest)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"wrote {out} ({len(artefacts)} artefacts)")
    return manifest


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


def _graphs(opts: ExportOptions, has_head: bool, is_text: bool, run: Path) -> list[str]:
    target = get_target(opts.target)
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
    from ..calibration import array_hash, calibration_split

    needs_calib = any(p.startswith("int8") and p != "int8-dynamic" for p in opts.precisions)
    source = opts.calib if opts.calib is not None else config.get("data", {}).get("source")
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


def _export_graph(spec: GraphSpec, model, head, windows: Windows, schedules, opts: ExportOptions, target: str,
                  bundle: Path, log, kit=None) -> tuple[list[dict], dict]:
    """Every precision of one graph: returns (artefact entries, golden entry).

    ``kit`` = (feeds, reference, build_graph, example_args) for models other than FlowFM.
    """
    from ..calibration import ArrayReader
    from .onnx.quantize import quantize_dynamic, quantize_static
    from .onnx.convert import export_onnx
    from .onnx.sampler_loop import LoopedSampler

    feeds_fn, reference_fn, build_fn, example_fn = kit or (feeds, reference, build_graph, example_args)
    calib, check, n_real, labels = feeds_fn(spec, model, windows, schedules, seed=opts.seed)
    ref = reference_fn(spec, model, head, check)
    norm = (model.cfg.norm_mean, model.cfg.norm_std)
    golden_dir = bundle / "golden" / spec.name
    golden_dir.mkdir(parents=True, exist_ok=True)
    golden_files = {}
    for name, arr in [*((k, v[:GOLDEN_ROWS]) for k, v in check.items()), ("reference", ref[:GOLDEN_ROWS])]:
        np.save(golden_dir / f"{name}.npy", np.ascontiguousarray(arr, dtype=np.float32))
        golden_files[name] = file_entry(bundle, golden_dir / f"{name}.npy")

    onnx_dir = bundle / "onnx"
    fp32 = onnx_dir / f"{spec.name}.fp32.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        # A fused sampler is an ONNX Loop over one step graph (export/sampler_loop.py), INT8 included.
        looped = (LoopedSampler(build_fn(spec, model, head), spec, example_fn(spec, model), Path(tmp))
                    if spec.sampler is not None else None)
        export_info = (looped.export_fp32(fp32) if looped is not None else
                       export_onnx(build_fn(spec, model, head), example_fn(spec, model), spec, fp32))
        artefacts = []
        for precision in ["fp32"] + [p for p in opts.precisions if p != "fp32"]:
            path, quant = fp32, None
            if precision == "int8" and looped is not None:
                path = onnx_dir / f"{spec.name}.int8.onnx"
                quant = looped.quantize(path, calib, opts.calib_method, seed=opts.seed)
            elif precision == "int8":
                path = onnx_dir / f"{spec.name}.int8.onnx"
                reader = ArrayReader(calib)
                quant = {**quantize_static(fp32, path, reader, spec.signal_input, opts.calib_method),
                         "calibration_set": reader.describe()}
            elif precision == "int8-dynamic":
                path = onnx_dir / f"{spec.name}.int8-dynamic.onnx"
                quant = (looped.quantize_dynamic(path) if looped is not None else
                         quantize_dynamic(fp32, path, spec.signal_input))
            # The golden rows run on their own: dynamic INT8 scales depend on the whole batch.
            out, golden_out = run_onnx_many(path, [check, {k: v[:GOLDEN_ROWS] for k, v in check.items()}], opts.threads)
            validation = check_artefact(spec, precision, out, ref, opts.limits, norm, labels, n_real)
            kept = "" if precision in opts.precisions else " [quantisation source, not kept]"
            log(_summary(spec.name, precision, export_info, validation) + kept)
            np.save(golden_dir / f"output.{precision}.npy", golden_out.astype(np.float32))
            golden_files[f"output.{precision}"] = file_entry(bundle, golden_dir / f"output.{precision}.npy")
            if precision not in opts.precisions:
                continue  # the FP32 graph was only the source of quantisation
            golden_check = ({"against": "reference", "metric": "rel_l2", "tolerance": FP32_REL_TOLERANCE}
                            if precision == "fp32" else
                            {"against": f"output.{precision}", "metric": "rel_l2", "tolerance": INT8_DRIFT_TOLERANCE})
            artefacts.append({"name": spec.name, "graph": spec.graph, "precision": precision, "target": target,
                              "format": "onnx", "file": file_entry(bundle, path), "export": export_info,
                              "quantisation": quant, "validation": validation, "golden_check": golden_check})
    if "fp32" not in opts.precisions:
        fp32.unlink()
        del golden_files["output.fp32"]
        (golden_dir / "output.fp32.npy").unlink()
    return artefacts, {"inputs": spec.input_names, "output": spec.output_name, "files": golden_files}


def _summary(name: str, precision: str, export_info: dict, v: dict) -> str:
    gate = v["gate"]
    task = f", macro-F1 {v['macro_f1']:.3f} vs {v['macro_f1_reference']:.3f}" if "macro_f1" in v else ""
    return (f"{name} {precision}: {gate['metric']} {gate['value']:.2e} <= {gate['limit']:.2e}, "
            f"cosine {v['cosine']:.5f}{task} (exporter {export_info['exporter']})")
