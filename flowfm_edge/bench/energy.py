"""Energy per call from a real meter: long enough windows, idle power measured and reported apart.

A window runs the workload back to back for at least ``max(min_window_s, 20 x the meter's
update period)``, reads the meter before and after, and divides by the calls made. Idle
power is measured once, with nothing running, over its own window; the record gives the
total energy per call **and** the energy above idle, never one passed off as the other.
Without a meter every record is :func:`not_measured`.

>>> not_measured(["RAPL: none"])["measured"]
False
"""

from __future__ import annotations

import time
from typing import Callable

from .meters import EnergyMeter

UPDATE_PERIODS_PER_WINDOW = 20


def not_measured(reasons: list[str]) -> dict:
    return {"measured": False, "status": "not measured", "reason": "; ".join(reasons) or "no energy meter"}


def window_seconds(meter: EnergyMeter, min_window_s: float) -> float:
    return max(min_window_s, UPDATE_PERIODS_PER_WINDOW * meter.update_period_s)


def idle_power(meter: EnergyMeter, seconds: float = 5.0) -> dict:
    """Mean power (W) with nothing running, over ``seconds`` (at least the meter's window)."""
    seconds = window_seconds(meter, seconds)
    meter.start()
    e0, t0 = meter.read_j(), time.perf_counter()
    time.sleep(seconds)
    e1, t1 = meter.read_j(), time.perf_counter()
    return {"idle_w": (e1 - e0) / (t1 - t0), "window_s": t1 - t0}


def energy_per_call(meter: EnergyMeter, fn: Callable[[], object], items_per_call: int, idle: dict | None,
                    min_window_s: float = 2.0) -> dict:
    """Energy of ``fn`` per call and per item (a window or a generated sample), total and above idle."""
    window = window_seconds(meter, min_window_s)
    meter.start()
    calls = 0
    e0, t0 = meter.read_j(), time.perf_counter()
    while calls == 0 or time.perf_counter() - t0 < window:
        fn()
        calls += 1
    e1, t1 = meter.read_j(), time.perf_counter()
    joules, seconds = e1 - e0, t1 - t0
    out = {"measured": True, "status": "measured", **meter.describe(), "window_s": seconds, "calls": calls,
           "energy_j": joules, "avg_w": joules / seconds, "j_per_call": joules / calls,
           "j_per_item": joules / (calls * items_per_call)}
    if idle is not None:
        above = joules - idle["idle_w"] * seconds
        out.update(idle_w=idle["idle_w"], j_per_item_above_idle=above / (calls * items_per_call))
    return out
