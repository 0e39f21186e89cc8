"""The TensorRT build recipe of a jetson bundle: optimisation profiles, builder flags, trtexec lines.

One recipe per (graph, precision). ``flowfm-edge build-engine`` follows the recipes with the
TensorRT Python API; the ``trtexec`` line of each recipe builds the same engine by hand. Only
numpy-free standard library here: the device reads recipes without onnx or torch.

>>> r = recipe("encoder", "encoder", "fp16", "onnx/encoder.fp32.onnx", {"x": ["batch", 3, 300]}, (1, 8, 64), [])
>>> r["trtexec"]
'trtexec --onnx=onnx/encoder.fp32.onnx --saveEngine=engines/encoder.fp16.plan --fp16 --minShapes=x:1x3x300 --optShapes=x:8x3x300 --maxShapes=x:64x3x300 --memPoolSize=workspace:1024M --timingCacheFile=engines/timing.cache'
"""

from __future__ import annotations

import shlex

ENGINE_DIR = "engines"
TIMING_CACHE = f"{ENGINE_DIR}/timing.cache"
DEFAULT_PROFILE = (1, 8, 64)  # min, opt, max batch
DEFAULT_WORKSPACE_GIB = 1.0
BUILD_PRECISIONS = ("fp32", "fp16", "int8", "best")

# builder flags per recipe precision; INT8 keeps FP16 on so layers outside Q/DQ run in FP16
FLAGS = {"fp32": [], "fp16": ["FP16"], "int8": ["INT8", "FP16"]}
# golden tolerances (relative L2 against PyTorch) of an engine on the device
FP32_ENGINE_TOLERANCE = 1e-3  # FP32 kernels with TF32 off: only summation order differs
FP16_MIN_TOLERANCE = 1e-2
INT8_MIN_TOLERANCE = 0.05
FP32_RULE = ("layers the signal input never reaches (time embedding, RepProj, adaLN conditioning) and "
             "normalisation layers run in FP32 (precision constraints: prefer)")


def parse_profile(value: str | tuple | list) -> tuple[int, int, int]:
    """'1,8,64' or (1, 8, 64) -> (min, opt, max) batch; raises naming the rule it breaks."""
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        lo, opt, hi = (int(str(v).strip()) for v in items)
    except ValueError:
        raise ValueError(f"--batch-profile {value!r}: expected three batch sizes MIN,OPT,MAX, e.g. 1,8,64") from None
    if not 1 <= lo <= opt <= hi:
        raise ValueError(f"--batch-profile {value!r}: need 1 <= MIN <= OPT <= MAX")
    return lo, opt, hi


def profile_shapes(inputs: dict[str, list], profile: tuple[int, int, int]) -> dict[str, dict[str, list[int]]]:
    """{input: {"min", "opt", "max": shape}} with the ``batch`` axis set from ``profile``."""
    out = {}
    for name, shape in inputs.items():
        out[name] = {k: [b if d == "batch" else int(d) for d in shape] for k, b in zip(("min", "opt", "max"), profile)}
    return out


def _dims(shapes: dict, which: str) -> str:
    return ",".join(f"{name}:{'x'.join(str(d) for d in s[which])}" for name, s in shapes.items())


def trtexec_line(onnx_path: str, plan: str, precision: str, shapes: dict, fp32_layers: list[str],
                 workspace_gib: float = DEFAULT_WORKSPACE_GIB, timing_cache: str | None = TIMING_CACHE,
                 dla_core: int | None = None) -> str:
    """The trtexec command that builds the same engine as ``build-engine`` (TensorRT 8.6 and 10.x flags; TensorRT 11
    has no precision flags: drop them for int8 and fp32, and fp16 has no 11.x equivalent)."""
    args = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={plan}"]
    args += {"fp32": ["--noTF32"], "fp16": ["--fp16"], "int8": ["--int8", "--fp16"]}[precision]
    args += [f"--minShapes={_dims(shapes, 'min')}", f"--optShapes={_dims(shapes, 'opt')}",
             f"--maxShapes={_dims(shapes, 'max')}", f"--memPoolSize=workspace:{int(workspace_gib * 1024)}M"]
    if timing_cache:
        args.append(f"--timingCacheFile={timing_cache}")
    if dla_core is not None:
        args += [f"--useDLACore={dla_core}", "--allowGPUFallback"]
    if fp32_layers and precision != "fp32":
        args += ["--precisionConstraints=prefer", "--layerPrecisions=" + ",".join(f"{n}:fp32" for n in fp32_layers)]
    return " ".join(shlex.quote(a) for a in args)


def recipe(name: str, graph: str, precision: str, onnx_path: str, inputs: dict[str, list],
           profile: tuple[int, int, int], fp32_layers: list[str], golden_check: dict | None = None,
           signal_input: str | None = None) -> dict:
    """How to build engine ``engines/<name>.<precision>.plan`` from ``onnx_path``."""
    plan = f"{ENGINE_DIR}/{name}.{precision}.plan"
    shapes = profile_shapes(inputs, profile)
    return {"name": name, "graph": graph, "precision": precision, "onnx": onnx_path, "plan": plan,
            "builder_flags": FLAGS[precision], "tf32": False if precision == "fp32" else None,
            "signal_input": signal_input or next(iter(inputs)),
            "fp32_layers": {"rule": FP32_RULE, "onnx_nodes": list(fp32_layers)} if precision != "fp32" else None,
            "profile": {"batch": dict(zip(("min", "opt", "max"), profile)), "shapes": shapes},
            "golden_check": golden_check,
            "trtexec": trtexec_line(onnx_path, plan, precision, shapes, fp32_layers if precision != "fp32" else [])}


def golden_tolerance(precision: str, host_rel_l2: float | None) -> dict:
    """The golden check of an engine: against PyTorch, with a tolerance from what the host measured."""
    if precision == "fp32":
        tol, why = FP32_ENGINE_TOLERANCE, "FP32 engine, TF32 off"
    elif precision == "fp16":
        tol = max(FP16_MIN_TOLERANCE, 4 * (host_rel_l2 or 0.0))
        why = "max(1e-2, 4 x the FP16-emulated error measured at export)"
    else:
        tol = max(INT8_MIN_TOLERANCE, 2 * (host_rel_l2 or 0.0))
        why = "max(0.05, 2 x the QDQ error measured at export, Q/DQ in float)"
    return {"against": "reference", "metric": "rel_l2", "tolerance": round(tol, 6), "why": why}


def build_section(recipes: list[dict], profile: tuple[int, int, int], op_checks: dict[str, dict],
                  tensorrt_range: tuple[str, str], opset: int) -> dict:
    """The manifest's ``build`` section: what a Jetson needs to turn the bundle into engines."""
    return {
        "backend": "tensorrt",
        "tensorrt_range": f"{tensorrt_range[0]}-{tensorrt_range[1]}",
        "onnx_opset": opset,
        "profile": {"batch": dict(zip(("min", "opt", "max"), profile))},
        "workspace_gib": DEFAULT_WORKSPACE_GIB,
        "timing_cache": TIMING_CACHE,
        "command": "flowfm-edge build-engine BUNDLE --precision fp16|int8|best [--dla-core N] [--workspace GiB] "
                   "[--timing-cache FILE]",
        "steps": [
            "on the Jetson: JetPack provides TensorRT (python3 -c 'import tensorrt') and CUDA",
            "pip install cuda-python (or use JetPack's pycuda) for the runtime's device buffers",
            "flowfm-edge build-engine BUNDLE --precision fp16   (or follow the trtexec line of each recipe)",
            "flowfm-edge validate BUNDLE --backend tensorrt",
        ],
        "op_support": op_checks,
        "recipes": recipes,
    }
