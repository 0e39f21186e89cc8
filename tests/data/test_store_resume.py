"""`data shard` killed (SIGKILL) at several points, then resumed, ends with the store an uninterrupted run writes.

The conversion runs in a child process with two workers; the test kills the child at a point
(while the first source is staged, after one or three sources are committed, twice in a row) and
checks that the workers die with it, then resumes in-process and compares every file byte for byte.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from flowfm_edge.data import WindowSet, save_npz
from flowfm_edge.data.store import load_store
from flowfm_edge.data.store_write import write_store

if sys.platform != "linux":
    pytest.skip("reads /proc to find the worker processes", allow_module_level=True)

CHILD = "import sys\nfrom flowfm_edge.data.store_write import write_store\nwrite_store(sys.argv[2:], sys.argv[1], workers=2)\n"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)
    out = []
    for s in range(6):
        n_pid, per = 20 + 5 * s, 25
        X = rng.normal(0, 0.3, (n_pid * per, 3, 300)).astype(np.float32)
        pid = np.repeat([f"s{s}-p{p:02d}" for p in range(n_pid)], per)
        save_npz(folder / f"src{s}.npz", WindowSet(X=X, y=None, pid=pid))
        out.append(str(folder / f"src{s}.npz"))
    return out


@pytest.fixture(scope="module")
def reference(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "store"
    write_store(sources, out, workers=2)
    return out


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def committed(out: Path) -> int:
    try:
        return len((out / "progress.jsonl").read_text().splitlines()) - 1
    except OSError:
        return -1


def staged(out: Path) -> bool:
    try:  # the writer may remove the staging folder while it is listed
        return any((out / ".staging").rglob("*.npy"))
    except OSError:
        return False


def kill_when(sources, out: Path, ready) -> bool:
    """Run the conversion in a child, SIGKILL it once ``ready(out)``; True when it was cut before finishing."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), *sources], env=env, cwd=ROOT)
    workers: list[int] = []
    while proc.poll() is None and not ready(out):
        workers = children(proc.pid) or workers
        time.sleep(0.002)
    workers = children(proc.pid) or workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [w for w in workers if alive(w)], "pool workers outlived the killed conversion"
    return not (out / "index.json").exists()


@pytest.mark.parametrize("point", ["staging", "one committed", "three committed", "twice"])
def test_a_killed_conversion_resumes_to_the_same_store(sources, reference, tmp_path, point):
    out = tmp_path / "store"
    if point == "staging":
        cut = kill_when(sources, out, staged)
    elif point == "one committed":
        cut = kill_when(sources, out, lambda o: committed(o) >= 1)
    elif point == "three committed":
        cut = kill_when(sources, out, lambda o: committed(o) >= 3)
    else:
        cut = kill_when(sources, out, lambda o: committed(o) >= 1)
        cut &= kill_when(sources, out, lambda o: committed(o) >= 3 or staged(o) and committed(o) >= 2)
    assert cut, "the conversion finished before it could be killed"
    index = write_store(sources, out)
    assert files(out) == files(reference)
    assert index["windows"] == len(load_store(out, verify="full"))
