"""What a benchmark ran on: CPU, cores, threads, library versions, GPU and power mode where readable.

Everything here reads files or asks installed tools; a field that cannot be read is
``None`` (never guessed). ``flowfm-edge bench`` and the scripts in ``benchmarks/`` record
:func:`environment`, and most :func:`load_average` again at the end (``load_average_end``).
Peak RSS per case comes from ``VmHWM`` in ``/proc/self/status``, reset through
``/proc/self/clear_refs`` before each case where the kernel allows it.

>>> sorted(environment(threads=1))[:3]
['affinity_cores', 'cpu', 'cpu_governor']
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import shutil
import subprocess
from pathlib import Path

from ..doctor import cpu_model, version

LIBRARIES = ("flowfm-edge", "torch", "numpy", "onnx", "onnxscript", "onnxruntime", "ai-edge-litert", "tensorrt",
             "nvidia-ml-py")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def gpus() -> list[str] | None:
    """``name, driver, power limit, persistence`` per NVIDIA GPU (nvidia-smi), or None."""
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,power.limit,persistence_mode",
                "--format=csv,noheader"])
    return out.splitlines() if out else None


def power_mode() -> dict:
    """Jetson nvpmodel mode, CPU frequency governor and, where present, the platform power profile."""
    return {"nvpmodel": _run(["nvpmodel", "-q"]),
            "cpu_governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            "platform_profile": _read("/sys/firmware/acpi/platform_profile")}


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (/proc/loadavg), or None."""
    text = _read("/proc/loadavg")
    return [float(v) for v in text.split()[:3]] if text else None


def environment(threads: int | None) -> dict:
    """CPU, cores, ``threads`` (None: each result says its own), platform, library versions, GPU, power mode,
    load average and UTC date, as a JSON-ready dict."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    pm = power_mode()
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "affinity_cores": affinity, "threads": threads,
            "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
            "python": platform.python_version(), "libraries": {lib: version(lib) for lib in LIBRARIES},
            "gpu": gpus(), "nvpmodel": pm["nvpmodel"], "cpu_governor": pm["cpu_governor"],
            "platform_profile": pm["platform_profile"], "load_average_start": load_average(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (VmHWM); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb(was_reset: bool) -> dict:
    """Peak resident memory since the last reset (or since process start), in MB, and which it is."""
    status = _read("/proc/self/status") or ""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            kb = int(line.split()[1])
            return {"peak_rss_mb": kb / 1024, "scope": "this case" if was_reset else "process lifetime"}
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "scope": "process lifetime"}
