"""The backend registry: which runtimes exist, what each needs installed, and where its code lives.

A backend is resolved by name only when asked for, so a missing optional dependency costs
nothing until it is used, and then fails with the extra to install.

>>> sorted(BACKENDS)
['litert', 'onnxruntime', 'tensorrt', 'torch']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


class BackendUnavailable(ImportError):
    """A backend's dependencies are not installed, or it is registered with ``implemented=False``."""


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # where the backend class lives
    attr: str  # the class name
    requires: tuple[str, ...]  # importable modules it needs
    extra: str | None  # pip extra that installs them
    formats: tuple[str, ...]  # artefact formats it runs ("torch": the bundle's checkpoint)
    implemented: bool = True
    note: str = ""
    hint: str = ""  # how to install, where pip is not the answer

    def install_hint(self) -> str:
        if self.hint:
            return self.hint
        return f"pip install 'flowfm-edge[{self.extra}]'" if self.extra else f"pip install {' '.join(self.requires)}"


BACKENDS: dict[str, BackendInfo] = {}


def register_backend(info: BackendInfo) -> None:
    """Add or replace a backend; the built-in ones below (onnxruntime, torch, tensorrt, litert) are added this way."""
    BACKENDS[info.name] = info


register_backend(BackendInfo("onnxruntime", "flowfm_edge.runtimes.ort", "OrtBackend", ("onnxruntime",), None, ("onnx",)))
register_backend(BackendInfo("torch", "flowfm_edge.runtimes.torch_backend", "TorchBackend", ("torch", "safetensors"),
                             "train", ("torch",)))
register_backend(BackendInfo("tensorrt", "flowfm_edge.runtimes.tensorrt_backend", "TensorRTBackend", ("tensorrt",),
                             "tensorrt", ("tensorrt-plan",),
                             hint="on a Jetson, TensorRT comes with JetPack (`sudo apt install nvidia-jetpack`); on x86 "
                                  "with an NVIDIA GPU, pip install 'flowfm-edge[tensorrt]'"))
register_backend(BackendInfo("litert", "flowfm_edge.runtimes.litert", "LiteRTBackend", ("ai_edge_litert",), "litert",
                             ("tflite",)))


def backend_class(name: str):
    """The backend class for ``name``; raises with the extra to install when its dependencies are missing."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    info = BACKENDS[name]
    if not info.implemented:
        ready = ", ".join(b.name for b in BACKENDS.values() if b.implemented)
        raise BackendUnavailable(f"backend {name!r}: {info.note}; available backends: {ready}")
    for module in info.requires:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise BackendUnavailable(f"backend {name!r} needs the Python package {module!r}, which is not installed "
                                     f"({exc}); install it with: {info.install_hint()}") from None
    return getattr(importlib.import_module(info.module), info.attr)
