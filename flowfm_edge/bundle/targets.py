"""The export target table: one row per target, the only place that says what a target offers.

Every row names the graphs it exports, the precisions and backends it supports and the
options it accepts. The CLI checks arguments and writes its ``--help`` from this table, and
the benchmark loop iterates over it. Rows marked ``exportable=False`` are declared so that
users get a clear answer instead of a silent fallback.

>>> TARGETS["cpu"].precisions
('fp32', 'int8', 'int8-dynamic')
"""

from __future__ import annotations

from dataclasses import dataclass

GRAPHS = ("encoder", "classifier", "velocity", "sampler")
TEXT_GRAPHS = ("text-sampler",)  # text runs only (from `flowfm-edge train-text`)
SAMPLER_GRAPHS = ("sampler",) + TEXT_GRAPHS  # fused samplers: one spec per (solver, steps)

# precision -> what it means, for --help and the manifest
PRECISIONS = {
    "fp32": "float32 weights and activations",
    "fp16": "float16 weights and activations",
    "int8": "static INT8: explicit Q/DQ, per-channel weights, activations calibrated on real windows",
    "int8-dynamic": "dynamic INT8: per-channel INT8 weights, activations quantised at run time",
}
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    format: str  # artefact file format
    precisions: tuple[str, ...]
    default_precisions: tuple[str, ...]
    backends: tuple[str, ...]  # runtimes that run this target's artefacts
    graphs: tuple[str, ...] = GRAPHS
    options: frozenset[str] = frozenset({"steps", "solver", "calib", "calib_method", "guidance"})
    exportable: bool = True
    note: str = ""
    max_steps: int = 256  # fused samplers are unrolled; the cpu target's Loop graphs stay one step long

    def check(self, precisions: list[str], solvers: list[str], steps: list[int], calib_method: str) -> None:
        """Raise ValueError naming the bad option and the allowed values."""
        if not self.exportable:
            raise ValueError(f"target {self.name!r} is declared but cannot be exported yet: {self.note} "
                             f"Exportable targets: {', '.join(exportable_targets())}")
        bad = [p for p in precisions if p not in self.precisions]
        if bad or not precisions:
            raise ValueError(f"--precision {','.join(bad) or '(empty)'} is not offered by target {self.name!r}; "
                             f"choose from {', '.join(self.precisions)}")
        from ..solvers import SOLVERS, STOCHASTIC

        stochastic = [s for s in solvers if s in STOCHASTIC]
        if stochastic:
            raise ValueError(f"--solver {','.join(stochastic)}: stochastic samplers run in PyTorch only (`flowfm-edge "
                             f"generate --solver {stochastic[0]}`); export one of {', '.join(SOLVERS)}")
        bad_solvers = [s for s in solvers if s not in SOLVERS]
        if bad_solvers or not solvers:
            raise ValueError(f"--solver {','.join(bad_solvers) or '(empty)'}: unknown solver; choose from {', '.join(SOLVERS)}")
        bad_steps = [s for s in steps if s < 1 or s > self.max_steps]
        if bad_steps or not steps:
            raise ValueError(f"--steps {bad_steps or '(empty)'}: every step count of target {self.name!r} must lie in "
                             f"1..{self.max_steps}")
        if calib_method not in CALIBRATION_METHODS:
            raise ValueError(f"--calib-method {calib_method!r}: choose from {', '.join(CALIBRATION_METHODS)}")


TARGETS: dict[str, Target] = {
    "cpu": Target(
        name="cpu",
        description="x86/ARM CPUs and gateways: ONNX for onnxruntime",
        format="onnx",
        precisions=("fp32", "int8", "int8-dynamic"),
        default_precisions=("fp32", "int8"),
        backends=("onnxruntime", "torch"),
        graphs=GRAPHS + TEXT_GRAPHS,
        max_steps=1000,  # the diffusion twin's T; a fused sampler is an ONNX Loop over one step
    ),
    "jetson": Target(
        name="jetson",
        description="Jetson-class GPUs: TensorRT-ready ONNX (opset 17, checked for TensorRT 8.6-11.x) and build "
                    "recipes; engines are built on the device with `flowfm-edge build-engine`",
        format="onnx-tensorrt",
        precisions=("fp32", "fp16", "int8"),
        default_precisions=("fp16", "int8"),
        backends=("tensorrt", "onnxruntime", "torch"),
        options=frozenset({"steps", "solver", "calib", "calib_method", "guidance", "batch_profile"}),
    ),
    "android": Target(
        name="android",
        description="phones: LiteRT (TFLite) models converted from PyTorch with litert-torch (needs the [litert] "
                    "extra), fixed batch (1 by default); fp16 = FP16 weights, int8-dynamic = dynamic-range INT8, "
                    "int8 = full INT8 with float I/O unless --int8-io",
        format="tflite",
        precisions=("fp32", "fp16", "int8-dynamic", "int8"),
        default_precisions=("fp32", "fp16", "int8-dynamic", "int8"),
        backends=("litert", "torch"),
        options=frozenset({"steps", "solver", "calib", "calib_method", "guidance", "int8_io", "fixed_batch"}),
    ),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    return TARGETS[name]


def exportable_targets() -> list[str]:
    return [t.name for t in TARGETS.values() if t.exportable]


def targets_help() -> str:
    """One short line per target, for ``flowfm-edge export --help``."""
    parts = []
    for t in TARGETS.values():
        state = "" if t.exportable else ", not exportable yet"
        parts.append(f"{t.name} ({', '.join(t.precisions)}{state})")
    return "; ".join(parts)


def targets_table() -> str:
    """The target table as text: target, description, precisions, backends, state."""
    rows = []
    for t in TARGETS.values():
        state = "ready" if t.exportable else f"not exportable yet: {t.note}"
        rows.append(f"{t.name}: {t.description}. Precisions {', '.join(t.precisions)}; "
                    f"backends {', '.join(t.backends)}; {state}")
    return "\n\n".join(rows)
