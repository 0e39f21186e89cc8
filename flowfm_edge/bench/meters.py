"""Energy meters behind one interface: NVML, Jetson INA3221 rails, RAPL powercap (docs/design.md#benchmarks).

Every meter gives cumulative joules (:meth:`EnergyMeter.read_j`) from a real hardware
counter or sensor; :func:`choose_meter` picks the first one this machine has, and returns
``None`` with the reasons when there is none, so callers print "not measured" instead of
an estimate.

- :class:`NvmlMeter`: NVIDIA GPUs, the total-energy counter (mJ, Volta and newer) through
  ``pynvml`` or, without it, ``libnvidia-ml`` via ctypes.
- :class:`JetsonMeter`: INA3221 power monitors in sysfs (JetPack 5/6 ``hwmon`` layout,
  JetPack 4 ``iio`` layout). They report power, not energy, so a thread samples the rail
  every ``poll_s`` and integrates (trapezoids). ``VDD_IN`` (module input) when present,
  else the sum of all rails; :attr:`source` names what was read.
- :class:`RaplMeter`: ``/sys/class/powercap/intel-rapl:N/energy_uj`` of every package,
  with wrap-around through ``max_energy_range_uj``.

The sysfs readers take a ``root`` directory, so tests point them at fixture trees.

>>> choose_meter("none")
(None, ['energy measurement disabled (--energy none)'])
"""

from __future__ import annotations

import ctypes
import threading
import time
from pathlib import Path

METERS = ("auto", "nvml", "jetson", "rapl", "none")


class MeterUnavailable(RuntimeError):
    """This machine has no such meter, or it cannot be read (permissions, driver)."""


class EnergyMeter:
    """Cumulative energy in joules; ``start``/``stop`` bracket use (sampling meters run a thread)."""

    name = "abstract"
    source = ""
    update_period_s = 0.1  # how often the underlying counter changes: measurement windows must be much longer

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def read_j(self) -> float:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"meter": self.name, "source": self.source, "update_period_s": self.update_period_s}


# --- RAPL ---------------------------------------------------------------------------------------

class RaplMeter(EnergyMeter):
    """Sum of the RAPL package zones under ``root`` (default ``/sys/class/powercap``)."""

    name = "rapl"
    update_period_s = 0.001

    def __init__(self, root: str | Path = "/sys/class/powercap"):
        root = Path(root)
        zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1 and (p / "energy_uj").exists())
        if not zones:
            raise MeterUnavailable(f"RAPL: no {root}/intel-rapl:N/energy_uj (not an Intel/AMD CPU with powercap, "
                                   "or the intel_rapl driver is not loaded)")
        self.zones = zones
        self.ranges = [int(self._read(z / "max_energy_range_uj")) for z in zones]
        self.last = [int(self._read(z / "energy_uj")) for z in zones]
        self.total_uj = 0
        names = [(z / "name").read_text().strip() if (z / "name").exists() else z.name for z in zones]
        self.source = "RAPL " + " + ".join(f"{n} ({z})" for n, z in zip(names, zones))

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text().strip()
        except PermissionError:
            raise MeterUnavailable(f"RAPL: {path} is not readable by this user (root only since Linux 5.10); "
                                   f"run `sudo chmod o+r {path}` or run the benchmark as root") from None

    def read_j(self) -> float:
        for i, z in enumerate(self.zones):
            now = int(self._read(z / "energy_uj"))
            delta = now - self.last[i]
            if delta < 0:  # the counter wrapped at max_energy_range_uj
                delta += self.ranges[i] + 1
            self.total_uj += delta
            self.last[i] = now
        return self.total_uj * 1e-6


# --- Jetson INA3221 -----------------------------------------------------------------------------

def jetson_rails(root: str | Path = "/sys") -> dict[str, tuple]:
    """Rail name -> ('hwmon', voltage file mV, current file mA) or ('iio', power file mW), found under ``root``."""
    root = Path(root)
    rails: dict[str, tuple] = {}
    for label in sorted(root.glob("bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in*_label")):
        k = label.name[2:].split("_")[0]
        volt, curr = label.parent / f"in{k}_input", label.parent / f"curr{k}_input"
        name = label.read_text().strip()
        if volt.exists() and curr.exists() and not name.lower().startswith("sum of"):
            rails[name] = ("hwmon", volt, curr)
    for name_file in sorted(root.glob("bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_*")):
        k = name_file.name.rsplit("_", 1)[1]
        power = name_file.parent / f"in_power{k}_input"
        if power.exists():
            rails[name_file.read_text().strip()] = ("iio", power)
    return rails


def rail_watts(rail: tuple) -> float:
    if rail[0] == "hwmon":
        return float(rail[1].read_text()) * float(rail[2].read_text()) * 1e-6  # mV x mA -> W
    return float(rail[1].read_text()) * 1e-3  # mW -> W


class JetsonMeter(EnergyMeter):
    """Integrates INA3221 power readings: ``VDD_IN`` (or ``POM_5V_IN``) when present, else the sum of every rail."""

    name = "jetson-ina3221"
    update_period_s = 0.05

    def __init__(self, root: str | Path = "/sys", poll_s: float = 0.01):
        rails = jetson_rails(root)
        if not rails:
            raise MeterUnavailable(f"Jetson: no INA3221 rails under {root}/bus/i2c/drivers/ina3221*/ (not a Jetson)")
        total = next((n for n in ("VDD_IN", "POM_5V_IN") if n in rails), None)
        self.rails = {total: rails[total]} if total else rails
        self.source = (f"INA3221 rail {total} (module input)" if total else
                       "INA3221 sum of rails " + " + ".join(rails) + " (no VDD_IN rail)")
        self.poll_s = poll_s
        self._joules = 0.0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = threading.Event()

    def watts(self) -> float:
        return sum(rail_watts(r) for r in self.rails.values())

    def _loop(self) -> None:
        t_prev, w_prev = time.perf_counter(), self.watts()
        while self._running.is_set():
            time.sleep(self.poll_s)
            t, w = time.perf_counter(), self.watts()
            with self._lock:
                self._joules += 0.5 * (w + w_prev) * (t - t_prev)
            t_prev, w_prev = t, w

    def start(self) -> None:
        if self._thread is None:
            self._running.set()
            self._thread = threading.Thread(target=self._loop, daemon=True, name="jetson-energy")
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._running.clear()
            self._thread.join()
            self._thread = None

    def read_j(self) -> float:
        if self._thread is None:
            raise RuntimeError("JetsonMeter.read_j before start(): the meter integrates power while started")
        with self._lock:
            return self._joules


# --- NVML ---------------------------------------------------------------------------------------

class NvmlMeter(EnergyMeter):
    """``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load) of GPU ``index``."""

    name = "nvml"
    update_period_s = 0.1

    def __init__(self, index: int = 0):
        self.index = index
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._read_mj = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            name = pynvml.nvmlDeviceGetName(handle)
        except ImportError:
            self._read_mj, name = self._ctypes_reader(index)
        except Exception as exc:  # noqa: BLE001  pynvml raises its own NVMLError subclasses
            raise MeterUnavailable(f"NVML: {exc}") from None
        try:
            self._read_mj()
        except Exception as exc:  # noqa: BLE001
            raise MeterUnavailable(f"NVML: GPU {index} has no total-energy counter ({exc}); it needs Volta or newer") from None
        self.source = f"NVML total energy counter, GPU {index} ({name.decode() if isinstance(name, bytes) else name})"

    @staticmethod
    def _ctypes_reader(index: int):
        try:
            lib = ctypes.CDLL("libnvidia-ml.so.1")
        except OSError:
            raise MeterUnavailable("NVML: libnvidia-ml.so.1 not found (no NVIDIA driver)") from None
        if lib.nvmlInit_v2() != 0:
            raise MeterUnavailable("NVML: nvmlInit failed (no NVIDIA GPU visible)")
        handle = ctypes.c_void_p()
        if lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
            raise MeterUnavailable(f"NVML: no GPU with index {index}")
        buf = ctypes.create_string_buffer(96)
        lib.nvmlDeviceGetName(handle, buf, ctypes.c_uint(96))

        def read_mj() -> int:
            mj = ctypes.c_ulonglong()
            rc = lib.nvmlDeviceGetTotalEnergyConsumption(handle, ctypes.byref(mj))
            if rc != 0:
                raise RuntimeError(f"nvmlDeviceGetTotalEnergyConsumption returned {rc}")
            return mj.value

        return read_mj, buf.value

    def read_j(self) -> float:
        return self._read_mj() * 1e-3


# --- choice -------------------------------------------------------------------------------------

def choose_meter(kind: str = "auto", sys_root: str | Path = "/sys") -> tuple[EnergyMeter | None, list[str]]:
    """(the meter, reasons the others were not used); ``auto`` tries NVML, Jetson, then RAPL."""
    if kind not in METERS:
        raise ValueError(f"--energy {kind!r}: choose from {', '.join(METERS)}")
    if kind == "none":
        return None, ["energy measurement disabled (--energy none)"]
    sys_root = Path(sys_root)
    makers = {"nvml": NvmlMeter, "jetson": lambda: JetsonMeter(sys_root),
              "rapl": lambda: RaplMeter(sys_root / "class" / "powercap")}
    order = ["nvml", "jetson", "rapl"] if kind == "auto" else [kind]
    reasons = []
    for name in order:
        try:
            return makers[name](), reasons
        except MeterUnavailable as exc:
            reasons.append(str(exc))
    if kind != "auto":
        raise MeterUnavailable(f"--energy {kind}: {reasons[0]}; use --energy auto or none")
    return None, reasons
