"""The cpu target: ONNX graphs for onnxruntime, FP32 and INT8 (static QDQ or dynamic), validated against PyTorch.

For every graph: export FP32 ONNX (:mod:`.convert`), check it against PyTorch, quantise to
each INT8 precision asked for (:mod:`.quantize`), check those against their gates, and write
golden inputs and outputs. A fused sampler is an ONNX ``Loop`` over one step graph
(:mod:`.sampler_loop`), INT8 included. :func:`export_graph` and :func:`manifest_section` are
this target's entry points, as for every target package of :mod:`flowfm_edge.export`.

Bundle files: ``onnx/<artefact>.<precision>.onnx`` and ``golden/<artefact>/*.npy``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ...bundle.golden import Golden
from ..graphs import GraphSpec
from ..inputs import GraphKit
from ..job import ExportJob
from ..validation import artefact_entry, check_artefact, run_onnx_many, summary_line


def export_graph(job: ExportJob, spec: GraphSpec, kit: GraphKit) -> tuple[list[dict], dict]:
    """Every precision of one graph: returns (artefact entries, golden entry)."""
    from .convert import export_onnx
    from .sampler_loop import LoopedSampler

    model, opts, bundle = job.model, job.opts, job.bundle
    calib, check, n_real, labels = kit.feeds(spec, model, job.windows, job.schedules, seed=opts.seed)
    ref = kit.reference(spec, model, job.head, check)
    golden = Golden(bundle, spec.name, check)
    golden.save("reference", ref)
    fp32 = bundle / "onnx" / f"{spec.name}.fp32.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        module, args = kit.build(spec, model, job.head), kit.example_args(spec, model)
        looped = LoopedSampler(module, spec, args, Path(tmp)) if spec.sampler is not None else None
        export_info = looped.export_fp32(fp32) if looped is not None else export_onnx(module, args, spec, fp32)
        artefacts = []
        for precision in ["fp32"] + [p for p in opts.precisions if p != "fp32"]:
            path, quant = _quantised(precision, spec, fp32, looped, calib, opts)
            # The golden rows run on their own: dynamic INT8 scales depend on the whole batch.
            out, golden_out = run_onnx_many(path, [check, golden.inputs], opts.threads)
            validation = check_artefact(spec, precision, out, ref, opts.limits, job.norm, labels, n_real)
            kept = "" if precision in opts.precisions else " [quantisation source, not kept]"
            job.log(summary_line(spec.name, precision, export_info, validation) + kept)
            golden.save(f"output.{precision}", golden_out)
            if precision in opts.precisions:  # else the FP32 graph was only the source of quantisation
                artefacts.append(artefact_entry(spec, precision, job.target.name, "onnx", bundle, path, export_info, quant,
                                                validation))
    if "fp32" not in opts.precisions:
        fp32.unlink()
        golden.drop("output.fp32")
    return artefacts, golden.entry(spec.input_names, spec.output_name)


def _quantised(precision: str, spec, fp32: Path, looped, calib: dict, opts) -> tuple[Path, dict | None]:
    """The artefact of ``precision`` (the FP32 file itself for fp32) and its quantisation record."""
    from ...calibration import ArrayReader
    from .quantize import quantize_dynamic, quantize_static

    if precision == "fp32":
        return fp32, None
    path = fp32.with_name(f"{spec.name}.{precision}.onnx")
    head = spec.float_head
    if precision == "int8" and looped is not None:
        return path, looped.quantize(path, calib, opts.calib_method, seed=opts.seed)
    if precision == "int8":
        reader = ArrayReader(calib)
        return path, {**quantize_static(fp32, path, reader, spec.signal_input, opts.calib_method, float_head=head),
                      "calibration_set": reader.describe()}
    return path, looped.quantize_dynamic(path) if looped is not None else quantize_dynamic(fp32, path, spec.signal_input,
                                                                                           float_head=head)


def manifest_section(manifest: dict, job: ExportJob) -> dict:
    """The cpu target adds nothing to the manifest beyond the common sections."""
    return manifest
