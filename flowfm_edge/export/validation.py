"""Validate every artefact against PyTorch right after export, and enforce the quality gates.

FP32 artefacts must match PyTorch within :data:`~.metrics.FP32_REL_TOLERANCE` (relative L2).
INT8 artefacts must keep their task metric (docs/design.md#quality-gates): macro-F1 for the classifier (drop at
most ``max_f1_drop``), the trajectory error for a fused sampler with the same noise (at most
``max_traj_error``, relative L2 in normalised units), and the relative L2 error for the
encoder and the velocity network (at most ``max_rel_error``). A failed gate raises
:class:`QualityGateError` and the export stops, unless the user lowers the bar explicitly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..bundle.manifest import file_entry
from .graphs import GraphSpec
from ..bundle.metrics import FP32_REL_TOLERANCE, compare, macro_f1, trajectory_error
from ..bundle.targets import SAMPLER_GRAPHS

INT8_DRIFT_TOLERANCE = 0.05  # golden check of an INT8 artefact against its own export-time output
FP16_DRIFT_TOLERANCE = 1e-3  # golden check of an FP16-weight artefact against its own export-time output


class QualityGateError(ValueError):
    """An artefact failed its accuracy or task-metric gate."""


@dataclass
class Limits:
    max_f1_drop: float = 0.01  # classifier INT8: macro-F1 points (0.01 = 1 point)
    max_traj_error: float = 0.1  # sampler INT8: relative L2 error of x1 in normalised units
    max_rel_error: float = 0.1  # encoder / velocity INT8: relative L2 error of the output

    def to_dict(self) -> dict:
        return asdict(self)


def run_onnx(path: Path, feeds: dict[str, np.ndarray], threads: int | None = None, batch: int = 64,
             optimize: bool = True) -> np.ndarray:
    """Run an ONNX file on ``feeds`` ({input: (N, ...)}) in batches; returns the first output (N, ...).

    ``optimize=False`` turns graph optimisations off, so Q/DQ nodes run as float arithmetic
    instead of being fused into onnxruntime's integer kernels.
    """
    return run_onnx_many(path, [feeds], threads, batch, optimize)[0]


def run_onnx_many(path: Path, feed_sets: list[dict[str, np.ndarray]], threads: int | None = None, batch: int = 64,
                  optimize: bool = True) -> list[np.ndarray]:
    """:func:`run_onnx` on each of ``feed_sets`` with one session (building it is most of the time of a long sampler)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    results = []
    for feeds in feed_sets:
        n = len(next(iter(feeds.values())))
        results.append(np.concatenate([
            session.run(None, {k: np.ascontiguousarray(v[i : i + batch], dtype=np.float32) for k, v in feeds.items()})[0]
            for i in range(0, n, batch)]))
    return results


def _gate(name: str, precision: str, metric: str, value: float, limit: float, flag: str | None, hint: str) -> dict:
    passed = bool(np.isfinite(value) and value <= limit)
    if not passed:
        lower = f"; or accept the loss explicitly with {flag} {value * 1.1:.3g}" if flag else ""
        raise QualityGateError(f"{name} {precision}: {metric} = {value:.4g} exceeds the allowed {limit:.4g}, "
                               f"so the export stopped and no bundle was written. {hint}{lower}")
    return {"metric": metric, "value": value, "limit": limit, "passed": passed}


def check_artefact(spec: GraphSpec, precision: str, out: np.ndarray, ref: np.ndarray, limits: Limits,
                   norm: tuple[list, list], labels: np.ndarray | None = None, n_real: int = 0) -> dict:
    """The validation record of one artefact: errors against PyTorch, the task metric, and its gate.

    ``labels`` (n_real,) label the first ``n_real`` rows (real windows) of a classifier check.
    """
    record = {"n_inputs": int(len(ref)), "n_real": int(n_real), **compare(out, ref)}
    fp32 = precision == "fp32"
    if fp32:
        hint = "The exporter produced a wrong graph; please report it with the model config"
    elif precision == "int8":
        hint = "Try another --calib-method (minmax, entropy, percentile), a larger --calib-size, or int8-dynamic"
    else:
        hint = "Try static int8 with calibration, or keep fp32 for this graph"
    if spec.graph in SAMPLER_GRAPHS:
        record["trajectory_error"] = trajectory_error(out, ref, *norm)
        limit, flag = (FP32_REL_TOLERANCE, None) if fp32 else (limits.max_traj_error, "--max-traj-error")
        record["gate"] = _gate(spec.name, precision, "trajectory_error", record["trajectory_error"], limit, flag, hint)
        return record
    if spec.graph == "classifier" and labels is not None and n_real > 0:
        pred, pred_ref = out[:n_real].argmax(1), ref[:n_real].argmax(1)
        record.update({"macro_f1_reference": macro_f1(labels, pred_ref), "macro_f1": macro_f1(labels, pred),
                       "agreement": float((pred == pred_ref).mean())})
        record["f1_drop"] = record["macro_f1_reference"] - record["macro_f1"]
        if not fp32:
            record["gate"] = _gate(spec.name, precision, "f1_drop", record["f1_drop"], limits.max_f1_drop,
                                   "--max-f1-drop", hint)
            return record
    if fp32:
        record["gate"] = _gate(spec.name, precision, "rel_l2", record["rel_l2"], FP32_REL_TOLERANCE, None, hint)
    else:
        record["gate"] = _gate(spec.name, precision, "rel_l2", record["rel_l2"], limits.max_rel_error,
                               "--max-rel-error", hint)
    return record


def summary_line(name: str, precision: str, export_info: dict, v: dict) -> str:
    """One log line per validated artefact: its gate, cosine and task metric."""
    gate = v["gate"]
    task = f", macro-F1 {v['macro_f1']:.3f} vs {v['macro_f1_reference']:.3f}" if "macro_f1" in v else ""
    return (f"{name} {precision}: {gate['metric']} {gate['value']:.2e} <= {gate['limit']:.2e}, "
            f"cosine {v['cosine']:.5f}{task} (exporter {export_info['exporter']})")


def golden_check(precision: str) -> dict:
    """What ``flowfm-edge validate`` compares an artefact's golden output with: PyTorch's reference for
    FP32, the artefact's own export-time output (within its drift tolerance) for every other precision."""
    if precision == "fp32":
        return {"against": "reference", "metric": "rel_l2", "tolerance": FP32_REL_TOLERANCE}
    tolerance = FP16_DRIFT_TOLERANCE if precision == "fp16" else INT8_DRIFT_TOLERANCE
    return {"against": f"output.{precision}", "metric": "rel_l2", "tolerance": tolerance}


def artefact_entry(spec: GraphSpec, precision: str, target: str, fmt: str, bundle: Path, path: Path, export_info: dict,
                   quant: dict | None, validation: dict) -> dict:
    """The manifest entry of one exported artefact, for every target."""
    return {"name": spec.name, "graph": spec.graph, "precision": precision, "target": target, "format": fmt,
            "file": file_entry(bundle, path), "export": export_info, "quantisation": quant,
            "validation": validation, "golden_check": golden_check(precision)}
