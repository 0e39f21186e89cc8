"""Hostile inputs to the shard store, to training runs (run files, options, run directories, loggers) and to `sign`.

One function per input; each returns (outcome, what happened). See ``hostile_workspace.py`` and
``hostile_cohort.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hostile_workspace import ROOT, Outcome, cli, cli_error, raises


def fresh(ws, name: str) -> Path:
    ws.n += 1
    path = ws.tmp / f"{name}-{ws.n}"
    path.mkdir(parents=True)
    return path


def npz(path: Path, pids: list[str], seed: int = 0, per: int = 3) -> tuple[str, np.ndarray]:
    X = np.random.default_rng(seed).normal(0, 0.3, (per * len(pids), 3, 300)).astype(np.float32)
    np.savez(path, X=X, pid=np.repeat(np.array(pids), per))
    return str(path), X


def _store(ws, per: int = 100):
    """A store of participants 'big' and 'small' (``per`` windows each) and its windows."""
    from flowfm_edge.data.store import write_store

    root = fresh(ws, "store")
    src, X = npz(root / "src.npz", ["big", "small"], seed=3, per=per)
    write_store([src], root / "s")
    return root / "s", X


def _refused(fn, expect: str):
    from flowfm_edge.data.contract import DataError

    return raises(fn, DataError, expect)


def _load(root, verify="quick"):
    from flowfm_edge.data.store import load_store

    ws = load_store(root, verify=verify)
    return np.asarray(ws.X)


def _reseal(root: Path, edit) -> None:
    from flowfm_edge.data.store_index import index_digest

    index = json.loads((root / "index.json").read_text())
    edit(index)
    index["digest"] = index_digest(index)
    (root / "index.json").write_text(json.dumps(index))


def _shard(root: Path, pid: str) -> Path:
    from flowfm_edge.data.store_index import shard_name

    return root / "shards" / shard_name(pid)


# ---- the shard store ----------------------------------------------------------------------------

def store_as_a_source(ws):
    from flowfm_edge.data.store import load_store, write_store

    root, X = _store(ws, per=4)
    index = write_store([str(root)], root.parent / "copy")
    copy = load_store(root.parent / "copy")
    same = all(np.array_equal(np.asarray(copy.X)[copy.pid == p], X[:4] if p == "big" else X[4:]) for p in ("big", "small"))
    if index["windows"] == 8 and same:
        return Outcome.RIGHT, "8 windows copied, each participant's own"
    return Outcome.WRONG, f"{index['windows']} windows (8 expected), participants' windows equal: {same}"


def store_duplicate_participant(ws):
    from flowfm_edge.data.store import write_store

    root = fresh(ws, "store")
    a, Xa = npz(root / "a.npz", ["p1", "p2"], seed=1)
    b, _ = npz(root / "b.npz", ["p2", "p9"], seed=2)
    outcomes = [_refused(lambda: write_store([a, b], root / "s"), "appears in") for _ in range(2)]
    intact = np.array_equal(np.load(_shard(root / "s", "p2")), Xa[3:])
    if all(o == Outcome.ERROR for o, _ in outcomes) and intact and not (root / "s" / "index.json").exists():
        return Outcome.ERROR, outcomes[0][1]
    return Outcome.WRONG, f"outcomes {outcomes}, first source's shard intact: {intact}"


def store_ids_that_collided(ws):
    from flowfm_edge.data.store import load_store, write_store

    root = fresh(ws, "store")
    ids = ["\u0151", "\x151", "P01", "p01", "a/b", "a%2Fb", "x" * 300]
    src, X = npz(root / "ids.npz", ids, per=2)
    write_store([src], root / "s")
    got = load_store(root / "s")
    ok = len(list((root / "s" / "shards").iterdir())) == len(ids) and all(
        np.array_equal(np.asarray(got.X)[got.pid == p], X[2 * k:2 * k + 2]) for k, p in enumerate(ids))
    return (Outcome.RIGHT, f"{len(ids)} ids, {len(ids)} distinct shards") if ok else (Outcome.WRONG, "merged shards")


def store_out_not_empty(ws):
    from flowfm_edge.data.store import write_store

    root = fresh(ws, "store")
    a, _ = npz(root / "a.npz", ["p1"])
    (root / "home").mkdir()
    (root / "home" / "thesis.tex").write_text("x")
    outcome, detail = _refused(lambda: write_store([a], root / "home"), "not empty and not a shard store")
    return (outcome, detail) if os.listdir(root / "home") == ["thesis.tex"] else (Outcome.WRONG, "wrote into it")


def store_out_is_a_source(ws):
    from flowfm_edge.data.store import write_store

    root, _ = _store(ws, per=2)
    return _refused(lambda: write_store([str(root)], root), "--out is the source")


def store_second_writer(ws):
    import fcntl

    from flowfm_edge.data.store import write_store

    root = fresh(ws, "store")
    a, _ = npz(root / "a.npz", ["p1"])
    (root / "s").mkdir()
    with open(root / "s" / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        return _refused(lambda: write_store([a], root / "s"), "another `data shard` is writing")


CHILD = "import sys\nfrom flowfm_edge.data.store import write_store\nwrite_store(sys.argv[2:], sys.argv[1], workers=2)\n"


def store_killed_and_resumed(ws):
    """SIGKILL after the first source is committed, resume: the same files as an uninterrupted run, workers gone."""
    from flowfm_edge.data.store import write_store

    root = fresh(ws, "store")
    rng = np.random.default_rng(0)
    sources = []
    for s in range(5):
        X = rng.normal(0, 0.3, (30 * 25, 3, 300)).astype(np.float32)
        np.savez(root / f"src{s}.npz", X=X, pid=np.repeat([f"s{s}-p{p}" for p in range(30)], 25))
        sources.append(str(root / f"src{s}.npz"))
    write_store(sources, root / "reference", workers=2)
    out = root / "s"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), *sources], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    kids: set[int] = set()
    while proc.poll() is None and len((out / "progress.jsonl").read_text().splitlines() if (out / "progress.jsonl").exists() else []) < 2:
        kids |= {int(p.parent.name) for p in Path("/proc").glob("[0-9]*/stat")
                 if _ppid(p) == proc.pid}
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2)
    alive = [k for k in kids if Path(f"/proc/{k}").exists() and _state(k) != "Z"]
    cut = not (out / "index.json").exists()
    write_store(sources, out)
    files = lambda r: {str(p.relative_to(r)): p.read_bytes() for p in sorted(r.rglob("*")) if p.is_file()}  # noqa: E731
    same = files(out) == files(root / "reference")
    if cut and same and not alive:
        return Outcome.RIGHT, f"killed after 1 of 5 sources; resumed store identical; {len(kids)} workers died with it"
    return Outcome.WRONG, f"cut {cut}, identical {same}, workers alive {alive}"


def _ppid(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _index_case(ws, edit, expect: str, reseal: bool = True):
    root, _ = _store(ws, per=2)
    if reseal:
        _reseal(root, edit)
    else:
        index = json.loads((root / "index.json").read_text())
        edit(index)
        (root / "index.json").write_text(json.dumps(index))
    return _refused(lambda: _load(root), expect)


def index_path_dotdot(ws):
    return _index_case(ws, lambda ix: ix["participants"][0].update(file="../../outside.npy"), "is not shards/")


def index_path_absolute(ws):
    return _index_case(ws, lambda ix: ix["participants"][0].update(file="/etc/passwd"), "is not shards/")


def index_sha256_edited(ws):
    return _index_case(ws, lambda ix: ix["participants"][0].update(sha256="0" * 64), "field 'digest' does not match",
                       reseal=False)


def index_windows_as_text(ws):
    return _index_case(ws, lambda ix: ix["participants"][0].update(windows="2"), "participants[0].windows")


def index_version_1(ws):
    return _index_case(ws, lambda ix: ix.update(version=1), "this flowfm-edge reads version 2")


def index_not_json(ws):
    root, _ = _store(ws, per=2)
    (root / "index.json").write_bytes(b"{\"version\": 2, \xff")
    return _refused(lambda: _load(root), "not valid JSON")


def shard_symlink_out(ws):
    root, _ = _store(ws, per=2)
    shard = _shard(root, "big")
    outside = root.parent / "outside.npy"
    outside.write_bytes(shard.read_bytes())
    shard.unlink()
    shard.symlink_to(outside)
    return _refused(lambda: _load(root), "symbolic link")


def shard_resaved_zeros(ws):
    root, _ = _store(ws)
    np.save(_shard(root, "big"), np.zeros((100, 3, 300), np.float32))
    return _refused(lambda: _load(root), "content differs from the index")


def shard_every_byte_zero(ws):
    root, _ = _store(ws)
    shard = _shard(root, "big")
    shard.write_bytes(bytes(shard.stat().st_size))
    return _refused(lambda: _load(root), "not a .npy shard")


def shard_truncated(ws):
    root, _ = _store(ws)
    shard = _shard(root, "big")
    shard.write_bytes(shard.read_bytes()[:-3600])
    return _refused(lambda: _load(root), "truncated or padded")


def _poke(root: Path, value: float) -> None:
    """Change window 20 of 'big' (between the blocks the quick check samples)."""
    shard = _shard(root, "big")
    raw = bytearray(shard.read_bytes())
    raw[128 + 20 * 3600:128 + 20 * 3600 + 4] = np.float32(value).tobytes()
    shard.write_bytes(bytes(raw))


def shard_edit_between_samples_verify_full(ws):
    root, _ = _store(ws)
    _poke(root, 0.5)
    return cli_error(["train", "--data", root, "--verify", "full", "--steps", "1", "--out", root.parent / "run"],
                     "sha256 differs from the index")


def shard_nan_stops_training(ws):
    root, _ = _store(ws)
    _poke(root, float("nan"))
    outcome, detail = cli_error(["train", "--data", root, "--steps", "2", "--batch-size", "8", "--out",
                                 root.parent / "run"], "holds NaN or Inf")
    return (outcome, detail) if not (root.parent / "run" / "checkpoint").exists() else (Outcome.WRONG, "checkpointed")


def store_unfinished(ws):
    root, _ = _store(ws, per=2)
    (root / "index.json").unlink()
    (root / "progress.jsonl").write_text("{}\n")
    return cli_error(["train", "--data", root, "--steps", "1", "--out", root.parent / "run"], "conversion unfinished")


# ---- training runs ------------------------------------------------------------------------------

SMALL = ["--preset", "nano", "--steps", "2", "--batch-size", "8", "--warmup", "0"]


def _data(ws) -> Path:
    if not hasattr(ws, "cohort_data"):
        ws.cohort_data = ws.tmp / "cohort-train.npz"
        np.savez(ws.cohort_data, X=ws.activity.X[:32], pid=np.repeat(np.arange(4), 8))
    return ws.cohort_data


def _old_run(ws) -> Path:
    """A finished run with a probe that says macro-F1 1.000 and a head."""
    from flowfm_edge.training.model_card import write_model_card

    run = fresh(ws, "run") / "r"
    code, _, err = cli(["train", "--data", _data(ws), *SMALL, "--out", run])
    assert code == 0, err
    (run / "checkpoint" / "head.json").write_text(json.dumps({"classes": ["a"], "r_dim": 64}))
    (run / "probe.json").write_text(json.dumps({"step": 2, "data": "old", "summary": [], "protocol": {
        "split": {"kind": "old", "n_folds": 5}}, "head": {"split": "old", "macro_f1": 1.0, "n_test": 9}}))
    write_model_card(run)
    return run


def run_reused_without_flags(ws):
    run = _old_run(ws)
    before = {str(p): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    outcome, detail = cli_error(["train", "--data", _data(ws), *SMALL, "--out", run], "already holds a checkpoint")
    after = {str(p): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    return (outcome, detail) if after == before else (Outcome.WRONG, "the old run was changed")


def run_reused_with_force(ws):
    run = _old_run(ws)
    code, _, err = cli(["train", "--data", _data(ws), *SMALL, "--seed", "3", "--out", run, "--force"])
    card = (run / "checkpoint" / "README.md").read_text()
    if code == 0 and not (run / "checkpoint" / "head.json").exists() and "1.000" not in card and \
            not (run / "probe.json").exists():
        return Outcome.RIGHT, "--force: no head, probe or card of the old run; prior refitted"
    return Outcome.WRONG, f"exit {code}; head kept {(run / 'checkpoint' / 'head.json').exists()}; old F1 in card {'1.000' in card}"


def run_resume_and_force(ws):
    run = _old_run(ws)
    return cli_error(["train", "--data", _data(ws), *SMALL, "--out", run, "--resume", "--force"], "pass one of them")


def _run_file(ws, text: str, expect: str):
    folder = fresh(ws, "runfile")
    (folder / "run.toml").write_text(text)
    outcome, detail = cli_error(["train", "--config", folder / "run.toml", "--data", _data(ws), "--out",
                                 folder / "r"], expect)
    return (outcome, detail) if not (folder / "r").exists() else (Outcome.WRONG, "wrote the run")


def runfile_batch_zero(ws):
    return _run_file(ws, "[train]\nbatch_size = 0\n", "field 'batch_size' must be greater than or equal to 1")


def runfile_steps_negative(ws):
    return _run_file(ws, "[train]\nsteps = -5\n", "field 'steps'")


def runfile_ema_2(ws):
    return _run_file(ws, "[train]\nema_decay = 2.0\n", "field 'ema_decay' must be less than 1")


def runfile_warmup_negative(ws):
    return _run_file(ws, "[train]\nwarmup = -1\n", "field 'warmup'")


def runfile_grad_clip_nan(ws):
    return _run_file(ws, "[train]\ngrad_clip = nan\n", "field 'grad_clip' must be a finite number")


def runfile_log_every_zero(ws):
    return _run_file(ws, "[train]\nlog_every = 0\n", "field 'log_every'")


def runfile_ckpt_every_zero(ws):
    return _run_file(ws, "[train]\nckpt_every = 0\n", "field 'ckpt_every'")


def runfile_depth_negative(ws):
    return _run_file(ws, "[model]\ndepth = -1\n", "field 'depth'")


def runfile_patch_zero(ws):
    return _run_file(ws, "[model]\npatch = 0\n", "field 'patch'")


def runfile_heads_zero(ws):
    return _run_file(ws, "[model]\nheads = 0\n", "field 'heads'")


def runfile_dim_zero(ws):
    return _run_file(ws, "[model]\ndim = 0\n", "field 'dim'")


def option_seed_negative(ws):
    return cli_error(["train", "--data", _data(ws), *SMALL, "--seed", "-1", "--out", fresh(ws, "r") / "r"], "field 'seed'")


def option_lr_infinite(ws):
    return cli_error(["train", "--data", _data(ws), *SMALL, "--lr", "inf", "--out", fresh(ws, "r") / "r"], "field 'lr'")


def _mlflow(ws, uri: str):
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        t0 = time.perf_counter()
        outcome, detail = cli_error(["train", "--data", _data(ws), *SMALL, "--logger", "mlflow", "--out",
                                     fresh(ws, "r") / "r"], "cannot log to MLFLOW_TRACKING_URI")
        return outcome, f"{detail[:150]} ({time.perf_counter() - t0:.1f} s)"
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI") if saved is None else os.environ.update(MLFLOW_TRACKING_URI=saved)


def mlflow_unknown_scheme(ws):
    return _mlflow(ws, "bogus://nowhere")


def mlflow_unreachable_server(ws):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return _mlflow(ws, f"http://127.0.0.1:{port}")


def mlflow_malformed_uri(ws):
    return _mlflow(ws, "http://[::1")


# ---- sign ---------------------------------------------------------------------------------------

def _key(ws, kind: str, password: str | None = None) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key = {"rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
           "ed25519": ed25519.Ed25519PrivateKey.generate}.get(kind, lambda: ec.generate_private_key(ec.SECP256R1()))()
    crypt = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    path = fresh(ws, "key") / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt))
    return path


def sign_with_password(ws):
    b = ws.fresh()
    code, _, err = cli(["sign", b, "--key", _key(ws, "ec", "s3cret"), "--password", "s3cret"])
    if code == 0 and (b / "bundle.sig").is_file():
        return Outcome.RIGHT, "signed with an encrypted key and its password"
    return Outcome.CRASH, f"a valid key and password refused: {' '.join(err.split())[:140]}"


def sign_wrong_password(ws):
    return cli_error(["sign", ws.fresh(), "--key", _key(ws, "ec", "s3cret"), "--password", "guess"],
                     "cannot open the private key")


def sign_missing_password(ws):
    return cli_error(["sign", ws.fresh(), "--key", _key(ws, "ec", "s3cret")], "pass its --password")


def sign_rsa_key(ws):
    return cli_error(["sign", ws.fresh(), "--key", _key(ws, "rsa")], "bundles are signed with an elliptic-curve key")


def sign_ed25519_key(ws):
    return cli_error(["sign", ws.fresh(), "--key", _key(ws, "ed25519")], "bundles are signed with an elliptic-curve key")


CASES = [(fn.__name__.replace("_", " "), fn) for fn in (
    store_as_a_source, store_duplicate_participant, store_ids_that_collided, store_out_not_empty,
    store_out_is_a_source, store_second_writer, store_killed_and_resumed, index_path_dotdot, index_path_absolute,
    index_sha256_edited, index_windows_as_text, index_version_1, index_not_json, shard_symlink_out,
    shard_resaved_zeros, shard_every_byte_zero, shard_truncated, shard_edit_between_samples_verify_full,
    shard_nan_stops_training, store_unfinished,
    run_reused_without_flags, run_reused_with_force, run_resume_and_force, runfile_batch_zero, runfile_steps_negative,
    runfile_ema_2, runfile_warmup_negative, runfile_grad_clip_nan, runfile_log_every_zero, runfile_ckpt_every_zero,
    runfile_depth_negative, runfile_patch_zero, runfile_heads_zero, runfile_dim_zero, option_seed_negative,
    option_lr_infinite, mlflow_unknown_scheme, mlflow_unreachable_server, mlflow_malformed_uri,
    sign_with_password, sign_wrong_password, sign_missing_password, sign_rsa_key, sign_ed25519_key,
)]
