"""Graphs the way TensorRT wants them: explicit symmetric INT8 QDQ, and an FP16 readiness check.

INT8 (TensorRT 10 deprecated implicit calibrators, so quantisation is explicit): static QDQ
with ``onnxruntime.quantization`` on MatMul, Gemm and Conv only, symmetric int8 with zero
point 0 for activations and per-channel weights, a dedicated Q/DQ pair for every consumer
(TensorRT fuses each pair into the layer it feeds), and float weights behind their own Q/DQ
pair (TensorRT 8.6 and 10.x both fold them at build time). The conditioning path (nodes the
signal input never reaches: time embedding, RepProj, adaLN) stays float, as on the CPU target,
and so does a classifier's linear head (``float_head``; see :mod:`..onnx.quantize`).

FP16: TensorRT builds the FP32 graph with the FP16 flag, keeping the layers :func:`fp32_nodes`
names in FP32 (``build-engine`` pins them). The host cannot run TensorRT, so it checks what
it can: the largest activation of every tensor against the FP16 range, and the graph's error
with every other node converted to FP16 and run by onnxruntime.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..onnx.quantize import STATIC_OPS, conditioning_nodes, run_quantizer

FP16_MAX = 65504.0
FP16_HEADROOM = 0.5  # an activation above half the FP16 range fails the readiness check
NORMALISATION_OPS = ("LayerNormalization",)  # FP16 reductions can overflow: TensorRT's own advice is FP32


def fp32_nodes(path: Path, signal_input: str) -> list[str]:
    """Nodes TensorRT should keep in FP32, in graph order: the float nodes of the conditioning path, and
    normalisation layers. Shape arithmetic (integer tensors) and Q/DQ nodes are left out."""
    import onnx

    pinned = set(conditioning_nodes(path, signal_input))
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path), load_external_data=False))
    graph = model.graph
    floats = {v.name for v in list(graph.value_info) + list(graph.output)
              if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    qdq = ("QuantizeLinear", "DequantizeLinear")  # their precision is the quantisation itself
    return [n.name for n in graph.node if n.op_type not in qdq
            and ((n.name in pinned and any(o in floats for o in n.output)) or n.op_type in NORMALISATION_OPS)]


def quantize_for_tensorrt(src: Path, dst: Path, reader, signal_input: str, method: str = "minmax",
                          percentile: float = 99.999, float_head: bool = False) -> dict:
    """Static symmetric INT8 QDQ of ``src`` into ``dst`` for TensorRT; returns the manifest record.
    ``float_head``: a classifier, whose linear head stays float (no Q/DQ on it: TensorRT runs it in float)."""
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "DedicatedQDQPair": True, "AddQDQPairToWeight": True,
             "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}, "QuantizeBias": False,
             "OpTypesToExcludeOutputQuantization": list(STATIC_OPS), "CalibTensorRangeSymmetric": True}
    prep, excluded = run_quantizer(src, dst, reader, signal_input, method, percentile, activation_type="int8",
                                   reduce_range=False, extra_options=extra, float_head=float_head)
    rewired = dedicate_pairs(dst)
    info = {"mode": "static", "format": "QDQ", "method": method, "per_channel": True, "symmetric": True,
            "activation_type": "int8", "weight_type": "int8", "zero_point": 0, "op_types": list(STATIC_OPS),
            "weights": "float, each behind its own QuantizeLinear/DequantizeLinear pair", "bias": "float",
            "placement_rule": "Q/DQ on the inputs of MatMul/Gemm/Conv only (outputs stay float)",
            "preprocess": prep, "excluded_conditioning_nodes": len(excluded), "float_head": float_head,
            "dedicated_pair_fixes": rewired,
            "placement": qdq_placement(dst)}
    if method == "percentile":
        info["percentile"] = percentile
    return info


def dedicate_pairs(path: Path) -> int:
    """Give every quantised consumer its own Q -> DQ pair, in place; returns how many inputs were changed.

    The quantiser shares the pair of a graph input among its consumers; a consumer outside
    MatMul/Gemm/Conv (e.g. Shape) reads the float tensor instead, and each further quantised
    consumer gets a copy of the pair.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    users: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    changed, nodes = 0, []
    for node in graph.node:
        nodes.append(node)
        if node.op_type != "DequantizeLinear" or len(users.get(node.output[0], [])) < 2:
            continue
        q = producer.get(node.input[0])
        if q is None or q.op_type != "QuantizeLinear":
            continue
        quantised = [u for u in users[node.output[0]] if u.op_type in STATIC_OPS]
        for k, user in enumerate(users[node.output[0]]):
            if user in quantised[:1]:
                continue
            if user.op_type in STATIC_OPS:
                q2 = onnx.helper.make_node("QuantizeLinear", [q.input[0], *q.input[1:]], [f"{q.output[0]}_{k}"],
                                           name=f"{q.name}_{k}", **{a.name: onnx.helper.get_attribute_value(a) for a in q.attribute})
                dq2 = onnx.helper.make_node("DequantizeLinear", [q2.output[0], *node.input[1:]], [f"{node.output[0]}_{k}"],
                                            name=f"{node.name}_{k}", **{a.name: onnx.helper.get_attribute_value(a) for a in node.attribute})
                nodes += [q2, dq2]
                new_input = dq2.output[0]
            else:
                new_input = q.input[0]
            for j, name in enumerate(user.input):
                if name == node.output[0]:
                    user.input[j] = new_input
            changed += 1
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save_model(model, str(path))
    return changed


def qdq_placement(path: Path) -> dict:
    """Where the Q/DQ nodes sit, checked against TensorRT's explicit-quantisation rules.

    For every MatMul/Gemm/Conv fed by DequantizeLinear: both inputs come from a Q -> DQ pair
    (a float weight or an activation) or DQ(int8 weight); every DQ output has exactly one
    consumer (dedicated pairs); every zero point is int8 0.
    Returns counts and ``problems`` (empty when TensorRT will fuse every pair).
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    problems, quantised, float_ops = [], {}, {}
    for n in graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            zp = inits.get(n.input[2]) if len(n.input) > 2 else None
            if zp is None or zp.data_type != onnx.TensorProto.INT8 or numpy_helper.to_array(zp).any():
                problems.append(f"{n.name}: zero point is not an int8 0")
            if n.op_type == "DequantizeLinear" and consumers.get(n.output[0], 0) != 1:
                problems.append(f"{n.name}: output shared by {consumers.get(n.output[0], 0)} nodes (not a dedicated pair)")
        if n.op_type not in STATIC_OPS:
            continue
        dq = [producer.get(i) for i in n.input[:2]]
        if not all(d is not None and d.op_type == "DequantizeLinear" for d in dq):
            float_ops[n.op_type] = float_ops.get(n.op_type, 0) + 1
            continue
        quantised[n.op_type] = quantised.get(n.op_type, 0) + 1
        for d in dq:  # a weight (constant) or an activation (attention's two-activation MatMuls)
            src = d.input[0]
            q = producer.get(src)
            if src not in inits and (q is None or q.op_type != "QuantizeLinear"):
                problems.append(f"{n.name}: {d.name} is not fed by a QuantizeLinear or an int8 weight")
    qdq = {op: sum(1 for n in graph.node if n.op_type == op) for op in ("QuantizeLinear", "DequantizeLinear")}
    return {"quantised": dict(sorted(quantised.items())), "float": dict(sorted(float_ops.items())),
            "qdq_nodes": qdq, "dedicated_pairs": not any("dedicated" in p for p in problems),
            "symmetric_int8": not any("zero point" in p for p in problems), "problems": problems}


def activation_ranges(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest |value| of every float tensor the graph computes on ``feeds``: {tensor: max abs}."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    model = onnx.shape_inference.infer_shapes(model)
    floats = {v.name for v in list(model.graph.value_info) + list(model.graph.output)
              if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    names = [o for n in model.graph.node for o in n.output if o in floats]
    del model.graph.output[:]
    model.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    outs = session.run(None, {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()})
    return {name: float(np.abs(o).max()) if o.size else 0.0 for name, o in zip(names, outs)}


def fp16_graph(src: Path, dst: Path, keep_fp32: list[str]) -> None:
    """``src`` with every node but ``keep_fp32`` in FP16 (inputs and outputs stay float32), for emulation."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, node_block_list=list(keep_fp32),
                                     disable_shape_infer=False)
    # The converter inserts one identical Cast per blocked consumer, all writing the same tensor: keep the first.
    seen, keep = set(), []
    for node in model.graph.node:
        key = tuple(node.output) if node.op_type == "Cast" else None
        if key is not None and key in seen:
            continue
        seen.add(key)
        keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    onnx.save_model(model, str(dst))


def fp16_readiness(src: Path, feed_sets: list[dict[str, np.ndarray]], keep_fp32: list[str], run
                   ) -> tuple[list[np.ndarray], dict]:
    """(FP16-emulated output for each of ``feed_sets``, readiness record).

    The record holds the largest activation outside the FP32-pinned nodes (measured on the
    first 16 rows of the first feed set) and every tensor beyond :data:`FP16_HEADROOM` of the
    FP16 range. ``run(path, feeds) -> output`` runs an ONNX file (onnxruntime on the host).
    """
    import onnx

    graph = onnx.load(str(src), load_external_data=False).graph
    pinned_outputs = {o for n in graph.node if n.name in set(keep_fp32) for o in n.output}
    ranges = activation_ranges(src, {k: v[:16] for k, v in feed_sets[0].items()})
    half = [(v, k) for k, v in ranges.items() if k not in pinned_outputs]
    largest = max(half, default=(0.0, None))
    over = sorted(k for v, k in half if not np.isfinite(v) or v > FP16_HEADROOM * FP16_MAX)
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "fp16.onnx"
        fp16_graph(src, dst, keep_fp32)
        outs = [run(dst, feeds) for feeds in feed_sets]
    record = {"emulation": "onnxruntime CPU, every node in FP16 except the pinned ones", "fp16_max": FP16_MAX,
              "largest_fp16_activation": {"tensor": largest[1], "max_abs": largest[0]},
              "beyond_headroom": over, "headroom": FP16_HEADROOM, "fp32_nodes": len(keep_fp32)}
    return outs, record
