"""What the hostile-input cases share: the workspace (a nano run, bundles, keys) and how a result is judged.

A typed error or one red CLI line with exit 1 is a *clear error*; a stream that goes on and
counts the input is a *counted drop*; careless but valid input (same names in two folders, a
store given as a source) that gives the right result is *handled correctly*; a result that runs
tampered or garbage input without a word, or loses data, is *silently wrong*. Exceptions that escape a case are judged *crash* by the caller
(``hostile_inputs.py``).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class Outcome:
    ERROR, DROP, CRASH, WRONG = "clear error", "counted drop", "crash", "silently wrong"
    RIGHT = "handled correctly"


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
        from flowfm_edge.bundle.signing import sign_bundle

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


def read_manifest_file(b: Path) -> dict:
    """The manifest of bundle ``b`` as JSON, unchecked (the cases tamper with it)."""
    return json.loads((b / "manifest.json").read_text())


def write_manifest_file(b: Path, m: dict) -> None:
    """Overwrite the manifest of bundle ``b`` with ``m``, as a tampering user would."""
    (b / "manifest.json").write_text(json.dumps(m))


def edit_classifier_weights(b: Path, rehash: bool) -> None:
    """Scale the largest FP32 classifier weight tensor by -3; ``rehash`` also updates its manifest entry."""
    import onnx
    from onnx import numpy_helper

    from flowfm_edge.bundle.manifest import file_entry

    path = b / "onnx" / "classifier.fp32.onnx"
    model = onnx.load(str(path))
    init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    w = numpy_helper.to_array(init) * -3.0
    init.CopyFrom(numpy_helper.from_array(w.astype(np.float32), init.name))
    onnx.save(model, str(path))
    if rehash:
        m = read_manifest_file(b)
        for a in m["artefacts"]:
            if a["file"]["path"] == "onnx/classifier.fp32.onnx":
                a["file"] = file_entry(b, path)
        write_manifest_file(b, m)
