"""How a training step computes: the autocast dtype, the fp16 loss scaler and the attention kernels.

``amp`` (``TrainConfig.amp``) resolves per device:

- ``auto``: bf16 on CUDA; on a CPU, bf16 where it computes bf16 natively and measurably faster, else fp32
- ``bf16``: bf16
- ``fp16``: fp16 with a GradScaler
- ``off``: fp32

A CUDA GPU without bf16 (before Ampere: V100, T4, Jetson Xavier) runs ``auto`` and ``bf16`` in
fp16 with a GradScaler rather than fp32: its tensor cores run fp16, and the scaler keeps fp16
gradients from underflowing.

>>> autocast_dtype("off", torch.device("cpu")) is None
True
>>> grad_scaler(torch.float16, torch.device("cpu")).is_enabled()
True
"""

from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

BF16_MIN_GAIN = 1.25  # bf16 autocast only where its matmuls are at least this much faster than fp32


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo (Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def matmul_rate(dtype: torch.dtype, n: int = 1024, repeats: int = 5) -> float:
    """Measured GFLOP/s of an n x n matmul in ``dtype`` at the current thread count (median of ``repeats``)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / sorted(times)[repeats // 2] / 1e9


@functools.lru_cache(maxsize=None)
def cpu_bf16_pays(threads: int) -> bool:
    """Whether bf16 matmuls run >= ``BF16_MIN_GAIN`` x faster than fp32 here, measured once per thread count.

    The AVX512-BF16 flag alone does not tell: on one 2-core AMD EPYC bf16 matmuls ran 4.1x faster than
    fp32 (tiny trained 2.15x faster), on one 2-core Intel Xeon with the same flag 0.49x (tiny 0.64x);
    benchmarks/NOTES.md, "Training throughput". Costs about 0.1 s.
    """
    return matmul_rate(torch.bfloat16) >= BF16_MIN_GAIN * matmul_rate(torch.float32)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``amp`` on ``device`` (None: fp32); auto is bf16 on CUDA, and on CPUs where it is faster.

    A CPU gets bf16 under ``auto`` when it computes bf16 natively (AVX512-BF16 or AMX) and its bf16 matmuls
    are measured at least 1.25x faster than fp32 (:func:`cpu_bf16_pays`); elsewhere bf16 is emulated or
    slower, and ``auto`` stays fp32. A CUDA GPU without bf16 gets fp16, trained with :func:`grad_scaler`.
    """
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"amp must be auto, bf16, fp16 or off, got {amp!r}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"
                        and not (cpu_has_bf16() and cpu_bf16_pays(torch.get_num_threads()))):
        return None
    if amp in ("auto", "bf16"):
        return torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16


def grad_scaler(dtype: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 autocast, whose small gradients underflow without one; None for bf16 and fp32.

    bf16 has fp32's exponent range and needs no scaling.
    """
    return torch.amp.GradScaler(device.type) if dtype == torch.float16 else None


def attention_backend(kind: str, device: torch.device):
    """The scaled-dot-product attention kernels training uses: ``auto`` is the math kernel on CPU.

    For windows of 30 tokens the CPU flash kernel's backward is the largest single cost of a tiny step (28% in
    bf16) and the math path (matmul, softmax, matmul) trains 1.2x faster. On CUDA ``auto`` leaves PyTorch's
    choice (``default``).
    """
    if kind not in ("auto", "math", "default"):
        raise ValueError(f"attention must be auto, math or default, got {kind!r}")
    if kind == "math" or (kind == "auto" and device.type == "cpu"):
        return sdpa_kernel(SDPBackend.MATH)
    return contextlib.nullcontext()
