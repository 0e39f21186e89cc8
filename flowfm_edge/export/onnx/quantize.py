"""INT8 with ``onnxruntime.quantization``: static QDQ (calibrated) or dynamic, per-channel 7-bit weights.

Rules from measurement (the first three are in docs/design.md#toolchain):

- ``quant_pre_process`` runs first (shape inference + graph cleanup; quantising a raw dynamo
  export fails without it).
- Q/DQ goes on MatMul, Conv and Gemm only: quantising the sinusoid argument of the time
  embedding (0..1000) at 8 bits destroys its phase.
- The conditioning path (time embedding, RepProj, adaLN shift/scale/gate) stays float: it is
  found as every node the signal input does not reach, so no node names are hard-coded.
- Weights use 7 bits (``reduce_range``). On x86 CPUs without VNNI (AVX2, AVX-512 without
  VNNI) onnxruntime's U8 x S8 kernels use ``vpmaddubsw``, which adds pairs of products in
  int16 and saturates (2 * 255 * 127 > 32767). With 8-bit weights the test fixture's nano
  encoder had INT8 rel L2 0.135 on such a CPU, against 0.009 for the same Q/DQ run through
  float kernels; with 7-bit weights no pair can saturate (2 * 255 * 64 < 32767) and it has
  0.011. A bundle may run on any x86 or ARM CPU, so the export CPU does not choose.
- A classifier's linear head stays float (``float_head``): it folds the probe's standardisation
  in (weights scaled by 1 / std per feature; in the quickstart's head the largest is about 25x
  their mean), a range that 7-bit per-output-channel weights cannot hold. Quantised, it cost
  that run 4.2 points of macro-F1 on the export's validation windows (the gate is 1); float,
  it costs 192 x classes multiply-adds per window.

>>> STATIC_OPS
('MatMul', 'Conv', 'Gemm')
"""

from __future__ import annotations

import collections
import tempfile
from pathlib import Path

STATIC_OPS = ("MatMul", "Conv", "Gemm")
DYNAMIC_OPS = ("MatMul",)  # Gemm is rewritten as MatMul first; ConvInteger wants uint8 weights
REDUCE_RANGE = True  # 7-bit weights: no int16 saturation in onnxruntime's AVX2 U8S8 kernels
INTEGER_OPS = ("MatMulInteger", "DynamicQuantizeMatMul", "ConvInteger", "QLinearMatMul", "QLinearConv")


def preprocess(src: Path, dst: Path) -> str:
    """``quant_pre_process`` with symbolic shape inference, falling back to ONNX shape inference; says which ran."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
        return "symbolic shape inference + optimisation"
    except Exception:  # noqa: BLE001  symbolic inference cannot read every exported graph
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        return "onnx shape inference + optimisation (symbolic shape inference failed)"


def conditioning_nodes(path: Path, signal_input: str) -> list[str]:
    """Names of the nodes the signal input never reaches: the time/representation conditioning path."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    reached = {signal_input}
    for node in graph.node:  # ONNX graphs are topologically sorted
        if any(i in reached for i in node.input):
            reached.update(node.output)
    return [n.name for n in graph.node if not any(o in reached for o in n.output)]


def head_nodes(path: Path) -> list[str]:
    """Names of the last MatMul/Gemm on the way to each graph output (a classifier's linear head)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producer = {o: n for n in graph.node for o in n.output}
    heads, todo, seen = [], [o.name for o in graph.output], set()
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in ("MatMul", "Gemm"):
            heads.append(node.name)
        else:
            todo.extend(node.input)
    return heads


def float_nodes(path: Path, signal_input: str, float_head: bool) -> tuple[list[str], list[str]]:
    """The nodes an INT8 graph keeps float: (the conditioning path, the head where ``float_head``)."""
    conditioning = conditioning_nodes(path, signal_input)
    return conditioning, [n for n in (head_nodes(path) if float_head else []) if n not in conditioning]


def op_counts(path: Path) -> dict:
    """Which nodes were quantised, by op type: float ops whose weight comes through DequantizeLinear, and
    integer ops."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    dq_outputs = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    quantised, float_ops = collections.Counter(), collections.Counter()
    for n in graph.node:
        if n.op_type in INTEGER_OPS:
            quantised[n.op_type] += 1
        elif n.op_type in STATIC_OPS:
            # input 1 is the weight of MatMul, Gemm and Conv (or the second operand of an activation MatMul)
            (quantised if len(n.input) > 1 and n.input[1] in dq_outputs else float_ops)[n.op_type] += 1
    qdq = collections.Counter(n.op_type for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear"))
    return {"quantised": dict(sorted(quantised.items())), "float": dict(sorted(float_ops.items())),
            "qdq_nodes": dict(sorted(qdq.items()))}


def _method(name: str):
    from onnxruntime.quantization import CalibrationMethod

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if name not in methods:
        raise ValueError(f"calibration method {name!r}: choose from {', '.join(methods)}")
    return methods[name]


def run_quantizer(src: Path, dst: Path, reader, signal_input: str, method: str, percentile: float, *,
                  activation_type: str, reduce_range: bool, extra_options: dict,
                  float_head: bool = False) -> tuple[str, list[str]]:
    """onnxruntime's static QDQ quantiser on ``src`` -> ``dst``: per-channel INT8 weights of :data:`STATIC_OPS`,
    the conditioning path (and the head, where ``float_head``) left float. Returns (preprocessing note, the
    conditioning nodes left float).

    Every static INT8 graph of the bundle (onnxruntime's U8S8 here, TensorRT's symmetric S8S8 in
    :mod:`..tensorrt.quantize`) goes through this one call.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static as ort_quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        prep = preprocess(src, pre)
        excluded, head = float_nodes(pre, signal_input, float_head)
        ort_quantize_static(
            str(pre), str(dst), reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=list(STATIC_OPS),
            per_channel=True, reduce_range=reduce_range,
            activation_type=QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8, nodes_to_exclude=excluded + head, calibrate_method=_method(method),
            extra_options={"CalibPercentile": percentile, "DefaultTensorType": 1, **extra_options},
        )
    return prep, excluded


def quantize_static(src: Path, dst: Path, reader, signal_input: str, method: str = "minmax",
                    percentile: float = 99.999, reduce_range: bool = REDUCE_RANGE, float_head: bool = False) -> dict:
    """Static INT8 QDQ of ``src`` into ``dst``: U8 activations, S8 per-channel weights; returns manifest info.

    ``reduce_range`` keeps the weights in 7 bits, ``float_head`` the classifier's head in float (see the
    module docstring).
    """
    prep, excluded = run_quantizer(src, dst, reader, signal_input, method, percentile, activation_type="uint8",
                                   reduce_range=reduce_range, extra_options={"CalibTensorRangeSymmetric": False},
                                   float_head=float_head)
    info = {"mode": "static", "format": "QDQ", "method": method, "per_channel": True,
            "activation_type": "uint8", "weight_type": "int8", "weight_bits": 7 if reduce_range else 8,
            "op_types": list(STATIC_OPS),
            "preprocess": prep, "excluded_conditioning_nodes": len(excluded),
            "float_head": float_head, **op_counts(dst)}
    if method == "percentile":
        info["percentile"] = percentile
    return info


def gemm_to_matmul(path: Path) -> int:
    """Rewrite plain Gemm nodes (alpha = beta = 1, no transA) as MatMul + Add, in place; returns how many.

    The dynamic quantiser does this itself but transposes a weight once per user, which
    corrupts a weight shared by the unrolled steps of a fused sampler; here every shared
    weight gets one transposed copy.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    transposed: dict[str, str] = {}
    nodes, n = [], 0
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0)
        if node.op_type != "Gemm" or not plain or (attrs.get("transB", 0) and node.input[1] not in inits):
            nodes.append(node)
            continue
        weight = node.input[1]
        if attrs.get("transB", 0):
            if weight not in transposed:
                w = numpy_helper.from_array(numpy_helper.to_array(inits[weight]).T.copy(), weight + "_T")
                graph.initializer.append(w)
                transposed[weight] = w.name
            weight = transposed[weight]
        out = node.output[0] + ("_MatMul" if len(node.input) > 2 else "")
        nodes.append(helper.make_node("MatMul", [node.input[0], weight], [out], name=node.name + "_MatMul"))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [out, node.input[2]], [node.output[0]], name=node.name + "_Add"))
        n += 1
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for node in graph.node for i in node.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    onnx.save_model(model, str(path))
    return n


def quantize_dynamic(src: Path, dst: Path, signal_input: str, reduce_range: bool = REDUCE_RANGE,
                     float_head: bool = False, op_types: tuple[str, ...] = DYNAMIC_OPS) -> dict:
    """Dynamic INT8 of ``src`` into ``dst``: per-channel S8 weights (7-bit by default), activations at run time.

    ``op_types``: what to quantise (a graph with fused Attention nodes can add "Attention": QAttention).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic as ort_quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        prep = preprocess(src, pre)
        gemm_to_matmul(pre)
        excluded, head = float_nodes(pre, signal_input, float_head)
        ort_quantize_dynamic(str(pre), str(dst), op_types_to_quantize=list(op_types), per_channel=True,
                             reduce_range=reduce_range, weight_type=QuantType.QInt8, nodes_to_exclude=excluded + head,
                             extra_options={"DefaultTensorType": 1})  # 1 = FLOAT, where shape inference is silent
    return {"mode": "dynamic", "per_channel": True, "weight_type": "int8", "weight_bits": 7 if reduce_range else 8,
            "op_types": list(op_types), "float_head": float_head,
            "preprocess": prep, "excluded_conditioning_nodes": len(excluded), **op_counts(dst)}
