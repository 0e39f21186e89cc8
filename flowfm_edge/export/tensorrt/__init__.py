"""The jetson target: TensorRT-ready ONNX graphs, checked on the host, with their build recipes.

For every graph: export FP32 ONNX at opset 17 (the newest TensorRT 8.6 parses; the legacy
exporter, since the dynamo exporter's opset-17 conversion writes invalid Split nodes), check
it against TensorRT's operator support (:mod:`.trt_ops`), validate it against PyTorch, and for
each precision asked:

- ``fp32``: the FP32 graph, built with TF32 off;
- ``fp16``: the same FP32 graph, built with the FP16 flag; on the host, an activation-range
  check and an FP16 emulation with onnxruntime, gated like INT8 (:mod:`.trt_quantize`);
- ``int8``: symmetric INT8 QDQ for TensorRT, checked for Q/DQ placement and gated. The host
  runs it with onnxruntime's graph optimisations off, so Q/DQ is computed in float as
  TensorRT's int32 accumulation computes it; fused, onnxruntime's x86 integer kernels
  saturate int16 sums on CPUs without VNNI, an error TensorRT does not have.

Each becomes a recipe in the manifest's ``build`` section (:mod:`.trt_recipe`); engines are
built later, on the device, by ``flowfm-edge build-engine``. :func:`export_graph` and
:func:`manifest_section` are this target's entry points, which ``export_bundle`` calls.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ...bundle.golden import GOLDEN_ROWS, Golden
from ...bundle.manifest import file_entry
from ...bundle.metrics import FP32_REL_TOLERANCE, compare
from ...bundle.recipes import DEFAULT_PROFILE, build_section, golden_tolerance, recipe
from ..graphs import GraphSpec
from ..inputs import FLOWFM_KIT, GraphKit
from ..validation import INT8_DRIFT_TOLERANCE, check_artefact, run_onnx, summary_line
from .ops import TENSORRT_RANGE, check_ops, unsupported_message

OPSET = 17
EXPORTER_NOTE = ("legacy exporter at opset 17: TensorRT 8.6 parses ONNX opsets up to 17, and the dynamo "
                 "exporter's conversion to opset 17 writes invalid Split nodes")
RECIPES_KEY = "tensorrt_recipes"  # carried on artefact entries until manifest_section collects them
INT8_HOST_RUN = {"graph_optimization": "disabled",
                 "why": "Q/DQ computed in float, as TensorRT's int32 accumulation does; onnxruntime's fused "
                        "x86 integer kernels saturate on CPUs without VNNI"}


def export_graph(spec: GraphSpec, model, head, windows, schedules, opts, target: str, bundle: Path,
                 log, kit: GraphKit = FLOWFM_KIT) -> tuple[list[dict], dict]:
    """Every precision of one graph for TensorRT: returns (artefact entries, golden entry)."""
    from ...calibration import ArrayReader
    from ..onnx.convert import export_onnx
    from .quantize import fp16_readiness, fp32_nodes, quantize_for_tensorrt

    calib, check, n_real, labels = kit.feeds(spec, model, windows, schedules, seed=opts.seed)
    ref = kit.reference(spec, model, head, check)
    norm = (model.cfg.norm_mean, model.cfg.norm_std)
    golden = Golden(bundle, spec.name, check)
    golden.save("reference", ref)
    run = lambda path, f: run_onnx(path, f, opts.threads)  # noqa: E731
    run_qdq = lambda path, f: run_onnx(path, f, opts.threads, optimize=False)  # noqa: E731

    fp32 = bundle / "onnx" / f"{spec.name}.fp32.onnx"
    legacy = dataclasses.replace(spec, exporter="legacy")
    export_info = export_onnx(kit.build(spec, model, head), kit.example_args(spec, model), legacy, fp32, opset=OPSET)
    export_info["exporter_note"] = EXPORTER_NOTE
    ops = _checked(fp32, spec.name)
    profile = tuple(getattr(opts, "batch_profile", None) or DEFAULT_PROFILE)
    inputs = {t.name: list(t.shape) for t in spec.inputs}

    def make_recipe(precision: str, onnx_path: Path, pinned: list[str], host_rel_l2: float | None) -> dict:
        return recipe(spec.name, spec.graph, precision, onnx_path.relative_to(bundle).as_posix(), inputs, profile,
                      pinned, golden_tolerance(precision, host_rel_l2), spec.signal_input)

    out = run(fp32, check)
    validation = check_artefact(spec, "fp32", out, ref, opts.limits, norm, labels, n_real)
    log(summary_line(spec.name, "fp32", export_info, validation) + " [TensorRT source for fp32/fp16]")
    golden.save("output.fp32", run(fp32, golden.inputs))
    pinned = fp32_nodes(fp32, spec.signal_input)
    entry = _artefact(spec, "fp32", target, bundle, fp32, export_info, None, validation,
                      {"against": "reference", "metric": "rel_l2", "tolerance": FP32_REL_TOLERANCE})
    entry["tensorrt_op_check"] = ops
    entry[RECIPES_KEY] = []
    artefacts = [entry]
    if "fp32" in opts.precisions:
        entry[RECIPES_KEY].append(make_recipe("fp32", fp32, [], None))
    if "fp16" in opts.precisions:
        (out16, g16), readiness = fp16_readiness(fp32, [check, golden.inputs], pinned, run)
        if readiness["beyond_headroom"]:
            raise ValueError(f"{spec.name}: activations beyond half the FP16 range in {', '.join(readiness['beyond_headroom'][:5])}; "
                             "TensorRT FP16 would overflow there. Export --precision fp32 or int8 for this graph")
        v16 = check_artefact(spec, "fp16", out16, ref, opts.limits, norm, labels, n_real)
        v16["fp16_readiness"] = readiness
        log(summary_line(spec.name, "fp16", export_info, v16) + " [onnxruntime FP16 emulation]")
        golden.save("output.fp16", g16)
        r16 = make_recipe("fp16", fp32, pinned, compare(g16, ref[:GOLDEN_ROWS])["rel_l2"])
        r16["host_check"] = v16
        entry[RECIPES_KEY].append(r16)
    if "int8" in opts.precisions:
        path = bundle / "onnx" / f"{spec.name}.int8.onnx"
        reader = ArrayReader(calib)
        quant = {**quantize_for_tensorrt(fp32, path, reader, spec.signal_input, opts.calib_method),
                 "calibration_set": reader.describe()}
        if quant["placement"]["problems"]:
            raise RuntimeError(f"{spec.name} int8: Q/DQ placement TensorRT cannot fuse: "
                               f"{'; '.join(quant['placement']['problems'][:5])}; report this with the model config")
        ops8 = _checked(path, f"{spec.name} int8")
        out8 = run_qdq(path, check)
        v8 = check_artefact(spec, "int8", out8, ref, opts.limits, norm, labels, n_real)
        log(summary_line(spec.name, "int8", export_info, v8) + " [symmetric QDQ for TensorRT, run in float]")
        g8 = run_qdq(path, golden.inputs)
        golden.save("output.int8", g8)
        e8 = _artefact(spec, "int8", target, bundle, path, export_info, quant, v8,
                       {"against": "output.int8", "metric": "rel_l2", "tolerance": INT8_DRIFT_TOLERANCE})
        e8["tensorrt_op_check"] = ops8
        e8["onnxruntime"] = INT8_HOST_RUN  # how the host check ran it, and how validate runs it again
        e8[RECIPES_KEY] = [make_recipe("int8", path, fp32_nodes(path, spec.signal_input),
                                       compare(g8, ref[:GOLDEN_ROWS])["rel_l2"])]
        artefacts.append(e8)
    return artefacts, golden.entry(spec.input_names, spec.output_name)


def manifest_section(manifest: dict, opts) -> dict:
    """Move the recipes off the artefact entries into the manifest's ``build`` section; returns the manifest."""
    recipes, op_checks = [], {}
    for a in manifest["artefacts"]:
        recipes += a.pop(RECIPES_KEY, [])
        op_checks[f"{a['name']}.{a['precision']}"] = a.pop("tensorrt_op_check", None)
    profile = tuple(getattr(opts, "batch_profile", None) or DEFAULT_PROFILE)
    order = {"fp32": 0, "fp16": 1, "int8": 2}
    recipes.sort(key=lambda r: (r["name"], order[r["precision"]]))
    manifest["build"] = build_section(recipes, profile, op_checks, TENSORRT_RANGE, OPSET)
    manifest["engines"] = []
    return manifest


def _checked(path: Path, name: str) -> dict:
    report = check_ops(path)
    if not report["passed"]:
        raise ValueError(unsupported_message(name, report))
    return report


def _artefact(spec, precision, target, bundle, path, export_info, quant, validation, golden_check) -> dict:
    return {"name": spec.name, "graph": spec.graph, "precision": precision, "target": target, "format": "onnx",
            "file": file_entry(bundle, path), "export": export_info, "quantisation": quant,
            "validation": validation, "golden_check": golden_check}
