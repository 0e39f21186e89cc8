"""The shard store under hostile and careless input: ids, duplicates, a store as a source, edited indexes and shards."""

import json
import os
import re

import numpy as np
import pytest

from flowfm_edge.data import DataError, WindowSet, load_source, make_synthetic, save_npz
from flowfm_edge.data.store import load_store, shard_name
from flowfm_edge.data.store_write import write_store
from flowfm_edge.data.store_index import index_digest, sample_sha256


def windows(n, seed):
    return np.random.default_rng(seed).normal(0, 0.3, (n, 3, 300)).astype(np.float32)


def npz(path, pids, seed=0, per=3):
    """An .npz with ``per`` windows for each of ``pids``."""
    X = windows(per * len(pids), seed)
    save_npz(path, WindowSet(X=X, y=None, pid=np.repeat(np.array(pids, dtype=object).astype(str), per)))
    return str(path), X


def by_pid(ws):
    X = np.asarray(ws.X)
    return {p: X[ws.pid == p] for p in dict.fromkeys(ws.pid.tolist())}


def rewrite_index(store, edit):
    """Apply ``edit`` to the index and re-seal its digest, as a careful forger would."""
    index = json.loads((store / "index.json").read_text())
    edit(index)
    index["digest"] = index_digest(index)
    (store / "index.json").write_text(json.dumps(index))


def test_a_store_given_as_a_source_is_copied_exactly(tmp_path):
    a, _ = npz(tmp_path / "a.npz", ["p1", "p2", "p3"], seed=1, per=4)
    b, _ = npz(tmp_path / "b.npz", ["q1", "q2"], seed=2, per=5)
    write_store([a, b], tmp_path / "s1")
    index = write_store([str(tmp_path / "s1")], tmp_path / "s2")
    assert index["windows"] == 22  # was 72: a boolean mask read as indices 0 and 1
    one, two = by_pid(load_store(tmp_path / "s1")), by_pid(load_store(tmp_path / "s2"))
    assert one.keys() == two.keys()
    for pid in one:
        np.testing.assert_array_equal(one[pid], two[pid])


def test_shard_names_are_one_to_one_and_safe():
    ids = ["\u0151", "\x151", "P01", "p01", "a" * 300, "a" * 301, "..", ".", "a/b", "a%2Fb", "a-b", "a b", "ü", "u\u0308"]
    names = [shard_name(i) for i in ids]
    assert len(set(names)) == len(ids) and len({n.lower() for n in names}) == len(ids)  # case-insensitive too
    assert all(len(n.encode()) < 100 and "/" not in n and not n.startswith(".") for n in names)


def test_awkward_ids_make_distinct_shards_that_read_back(tmp_path):
    ids = ["\u0151", "\x151", "P01", "p01", "..", "a/b", "a%2Fb", "x" * 300]
    src, X = npz(tmp_path / "ids.npz", ids, per=2)
    write_store([src], tmp_path / "s")
    assert len(list((tmp_path / "s" / "shards").iterdir())) == len(ids)
    got = by_pid(load_store(tmp_path / "s"))
    for k, pid in enumerate(ids):
        np.testing.assert_array_equal(got[pid], X[2 * k:2 * k + 2])


def test_a_duplicate_participant_is_refused_before_its_shard_is_touched(tmp_path):
    a, Xa = npz(tmp_path / "a.npz", ["p1", "p2"], seed=1)
    b, _ = npz(tmp_path / "b.npz", ["p2", "p9"], seed=2)
    for _ in range(2):  # the second run is refused the same way: it never "finishes" with the old sha256
        with pytest.raises(DataError, match=r"participant 'p2' appears in .*a.npz and .*b.npz"):
            write_store([a, b], tmp_path / "s")
        shard = np.load(tmp_path / "s" / "shards" / shard_name("p2"))
        np.testing.assert_array_equal(shard, Xa[3:])  # still a.npz's windows
        assert not (tmp_path / "s" / "index.json").exists()
        assert not (tmp_path / "s" / "shards" / shard_name("p9")).exists()


def test_an_out_that_is_not_a_store_or_is_a_source_is_refused(tmp_path):
    a, _ = npz(tmp_path / "a.npz", ["p1"])
    busy = tmp_path / "home"
    busy.mkdir()
    (busy / "thesis.tex").write_text("x")
    with pytest.raises(DataError, match="not empty and not a shard store"):
        write_store([a], busy)
    assert sorted(p.name for p in busy.iterdir()) == ["thesis.tex"]
    with pytest.raises(DataError, match="exists and is not a directory"):
        write_store([a], tmp_path / "a.npz")
    write_store([a], tmp_path / "s")
    with pytest.raises(DataError, match="--out is the source"):
        write_store([str(tmp_path / "s")], tmp_path / "s")
    with pytest.raises(DataError, match="already a finished store of other sources"):
        write_store([a, a.replace("a.npz", "b.npz")], tmp_path / "s")
    with pytest.raises(DataError, match="given twice"):
        write_store([a, a], tmp_path / "s3")


@pytest.fixture
def store(tmp_path):
    src, X = npz(tmp_path / "big.npz", ["big", "small"], seed=3, per=100)
    write_store([src], tmp_path / "s")
    return tmp_path / "s", X


def test_index_paths_out_of_the_store_are_refused(store, tmp_path):
    root, _ = store
    outside = tmp_path / "outside.npy"
    np.save(outside, np.zeros((100, 3, 300), np.float32))
    for bad in ("../outside.npy", str(outside), "shards/../../outside.npy", f"shards/{shard_name('small')}"):
        rewrite_index(root, lambda ix: ix["participants"][0].update(file=bad))
        with pytest.raises(DataError, match=r"field 'participants\[0\]' file .*is not shards/"):
            load_store(root)
        with pytest.raises(DataError):
            load_source(str(root))


def test_a_symlinked_shard_is_refused(store, tmp_path):
    root, _ = store
    shard = root / "shards" / shard_name("big")
    copy = tmp_path / "elsewhere.npy"
    copy.write_bytes(shard.read_bytes())
    shard.unlink()
    os.symlink(copy, shard)
    with pytest.raises(DataError, match="symbolic link or not a regular file"):
        load_store(root)


def test_an_edited_index_is_refused(store):
    root, _ = store
    index = json.loads((root / "index.json").read_text())
    index["participants"][0]["sha256"] = index["participants"][1]["sha256"]
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(DataError, match="field 'digest' does not match the index: it was edited"):
        load_store(root)


@pytest.mark.parametrize("edit, field", [
    (lambda ix: ix["participants"][0].update(windows="100"), "participants[0].windows"),
    (lambda ix: ix["participants"][0].update(windows=-1), "participants[0].windows"),
    (lambda ix: ix["participants"][0].update(windows=True), "participants[0].windows"),
    (lambda ix: ix["participants"][0].pop("sha256"), "participants[0].sha256"),
    (lambda ix: ix["participants"][0].update(nonwear_fraction=7.0), "participants[0].nonwear_fraction"),
    (lambda ix: ix["participants"][0].update(pid=""), "participants[0].pid"),
    (lambda ix: ix.update(windows=1), "windows"),
    (lambda ix: ix.update(participants=[]), "participants"),
    (lambda ix: ix["window"].update(length=3000), "window.length"),
    (lambda ix: ix["participants"].append(dict(ix["participants"][0])), "participants"),
])
def test_malformed_index_fields_are_named(store, edit, field):
    root, _ = store
    rewrite_index(root, edit)
    with pytest.raises(DataError, match=rf"index.json: field '{re.escape(field)}'"):
        load_store(root)


def test_rewritten_zeroed_and_truncated_shards_are_caught_when_opened(store):
    root, X = store
    shard = root / "shards" / shard_name("big")
    original = shard.read_bytes()
    np.save(shard, np.zeros((100, 3, 300), np.float32))  # a valid header, zeroed windows
    with pytest.raises(DataError, match="content differs from the index"):
        load_store(root)
    shard.write_bytes(bytes(len(original)))  # every byte zeroed
    with pytest.raises(DataError, match="not a .npy shard"):
        load_store(root)
    shard.write_bytes(original[:-3600])
    with pytest.raises(DataError, match="truncated or padded"):
        load_store(root)
    shard.write_bytes(original)
    np.testing.assert_array_equal(np.asarray(load_store(root).X)[:100], X[:100])


def test_regression_a_shard_header_overwritten_with_zeros_is_named(store):
    root, _ = store
    shard = root / "shards" / shard_name("big")
    raw = bytearray(shard.read_bytes())
    raw[50:61] = bytes(11)  # found by the fuzz suite: numpy's header parser raised tokenize.TokenError
    shard.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="not a .npy shard"):
        load_store(root)


def test_a_change_between_the_sampled_blocks_needs_verify_full(store):
    root, _ = store
    shard = root / "shards" / shard_name("big")
    raw = bytearray(shard.read_bytes())
    at = 128 + 20 * 3600  # window 20: between two sampled blocks
    raw[at:at + 4] = np.float32(0.123).tobytes()
    shard.write_bytes(bytes(raw))
    load_store(root)  # the stated limit of the quick check
    with pytest.raises(DataError, match="sha256 differs from the index"):
        load_store(root, verify="full")


def test_a_nan_in_a_shard_stops_training_before_a_checkpoint_is_written(store, tmp_path):
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig, train

    root, _ = store
    shard = root / "shards" / shard_name("big")
    raw = bytearray(shard.read_bytes())
    raw[128 + 20 * 3600: 128 + 20 * 3600 + 4] = np.float32(np.nan).tobytes()
    shard.write_bytes(bytes(raw))
    assert sample_sha256(shard) == json.loads((root / "index.json").read_text())["participants"][0]["sample_sha256"]
    with pytest.raises(DataError, match=r"holds NaN or Inf"):
        load_store(root, verify="full")
    ws = load_store(root)
    with pytest.raises(DataError, match=rf"{shard_name('big')}: window 20 of participant 'big' holds NaN or Inf"):
        ws.X[[3, 20]]
    with pytest.raises(DataError, match="window 20 of participant 'big' holds NaN"):
        train(ws, tmp_path / "run", ModelConfig.from_preset("nano"),
              TrainConfig(steps=2, batch_size=4, warmup=0, amp="off"), progress=False, device="cpu")
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_store_windows_take_masks_slices_and_indices(store):
    root, X = store
    ws = load_store(root)
    mask = np.zeros(len(ws), bool)
    mask[[1, 150, 199]] = True
    np.testing.assert_array_equal(ws.X[mask], X[mask])
    np.testing.assert_array_equal(ws.X[-1], X[-1])
    np.testing.assert_array_equal(ws.X[5:9], X[5:9])
    with pytest.raises(IndexError, match="boolean index"):
        ws.X[mask[:10]]
    with pytest.raises(IndexError, match="must be integers"):
        ws.X[np.array([0.5])]
    sub = ws.subset(ws.pid == "small")
    np.testing.assert_array_equal(sub.X, X[100:])


def test_a_second_conversion_of_the_same_store_is_refused(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    a, _ = npz(tmp_path / "a.npz", ["p1"])
    out = tmp_path / "s"
    out.mkdir()
    with open(out / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(DataError, match="another `data shard` is writing this store"):
            write_store([a], out)
    assert write_store([a], out)["windows"] == 3
    assert sorted(p.name for p in out.iterdir()) == ["index.json", "shards"]


def test_a_source_with_nan_windows_names_them_and_leaves_no_shard(tmp_path):
    X = windows(4, 0)
    X[2, 0, 5] = np.inf
    np.savez(tmp_path / "bad.npz", X=X, pid=np.array(["a", "a", "b", "b"]))
    ws = make_synthetic(n_subjects=1, windows_per_activity=1, seed=0)
    save_npz(tmp_path / "good.npz", ws)
    with pytest.raises(DataError):
        write_store([str(tmp_path / "good.npz"), str(tmp_path / "bad.npz")], tmp_path / "s")
    assert not (tmp_path / "s" / "shards" / shard_name("b")).exists()


def test_train_verify_full_and_data_shard_refusals_are_one_line(store, tmp_path):
    from typer.testing import CliRunner

    from flowfm_edge.cli import app

    root, _ = store
    shard = root / "shards" / shard_name("big")
    raw = bytearray(shard.read_bytes())
    raw[128 + 20 * 3600: 128 + 20 * 3600 + 4] = np.float32(0.5).tobytes()  # between the sampled blocks
    shard.write_bytes(bytes(raw))
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--data", str(root), "--verify", "full", "--steps", "1", "--batch-size", "4",
                              "--out", str(tmp_path / "run")])
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and text.startswith("error:") and "sha256 differs from the index" in text, res.output
    assert not (tmp_path / "run").exists()
    a, _ = npz(tmp_path / "a.npz", ["p1"])
    b, _ = npz(tmp_path / "b.npz", ["p1"], seed=4)
    res = runner.invoke(app, ["data", "shard", a, b, "--out", str(tmp_path / "s2")])
    text = " ".join(res.stderr.split())  # stdout holds the progress bar
    assert res.exit_code == 1 and text.startswith("error:") and "participant 'p1' appears in" in text, res.output


def test_data_convert_refuses_an_existing_out_without_force(tmp_path):
    from typer.testing import CliRunner

    from flowfm_edge.cli import app

    raw = tmp_path / "phones" / "rec"
    raw.mkdir(parents=True)
    t = np.arange(2100) / 100
    (raw / "TotalAcceleration.csv").write_text("time,x,y,z\n" + "\n".join(
        f"{1_700_000_000_000_000_000 + int(s * 1e9)},9.80665,0,0" for s in t) + "\n")
    out = tmp_path / "mine.npz"
    out.write_bytes(b"precious")
    runner = CliRunner()
    args = ["data", "convert", str(tmp_path / "phones"), "--format", "sensor-logger", "--out", str(out)]
    res = runner.invoke(app, args)
    text = " ".join(res.stderr.split())
    assert res.exit_code == 1 and "--out exists" in text and out.read_bytes() == b"precious"
    res = runner.invoke(app, [*args, "--force"])
    assert res.exit_code == 0, res.output
    assert len(load_source(str(out)).X) == 3
