import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from flowfm_edge.data import DataError, WindowSet, load_source, make_synthetic, save_npz
from flowfm_edge.data import store as store_mod
from flowfm_edge.data import store_write
from flowfm_edge.data.store import load_store, shard_name
from flowfm_edge.data.store_write import write_store


@pytest.fixture
def two_sources(tmp_path):
    a = make_synthetic(n_subjects=3, windows_per_activity=1, seed=0)
    b = make_synthetic(n_subjects=2, windows_per_activity=1, seed=1)
    b.pid = np.array([f"b/{p}" for p in b.pid])  # ids unique across the store; '/' must be escaped in file names
    pa, pb = tmp_path / "a.npz", tmp_path / "b.npz"
    save_npz(pa, a)
    save_npz(pb, b)
    return [str(pa), str(pb)], np.concatenate([a.X, b.X]), np.concatenate([a.pid.astype(str), b.pid])


def test_a_store_holds_every_window_once_per_participant(two_sources, tmp_path):
    sources, X, pid = two_sources
    index = write_store(sources, tmp_path / "store", workers=2)
    assert index["windows"] == len(X) and index["sources"] == sources
    assert not (tmp_path / "store" / "progress.jsonl").exists()
    ws = load_store(tmp_path / "store", verify=True)
    assert isinstance(ws, WindowSet) and ws.y is None and ws.X.shape == X.shape and len(ws) == len(X)
    # the store orders windows by source, then participant
    by_store = np.concatenate([np.flatnonzero(pid == p) for p in dict.fromkeys(ws.pid.tolist())])
    np.testing.assert_array_equal(ws.pid, pid[by_store])
    np.testing.assert_array_equal(np.asarray(ws.X), X[by_store])
    rows = np.array([7, 0, len(X) - 1, 7])
    np.testing.assert_array_equal(ws.X[rows], X[by_store][rows])
    np.testing.assert_array_equal(ws.X[2:5], X[by_store][2:5])
    np.testing.assert_array_equal(ws.X[3], X[by_store][3])
    with pytest.raises(IndexError, match="out of range"):
        ws.X[[len(X)]]
    for rec in index["participants"]:
        assert rec["windows"] == int((pid == rec["pid"]).sum()) and len(rec["sha256"]) == 64 and rec["rate_hz"] == 30
    assert shard_name("b/7").startswith("b-7-") and (tmp_path / "store" / "shards" / shard_name(pid[-1])).is_file()
    assert load_source(str(tmp_path / "store")).X.shape == X.shape  # --data STORE resolves to it


def test_an_interrupted_conversion_resumes_without_rewriting_finished_shards(two_sources, tmp_path):
    sources, X, _ = two_sources
    out = tmp_path / "store"

    def interrupt(n, total, spec):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_store(sources, out, progress=interrupt)  # stopped once the first source is recorded
    assert not (out / "index.json").exists() and (out / "progress.jsonl").is_file()
    with pytest.raises(DataError, match="conversion unfinished: run `flowfm-edge data shard` again"):
        load_store(out)
    lines = (out / "progress.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["sources"] == sources
    recorded = [r["file"] for line in lines[1:] for r in json.loads(line)["participants"]]
    first = {f: (out / f).stat().st_mtime_ns for f in recorded}
    assert first
    with open(out / "progress.jsonl", "a") as f:
        f.write('{"pid": "cut')  # a line cut by the interruption
    index = write_store(sources, out)
    assert index["windows"] == len(X) and len(index["participants"]) == 5
    assert all((out / f).stat().st_mtime_ns == t for f, t in first.items())  # kept, not rewritten
    np.testing.assert_array_equal(np.sort(np.asarray(load_store(out).X).ravel()), np.sort(X.ravel()))


def test_duplicate_participants_and_non_finite_windows_are_refused(tmp_path):
    a = make_synthetic(n_subjects=2, windows_per_activity=1, seed=0)
    save_npz(tmp_path / "a.npz", a)
    save_npz(tmp_path / "a2.npz", a)
    with pytest.raises(DataError, match="appears in .*a.npz and .*a2.npz; participant ids must be unique"):
        write_store([str(tmp_path / "a.npz"), str(tmp_path / "a2.npz")], tmp_path / "dup")
    bad = a.X.copy()
    bad[3, 1, 10] = np.nan
    with pytest.raises(DataError, match=r"participant '.*' has 1 window\(s\) with NaN or Inf"):
        store_write._write_shard(tmp_path, "p", bad[a.pid == a.pid[3]], "x.npz", None)


def test_a_damaged_shard_is_named(two_sources, tmp_path):
    sources, _, _ = two_sources
    index = write_store(sources, tmp_path / "store")
    shard = tmp_path / "store" / index["participants"][0]["file"]
    data = np.load(shard)
    data[0, 0, 0] += 1
    np.save(shard, data)
    with pytest.raises(DataError, match="differs from the index"):
        load_store(tmp_path / "store")  # the quick check at open already reads window 0's block
    shard.unlink()
    with pytest.raises(DataError, match=f"{index['participants'][0]['file']} .*: the shard is missing"):
        load_store(tmp_path / "store")
    (tmp_path / "store" / "index.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(DataError, match="field 'version' is 99; this flowfm-edge reads version 2"):
        load_store(tmp_path / "store")


def test_few_memory_maps_stay_open(two_sources, tmp_path, monkeypatch):
    sources, X, _ = two_sources
    write_store(sources, tmp_path / "store")
    monkeypatch.setattr(store_mod, "OPEN_MAPS", 2)
    ws = load_store(tmp_path / "store")
    ws.X[np.arange(len(X))]
    assert len(ws.X._maps) == 2


def test_training_from_a_store_matches_memory_and_resumes_exactly(two_sources, tmp_path):
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig, train

    sources, _, _ = two_sources
    write_store(sources, tmp_path / "store")
    on_disk = load_store(tmp_path / "store")
    in_memory = WindowSet(X=np.asarray(on_disk.X), y=None, pid=on_disk.pid)
    cfg = lambda: TrainConfig(steps=4, batch_size=8, warmup=1, ckpt_every=2, amp="off")  # noqa: E731
    train(on_disk, tmp_path / "disk", ModelConfig.from_preset("nano"), cfg(), progress=False, device="cpu")
    train(in_memory, tmp_path / "mem", ModelConfig.from_preset("nano"), cfg(), progress=False, device="cpu")
    train(on_disk, tmp_path / "split", ModelConfig.from_preset("nano"), cfg(), progress=False, device="cpu", until=2)
    train(on_disk, tmp_path / "split", ModelConfig.from_preset("nano"), cfg(), progress=False, device="cpu", resume=True)
    disk, mem, split = (load_file(tmp_path / r / "checkpoint" / "model.safetensors") for r in ("disk", "mem", "split"))
    for k in disk:
        torch.testing.assert_close(disk[k], mem[k], atol=1e-5, rtol=1e-4)  # normalisation summed in float64
        torch.testing.assert_close(disk[k], split[k], atol=0, rtol=0)  # resume replays the same batches


def test_shard_and_train_from_the_command_line(two_sources, tmp_path):
    from typer.testing import CliRunner

    from flowfm_edge.cli import app

    sources, X, _ = two_sources
    runner = CliRunner()
    res = runner.invoke(app, ["data", "shard", *sources, "--out", str(tmp_path / "store"), "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert f"wrote {len(X)} windows of 5 participants" in res.output
    res = runner.invoke(app, ["train", "--data", str(tmp_path / "store"), "--preset", "nano", "--steps", "2",
                              "--batch-size", "8", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    config = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert config["data"]["n_windows"] == len(X) and config["data"]["source"] == f"store:{tmp_path / 'store'}"
    res = runner.invoke(app, ["data", "shard", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "s2")])
    assert res.exit_code == 1 and "missing.npz" in res.output and "Traceback" not in res.output
