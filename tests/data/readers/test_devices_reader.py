import gzip
import shutil
import sys
from datetime import datetime

import numpy as np
import pytest

pytest.importorskip("actipy", reason="needs the [devices] extra (actipy): pip install 'flowfm-edge[devices]'")
if shutil.which("java") is None:
    pytest.skip("needs a Java runtime for actipy (apt-get install default-jre-headless)", allow_module_level=True)

from benchmarks.kit import device_files  # noqa: E402
from flowfm_edge.data.readers import convert, devices  # noqa: E402

START = datetime(2024, 5, 1, 9, 0, 0)


def worn(minutes, rng):
    """(T, 3) g at 100 Hz: gravity on x, a 1 Hz swing of 0.5 g on y, sensor noise."""
    t = np.arange(int(minutes * 60 * 100)) / 100
    return np.stack([np.ones_like(t), 0.5 * np.sin(2 * np.pi * t), np.zeros_like(t)], 1) + 0.01 * rng.standard_normal((len(t), 3))


def still(minutes, rng):
    """(T, 3) g at 100 Hz lying on a table: z up, only the sensor's 2 mg noise."""
    n = int(minutes * 60 * 100)
    return np.tile([0.0, 0.0, 1.0], (n, 1)) + 0.002 * rng.standard_normal((n, 3))


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("devices")
    # P001: 12 min worn, 100 min off the wrist (non-wear), 12 min worn
    device_files.write_cwa(root / "P001.cwa", np.concatenate([worn(12, rng), still(100, rng), worn(12, rng)]), START)
    device_files.write_cwa(root / "P002.cwa", worn(3, rng), START)
    with open(root / "P002.cwa", "rb") as f, gzip.open(root / "P002.cwa.gz", "wb") as g:
        g.write(f.read())
    (root / "P002.cwa").unlink()
    return root


def test_cwa_files_become_windows_with_nonwear_dropped_and_counted(raw):
    ws = convert("devices", raw, calibrate=False)
    assert ws.y is None and ws.X.shape[1:] == (3, 300) and np.isfinite(ws.X).all()
    assert set(ws.pid.tolist()) == {"P001", "P002"}
    frac = ws.meta["nonwear_fraction"]
    assert frac["P002"] == 0.0 and 100 / 124 - 0.05 < frac["P001"] < 100 / 124 + 0.05
    assert (ws.pid == "P002").sum() == (180 - 10) // 5 + 1  # 3 min at a 5 s hop, none lost
    n1 = (ws.pid == "P001").sum()
    assert 2 * 120 < n1 <= 2 * 145  # the two worn stretches (143 windows each), not the 100 minutes off the wrist
    np.testing.assert_allclose(ws.X[:, 0].mean(), 1.0, atol=0.02)  # gravity on x, in g
    swing = (np.percentile(ws.X[:, 1], 99, axis=1) - np.percentile(ws.X[:, 1], 1, axis=1)) / 2
    assert np.median(swing) == pytest.approx(0.5, rel=0.1)


def test_device_runs_keep_clock_times(raw):
    runs, frac, info = devices.device_runs(raw / "P002.cwa.gz", calibrate=False)
    assert len(runs) == 1 and frac == 0.0 and info["Device"] == "Axivity"
    t0, acc = runs[0]
    assert t0 == int(np.datetime64(START, "ns").astype(np.int64)) and acc.shape[1] == 3 and len(acc) >= 180 * 30


def test_missing_java_and_bad_files_are_explained(raw, tmp_path, monkeypatch):
    (tmp_path / "broken.cwa").write_bytes(b"not a cwa file" * 100)
    with pytest.raises(ValueError, match=r"broken.cwa: not a readable device file \(Unexpected partial CWA block\)"):
        devices.device_runs(tmp_path / "broken.cwa")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs a Java runtime .* `apt-get install default-jre-headless`"):
        devices.device_runs(raw / "P002.cwa.gz")
    monkeypatch.setitem(sys.modules, "actipy", None)
    with pytest.raises(ImportError, match=r"pip install 'flowfm-edge\[devices\]'"):
        devices.device_runs(raw / "P002.cwa.gz")


def test_a_store_of_device_files_records_nonwear(raw, tmp_path):
    from flowfm_edge.data.store import load_store
    from flowfm_edge.data.store_write import write_store

    index = write_store([f"devices:{raw}"], tmp_path / "store")
    by_pid = {r["pid"]: r for r in index["participants"]}
    assert set(by_pid) == {"P001", "P002"} and by_pid["P002"]["nonwear_fraction"] == 0.0
    assert 0.75 < by_pid["P001"]["nonwear_fraction"] < 0.86
    assert len(load_store(tmp_path / "store")) == index["windows"] == sum(r["windows"] for r in index["participants"])


def test_embed_files_reads_device_files_with_their_clock(raw, tmp_path, small_bundle):
    pq = pytest.importorskip("pyarrow.parquet", reason="needs the [cohort] extra (pyarrow)")
    from flowfm_edge.runtimes.cohort import embed_files, output_name

    bundle = small_bundle("nano-stream-bundle", ["fp32", "int8"], ["encoder", "classifier"])
    counts = embed_files([raw / "P002.cwa.gz"], bundle, tmp_path / "emb")
    table = pq.read_table(tmp_path / "emb" / output_name(raw / "P002.cwa.gz"))
    assert counts["written"] == 1 and table.column("participant")[0].as_py() == "P002"
    t0 = int(np.datetime64(START, "ns").astype(np.int64))
    assert [v.value for v in table.column("start")][:3] == [t0, t0 + 10**10, t0 + 2 * 10**10]


def check_one_worn_file(folder, pid, device):
    """The 3 minutes written to ``folder`` come back as 35 windows of gravity on x and a 0.5 g swing on y."""
    ws = convert("devices", folder, calibrate=False)
    assert set(ws.pid.tolist()) == {pid} and len(ws) == (180 - 10) // 5 + 1
    np.testing.assert_allclose(ws.X[:, 0].mean(), 1.0, atol=0.02)
    swing = (np.percentile(ws.X[:, 1], 99, axis=1) - np.percentile(ws.X[:, 1], 1, axis=1)) / 2
    assert np.median(swing) == pytest.approx(0.5, rel=0.1)
    path = next(folder.iterdir())
    runs, _, info = devices.device_runs(path, calibrate=False)
    assert info["Device"] == device and runs[0][0] == int(np.datetime64(START, "ns").astype(np.int64))


def test_geneactiv_bin_files_are_read(tmp_path):
    device_files.write_geneactiv(tmp_path / "G01.bin", worn(3, np.random.default_rng(2)), START)
    check_one_worn_file(tmp_path, "G01", "GENEActiv")


def test_actigraph_gt3x_files_are_read(tmp_path):
    rng = np.random.default_rng(3)
    t = np.arange(180 * 30) / 30  # ActiGraph at 30 Hz
    acc = np.stack([np.ones_like(t), 0.5 * np.sin(2 * np.pi * t), np.zeros_like(t)], 1) + 0.01 * rng.standard_normal((len(t), 3))
    device_files.write_gt3x(tmp_path / "A01.gt3x", acc, START)
    check_one_worn_file(tmp_path, "A01", "Actigraph")
