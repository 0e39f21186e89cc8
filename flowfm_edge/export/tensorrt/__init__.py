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

import numpy as np

from ...bundle.golden import GOLDEN_ROWS, Golden
from ...bundle.metrics import compare
from ...bundle.recipes import DEFAULT_PROFILE, build_section, golden_tolerance, recipe
from ..graphs import GraphSpec
from ..inputs import GraphKit
from ..job import ExportJob
from ..validation import artefact_entry, check_artefact, run_onnx, summary_line
from .ops import TENSORRT_RANGE, check_ops, unsupported_message

OPSET = 17
EXPORTER_NOTE = ("legacy exporter at opset 17: TensorRT 8.6 parses ONNX opsets up to 17, and the dynamo "
                 "exporter's conversion to opset 17 writes invalid Split nodes")
RECIPES_KEY = "tensorrt_recipes"  # carried on artefact entries until manifest_section collects them
INT8_HOST_RUN = {"graph_optimization": "disabled",
                 "why": "Q/DQ computed in float, as TensorRT's int32 accumulation does; onnxruntime's fused "
                        "x86 integer kernels saturate on CPUs without VNNI"}


@dataclasses.dataclass
class _Graph:
    """One graph's export: its job and spec, check inputs, PyTorch reference, golden files and FP32 export."""

    job: ExportJob
    spec: GraphSpec
    check: dict
    ref: np.ndarray
    labels: np.ndarray | None
    n_real: int
    golden: Golden
    export_info: dict | None = None

    @property
    def bundle(self) -> Path:
        return self.job.bundle

    def run(self, path: Path, feeds: dict, optimize: bool = True) -> np.ndarray:
        return run_onnx(path, feeds, self.job.opts.threads, optimize=optimize)

    def validate(self, precision: str, out: np.ndarray, note: str) -> dict:
        v = check_artefact(self.spec, precision, out, self.ref, self.job.opts.limits, self.job.norm, self.labels,
                           self.n_real)
        self.job.log(summary_line(self.spec.name, precision, self.export_info, v) + note)
        return v

    def entry(self, precision: str, path: Path, quant: dict | None, validation: dict) -> dict:
        return artefact_entry(self.spec, precision, self.job.target.name, "onnx", self.bundle, path, self.export_info,
                              quant, validation)

    def recipe(self, precision: str, onnx_path: Path, pinned: list[str], golden_out: np.ndarray | None) -> dict:
        host_rel_l2 = None if golden_out is None else compare(golden_out, self.ref[:GOLDEN_ROWS])["rel_l2"]
        profile = tuple(self.job.opts.batch_profile or DEFAULT_PROFILE)
        inputs = {t.name: list(t.shape) for t in self.spec.inputs}
        return recipe(self.spec.name, self.spec.graph, precision, onnx_path.relative_to(self.bundle).as_posix(), inputs,
                      profile, pinned, golden_tolerance(precision, host_rel_l2), self.spec.signal_input)


def export_graph(job: ExportJob, spec: GraphSpec, kit: GraphKit) -> tuple[list[dict], dict]:
    """Every precision of one graph for TensorRT: returns (artefact entries, golden entry)."""
    from ..onnx.convert import export_onnx
    from .quantize import fp32_nodes

    model, precisions = job.model, job.opts.precisions
    calib, check, n_real, labels = kit.feeds(spec, model, job.windows, job.schedules, seed=job.opts.seed)
    ref = kit.reference(spec, model, job.head, check)
    g = _Graph(job, spec, check, ref, labels, n_real, Golden(job.bundle, spec.name, check))
    g.golden.save("reference", ref)
    fp32 = job.bundle / "onnx" / f"{spec.name}.fp32.onnx"
    legacy = dataclasses.replace(spec, exporter="legacy")
    g.export_info = export_onnx(kit.build(spec, model, job.head), kit.example_args(spec, model), legacy, fp32,
                                opset=OPSET)
    g.export_info["exporter_note"] = EXPORTER_NOTE
    validation = g.validate("fp32", g.run(fp32, check), " [TensorRT source for fp32/fp16]")
    g.golden.save("output.fp32", g.run(fp32, g.golden.inputs))
    entry = g.entry("fp32", fp32, None, validation)
    entry["tensorrt_op_check"] = _checked(fp32, spec.name)
    entry[RECIPES_KEY] = [g.recipe("fp32", fp32, [], None)] if "fp32" in precisions else []
    if "fp16" in precisions:
        entry[RECIPES_KEY].append(_fp16_recipe(g, fp32, fp32_nodes(fp32, spec.signal_input)))
    artefacts = [entry]
    if "int8" in precisions:
        artefacts.append(_int8_artefact(g, fp32, calib))
    return artefacts, g.golden.entry(spec.input_names, spec.output_name)


def _fp16_recipe(g: _Graph, fp32: Path, pinned: list[str]) -> dict:
    """The FP16 recipe of the FP32 graph, after the host's activation-range check and FP16 emulation."""
    from .quantize import fp16_readiness

    (out16, g16), readiness = fp16_readiness(fp32, [g.check, g.golden.inputs], pinned, g.run)
    if readiness["beyond_headroom"]:
        raise ValueError(f"{g.spec.name}: activations beyond half the FP16 range in "
                         f"{', '.join(readiness['beyond_headroom'][:5])}; TensorRT FP16 would overflow there. "
                         "Export --precision fp32 or int8 for this graph")
    v16 = g.validate("fp16", out16, " [onnxruntime FP16 emulation]")
    v16["fp16_readiness"] = readiness
    g.golden.save("output.fp16", g16)
    r16 = g.recipe("fp16", fp32, pinned, g16)
    r16["host_check"] = v16
    return r16


def _int8_artefact(g: _Graph, fp32: Path, calib: dict) -> dict:
    """The symmetric INT8 QDQ graph for TensorRT, checked for Q/DQ placement and operator support, and gated."""
    from ...calibration import ArrayReader
    from .quantize import fp32_nodes, quantize_for_tensorrt

    path = g.bundle / "onnx" / f"{g.spec.name}.int8.onnx"
    reader = ArrayReader(calib)
    quant = {**quantize_for_tensorrt(fp32, path, reader, g.spec.signal_input, g.job.opts.calib_method,
                                     float_head=g.spec.float_head),
             "calibration_set": reader.describe()}
    if quant["placement"]["problems"]:
        raise RuntimeError(f"{g.spec.name} int8: Q/DQ placement TensorRT cannot fuse: "
                           f"{'; '.join(quant['placement']['problems'][:5])}; report this with the model config")
    ops8 = _checked(path, f"{g.spec.name} int8")
    v8 = g.validate("int8", g.run(path, g.check, optimize=False), " [symmetric QDQ for TensorRT, run in float]")
    g8 = g.run(path, g.golden.inputs, optimize=False)
    g.golden.save("output.int8", g8)
    e8 = g.entry("int8", path, quant, v8)
    e8["tensorrt_op_check"] = ops8
    e8["onnxruntime"] = INT8_HOST_RUN  # how the host check ran it, and how validate runs it again
    e8[RECIPES_KEY] = [g.recipe("int8", path, fp32_nodes(path, g.spec.signal_input), g8)]
    return e8


def manifest_section(manifest: dict, job: ExportJob) -> dict:
    """Move the recipes off the artefact entries into the manifest's ``build`` section; returns the manifest."""
    recipes, op_checks = [], {}
    for a in manifest["artefacts"]:
        recipes += a.pop(RECIPES_KEY, [])
        op_checks[f"{a['name']}.{a['precision']}"] = a.pop("tensorrt_op_check", None)
    profile = tuple(job.opts.batch_profile or DEFAULT_PROFILE)
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
