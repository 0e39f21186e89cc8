"""``build_engines``: turn a jetson bundle's recipes into TensorRT plans, on the device (TensorRT Python API).

For each recipe: parse the ONNX graph (explicit batch), set the builder flags (FP16; INT8 +
FP16 for QDQ graphs, whose quantisation is explicit; TF32 off for FP32; none on TensorRT 11,
which builds strongly typed networks only: :func:`check_typing`), keep the
conditioning path and normalisation layers in FP32 (:func:`pin_fp32_layers`), add the
optimisation profile, share one timing cache, and write ``engines/<name>.<precision>.plan``
exactly as TensorRT serialised it, so ``trtexec --loadEngine`` reads it. The manifest gains
one ``engines`` record per plan: file hash, TensorRT release, compute capability, JetPack/L4T,
power mode, clocks, and the trtexec line that rebuilds it.

Written against the TensorRT 10 Python API, with the TensorRT 8.6 explicit-batch flag and TensorRT 11's strong typing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..bundle.manifest import file_entry, read_manifest, sha256, verify_files, write_manifest

from ..bundle.schema import BundleError
from .trt_device import device_facts, gpu, import_tensorrt
from ..bundle.recipes import BUILD_PRECISIONS, DEFAULT_WORKSPACE_GIB, trtexec_line


class EngineBuildError(RuntimeError):
    """TensorRT could not parse or build a graph of the bundle."""


def select_recipes(build: dict, precision: str) -> list[tuple[dict, str]]:
    """[(recipe, requested precision)] for ``precision``: one recipe per graph; ``best`` takes int8, else fp16, else fp32."""
    if precision not in BUILD_PRECISIONS:
        raise ValueError(f"--precision {precision!r}: choose from {', '.join(BUILD_PRECISIONS)}")
    recipes = build.get("recipes", [])
    if precision != "best":
        chosen = [r for r in recipes if r["precision"] == precision]
        if not chosen:
            have = sorted({r["precision"] for r in recipes}) or ["none"]
            raise BundleError(f"the bundle has no {precision} recipes (it has: {', '.join(have)}); re-export with "
                              f"`flowfm-edge export RUN --target jetson --precision {precision}` or build "
                              f"--precision {have[0]}")
        return [(r, precision) for r in chosen]
    rank = {"int8": 0, "fp16": 1, "fp32": 2}
    best: dict[str, dict] = {}
    for r in recipes:
        if r["name"] not in best or rank[r["precision"]] < rank[best[r["name"]]["precision"]]:
            best[r["name"]] = r
    return [(r, "best") for r in best.values()]


def pin_fp32_layers(trt, network, signal_input: str) -> list[str]:
    """Keep in FP32 the float layers the signal input never reaches, and normalisation layers; returns their names.

    TensorRT's ONNX parser adds layers in the graph's topological order, so one pass finds
    every layer reached from ``signal_input``.
    """
    skip = {getattr(trt.LayerType, t) for t in ("CONSTANT", "SHAPE", "QUANTIZE", "DEQUANTIZE") if hasattr(trt.LayerType, t)}
    reached, pinned = {signal_input}, []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        inputs = [layer.get_input(j) for j in range(layer.num_inputs)]
        outputs = [layer.get_output(k) for k in range(layer.num_outputs)]
        is_reached = any(t is not None and t.name in reached for t in inputs)
        if is_reached:
            reached.update(t.name for t in outputs)
        is_norm = layer.type == getattr(trt.LayerType, "NORMALIZATION", object())
        if (is_reached and not is_norm) or layer.type in skip or not all(t.dtype == trt.float32 for t in outputs):
            continue
        layer.precision = trt.float32
        for k in range(layer.num_outputs):
            layer.set_output_type(k, trt.float32)
        pinned.append(layer.name)
    return pinned


def _network(trt, builder, logger, onnx_path: Path):
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"{onnx_path}: TensorRT {trt.__version__} could not parse the graph: {errors}. "
                               "The export-time operator check (manifest build.op_support) lists what it expected")
    return network, parser


def check_typing(trt, recipe: dict) -> bool:
    """True on TensorRT 11 and newer, which build strongly typed networks only (no precision builder flags).

    There the graph's own types decide: an INT8 recipe's Q/DQ graph builds as INT8 with float32
    elsewhere, an FP32 recipe as FP32; an FP16 recipe (an FP32 graph plus the FP16 flag) has no
    equivalent and is refused.
    """
    major = int(trt.__version__.split(".")[0])
    if major >= 11 and recipe["precision"] == "fp16":
        raise EngineBuildError(f"{recipe['name']} fp16: TensorRT {trt.__version__} builds strongly typed networks only "
                               "(its FP16 builder flag is gone) and this recipe's graph is FP32; build --precision "
                               "int8 or fp32, or use TensorRT 8.6-10.x (JetPack ships 10.x)")
    return major >= 11


def build_one(trt, bundle: Path, recipe: dict, workspace_gib: float, dla_core: int | None,
              cache_bytes: bytes, logger) -> tuple[bytes, bytes, list[str]]:
    """(serialised plan, updated timing cache, names of the layers kept in FP32) for one recipe."""
    strongly_typed = check_typing(trt, recipe)
    builder = trt.Builder(logger)
    network, _parser = _network(trt, builder, logger, bundle / recipe["onnx"])  # the parser owns the weights: keep it alive
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    for flag in [] if strongly_typed else recipe["builder_flags"]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if recipe["precision"] == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)
    pinned = [] if strongly_typed or recipe["precision"] == "fp32" else pin_fp32_layers(trt, network, recipe["signal_input"])
    if pinned:
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
    profile = builder.create_optimization_profile()
    for name, shape in recipe["profile"]["shapes"].items():
        profile.set_shape(name, shape["min"], shape["opt"], shape["max"])
    config.add_optimization_profile(profile)
    if dla_core is not None:
        if builder.num_DLA_cores <= dla_core:
            raise EngineBuildError(f"--dla-core {dla_core}: this device has {builder.num_DLA_cores} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # attention, softmax and normalisation stay on the GPU
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError(f"{recipe['name']} {recipe['precision']}: TensorRT {trt.__version__} failed to build "
                               "the engine (see its log above); try a larger --workspace or another --precision")
    return bytes(plan), bytes(config.get_timing_cache().serialize()), pinned


def engine_record(bundle: Path, recipe: dict, requested: str, facts: dict, pinned: list[str], seconds: float,
                  workspace_gib: float, dla_core: int | None, timing_cache: str | None) -> dict:
    """The manifest entry of one built plan."""
    plan = bundle / recipe["plan"]
    shapes = recipe["profile"]["shapes"]
    return {"name": recipe["name"], "graph": recipe["graph"], "precision": recipe["precision"], "requested": requested,
            "format": "tensorrt-plan", "file": file_entry(bundle, plan), "onnx": recipe["onnx"],
            "onnx_sha256": sha256(bundle / recipe["onnx"]), "device": facts,
            "build": {"builder_flags": recipe["builder_flags"], "tf32": recipe.get("tf32"), "workspace_gib": workspace_gib,
                      "dla_core": dla_core, "timing_cache": timing_cache, "seconds": round(seconds, 1),
                      "fp32_layers": pinned, "profile": recipe["profile"],
                      "trtexec": trtexec_line(recipe["onnx"], recipe["plan"], recipe["precision"], shapes, pinned,
                                              workspace_gib, timing_cache, dla_core)},
            "golden_check": recipe["golden_check"]}


def build_engines(bundle: str | Path, precision: str = "fp16", dla_core: int | None = None,
                  workspace_gib: float | None = None, timing_cache: str | Path | None = None, log=print) -> list[dict]:
    """Build the bundle's engines for ``precision`` here; returns the new manifest records."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    build = manifest.get("build")
    if not build or build.get("backend") != "tensorrt":
        target = manifest.get("target", {}).get("name")
        raise BundleError(f"{bundle}: exported for target {target!r}, which has no TensorRT build recipe; "
                          "re-export it with `flowfm-edge export RUN --target jetson --out BUNDLE`")
    problems = verify_files(bundle, manifest)
    if problems:
        raise BundleError(f"{bundle}: refusing to build from modified or missing files: {'; '.join(problems)}")
    chosen = select_recipes(build, precision)
    trt = import_tensorrt()
    facts = device_facts(trt.__version__, gpu())
    workspace_gib = workspace_gib or build.get("workspace_gib", DEFAULT_WORKSPACE_GIB)
    cache_path = Path(timing_cache) if timing_cache else bundle / build["timing_cache"]
    cache_bytes = cache_path.read_bytes() if cache_path.is_file() else b""
    logger = trt.Logger(trt.Logger.WARNING)
    records = []
    for recipe, requested in chosen:
        start = time.perf_counter()
        log(f"building {recipe['plan']} ({recipe['precision']}, batch {recipe['profile']['batch']}) with TensorRT {trt.__version__}")
        plan, cache_bytes, pinned = build_one(trt, bundle, recipe, workspace_gib, dla_core, cache_bytes, logger)
        (bundle / recipe["plan"]).parent.mkdir(parents=True, exist_ok=True)
        (bundle / recipe["plan"]).write_bytes(plan)  # the serialised plan as is: trtexec --loadEngine reads it
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_bytes(cache_bytes)
        cache_name = cache_path.relative_to(bundle).as_posix() if cache_path.is_relative_to(bundle) else str(cache_path)
        records.append(engine_record(bundle, recipe, requested, facts, pinned, time.perf_counter() - start,
                                     workspace_gib, dla_core, cache_name))
        log(f"wrote {recipe['plan']} ({len(plan) / 1e6:.1f} MB, {len(pinned)} layers kept FP32)")
    record_engines(bundle, manifest, records, facts)
    return records


def record_engines(bundle: Path, manifest: dict, records: list[dict], facts: dict) -> None:
    """Replace the manifest's records of the same (name, precision) with ``records``; written atomically."""
    new = {(r["name"], r["precision"]) for r in records}
    manifest["engines"] = [e for e in manifest.get("engines", []) if (e["name"], e["precision"]) not in new] + records
    manifest["build"]["built_on"] = facts
    tmp = bundle / ".manifest.tmp"
    tmp.mkdir(exist_ok=True)
    write_manifest(tmp, manifest)
    os.replace(tmp / "manifest.json", bundle / "manifest.json")  # a crash never leaves half a manifest
    tmp.rmdir()
