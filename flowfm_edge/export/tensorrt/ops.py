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

TENSORRT_RANGE = ("8.6", "11.x")  # the releases a jetson bundle is checked against
# the highest ONNX opset each release's parser reads
MAX_OPSET = {"8.6": 17, "10.0": 20, "10.15": 24, "11.5": 25}

# operator | first release in range | restrictions (from operators.md, shortened)
_TABLE = """
Abs | 8.6 |
Acos | 8.6 |
Acosh | 8.6 |
Add | 8.6 |
AffineGrid | - |
And | 8.6 | BOOL only
ArgMax | 8.6 |
ArgMin | 8.6 |
Asin | 8.6 |
Asinh | 8.6 |
Atan | 8.6 |
Atanh | 8.6 |
Attention | 10.15 | Q, K, V 4-D; no past_key/past_value
AveragePool | 8.6 | 2-D or 3-D pooling; dilations all ones
BatchNormalization | 8.6 |
Bernoulli | - |
BitShift | - |
BitwiseAnd | - |
BitwiseNot | - |
BitwiseOr | - |
BitwiseXor | - |
BlackmanWindow | 10.0 |
Cast | 8.6 | to TensorRT types only (no DOUBLE, no STRING)
CastLike | 10.0 |
Ceil | 8.6 |
Celu | 8.6 |
CenterCropPad | - |
Clip | 8.6 |
Col2Im | - |
Compress | - |
Concat | 8.6 |
ConcatFromSequence | - |
Constant | 8.6 | no sparse_value or string values
ConstantOfShape | 8.6 |
Conv | 8.6 | weights must be an initializer; 1-D convolutions are imported as 2-D
ConvInteger | - | integer ops: use QuantizeLinear/DequantizeLinear (QDQ) instead
ConvTranspose | 8.6 | weights must be an initializer
Cos | 8.6 | FP16 loses the phase of large arguments: keep such layers FP32
Cosh | 8.6 |
CumSum | 8.6 | axis must be an initializer
DFT | 11.2 | through the cuFFT-backed FFT plugin
DeformConv | 10.0 |
DepthToSpace | 8.6 |
DequantizeLinear | 8.6 | INT8 input, x_zero_point must be zero (symmetric)
Det | - |
Div | 8.6 |
Dropout | 8.6 | inference only
DynamicQuantizeLinear | - | dynamic INT8 is an onnxruntime feature; export static QDQ for TensorRT
Einsum | 8.6 | no ellipsis, no diagonal, no broadcasting between inputs
Elu | 8.6 |
Equal | 8.6 |
Erf | 8.6 |
Exp | 8.6 |
Expand | 8.6 |
EyeLike | 8.6 |
Flatten | 8.6 |
Floor | 8.6 |
Gather | 8.6 |
GatherElements | 8.6 |
GatherND | 8.6 |
Gelu | 10.0 | ONNX opset 20
Gemm | 8.6 |
GlobalAveragePool | 8.6 |
GlobalLpPool | 8.6 |
GlobalMaxPool | 8.6 |
Greater | 8.6 |
GreaterOrEqual | 8.6 |
GridSample | 8.6 | 4-D input (5-D from 11.2)
GroupNormalization | 10.0 |
GRU | 8.6 | bidirectional: same activations both ways
HammingWindow | 10.0 |
HannWindow | 10.0 |
HardSigmoid | 8.6 |
HardSwish | 8.6 |
Hardmax | 10.0 |
Identity | 8.6 |
If | 8.6 | branch outputs must have the same rank and different names
ImageDecoder | - |
ImageScaler | 8.6 |
InstanceNormalization | 8.6 | scale and bias must be initializers
IsInf | 10.0 |
IsNaN | 8.6 |
LayerNormalization | 8.6 | only output Y; TensorRT 8.5 and older (JetPack 5.1) cannot import it; FP16 reductions can overflow, so build-engine keeps it FP32
LeakyRelu | 8.6 |
Less | 8.6 |
LessOrEqual | 8.6 |
Log | 8.6 |
LogSoftmax | 8.6 |
Loop | 8.6 | scan outputs of static length
LRN | 8.6 |
LSTM | 8.6 | input_forget and layout must be 0
LpNormalization | 8.6 |
LpPool | 8.6 |
MatMul | 8.6 |
MatMulInteger | - | integer ops: use QuantizeLinear/DequantizeLinear (QDQ) instead
Max | 8.6 |
MaxPool | 8.6 | 2-D or 3-D pooling; no Indices output
MaxRoiPool | - |
MaxUnpool | - |
Mean | 8.6 |
MeanVarianceNormalization | 8.6 |
MelWeightMatrix | - |
Min | 8.6 |
Mish | 10.0 |
Mod | 8.6 |
Mul | 8.6 |
Multinomial | - |
Neg | 8.6 |
NegativeLogLikelihoodLoss | - |
NonMaxSuppression | 8.6 |
NonZero | 8.6 |
Not | 8.6 |
OneHot | 8.6 | depth must be a build-time constant
Optional | - |
OptionalGetElement | - |
OptionalHasElement | - |
Or | 8.6 |
Pad | 8.6 |
ParametricSoftplus | 8.6 |
Pow | 8.6 |
PRelu | 8.6 |
QLinearConv | - | integer ops: use QuantizeLinear/DequantizeLinear (QDQ) instead
QLinearMatMul | - | integer ops: use QuantizeLinear/DequantizeLinear (QDQ) instead
QuantizeLinear | 8.6 | INT8 output, y_zero_point must be zero (symmetric)
RandomNormal | 8.6 | seed ignored
RandomNormalLike | 8.6 | seed ignored
RandomUniform | 8.6 | seed ignored
RandomUniformLike | 8.6 | seed ignored
Range | 8.6 |
Reciprocal | 8.6 |
ReduceL1 | 8.6 | axes must be an initializer (opset 18+)
ReduceL2 | 8.6 | axes must be an initializer (opset 18+)
ReduceLogSum | 8.6 | axes must be an initializer (opset 18+)
ReduceLogSumExp | 8.6 | axes must be an initializer (opset 18+)
ReduceMax | 8.6 | axes must be an initializer (opset 18+)
ReduceMean | 8.6 | axes must be an initializer (opset 18+)
ReduceMin | 8.6 | axes must be an initializer (opset 18+)
ReduceProd | 8.6 | axes must be an initializer (opset 18+)
ReduceSum | 8.6 | axes must be an initializer
ReduceSumSquare | 8.6 | axes must be an initializer (opset 18+)
RegexFullMatch | - |
Relu | 8.6 |
Reshape | 8.6 |
Resize | 8.6 | nearest/linear modes; no antialiasing
ReverseSequence | 8.6 |
RMSNormalization | 10.15 |
RNN | 8.6 |
RoiAlign | 8.6 |
RotaryEmbedding | 10.15 |
Round | 8.6 |
STFT | 10.0 | frame_step and window must be initializers
ScaledTanh | 8.6 |
Scan | 8.6 |
Scatter | 8.6 |
ScatterElements | 8.6 |
ScatterND | 8.6 | reduction none only
Selu | 8.6 |
SequenceAt | - |
SequenceConstruct | - |
SequenceEmpty | - |
SequenceErase | - |
SequenceInsert | - |
SequenceLength | - |
SequenceMap | - |
Shape | 8.6 |
Shrink | 8.6 |
Sigmoid | 8.6 |
Sign | 8.6 |
Sin | 8.6 | FP16 loses the phase of large arguments: keep such layers FP32
Sinh | 8.6 |
Size | 8.6 |
Slice | 8.6 | axes must be an initializer
Softmax | 8.6 |
SoftmaxCrossEntropyLoss | - |
Softplus | 8.6 |
Softsign | 8.6 |
SpaceToDepth | 8.6 |
Split | 8.6 |
SplitToSequence | - |
Sqrt | 8.6 |
Squeeze | 8.6 | axes must be a constant (may be omitted from 11.5)
StringConcat | - |
StringNormalizer | - |
StringSplit | - |
Sub | 8.6 |
Sum | 8.6 |
Swish | 11.0 |
Tan | 8.6 |
Tanh | 8.6 |
TensorScatter | 10.15 |
TfIdfVectorizer | - |
ThresholdedRelu | 8.6 |
Tile | 8.6 |
TopK | 8.6 | K must be an initializer
Transpose | 8.6 |
Trilu | 8.6 |
Unique | - |
Unsqueeze | 8.6 | axes must be a constant
Upsample | 8.6 |
Where | 8.6 |
Xor | 8.6 |
"""

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
