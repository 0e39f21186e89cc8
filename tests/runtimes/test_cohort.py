import os
import subprocess
import sys

import numpy as np
import pytest

from flowfm_edge.data import make_synthetic, save_npz
from flowfm_edge.runtimes.cohort import embed_files, output_name, parse_part, recording_windows

pq = pytest.importorskip("pyarrow.parquet", reason="needs the [cohort] extra (pyarrow): pip install 'flowfm-edge[cohort]'")

G = 9.80665
T0 = 1_700_000_000_000_000_000  # ns since the epoch


def sensor_logger(folder, seconds, rate=100, seed=0):
    """A Sensor Logger folder: TotalAcceleration.csv with gravity on x and a 1.5 Hz swing on y (m/s^2)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    t = np.arange(int(seconds * rate)) / rate
    y = 3.0 * np.sin(2 * np.pi * 1.5 * t) + 0.1 * rng.standard_normal(len(t))
    lines = ["time,seconds_elapsed,z,y,x"] + [f"{T0 + int(round(s * 1e9))},{s:.4f},0.0,{v:.5f},{G:.5f}"
                                               for s, v in zip(t, y)]
    (folder / "TotalAcceleration.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    files = [sensor_logger(root / "p01", 31), sensor_logger(root / "p02", 25, seed=1)]
    ws = make_synthetic(n_subjects=1, windows_per_activity=2, seed=3)
    save_npz(root / "p03.npz", ws)
    return [*files, root / "p03.npz"], ws


@pytest.fixture(scope="module")
def bundle(small_bundle):
    return small_bundle("nano-stream-bundle", ["fp32", "int8"], ["encoder", "classifier"])


def test_one_parquet_per_recording_with_r_start_and_probabilities(cohort, bundle, tmp_path):
    from flowfm_edge import runtimes

    files, ws = cohort
    counts = embed_files(files, bundle, tmp_path / "emb", precision="fp32")
    assert counts == {"written": 3, "skipped": 0, "replaced": 0, "empty": 0, "windows": 3 + 2 + len(ws),
                      "dropped_nan": 0, "files": 3, "part": "1/1"}
    rt = runtimes.load(bundle, precision="fp32")
    t = pq.read_table(tmp_path / "emb" / output_name(files[0]))
    X = recording_windows(files[0]).X
    assert t.column_names == ["participant", "file", "window", "start", "r", "probabilities"]
    assert t.column("participant").to_pylist() == ["p01"] * 3 and t.column("window").to_pylist() == [0, 1, 2]
    assert [v.value for v in t.column("start")] == [T0, T0 + 10 * 10**9, T0 + 20 * 10**9]  # 31 s: windows at 0, 10, 20 s
    r = np.array(t.column("r").to_pylist(), np.float32)
    np.testing.assert_allclose(r, rt.embed(X), rtol=1e-5, atol=1e-6)
    probs = np.array(t.column("probabilities").to_pylist())
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert probs.argmax(axis=1).tolist() == [rt.classes.index(c) for c in rt.predict(X)]
    np.testing.assert_allclose(X[:, 0], 1.0, atol=2e-3)  # m/s^2 -> g
    meta = t.schema.metadata[b"flowfm_edge"].decode()
    assert '"classes": [' in meta and '"precision": "fp32"' in meta
    npz = pq.read_table(tmp_path / "emb" / output_name(files[2]))
    assert npz.column("start").null_count == len(ws) and npz.column("participant")[0].as_py() == str(ws.pid[0])


def test_done_files_are_skipped_and_parts_split_the_cohort(cohort, bundle, tmp_path):
    files, _ = cohort
    out = tmp_path / "emb"
    first = embed_files(files, bundle, out, part=(1, 2))
    second = embed_files(files, bundle, out, part=(2, 2))
    assert first["files"] + second["files"] == 3 and first["written"] == 2 and second["written"] == 1
    assert sorted(p.name for p in out.glob("*.parquet")) == sorted(output_name(f) for f in files)
    assert output_name(files[0]).startswith("p01-")
    (out / output_name(files[1])).unlink()
    again = embed_files(files, bundle, out)
    assert again["written"] == 1 and again["skipped"] == 2
    assert not list(out.glob("*.tmp"))


def test_part_and_file_errors(tmp_path, bundle):
    assert parse_part("3/8") == (3, 8)
    for bad in ("0/2", "3/2", "a/b", "2"):
        with pytest.raises(ValueError, match="--part"):
            parse_part(bad)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="notes.txt: not a recording flowfm-edge can read"):
        embed_files([tmp_path / "notes.txt"], bundle, tmp_path / "emb")


def test_the_command_runs_without_torch(cohort, bundle, tmp_path):
    files, _ = cohort
    code = ("import sys; from flowfm_edge.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    res = subprocess.run([sys.executable, "-c", code, "embed-files", *map(str, files), "--bundle", str(bundle),
                          "--out", str(tmp_path / "emb"), "--part", "1/1"], capture_output=True, text=True,
                         env={**os.environ, "FLOWFM_EDGE_PROGRESS_S": "0"})
    assert res.returncode == 0, res.stderr + res.stdout
    assert "3 written" in res.stdout and len(list((tmp_path / "emb").glob("*.parquet"))) == 3
    assert "embed-files 3/3 (100%)" in res.stdout  # no terminal: plain progress lines


def test_ray_data_recipe_on_a_local_instance(cohort, bundle, tmp_path):
    ray = pytest.importorskip("ray", reason="needs the [ray] extra: pip install 'flowfm-edge[ray]'")
    from flowfm_edge.runtimes.cohort import RecordingEmbedder

    files, ws = cohort
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        ds = ray.data.from_items([{"path": str(p)} for p in files])
        rows = ds.map_batches(RecordingEmbedder, fn_constructor_kwargs={"bundle": str(bundle), "precision": "fp32"},
                              batch_size=1, concurrency=1).take_all()
    finally:
        ray.shutdown()
    assert len(rows) == 3 + 2 + len(ws)
    embed_files(files, bundle, tmp_path / "emb", precision="fp32")
    first = [row for row in rows if row["participant"] == "p01"]
    expected = np.array(pq.read_table(tmp_path / "emb" / output_name(files[0])).column("r").to_pylist(), np.float32)
    np.testing.assert_allclose(np.stack([row["r"] for row in sorted(first, key=lambda r: r["window"])]), expected,
                               rtol=1e-5, atol=1e-6)
    assert sorted(row["start"] for row in first) == [T0, T0 + 10 * 10**9, T0 + 20 * 10**9]
