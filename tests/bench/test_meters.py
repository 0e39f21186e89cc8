"""Energy meters read fixture sysfs trees made here; NVML runs only where an NVIDIA GPU exists."""

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from flowfm_edge.bench.energy import energy_per_call, idle_power, not_measured
from flowfm_edge.bench.meters import JetsonMeter, MeterUnavailable, NvmlMeter, RaplMeter, choose_meter, jetson_rails


def write(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def rapl_tree(root, energy=1_000_000, max_range=2_000_000):
    zone = root / "class" / "powercap" / "intel-rapl:0"
    write(zone / "name", "package-0")
    write(zone / "energy_uj", energy)
    write(zone / "max_energy_range_uj", max_range)
    write(zone / "intel-rapl:0:0" / "energy_uj", 5)  # a sub-zone (core): not summed
    write(root / "class" / "powercap" / "intel-rapl:0:0" / "energy_uj", 5)
    return zone


def test_rapl_counts_and_wraps(tmp_path):
    zone = rapl_tree(tmp_path)
    meter = RaplMeter(tmp_path / "class" / "powercap")
    assert "package-0" in meter.source and len(meter.zones) == 1
    assert meter.read_j() == 0.0
    write(zone / "energy_uj", 1_500_000)
    assert meter.read_j() == pytest.approx(0.5)
    write(zone / "energy_uj", 100_000)  # wrapped: 1.5 J -> 2.0 J (range) -> 0.1 J
    assert meter.read_j() == pytest.approx(0.5 + (2_000_000 + 1 - 1_500_000 + 100_000) * 1e-6)


@contextlib.contextmanager
def unprivileged():
    """Run the block as user ``nobody`` when the tests run as root, for whom file permissions do not apply."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)  # leaves root's capabilities; the saved uid 0 takes them back below
    try:
        yield
    finally:
        os.seteuid(0)


def test_rapl_missing_or_unreadable(tmp_path):
    with pytest.raises(MeterUnavailable, match="intel-rapl"):
        RaplMeter(tmp_path)
    root = Path(tempfile.mkdtemp(prefix="rapl-"))  # world-traversable, unlike pytest's tmp_path under root
    try:
        root.chmod(0o755)
        zone = rapl_tree(root)
        (zone / "energy_uj").chmod(0)
        with unprivileged(), pytest.raises(MeterUnavailable, match="energy_uj is not readable"):
            RaplMeter(root / "class" / "powercap")
    finally:
        shutil.rmtree(root)


def jetson_hwmon(root, rails):
    hw = root / "bus" / "i2c" / "drivers" / "ina3221" / "1-0040" / "hwmon" / "hwmon3"
    for k, (name, mv, ma) in enumerate(rails, 1):
        write(hw / f"in{k}_label", name)
        write(hw / f"in{k}_input", mv)
        write(hw / f"curr{k}_input", ma)
    write(hw / "in7_label", "sum of shunt voltages")
    return hw


def test_jetson_prefers_vdd_in(tmp_path):
    jetson_hwmon(tmp_path, [("VDD_IN", 5000, 1000), ("VDD_CPU_GPU_CV", 5000, 400), ("VDD_SOC", 5000, 200)])
    meter = JetsonMeter(tmp_path, poll_s=0.005)
    assert "VDD_IN" in meter.source and meter.watts() == pytest.approx(5.0)
    meter.start()
    e0 = meter.read_j()
    time.sleep(0.2)
    e1 = meter.read_j()
    meter.stop()
    assert 5.0 * 0.1 < e1 - e0 < 5.0 * 0.4  # ~1 J over 0.2 s at 5 W


def test_jetson_sums_rails_without_vdd_in_and_reads_iio(tmp_path):
    jetson_hwmon(tmp_path, [("VDD_GPU", 1000, 1000), ("VDD_CPU", 1000, 500)])
    iio = tmp_path / "bus" / "i2c" / "drivers" / "ina3221x" / "0-0041" / "iio:device1"
    write(iio / "rail_name_0", "VDD_DDR")
    write(iio / "in_power0_input", 250)  # mW
    assert set(jetson_rails(tmp_path)) == {"VDD_GPU", "VDD_CPU", "VDD_DDR"}
    meter = JetsonMeter(tmp_path)
    assert "sum of rails" in meter.source and meter.watts() == pytest.approx(1.0 + 0.5 + 0.25)
    with pytest.raises(RuntimeError, match="start"):
        meter.read_j()


def test_energy_window_and_idle_with_a_fixture_meter(tmp_path):
    jetson_hwmon(tmp_path, [("VDD_IN", 5000, 1000)])
    meter = JetsonMeter(tmp_path, poll_s=0.005)
    idle = idle_power(meter, seconds=0.1)
    assert idle["idle_w"] == pytest.approx(5.0, rel=0.2)
    e = energy_per_call(meter, lambda: time.sleep(0.01), items_per_call=4, idle=idle, min_window_s=0.1)
    meter.stop()
    assert e["measured"] and e["window_s"] >= 20 * meter.update_period_s
    assert e["j_per_item"] == pytest.approx(e["energy_j"] / (4 * e["calls"]))
    assert abs(e["j_per_item_above_idle"]) < e["j_per_item"]  # constant power: almost nothing above idle


def test_auto_choice_without_meters_says_not_measured(tmp_path, monkeypatch):
    monkeypatch.setattr("flowfm_edge.bench.meters.NvmlMeter", _no_nvml)
    meter, reasons = choose_meter("auto", sys_root=tmp_path)
    assert meter is None and len(reasons) == 3
    assert not_measured(reasons)["status"] == "not measured"
    rapl_tree(tmp_path)
    meter, reasons = choose_meter("auto", sys_root=tmp_path)
    assert isinstance(meter, RaplMeter) and len(reasons) == 2
    with pytest.raises(MeterUnavailable, match="--energy jetson"):
        choose_meter("jetson", sys_root=tmp_path)
    with pytest.raises(ValueError, match="--energy"):
        choose_meter("watts")


def _no_nvml():
    raise MeterUnavailable("NVML: none in this test")


@pytest.mark.gpu
def test_nvml_counter_on_a_real_gpu():
    if shutil.which("nvidia-smi") is None:
        pytest.skip("no NVIDIA GPU here")
    meter = NvmlMeter(0)
    e0 = meter.read_j()
    time.sleep(0.3)
    assert meter.read_j() >= e0 and "NVML" in meter.source
