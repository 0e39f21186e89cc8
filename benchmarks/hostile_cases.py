"""The hostile inputs of ``hostile_inputs.py``: one function per input, each returning (outcome, what happened).

Each case builds its input from a fresh copy of a real nano bundle or run, runs the code a
user would (the Python API or the CLI), and judges the result: a typed error or one red
CLI line with exit 1 is a *clear error*; a stream that goes on and counts the input is a
*counted drop*; a result that runs tampered or garbage input without a word is *silently
wrong*. Exceptions that escape a case are judged *crash* by the caller.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class Outcome:
    ERROR, DROP, CRASH, WRONG = "clear error", "counted drop", "crash", "silently wrong"


def _fixtures():
    spec = importlib.util.spec_from_file_location("export_fixtures", ROOT / "tests" / "export" / "fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Workspace:
    """A nano run, an FP32 encoder + classifier bundle, a signed copy and its key pair, under ``tmp``."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.n = 0

    def build(self) -> None:
        from flowfm_edge.export import ExportOptions, export_bundle
        from flowfm_edge.export.signing import sign_bundle

        fx = _fixtures()
        self.activity = fx.activity_windows(seed=1)
        self.run = fx.nano_run(self.tmp)
        self.bundle = self.tmp / "bundle"
        export_bundle(self.run, self.bundle, ExportOptions(precisions=["fp32"], graphs=["encoder", "classifier"],
                                                           calib=self.activity, calib_size=24, val_size=27))
        self.private_key, self.public_key = self.key_pair("trusted")
        self.signed = self.tmp / "signed"
        shutil.copytree(self.bundle, self.signed)
        sign_bundle(self.signed, self.private_key)

    def key_pair(self, name: str) -> tuple[Path, Path]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        private, public = self.tmp / f"{name}.pem", self.tmp / f"{name}.pub"
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
        return private, public

    def fresh(self, what: str = "bundle") -> Path:
        """A private copy of the bundle, the signed bundle or the run."""
        self.n += 1
        src = {"bundle": self.bundle, "signed": self.signed, "run": self.run}[what]
        return shutil.copytree(src, self.tmp / f"{what}-{self.n}")

    def sample_csv(self, minutes: float = 1.0, devices: int = 4, t0: float = 1_700_000_000.0) -> str:
        X = self.activity.X
        lines = ["device,timestamp,x,y,z"]
        n = int(minutes * 60 * 30)
        for i in range(n):
            for d in range(devices):
                w = X[(i // 300 + d) % len(X)][:, i % 300]
                lines.append(f"dev{d},{t0 + i / 30:.4f},{w[0]:.5f},{w[1]:.5f},{w[2]:.5f}")
        return "\n".join(lines) + "\n"


def cli(args: list[str], input: str | None = None) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from flowfm_edge.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args], input=input)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def cli_error(args: list[str], expect: str, input: str | None = None) -> tuple[str, str]:
    """A clear error: exit 1, one 'error:' line (soft-wrapped) that says ``expect``."""
    code, out, err = cli(args, input)
    text = " ".join(err.split())
    if code == 1 and text.startswith("error:") and expect in text and "Traceback" not in err:
        return Outcome.ERROR, text[:200]
    if code == 0:
        return Outcome.WRONG, f"exit 0: {' '.join((out + err).split())[:160]}"
    return Outcome.CRASH, f"exit {code}: {text[:160]}"


def raises(fn, error: type, expect: str) -> tuple[str, str]:
    try:
        fn()
    except error as exc:
        if expect in str(exc):
            return Outcome.ERROR, f"{type(exc).__name__}: {exc}"
        return Outcome.CRASH, f"{type(exc).__name__} without {expect!r}: {exc}"
    return Outcome.WRONG, "no error"


def _manifest(b: Path) -> dict:
    return json.loads((b / "manifest.json").read_text())


def _write(b: Path, m: dict) -> None:
    (b / "manifest.json").write_text(json.dumps(m))


def _edit_weights(b: Path, rehash: bool) -> None:
    import onnx
    from onnx import numpy_helper

    from flowfm_edge.export.manifest import file_entry

    path = b / "onnx" / "classifier.fp32.onnx"
    model = onnx.load(str(path))
    init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    w = numpy_helper.to_array(init) * -3.0
    init.CopyFrom(numpy_helper.from_array(w.astype(np.float32), init.name))
    onnx.save(model, str(path))
    if rehash:
        m = _manifest(b)
        for a in m["artefacts"]:
            if a["file"]["path"] == "onnx/classifier.fp32.onnx":
                a["file"] = file_entry(b, path)
        _write(b, m)


# ---- bundles ------------------------------------------------------------------------------------

def weights_edited_load(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError

    b = ws.fresh()
    _edit_weights(b, rehash=False)
    return raises(lambda: runtimes.load(b), BundleError, "sha256 mismatch")


def weights_edited_stream(ws):
    b = ws.fresh()
    _edit_weights(b, rehash=False)
    src = ws.tmp / "one-minute.csv"
    src.write_text(ws.sample_csv(minutes=0.5, devices=1))
    return cli_error(["stream", b, "--input", src], "sha256 mismatch")


def weights_rehashed_tolerance_1e9(ws):
    b = ws.fresh()
    _edit_weights(b, rehash=True)
    m = _manifest(b)
    for a in m["artefacts"]:
        a["golden_check"]["tolerance"] = 1e9
    _write(b, m)
    return cli_error(["validate", b], "golden_check.tolerance' is malformed")


def weights_rehashed_signed_bundle(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError

    b = ws.fresh("signed")
    _edit_weights(b, rehash=True)
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def tolerance_edit_signed(ws):
    b = ws.fresh("signed")
    m = _manifest(b)
    m["artefacts"][0]["golden_check"]["tolerance"] = 0.9
    _write(b, m)
    code, out, err = cli(["validate", b, "--trust", ws.public_key])
    text = " ".join((out + err).split())
    if code == 1 and "signature check against" in text and "files or signature do not match" in text:
        return Outcome.ERROR, text[text.index("signature check"):][:160]
    return (Outcome.WRONG if code == 0 else Outcome.CRASH), text[:160]


def golden_edit_signed(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError, file_entry

    b = ws.fresh("signed")
    p = b / "golden" / "classifier" / "reference.npy"
    np.save(p, np.zeros_like(np.load(p)))
    m = _manifest(b)
    m["golden"]["classifier"]["files"]["reference"] = file_entry(b, p)
    _write(b, m)
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def added_file_signed(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError

    b = ws.fresh("signed")
    (b / "onnx" / "extra.onnx").write_bytes(b"\x08\x07")
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def removed_file_signed(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError

    b = ws.fresh("signed")
    (b / "golden" / "encoder" / "output.fp32.npy").unlink()
    m = _manifest(b)
    del m["golden"]["encoder"]["files"]["output.fp32"]
    _write(b, m)
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def unsigned_with_trust_key(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError

    return raises(lambda: runtimes.load(ws.fresh(), trust=ws.public_key), BundleError, "unsigned")


def signed_by_other_key(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError
    from flowfm_edge.export.signing import sign_bundle

    b = ws.fresh()
    other, _ = ws.key_pair("other")
    sign_bundle(b, other)
    return raises(lambda: runtimes.load(b, trust=ws.public_key), BundleError, "signature check")


def _path_case(ws, path: str, expect: str):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError, sha256

    b = ws.fresh()
    outside = b.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(b / "onnx" / "classifier.fp32.onnx", outside / "evil.onnx")
    m = _manifest(b)
    entry = next(a for a in m["artefacts"] if a["name"] == "classifier")
    entry["file"]["path"] = path
    target = (b / path) if not path.startswith("/") else Path(path)
    if target.is_file():
        entry["file"]["sha256"] = sha256(target)
    _write(b, m)
    return raises(lambda: runtimes.load(b).classify(np.ones((1, 3, 300), np.float32)), BundleError, expect)


def path_dotdot(ws):
    return _path_case(ws, "../outside/evil.onnx", "climbs out with '..'")


def path_absolute(ws):
    return _path_case(ws, "/etc/passwd", "is absolute")


def path_symlink_out(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError

    b = ws.fresh()
    target = b.parent / f"elsewhere-{ws.n}.onnx"
    shutil.move(b / "onnx" / "classifier.fp32.onnx", target)
    os.symlink(target, b / "onnx" / "classifier.fp32.onnx")
    return raises(lambda: runtimes.load(b), BundleError, "outside the bundle")


def torch_path_other_run(ws):
    from flowfm_edge import runtimes
    from flowfm_edge.export.manifest import BundleError

    b = ws.fresh()
    m = _manifest(b)
    m["torch"]["path"] = os.path.relpath(ws.run, b)
    _write(b, m)
    return raises(lambda: runtimes.load(b, backend="torch"), BundleError, "torch.path")


def _manifest_case(ws, edit, expect):
    b = ws.fresh()
    _write(b, edit(_manifest(b)))
    return cli_error(["validate", b], expect)


def manifest_is_a_list(ws):
    return _manifest_case(ws, lambda m: [m], "JSON list")


def manifest_entry_without_sha256(ws):
    def edit(m):
        del m["artefacts"][0]["file"]["sha256"]
        return m
    return _manifest_case(ws, edit, "field 'artefacts[0].file.sha256' is missing")


def manifest_without_signal(ws):
    def edit(m):
        del m["signal"]
        return m
    return _manifest_case(ws, edit, "field 'signal' is missing")


def onnx_invalid_protobuf(ws):
    from flowfm_edge.export.manifest import file_entry

    b = ws.fresh()
    p = b / "onnx" / "classifier.fp32.onnx"
    p.write_bytes(b"\x00garbage" * 100)
    m = _manifest(b)
    for a in m["artefacts"]:
        if a["file"]["path"] == "onnx/classifier.fp32.onnx":
            a["file"] = file_entry(b, p)
    _write(b, m)
    return cli_error(["validate", b], "onnxruntime cannot load")


# ---- garbage windows ----------------------------------------------------------------------------

def predict_nan_fp32(ws):
    from flowfm_edge import runtimes

    rt = runtimes.load(ws.bundle)
    return raises(lambda: rt.predict(np.full((1, 3, 300), np.nan, "f4")), runtimes.NonFiniteError, "windows 0 of 1")


def predict_nan_torch(ws):
    from flowfm_edge import runtimes

    rt = runtimes.load(ws.bundle, backend="torch")
    return raises(lambda: rt.predict(np.full((2, 3, 300), np.inf, "f4")), runtimes.NonFiniteError, "windows 0, 1 of 2")


def embed_huge_values(ws):
    X = ws.activity.X[:8].copy()
    X[3] = 3e38
    path = ws.tmp / "huge.npz"
    np.savez(path, X=X, pid=np.zeros(8))
    out = ws.tmp / "huge-r.npz"
    outcome, detail = cli_error(["embed", ws.run, "--data", path, "--out", out], "windows 3 of 8")
    return (Outcome.WRONG, "wrote " + str(out)) if out.exists() else (outcome, detail)


# ---- stream -------------------------------------------------------------------------------------

def _stream(ws, raw: bytes, *extra):
    src = ws.tmp / f"stream-{ws.n}.csv"
    ws.n += 1
    src.write_bytes(raw)
    code, out, err = cli(["stream", ws.bundle, "--input", src, "--stats", *extra])
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, events, " ".join(err.split())


def stream_invalid_utf8(ws):
    rows = ws.sample_csv(minutes=0.5, devices=1).encode().split(b"\n")
    rows.insert(40, b"dev0,1700000001.0,0,\xff,1")
    code, events, err = _stream(ws, b"\n".join(rows))
    if code == 0 and events and "malformed lines 1" in err and "not UTF-8" in err:
        return Outcome.DROP, f"{len(events)} events, 1 malformed line counted"
    return Outcome.WRONG if code == 0 else Outcome.CRASH, err[:160]


def stream_deep_json(ws):
    lines = [json.dumps({"device": "d", "t": 1700000000 + i / 30, "x": 0.0, "y": 0.0, "z": 1.0}) for i in range(900)]
    lines.insert(100, "[" * 200_000)
    src = ws.tmp / "deep.jsonl"
    src.write_text("\n".join(lines) + "\n")
    code, out, err = cli(["stream", ws.bundle, "--input", src, "--stats", "--max-line-bytes", str(1 << 20)])
    err = " ".join(err.split())
    if code == 0 and out.strip() and "malformed lines 1" in err and "nested too deeply" in err:
        return Outcome.DROP, f"{len(out.splitlines())} events, 1 malformed line counted"
    return Outcome.WRONG if code == 0 else Outcome.CRASH, err[:160]


def stream_long_line(ws):
    rows = ws.sample_csv(minutes=0.5, devices=1).encode().split(b"\n")
    rows.insert(40, b"9" * (20 << 20))  # 20 MB here; the memory part measures 200 MB
    code, events, err = _stream(ws, b"\n".join(rows))
    if code == 0 and events and "longer than 65536 bytes" in err:
        return Outcome.DROP, f"{len(events)} events, the long line counted as malformed"
    return Outcome.WRONG if code == 0 else Outcome.CRASH, err[:160]


def stream_clock_reset(ws):
    from flowfm_edge.runtimes.stream import StreamConfig
    from flowfm_edge.runtimes.stream_device import DeviceStream

    ds = DeviceStream("d", StreamConfig(hop_s=5))
    x = np.tile([0.0, 0.0, 1.0], (30, 1))
    windows = []
    for t in (1000.0 + np.arange(1800) / 30, 5.0 + np.arange(3600) / 30):  # 60 s, then the clock restarts near 0
        for i in range(0, len(t), 30):
            windows += ds.push(t[i:i + 30], x)
    windows += ds.finish()
    s = ds.stats
    late = [w for w in windows if w.start < 1000]
    if s.clock_resets == 1 and s.dropped_late == 0 and len(late) == 23:
        return Outcome.DROP, f"clock_resets 1; {len(late)} windows on the new timeline, 0 samples dropped as late"
    return Outcome.WRONG, f"clock_resets {s.clock_resets}, late {s.dropped_late}, windows after reset {len(late)}"


def stream_output_is_input(ws):
    src = ws.tmp / "keep.csv"
    src.write_text(ws.sample_csv(minutes=0.2, devices=1))
    before = src.read_bytes()
    outcome, detail = cli_error(["stream", ws.bundle, "--input", src, "--output", ws.tmp / "." / "keep.csv"],
                                "is the input file")
    return (outcome, detail) if src.read_bytes() == before else (Outcome.WRONG, "the input was overwritten")


def stream_escape_ids(ws):
    text = ws.sample_csv(minutes=0.4, devices=1).replace("dev0,", "dev\x1b[2J\x1b[31m,")
    code, events, err = _stream(ws, text.encode())
    if code == 0 and events and "\x1b" not in err and "dev\\x1b[2J" in err:
        return Outcome.DROP, "device id printed escaped in --stats"
    return Outcome.WRONG, "raw escape sequence in --stats"


# ---- runs ---------------------------------------------------------------------------------------

TRAIN = ["train", "--preset", "nano", "--batch-size", "8", "--warmup", "1", "--ckpt-every", "100"]


def _small_run(ws) -> Path:
    if not hasattr(ws, "small_run"):
        data = ws.tmp / "train.npz"
        np.savez(data, X=ws.activity.X[:32], pid=np.zeros(32))
        ws.small_data = data
        ws.small_run = ws.tmp / "small-run"
        code, _, err = cli([*TRAIN, "--data", data, "--out", ws.small_run, "--steps", "4"])
        assert code == 0, err
    return ws.small_run


def _copy_run(ws) -> Path:
    ws.n += 1
    return shutil.copytree(_small_run(ws), ws.tmp / f"run-{ws.n}")


def resume_other_data(ws):
    run = _copy_run(ws)
    other = ws.tmp / "other.npz"
    np.savez(other, X=ws.activity.X[32:64], pid=np.zeros(32))
    return cli_error([*TRAIN, "--data", other, "--out", run, "--steps", "8", "--resume"], "data hash")


def resume_other_preset(ws):
    run = _copy_run(ws)
    args = [a if a != "nano" else "tiny" for a in TRAIN]
    return cli_error([*args, "--data", ws.small_data, "--out", run, "--steps", "8", "--resume"], "--preset is 'tiny'")


def resume_steps_below(ws):
    run = _copy_run(ws)
    return cli_error([*TRAIN, "--data", ws.small_data, "--out", run, "--steps", "2", "--resume"],
                     "--steps 2 is below the checkpoint's step 4")


KILL = textwrap.dedent("""
    import os, sys
    from flowfm_edge.training import checkpoint
    real, calls = checkpoint._fsync, []
    def dying(path):
        calls.append(path)
        if len(calls) == 2:
            os._exit(9)
        real(path)
    checkpoint._fsync = dying
    model, config = checkpoint.load_model(sys.argv[1])
    state = checkpoint.load_train_state(sys.argv[1])
    checkpoint.save_checkpoint(sys.argv[1], model, state["ema"], {**config, "step": 99}, {**state, "step": 99})
""")


def kill_during_checkpoint(ws):
    from flowfm_edge.training.checkpoint import load_train_state, read_config

    run = _copy_run(ws)
    before = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}
    res = subprocess.run([sys.executable, "-c", KILL, str(run)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    after = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}
    if res.returncode == 9 and after == before and load_train_state(run)["step"] == read_config(run)["step"] == 4:
        return Outcome.ERROR, "killed mid-write: the step-4 checkpoint is whole (the torn one stays in .checkpoint.tmp)"
    return Outcome.WRONG, f"exit {res.returncode}; files changed: {sorted(set(after) ^ set(before))}"


def _damaged(ws, name: str, content: bytes, args, expect):
    run = _copy_run(ws)
    (run / "checkpoint" / name).write_bytes(content)
    return cli_error([a if a != "RUN" else run for a in args], expect)


def empty_train_state(ws):
    return _damaged(ws, "train_state.pt", b"", [*TRAIN, "--data", str(ws.tmp / "train.npz"), "--out", "RUN",
                                                 "--steps", "8", "--resume"], "not a readable training state")


def garbage_train_state(ws):
    return _damaged(ws, "train_state.pt", b"\x80\x02garbage" * 20, [*TRAIN, "--data", str(ws.tmp / "train.npz"),
                                                                   "--out", "RUN", "--steps", "8", "--resume"],
                    "not a readable training state")


def garbage_safetensors(ws):
    return _damaged(ws, "ema.safetensors", b"\x10\x00\x00\x00garbage", ["embed", "RUN", "--data", "synthetic",
                                                                       "--out", str(ws.tmp / "e.npz")],
                    "not a readable safetensors file")


def export_over_the_run(ws):
    run = ws.fresh("run")
    outcome, detail = cli_error(["export", run, "--out", run, "--force", "--precision", "fp32"], "the run")
    return (outcome, detail) if (run / "checkpoint" / "config.json").is_file() else (Outcome.WRONG, "run deleted")


CASES = [(fn.__name__.replace("_", " "), fn) for fn in (
    weights_edited_load, weights_edited_stream, weights_rehashed_tolerance_1e9, weights_rehashed_signed_bundle,
    tolerance_edit_signed, golden_edit_signed, added_file_signed, removed_file_signed, unsigned_with_trust_key,
    signed_by_other_key, path_dotdot, path_absolute, path_symlink_out, torch_path_other_run, manifest_is_a_list,
    manifest_entry_without_sha256, manifest_without_signal, onnx_invalid_protobuf, predict_nan_fp32,
    predict_nan_torch, embed_huge_values, stream_invalid_utf8, stream_deep_json, stream_long_line,
    stream_clock_reset, stream_output_is_input, stream_escape_ids, resume_other_data, resume_other_preset,
    resume_steps_below, kill_during_checkpoint, empty_train_state, garbage_train_state, garbage_safetensors,
    export_over_the_run,
)]
