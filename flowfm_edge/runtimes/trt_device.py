"""The device an engine is built or loaded on: TensorRT, GPU, JetPack/L4T, power mode, clocks.

TensorRT plans are tied to the TensorRT release and the GPU architecture (compute
capability) that built them, so every engine record carries both and :func:`engine_problem`
refuses a mismatch before TensorRT is asked to deserialise it. Everything here reads files
and runs commands through arguments that tests replace; only :func:`import_tensorrt` and
:func:`gpu` touch TensorRT or CUDA.

>>> l4t_release("# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64")
'36.3.0'
>>> jetpack_for_l4t("36.3.0")
'6.0'
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from pathlib import Path

TEGRA_RELEASE = "/etc/nv_tegra_release"
# L4T release -> JetPack (NVIDIA's release notes); newer L4T releases are reported as L4T only
JETPACK = {"35.2.1": "5.1", "35.3.1": "5.1.1", "35.4.1": "5.1.2", "35.5.0": "5.1.3", "35.6.0": "5.1.4",
           "36.2.0": "6.0 DP", "36.3.0": "6.0", "36.4.0": "6.1", "36.4.3": "6.2", "36.4.4": "6.2.1"}


class TensorRTMissing(ImportError):
    """TensorRT's Python bindings are not importable here."""


def on_jetson(root: str | Path = "/") -> bool:
    return (Path(root) / TEGRA_RELEASE.lstrip("/")).is_file()


def missing_tensorrt_message(exc: BaseException | None = None, root: str | Path = "/") -> str:
    """What TensorRT is needed for, and how to get it on this machine; flowfm-edge never installs it."""
    why = f" (import tensorrt: {exc})" if exc else ""
    if on_jetson(root):
        how = ("this is a Jetson: TensorRT comes with JetPack. Install it with `sudo apt install nvidia-jetpack` "
               "(or only the Python bindings: `sudo apt install python3-libnvinfer`), then run flowfm-edge from the "
               "system Python or from a virtualenv created with --system-site-packages")
    else:
        how = ("on a Jetson, TensorRT comes with JetPack (`sudo apt install nvidia-jetpack`); on an x86 machine with "
               "an NVIDIA GPU, install NVIDIA's wheels with `pip install 'flowfm-edge[tensorrt]'`")
    return (f"TensorRT's Python bindings are not installed{why}. Engines are built and run on the device itself; "
            f"{how}. flowfm-edge never installs TensorRT for you.")


def import_tensorrt():
    """``import tensorrt``, or :class:`TensorRTMissing` saying how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise TensorRTMissing(missing_tensorrt_message(exc)) from None
    return tensorrt


def l4t_release(text: str) -> str | None:
    """'# R36 (release), REVISION: 3.0, ...' -> '36.3.0'."""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not m:
        return None
    rev = m.group(2).split(".")
    return ".".join([m.group(1), *rev, *(["0"] * (2 - len(rev)))])


def jetpack_for_l4t(l4t: str | None) -> str | None:
    return JETPACK.get(l4t or "")


def _run(cmd: list[str], timeout: float = 5.0) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def jetson(root: str | Path = "/", run=_run) -> dict | None:
    """L4T and JetPack releases and the module, or None off Jetson."""
    root = Path(root)
    path = root / TEGRA_RELEASE.lstrip("/")
    if not path.is_file():
        return None
    text = path.read_text(errors="replace")
    l4t = l4t_release(text)
    pkg = run(["dpkg-query", "-W", "-f=${Version}", "nvidia-jetpack"])
    model = root / "proc/device-tree/model"
    return {"l4t": l4t, "jetpack": re.split(r"[-+]", pkg or "")[0] or jetpack_for_l4t(l4t),  # '6.2.1+b38', '5.1.2-b104'
            "jetpack_source": "dpkg nvidia-jetpack" if pkg else "L4T release table",
            "model": model.read_text(errors="replace").strip("\x00\n ") if model.is_file() else None,
            "nv_tegra_release": text.splitlines()[0].strip() if text else ""}


def power_mode(run=_run) -> dict | None:
    """``nvpmodel -q``: {"name": "MAXN", "id": 0}, or None where nvpmodel is absent."""
    out = run(["nvpmodel", "-q"])
    if not out:
        return None
    name = re.search(r"Power Mode:\s*(\S+)", out)
    ids = [line.strip() for line in out.splitlines() if line.strip().isdigit()]
    return {"name": name.group(1) if name else None, "id": int(ids[0]) if ids else None, "source": "nvpmodel -q"}


def clocks(root: str | Path = "/", run=_run) -> dict:
    """Current clocks in Hz where readable: devfreq devices (the Jetson GPU, ...), CPU 0, and nvidia-smi."""
    root = Path(root)
    out: dict = {}
    for dev in sorted(glob.glob(str(root / "sys/class/devfreq/*"))):
        cur = Path(dev) / "cur_freq"
        if cur.is_file():
            entry = {"cur_hz": _int(cur)}
            for key in ("min_freq", "max_freq"):
                if (Path(dev) / key).is_file():
                    entry[key.replace("_freq", "_hz")] = _int(Path(dev) / key)
            out[f"devfreq/{Path(dev).name}"] = entry
    cpu = root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"
    if cpu.is_file():
        out["cpu0_hz"] = (_int(cpu) or 0) * 1000  # sysfs reports kHz
    smi = run(["nvidia-smi", "--query-gpu=clocks.sm,clocks.mem", "--format=csv,noheader,nounits"])
    if smi and "," in smi:
        sm, mem = (s.strip() for s in smi.splitlines()[0].split(",")[:2])
        out["nvidia_smi"] = {"sm_mhz": _num(sm), "mem_mhz": _num(mem)}
    return out


def _int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def gpu(device: int = 0) -> dict:
    """{"name", "compute_capability": "8.7"} of CUDA device ``device``, via cuda-python, pycuda or nvidia-smi."""
    try:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            from cuda import cudart
        err, props = cudart.cudaGetDeviceProperties(device)
        if int(err) == 0:
            name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
            return {"name": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}", "via": "cuda-python"}
    except ImportError:
        pass
    try:
        import pycuda.driver as cuda

        cuda.init()
        dev = cuda.Device(device)
        major, minor = dev.compute_capability()
        return {"name": dev.name(), "compute_capability": f"{major}.{minor}", "via": "pycuda"}
    except ImportError:
        pass
    out = _run(["nvidia-smi", f"--id={device}", "--query-gpu=name,compute_cap", "--format=csv,noheader"])
    if out and "," in out:
        name, cc = (s.strip() for s in out.splitlines()[0].rsplit(",", 1))
        return {"name": name, "compute_capability": cc, "via": "nvidia-smi"}
    raise RuntimeError("cannot read the GPU's compute capability: install cuda-python (`pip install cuda-python`) "
                       "or use JetPack's pycuda")


def device_facts(tensorrt_version: str, gpu_info: dict, root: str | Path = "/", run=_run) -> dict:
    """Everything the manifest records about the machine that builds or runs an engine."""
    return {"tensorrt": tensorrt_version, "compute_capability": gpu_info.get("compute_capability"),
            "gpu": gpu_info.get("name"), "jetson": jetson(root, run), "power_mode": power_mode(run),
            "clocks": clocks(root, run)}


def engine_problem(record: dict, here: dict, bundle: str | Path = "BUNDLE") -> str | None:
    """Why engine ``record`` cannot load on the machine ``here`` describes, or None when it can."""
    built, now = record.get("device", {}), here
    reasons = []
    if built.get("tensorrt") != now.get("tensorrt"):
        reasons.append(f"TensorRT {built.get('tensorrt')} built it and this machine has TensorRT {now.get('tensorrt')}")
    if built.get("compute_capability") != now.get("compute_capability"):
        reasons.append(f"it was built for compute capability {built.get('compute_capability')} ({built.get('gpu')}) "
                       f"and this GPU is {now.get('compute_capability')} ({now.get('gpu')})")
    if not reasons:
        return None
    return (f"{record['file']['path']}: refusing to load this TensorRT engine: {'; '.join(reasons)}. "
            "A TensorRT plan only loads on the TensorRT release and GPU architecture that built it; rebuild it "
            f"on this machine with `flowfm-edge build-engine {bundle} --precision {record.get('requested', record['precision'])}`")
