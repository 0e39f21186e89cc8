"""TensorRT's ONNX operator support as data: one row per operator (read by :mod:`.ops`)."""

# operator | first release in range | restrictions (from operators.md, shortened)
TABLE = """
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
