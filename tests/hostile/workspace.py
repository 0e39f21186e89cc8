"""What the hostile-input tests share: a workspace of a nano run, its bundle, a signed copy and keys, and builders.

Every test takes its own copy (:meth:`Workspace.fresh`) before it tampers with anything. A clear error
is a typed error or one red ``error:`` line of the CLI with exit 1 (:meth:`Workspace.clear_error`); a
crash (any other exception, a traceback) fails the test, and so does any result that is silently wrong.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from benchmarks.kit import recordings


class Workspace:
    """The session's nano ``run``, its FP32 encoder + classifier ``bundle``, a signed copy and its key pair, under ``tmp``."""

    T0 = recordings.T0
    # Sensor Logger exports as a phone writes them (benchmarks/kit/recordings.py)
    csv_text = staticmethod(recordings.csv_text)
    recording = staticmethod(recordings.recording)
    zipped = staticmethod(recordings.zipped)

    def __init__(self, tmp: Path, run: Path, bundle: Path, activity):
        from flowfm_edge.bundle.signing import sign_bundle

        self.tmp, self.run, self.bundle, self.activity = Path(tmp), Path(run), Path(bundle), activity
        self.n = 0
        self.private_key, self.public_key = self.key_pair("trusted")
        self.signed = shutil.copytree(self.bundle, self.tmp / "signed")
        sign_bundle(self.signed, self.private_key)

    # ---- copies, keys, files ---------------------------------------------------------------------

    def fresh(self, what: str = "bundle") -> Path:
        """A private copy of the bundle, the signed bundle or the run."""
        self.n += 1
        src = {"bundle": self.bundle, "signed": self.signed, "run": self.run}[what]
        return shutil.copytree(src, self.tmp / f"{what}-{self.n}")

    def folder(self, name: str) -> Path:
        """A new empty folder."""
        self.n += 1
        path = self.tmp / f"{name}-{self.n}"
        path.mkdir(parents=True)
        return path

    def key_pair(self, name: str, kind: str = "ec", password: str | None = None) -> tuple[Path, Path]:
        """A private key (``kind`` ec, rsa or ed25519, encrypted with ``password``) and its public key, as PEM files."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        key = {"rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
               "ed25519": ed25519.Ed25519PrivateKey.generate}.get(kind, lambda: ec.generate_private_key(ec.SECP256R1()))()
        crypt = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
        self.n += 1
        private, public = self.tmp / f"{name}-{self.n}.pem", self.tmp / f"{name}-{self.n}.pub"
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt))
        public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
        return private, public

    def sample_csv(self, minutes: float = 1.0, devices: int = 4) -> str:
        """``device,timestamp,x,y,z`` lines at 30 Hz replaying the activity windows."""
        return recordings.sample_csv(self.activity.X, minutes, devices)

    # ---- the command line --------------------------------------------------------------------------

    def cli(self, args: list, input: str | None = None) -> tuple[int, str, str]:
        """``flowfm-edge ARGS`` in this process: exit code, stdout, stderr; an exception that escapes is raised."""
        from typer.testing import CliRunner

        from flowfm_edge.cli import app

        res = CliRunner().invoke(app, [str(a) for a in args], input=input)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        return res.exit_code, res.stdout, res.stderr

    def clear_error(self, args: list, expect: str, input: str | None = None) -> str:
        """Asserts a clear error: exit 1, one ``error:`` line (soft-wrapped) that says ``expect``, no traceback."""
        code, out, err = self.cli(args, input)
        text = " ".join(err.split())
        assert code == 1, f"exit {code}: {' '.join((out + err).split())[:300]}"
        assert text.startswith("error:") and expect in text and "Traceback" not in err, text[:300]
        return text

    # ---- bundles -----------------------------------------------------------------------------------

    @staticmethod
    def manifest(b: Path) -> dict:
        """The manifest of bundle ``b`` as JSON, unchecked (the tests tamper with it)."""
        return json.loads((b / "manifest.json").read_text())

    @staticmethod
    def write_manifest(b: Path, m) -> None:
        """Overwrite the manifest of bundle ``b`` with ``m``, as a tampering user would."""
        (b / "manifest.json").write_text(json.dumps(m))

    def edit_classifier_weights(self, b: Path, rehash: bool) -> None:
        """Scale the largest FP32 classifier weight tensor by -3; ``rehash`` also updates its manifest entry."""
        import onnx
        from onnx import numpy_helper

        from flowfm_edge.bundle.manifest import file_entry

        path = b / "onnx" / "classifier.fp32.onnx"
        model = onnx.load(str(path))
        init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
        init.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(init) * -3.0).astype(np.float32), init.name))
        onnx.save(model, str(path))
        if rehash:
            m = self.manifest(b)
            for a in m["artefacts"]:
                if a["file"]["path"] == "onnx/classifier.fp32.onnx":
                    a["file"] = file_entry(b, path)
            self.write_manifest(b, m)

    # ---- window sources and stores -----------------------------------------------------------------

    @staticmethod
    def npz(path: Path, pids: list[str], seed: int = 0, per: int = 3) -> tuple[str, np.ndarray]:
        """``per`` random windows of each participant in ``pids`` as an ``.npz`` source; its path and windows."""
        X = np.random.default_rng(seed).normal(0, 0.3, (per * len(pids), 3, 300)).astype(np.float32)
        np.savez(path, X=X, pid=np.repeat(np.array(pids), per))
        return str(path), X

    def store(self, per: int = 100) -> tuple[Path, np.ndarray]:
        """A store of participants 'big' and 'small' (``per`` windows each) and its windows."""
        from flowfm_edge.data.store_write import write_store

        root = self.folder("store")
        src, X = self.npz(root / "src.npz", ["big", "small"], seed=3, per=per)
        write_store([src], root / "s")
        return root / "s", X
