"""The runtime install, built from scratch: ``pip install flowfm-edge`` into a fresh venv holds no training module,
fits the size target, and runs the device-side commands on bundles this session built; training commands answer
with one line naming the install to add.

Packages come from the package index, or only from the wheel folder that ``$FLOWFM_EDGE_WHEELS`` names (``.ci/run``
fills ``.ci-wheels/``). The venv has no pip of its own: this environment's pip installs into it (``pip --python``),
so its site-packages holds exactly what the runtime install brings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks.perf.runtime_install import files_mib
from flowfm_edge.cli import app
from flowfm_edge.doctor import TRAINING_MODULES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
WHEELS = "FLOWFM_EDGE_WHEELS"
SIZE_TARGET_MIB = 150.0


def pip_install(python: Path, *requirements: str) -> None:
    """Install ``requirements`` into the venv of ``python`` with this environment's pip."""
    source = ["--no-index", "--find-links", os.environ[WHEELS]] if os.environ.get(WHEELS) else []
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                          "--disable-pip-version-check", *source, *requirements],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """(venv, what the install holds, the source copy): ``pip install <this checkout>`` in a fresh venv, no pip."""
    base = tmp_path_factory.mktemp("runtime-install")
    source = base / "src"  # a copy, so building the wheel writes nothing into the checkout
    shutil.copytree(ROOT / "flowfm_edge", source / "flowfm_edge", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    pip_install(python, str(source))
    code = f"import importlib.util; print([m for m in {TRAINING_MODULES!r} if importlib.util.find_spec(m)])"
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    # measured now: a test below adds [cohort] to this venv
    installed = {"training_modules": found.stdout.strip() or found.stderr, "payload_mib": files_mib(site, False),
                 "with_bytecode_mib": files_mib(site, True), "names": sorted(p.name for p in site.iterdir())}
    return venv, installed, source


def cli(venv: Path, *args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["COLUMNS"] = "200"
    return subprocess.run([str(venv / "bin" / "flowfm-edge"), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def stream_bundle(small_bundle):
    return small_bundle("nano-stream-bundle", ["fp32", "int8"], ["encoder", "classifier"])


def test_no_training_module_and_within_the_size_target(runtime):
    installed = runtime[1]
    assert installed["training_modules"] == "[]"
    assert not [n for n in installed["names"] if n.startswith(("torch", "scipy", "sklearn", "scikit", "matplotlib"))]
    assert "flowfm_edge" in installed["names"]  # the checkout itself, not an editable link
    payload, with_bytecode = installed["payload_mib"], installed["with_bytecode_mib"]
    assert payload <= SIZE_TARGET_MIB, (f"the runtime install holds {payload:.1f} MiB of files "
                                        f"({with_bytecode:.1f} MiB with pip's bytecode): over {SIZE_TARGET_MIB} MiB")
    assert with_bytecode > payload  # pip compiled what it installed: the two figures measure different things


def test_help_lists_every_command(runtime):
    res = cli(runtime[0], "--help")
    assert res.returncode == 0, res.stderr
    for command in ("stream", "embed-files", "validate", "bench", "doctor", "train", "export", "quickstart"):
        assert f" {command} " in res.stdout, command


def test_validate_and_stream_match_the_full_install(runtime, stream_bundle, tmp_path):
    venv = runtime[0]
    res = cli(venv, "validate", stream_bundle)
    assert res.returncode == 0 and "golden checks passed with onnxruntime" in res.stdout, res.stdout + res.stderr
    t = np.arange(30 * 40) / 30  # 40 s of two devices at 30 Hz: walking on one, still on the other
    rows = [f"walker,{s:.4f},{0.3 * np.sin(2 * np.pi * 1.8 * s):.5f},{0.15 * np.cos(2 * np.pi * 1.8 * s):.5f},1.0"
            for s in t] + [f"sitter,{s:.4f},0.01,0.0,1.0" for s in t]
    samples = tmp_path / "samples.csv"
    samples.write_text("\n".join(rows) + "\n")
    res = cli(venv, "stream", stream_bundle, "--input", samples, "--output", tmp_path / "runtime.jsonl", "--stats")
    assert res.returncode == 0, res.stderr
    assert "windows 14" in res.stderr  # 7 per device: starts 0, 5, ..., 30 s
    full = CliRunner().invoke(app, ["stream", str(stream_bundle), "--input", str(samples),
                                    "--output", str(tmp_path / "full.jsonl")])
    assert full.exit_code == 0, full.output
    events = [[json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
              for name in ("runtime", "full")]
    assert len(events[0]) == len(events[1]) == 14
    for a, b in zip(*events):
        assert (a["device"], a["start"], a["end"], a["label"]) == (b["device"], b["start"], b["end"], b["label"])
        np.testing.assert_allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-5)


def test_bench_runs_and_skips_its_plots_without_matplotlib(runtime, bundle, tmp_path):
    res = cli(runtime[0], "bench", bundle, "--graphs", "sampler,classifier", "--precision", "fp32", "--steps", "4",
              "--solver", "euler", "--min-iters", 3, "--min-seconds", 0, "--warmup", 0,
              "--json", tmp_path / "bench.json", "--plots", tmp_path / "plots")
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads((tmp_path / "bench.json").read_text())
    cases = sorted((r["kind"], r["backend"], r["precision"]) for r in result["results"])
    assert cases == [("classifier", "onnxruntime", "fp32"), ("sampler", "onnxruntime", "fp32")]
    assert all(r["latency"]["count"] >= 3 and r["latency"]["p50_ms"] > 0 for r in result["results"])
    assert "no plots: matplotlib is not installed" in res.stdout and "flowfm-edge[train]" in res.stdout
    assert not (tmp_path / "plots").exists()
    assert "skipping backend torch" in res.stdout + res.stderr  # the bundle's target lists it; no torch here
    res = cli(runtime[0], "bench", bundle, "--graphs", "classifier", "--data", "synthetic")  # quality: training side
    assert res.returncode == 1 and res.stderr.splitlines()[-1] == (
        "error: No module named 'torch': torch comes with the training install: pip install 'flowfm-edge[train]' "
        "(and torch first: pip install torch==2.13.0)")


@pytest.mark.parametrize("command, args", [("train", ["--out", "run"]), ("quickstart", []),
                                           ("export", ["run", "--out", "b"]),
                                           ("data convert", ["raw", "--format", "wisdm", "--out", "w.npz"]),
                                           ("bench compare", ["a", "b", "--feature-net", "f"])])
def test_training_commands_fail_in_one_line(runtime, tmp_path, command, args):
    res = cli(runtime[0], *command.split(), *args, cwd=tmp_path)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.splitlines() == [f"error: '{command}' needs the training install (torch is not installed): "
                                       "pip install 'flowfm-edge[train]' (and torch first: pip install torch==2.13.0)"]
    assert not list(tmp_path.iterdir())  # nothing written before the check


def test_gateway_needs_its_extra_then_labels_as_stream_does(runtime, stream_bundle, tmp_path):
    from benchmarks.kit import mqtt as harness

    harness.need_mosquitto()
    pytest.importorskip("paho.mqtt", reason="needs the [gateway] extra: pip install 'flowfm-edge[gateway]'")
    venv, _, source = runtime
    res = cli(venv, "gateway", stream_bundle, "--port", harness.free_port(), "--state", tmp_path / "s")
    assert res.returncode == 1 and res.stderr.splitlines() == [
        "error: the gateway needs paho-mqtt (No module named 'paho'); install it with: pip install 'flowfm-edge[gateway]'"]
    pip_install(venv / "bin" / "python", f"{source}[gateway]")
    devices = {f"wrist-{k}": harness.activity_signal(30, seed=k) for k in range(2)}
    (tmp_path / "samples.csv").write_text(harness.csv_of(devices))
    res = cli(venv, "stream", stream_bundle, "--input", tmp_path / "samples.csv")
    assert res.returncode == 0, res.stderr
    expected = {(e["device"], e["start"]): e for e in map(json.loads, res.stdout.splitlines())}
    assert len(expected) == 2 * 5  # 30 s each: windows start at 0, 5, ..., 20 s
    broker = harness.Broker(tmp_path / "broker").start()
    collector = harness.Collector(broker.port)
    gw = harness.GatewayProcess(stream_bundle, broker.port, tmp_path / "gw", program=str(venv / "bin" / "flowfm-edge"))
    pub = harness.Publisher(broker.port)
    try:
        gw.start()
        pub.seconds(devices, 0, 30)
        events = collector.wait_events(len(expected))
        assert gw.term() == 0, gw.log()[-2000:]
    finally:
        gw.stop()
        collector.close()
        pub.close()
        broker.stop()
    got = {(e["device"], e["start"]): e for e in events}
    assert got.keys() == expected.keys() and len(events) == len(expected)
    for key, e in expected.items():
        assert got[key]["label"] == e["label"]
        assert got[key]["probabilities"] == pytest.approx(e["probabilities"], abs=2e-5)


def test_embed_files_needs_cohort_then_matches_the_full_install(runtime, stream_bundle, tmp_path):
    from flowfm_edge import runtimes
    from flowfm_edge.runtimes.cohort import output_name, recording_windows

    pq = pytest.importorskip("pyarrow.parquet",
                             reason="needs the [cohort] extra (pyarrow): pip install 'flowfm-edge[cohort]'")
    venv, _, source = runtime
    recording = tmp_path / "p01"  # a Sensor Logger export: 25 s at 100 Hz in m/s^2, resampled to 30 Hz (scipy)
    recording.mkdir()
    t = np.arange(2500) / 100
    acc = np.stack([np.full_like(t, 9.80665), 3.0 * np.sin(2 * np.pi * 1.5 * t), np.zeros_like(t)], axis=1)
    table = np.column_stack([1_700_000_000_000_000_000 + np.round(t * 1e9), t, acc[:, 2], acc[:, 1], acc[:, 0]])
    np.savetxt(recording / "TotalAcceleration.csv", table, fmt=["%d", "%.4f", "%.5f", "%.5f", "%.5f"], delimiter=",",
               header="time,seconds_elapsed,z,y,x", comments="")
    args = ["embed-files", recording, "--bundle", stream_bundle, "--out", tmp_path / "emb", "--precision", "fp32"]
    res = cli(venv, *args)
    assert res.returncode == 1 and res.stderr.splitlines() == [
        "error: embedding a cohort to Parquet needs pyarrow: pip install 'flowfm-edge[cohort]'"]
    pip_install(venv / "bin" / "python", f"{source}[cohort]")
    res = cli(venv, *args)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("part 1/1: 1 written (2 windows")
    r = np.array(pq.read_table(tmp_path / "emb" / output_name(recording)).column("r").to_pylist(), np.float32)
    X = recording_windows(recording).X
    np.testing.assert_allclose(r, runtimes.load(stream_bundle, precision="fp32").embed(X), rtol=1e-5, atol=1e-6)
