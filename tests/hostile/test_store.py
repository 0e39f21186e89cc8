"""Hostile and careless input to the shard store: a store as a source, duplicate and colliding ids, ``--out`` misuse,
a second writer, a kill mid-conversion, edited indexes and shards.

Each ends in a clear error that names the problem, or (careless but valid input) in the right result.
"""

import json
import multiprocessing as mp
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from flowfm_edge.data.contract import DataError

pytestmark = pytest.mark.slow


def refused(fn, expect: str):
    with pytest.raises(DataError, match=re.escape(expect)):
        fn()


def load(root, verify="quick") -> np.ndarray:
    from flowfm_edge.data.store import load_store

    return np.asarray(load_store(root, verify=verify).X)


def shard(root: Path, pid: str) -> Path:
    from flowfm_edge.data.store_index import shard_name

    return root / "shards" / shard_name(pid)


# ---- writing a store ----------------------------------------------------------------------------

def test_a_store_given_as_a_source_is_copied_participant_by_participant(ws):
    from flowfm_edge.data.store import load_store
    from flowfm_edge.data.store_write import write_store

    root, X = ws.store(per=4)
    index = write_store([str(root)], root.parent / "copy")
    copy = load_store(root.parent / "copy")
    assert index["windows"] == 8
    for p, expected in (("big", X[:4]), ("small", X[4:])):
        np.testing.assert_array_equal(np.asarray(copy.X)[copy.pid == p], expected)


def test_a_participant_in_two_sources_is_refused_twice_and_nothing_is_indexed(ws):
    from flowfm_edge.data.store_write import write_store

    root = ws.folder("store")
    a, Xa = ws.npz(root / "a.npz", ["p1", "p2"], seed=1)
    b, _ = ws.npz(root / "b.npz", ["p2", "p9"], seed=2)
    for _ in range(2):  # a second try after the refusal is refused the same way
        refused(lambda: write_store([a, b], root / "s"), "appears in")
    np.testing.assert_array_equal(np.load(shard(root / "s", "p2")), Xa[3:])  # the first source's shard intact
    assert not (root / "s" / "index.json").exists()


def test_ids_that_once_collided_get_a_shard_each(ws):
    from flowfm_edge.data.store import load_store
    from flowfm_edge.data.store_write import write_store

    root = ws.folder("store")
    ids = ["\u0151", "\x151", "P01", "p01", "a/b", "a%2Fb", "x" * 300]
    src, X = ws.npz(root / "ids.npz", ids, per=2)
    write_store([src], root / "s")
    got = load_store(root / "s")
    assert len(list((root / "s" / "shards").iterdir())) == len(ids)
    for k, p in enumerate(ids):
        np.testing.assert_array_equal(np.asarray(got.X)[got.pid == p], X[2 * k:2 * k + 2])


def test_an_out_folder_of_other_files_is_refused_and_left_alone(ws):
    from flowfm_edge.data.store_write import write_store

    root = ws.folder("store")
    a, _ = ws.npz(root / "a.npz", ["p1"])
    (root / "home").mkdir()
    (root / "home" / "thesis.tex").write_text("x")
    refused(lambda: write_store([a], root / "home"), "not empty and not a shard store")
    assert os.listdir(root / "home") == ["thesis.tex"]


def test_an_out_that_is_the_source_is_refused(ws):
    from flowfm_edge.data.store_write import write_store

    root, _ = ws.store(per=2)
    refused(lambda: write_store([str(root)], root), "--out is the source")


def test_a_second_writer_is_refused(ws):
    import fcntl

    from flowfm_edge.data.store_write import write_store

    root = ws.folder("store")
    a, _ = ws.npz(root / "a.npz", ["p1"])
    (root / "s").mkdir()
    with open(root / "s" / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        refused(lambda: write_store([a], root / "s"), "another `data shard` is writing")


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_conversion_killed_after_its_first_source_resumes_to_the_same_store(ws):
    """SIGKILL once the first of 5 sources is committed, then a resume: the same files as an uninterrupted run,
    and the killed writer's workers gone with it."""
    from flowfm_edge.data.store_write import write_store

    root = ws.folder("store")
    rng = np.random.default_rng(0)
    sources = []
    for s in range(5):
        np.savez(root / f"src{s}.npz", X=rng.normal(0, 0.3, (30 * 25, 3, 300)).astype(np.float32),
                 pid=np.repeat([f"s{s}-p{p}" for p in range(30)], 25))
        sources.append(str(root / f"src{s}.npz"))
    write_store(sources, root / "reference", workers=2)
    out, progress = root / "s", root / "s" / "progress.jsonl"
    writer = mp.get_context("spawn").Process(target=write_store, args=(sources, str(out)), kwargs={"workers": 2})
    writer.start()
    kids: set[int] = set()
    while writer.is_alive() and len(progress.read_text().splitlines() if progress.exists() else []) < 2:
        kids |= {int(p.parent.name) for p in Path("/proc").glob("[0-9]*/stat") if _ppid(int(p.parent.name)) == writer.pid}
        time.sleep(0.002)
    writer.kill()
    writer.join()
    time.sleep(2)
    assert not (out / "index.json").exists(), "the kill came after the conversion finished"
    assert not [k for k in kids if _alive(k)], f"workers {kids} outlived the killed writer"
    write_store(sources, out)
    files = lambda r: {str(p.relative_to(r)): p.read_bytes() for p in sorted(r.rglob("*")) if p.is_file()}  # noqa: E731
    assert files(out) == files(root / "reference")


# ---- edited indexes -----------------------------------------------------------------------------

def edited_index(ws, edit, reseal: bool = True) -> Path:
    from flowfm_edge.data.store_index import index_digest

    root, _ = ws.store(per=2)
    index = json.loads((root / "index.json").read_text())
    edit(index)
    if reseal:  # as a forger would: the digest recomputed over the edit
        index["digest"] = index_digest(index)
    (root / "index.json").write_text(json.dumps(index))
    return root


@pytest.mark.parametrize("edit, expect, reseal", [
    (lambda ix: ix["participants"][0].update(file="../../outside.npy"), "is not shards/", True),
    (lambda ix: ix["participants"][0].update(file="/etc/passwd"), "is not shards/", True),
    (lambda ix: ix["participants"][0].update(sha256="0" * 64), "field 'digest' does not match", False),
    (lambda ix: ix["participants"][0].update(windows="2"), "participants[0].windows", True),
    (lambda ix: ix.update(version=1), "this flowfm-edge reads version 2", True),
], ids=["path with ..", "absolute path", "sha256 edited", "windows as text", "version 1"])
def test_an_edited_index_is_refused(ws, edit, expect, reseal):
    root = edited_index(ws, edit, reseal)
    refused(lambda: load(root), expect)


def test_an_index_that_is_not_json_is_refused(ws):
    root, _ = ws.store(per=2)
    (root / "index.json").write_bytes(b"{\"version\": 2, \xff")
    refused(lambda: load(root), "not valid JSON")


def test_an_unfinished_conversion_is_refused_by_train(ws):
    root, _ = ws.store(per=2)
    (root / "index.json").unlink()
    (root / "progress.jsonl").write_text("{}\n")
    ws.clear_error(["train", "--data", root, "--steps", "1", "--out", root.parent / "run"], "conversion unfinished")


# ---- edited shards ------------------------------------------------------------------------------

def test_a_shard_symlinked_out_of_the_store_is_refused(ws):
    root, _ = ws.store(per=2)
    path = shard(root, "big")
    outside = root.parent / "outside.npy"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    refused(lambda: load(root), "symbolic link")


def test_a_shard_resaved_as_zeros_is_refused(ws):
    root, _ = ws.store()
    np.save(shard(root, "big"), np.zeros((100, 3, 300), np.float32))
    refused(lambda: load(root), "content differs from the index")


def test_a_shard_of_zero_bytes_is_refused(ws):
    root, _ = ws.store()
    path = shard(root, "big")
    path.write_bytes(bytes(path.stat().st_size))
    refused(lambda: load(root), "not a .npy shard")


def test_a_truncated_shard_is_refused(ws):
    root, _ = ws.store()
    path = shard(root, "big")
    path.write_bytes(path.read_bytes()[:-3600])
    refused(lambda: load(root), "truncated or padded")


def poke(root: Path, value: float) -> None:
    """Change window 20 of 'big' (between the blocks the quick check samples)."""
    path = shard(root, "big")
    raw = bytearray(path.read_bytes())
    raw[128 + 20 * 3600:128 + 20 * 3600 + 4] = np.float32(value).tobytes()
    path.write_bytes(bytes(raw))


def test_an_edit_between_the_sampled_blocks_is_found_by_a_full_check(ws):
    root, _ = ws.store()
    poke(root, 0.5)
    ws.clear_error(["train", "--data", root, "--verify", "full", "--steps", "1", "--out", root.parent / "run"],
                   "sha256 differs from the index")


def test_a_nan_in_a_shard_stops_training_before_a_checkpoint(ws):
    root, _ = ws.store()
    poke(root, float("nan"))
    ws.clear_error(["train", "--data", root, "--steps", "2", "--batch-size", "8", "--out", root.parent / "run"],
                   "holds NaN or Inf")
    assert not (root.parent / "run" / "checkpoint").exists()
