"""Which ONNX operators TensorRT's ONNX parser imports, as data, and a static check of a graph against it.

The table follows onnx-tensorrt's ``docs/operators.md`` for TensorRT 8.5 / 8.6 (opsets up to
17) and 10.x (opsets 9 to 20 in 10.0, up to 24 in 10.15), and the parser changes of the 11.x
release notes (11.0: Swish; 11.2: DFT through the cuFFT plugin, 5-D GridSample; 11.5: opset
25, Squeeze without an axes input). Each row: operator, the first TensorRT release of the
declared range that imports it (``8.6``, ``10.0``, a later 10.x or 11.x, or ``-`` for none),
and the restrictions that matter. TensorRT 11 builds strongly typed networks only (its
precision builder flags are gone): see :mod:`flowfm_edge.bundle.recipes` for what that means
for the build recipes. The check runs on the host with ``onnx``
only, so a bundle is known to parse before it reaches a Jetson.

>>> TENSORRT_RANGE
('8.6', '11.x')
>>> OPS["LayerNormalization"].since
'8.6'
>>> OPS["MatMulInteger"].since is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .op_table import TABLE as _TABLE

TENSORRT_RANGE = ("8.6", "11.x")  # the releases a jetson bundle is checked against
# the highest ONNX opset each release's parser reads
MAX_OPSET = {"8.6": 17, "10.0": 20, "10.15": 24, "11.5": 25}


# input index that TensorRT needs as a build-time constant, per operator
CONSTANT_INPUTS = {"Conv": 1, "ConvTranspose": 1, "CumSum": 1, "Slice": 3, "Squeeze": 1, "Unsqueeze": 1, "TopK": 1}


@dataclass(frozen=True)
class OpSupport:
    op: str
    since: str | None  # first TensorRT release of the range that imports it; None: none does
    note: str


def _parse(table: str) -> dict[str, OpSupport]:
    rows = {}
    for line in table.strip().splitlines():
        op, since, note = (part.strip() for part in line.split("|"))
        rows[op] = OpSupport(op, None if since == "-" else since, note)
    return rows


OPS: dict[str, OpSupport] = _parse(_TABLE)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def opset_release(opset: int) -> str | None:
    """The first release of the range whose parser reads ``opset``; None when none does."""
    fits = [v for v, top in MAX_OPSET.items() if opset <= top]
    return min(fits, key=_key) if fits else None


def check_ops(path: str | Path, tensorrt_min: str = TENSORRT_RANGE[0]) -> dict:
    """Check an ONNX file against the table for TensorRT ``tensorrt_min`` and newer.

    Returns ``{"passed", "opset", "needs_tensorrt", "ops", "problems", "notes"}``: ``problems``
    names every node TensorRT ``tensorrt_min`` cannot import (operator, node name, why);
    ``notes`` lists the restrictions of the operators present.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    constants = _constant_tensors(graph)
    problems, counts, needs = [], {}, [tensorrt_min]
    release = opset_release(opset)
    if release is None or _key(release) > _key(tensorrt_min):
        problems.append(f"opset {opset}: TensorRT {tensorrt_min} parses ONNX opsets up to {MAX_OPSET.get(tensorrt_min, '?')}"
                        + (f" (opset {opset} needs TensorRT {release})" if release else ""))
        needs.append(release or "none")
    for node in graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
        where = f"{node.op_type} node {node.name or node.output[0]!r}"
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{where}: custom domain {node.domain!r} needs a TensorRT plugin")
            continue
        support = OPS.get(node.op_type)
        if support is None or support.since is None:
            why = support.note if support and support.note else "not imported by TensorRT's ONNX parser"
            problems.append(f"{where}: {why}")
            continue
        if _key(support.since) > _key(tensorrt_min):
            problems.append(f"{where}: needs TensorRT {support.since} or newer")
            needs.append(support.since)
        k = CONSTANT_INPUTS.get(node.op_type)
        if k is not None and len(node.input) > k and node.input[k] and node.input[k] not in constants:
            problems.append(f"{where}: input {k} ({node.input[k]!r}) must be a build-time constant")
        problems += _qdq_problems(node, graph, where)
        if node.op_type == "LayerNormalization" and len([o for o in node.output if o]) > 1:
            problems.append(f"{where}: only output Y is imported (Mean/InvStdDev outputs are used)")
    notes = {op: OPS[op].note for op in sorted(counts) if op in OPS and OPS[op].note}
    return {"passed": not problems, "opset": opset, "tensorrt_range": f"{tensorrt_min}-{TENSORRT_RANGE[1]}",
            "needs_tensorrt": max(needs, key=lambda v: _key(v) if v != "none" else (999,)),
            "ops": dict(sorted(counts.items())), "problems": problems, "notes": notes}


def _constant_tensors(graph) -> set[str]:
    """Initializers, Constant outputs, and outputs of nodes fed only by those (folded at build time, e.g. DQ(weights))."""
    constants = {i.name for i in graph.initializer}
    for node in graph.node:  # topologically sorted
        if node.op_type == "Constant" or (node.input and all(not i or i in constants for i in node.input)):
            constants.update(node.output)
    return constants


def _qdq_problems(node, graph, where: str) -> list[str]:
    """TensorRT reads Q/DQ only as symmetric INT8: an int8 zero point equal to 0."""
    if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
        return []
    from onnx import numpy_helper

    inits = {i.name: i for i in graph.initializer}
    if len(node.input) < 3 or not node.input[2]:
        return [f"{where}: no zero point (defaults to uint8); TensorRT needs an int8 zero point of 0"]
    zp = inits.get(node.input[2])
    if zp is None:
        return [f"{where}: zero point {node.input[2]!r} is not an initializer"]
    if zp.data_type != 3:  # TensorProto.INT8
        return [f"{where}: zero point type {zp.data_type} is not int8 (asymmetric uint8 QDQ); re-quantise symmetric int8"]
    if numpy_helper.to_array(zp).any():
        return [f"{where}: zero point is not 0; TensorRT needs symmetric quantisation"]
    return []


def unsupported_message(name: str, report: dict) -> str:
    """One error naming every problem of graph ``name``, and what to do about it."""
    listed = "; ".join(report["problems"][:12]) + (" ..." if len(report["problems"]) > 12 else "")
    return (f"{name}: the ONNX graph cannot be built by TensorRT {report['tensorrt_range']}: {listed}. "
            "Change the model so these operators are not needed, or export --target cpu for onnxruntime")
