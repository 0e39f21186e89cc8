"""Property-based fuzzing of the cohort inputs: Sensor Logger CSVs and zips, device files, store indexes and
shards, run files, signing keys.

Each ``check_*`` function feeds one drawn input to the reader and says what it ended in: "accepted" (valid
input, and the result holds up: finite windows in g, the store's own windows) or "clear error" (the reader's
own error type). An assertion failure is a silently wrong result; any other exception escaping is a crash.
``tests/hostile/test_fuzz_campaign.py`` runs the same checks over a larger corpus. Example counts are bounded so
the file runs in about a minute (device files start a Java reader each: fewer examples).
"""

import io
import json
import math
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz suite needs hypothesis (the [dev] extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from flowfm_edge.data.contract import DataError  # noqa: E402

EXAMPLES = int(os.environ.get("FLOWFM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FUZZ_DEVICES = settings(FUZZ, max_examples=max(5, EXAMPLES // 6))
G = 9.80665
T0 = 1_700_000_000_000_000_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def good_rows(n: int = 1500) -> list[bytes]:
    """Sensor Logger rows (ns, seconds, z, y, x) at 100 Hz: gravity on x, a 1 Hz swing on y."""
    return [f"{T0 + k * 10**7},{k / 100:.2f},0.0,{2 * math.sin(2 * math.pi * k / 100):.4f},{G}".encode()
            for k in range(n)]


# ---- Sensor Logger CSVs and zips ----------------------------------------------------------------

CELLS = st.sampled_from([b"0", b"-1.5", b"9.81", b"nan", b"inf", b"-inf", b"1e999", b"1e300", b"", b"x", b'"', b'"a,b"',
                         str(T0).encode(), b"1700000000", b"-5", b"9" * 40, b"\x00", b"\xff\xfe", b" 1 ", b"1,2"])
hostile_rows = st.one_of(st.just([]), st.lists(
    st.one_of(st.binary(max_size=60), st.lists(CELLS, min_size=1, max_size=7).map(b",".join)), max_size=12))
headers = st.one_of(st.just(b"time,seconds_elapsed,z,y,x"), st.sampled_from(
    [b"time,x,y,z", b"\xef\xbb\xbftime,x,y,z", b"time,x,x,y,z", b"x,y,z", b"", b"time;x;y;z"]))


@st.composite
def csv_files(draw) -> bytes:
    """A header, good rows (maybe out of order) with hostile rows spliced in at random places, a line ending."""
    rows = good_rows(draw(st.integers(0, 1500)))
    if rows and draw(st.booleans()):  # out of order and repeated timestamps: valid, sorted by the reader
        rows = draw(st.permutations(rows[:40])) + rows[40:] + rows[-draw(st.integers(0, 5)):]
    for bad in draw(hostile_rows):
        rows.insert(draw(st.integers(0, len(rows))), bad)
    return draw(st.sampled_from([b"\n", b"\r\n"])).join([draw(headers), *rows]) + b"\n"


def check_recording(path: Path) -> str:
    """One Sensor Logger recording (folder or zip) read as the store would read it."""
    from flowfm_edge.data.readers import convert

    try:
        ws = convert("sensor-logger", path.parent)
    except DataError:
        return "clear error"
    assert ws.X.dtype == np.float32 and ws.X.shape[1:] == (3, 300) and np.isfinite(ws.X).all()
    assert np.abs(ws.X).max() < 1000 and set(ws.pid.tolist()) <= {path.name.removesuffix(".zip")}
    return "accepted"


def write_csv_recording(folder: Path, raw: bytes) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "rec").mkdir(parents=True)
    (folder / "rec" / "TotalAcceleration.csv").write_bytes(raw)
    return folder / "rec"


@FUZZ
@given(raw=csv_files())
def test_fuzz_sensor_logger_csv(tmp_path_factory, raw):
    check_recording(write_csv_recording(tmp_path_factory.getbasetemp() / "fuzz-csv", raw))


MEMBERS = st.sampled_from(["TotalAcceleration.csv", "Accelerometer.csv", "Gravity.csv", "metadata.csv", "a/TotalAcceleration.csv",
                           "TotalAcceleration.CSV", "../TotalAcceleration.csv", "/abs/Gravity.csv", "dir/", "x.txt"])


@st.composite
def zip_files(draw) -> bytes:
    """A zip of drawn members (names may repeat), then maybe truncated or with bytes overwritten."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as z:
        for name in draw(st.one_of(st.just(["TotalAcceleration.csv"]), st.lists(MEMBERS, max_size=4))):
            with z.open(name, "w") as f:  # zipfile warns on, but writes, a repeated name
                f.write(draw(csv_files()) if name.endswith("v") else draw(st.binary(max_size=50)))
    raw = bytearray(buf.getvalue())
    damage = draw(st.one_of(st.just("none"), st.sampled_from(["truncate", "overwrite"])))
    if damage == "truncate" and raw:
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif damage == "overwrite" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        patch = draw(st.binary(min_size=1, max_size=8))
        raw[at:at + len(patch)] = patch
    return bytes(raw)


@FUZZ
@given(raw=zip_files())
def test_fuzz_sensor_logger_zip(tmp_path_factory, raw):
    import warnings

    folder = tmp_path_factory.getbasetemp() / "fuzz-zip"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "rec.zip").write_bytes(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_recording(folder / "rec.zip")


# ---- device files -------------------------------------------------------------------------------

def device_seeds(folder: Path) -> dict[str, bytes]:
    """One minute of a valid .cwa, .bin and .gt3x (written by benchmarks.kit.device_files), to be damaged."""
    from datetime import datetime

    from benchmarks.kit import device_files as writer

    acc = np.tile([0.0, 0.0, 1.0], (6000, 1))
    start = datetime(2024, 5, 1, 9)
    folder.mkdir(parents=True, exist_ok=True)
    writer.write_cwa(folder / "s.cwa", acc, start)
    writer.write_geneactiv(folder / "s.bin", acc, start)
    writer.write_gt3x(folder / "s.gt3x", acc[:1800], start)
    return {s: (folder / f"s{s}").read_bytes() for s in (".cwa", ".bin", ".gt3x")}


@st.composite
def device_damage(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(seeds) + [".cwa.gz"]))
    raw = bytearray(seeds.get(suffix, seeds[".cwa"]))
    kind = draw(st.sampled_from(["none", "truncate", "overwrite", "garbage", "prefix"]))
    if kind == "truncate":
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif kind == "overwrite":
        for _ in range(draw(st.integers(1, 20))):
            at = draw(st.integers(0, len(raw) - 1))
            raw[at:at + 4] = draw(st.binary(min_size=1, max_size=4))
    elif kind == "garbage":
        raw = bytearray(draw(st.binary(max_size=3000)))
    else:
        raw = raw[:draw(st.integers(0, 700))] + draw(st.binary(max_size=100))
    if suffix == ".cwa.gz":
        import gzip

        raw = gzip.compress(bytes(raw)) if draw(st.booleans()) else raw
    return suffix, bytes(raw)


def check_device_file(path: Path) -> str:
    from flowfm_edge.data.readers import devices

    try:
        runs, frac, _ = devices.device_runs(path, calibrate=False)
    except DataError:
        return "clear error"
    for t0, acc in runs:
        assert acc.ndim == 2 and acc.shape[1] == 3 and np.isfinite(acc).all()
        assert 946_684_800 * 10**9 <= t0 < 4_102_444_800 * 10**9
    assert 0.0 <= frac <= 1.0
    return "accepted"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    pytest.importorskip("actipy", reason="needs the [devices] extra (actipy)")
    if shutil.which("java") is None:
        pytest.skip("needs a Java runtime for actipy")
    return device_seeds(tmp_path_factory.mktemp("device-seeds"))


@FUZZ_DEVICES
@given(data=st.data())
def test_fuzz_device_files(tmp_path_factory, seeds, data):
    suffix, raw = data.draw(device_damage(seeds))
    path = tmp_path_factory.getbasetemp() / f"fuzz-device{suffix}"
    path.write_bytes(raw)
    check_device_file(path)


# ---- store indexes and shards -------------------------------------------------------------------

def make_store(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A two-participant store and the windows each participant must read back."""
    from flowfm_edge.data import WindowSet, save_npz
    from flowfm_edge.data.store_write import write_store

    X = np.random.default_rng(0).normal(0, 0.3, (60, 3, 300)).astype(np.float32)
    pid = np.repeat(["p1", "p2"], [40, 20])
    folder.mkdir(parents=True, exist_ok=True)
    save_npz(folder / "src.npz", WindowSet(X=X, y=None, pid=pid))
    write_store([str(folder / "src.npz")], folder / "store")
    return folder / "store", {"p1": X[:40], "p2": X[40:]}


def check_store(root: Path, truth: dict[str, np.ndarray], verify: str = "full") -> str:
    """Open and read every window; a store that opens must give each participant its own windows."""
    from flowfm_edge.data.store import load_store

    try:
        ws = load_store(root, verify=verify)
        X = np.asarray(ws.X)
    except DataError:
        return "clear error"
    for pid in np.unique(ws.pid):
        np.testing.assert_array_equal(X[ws.pid == pid], truth[str(pid)])
    return "accepted"


def _sibling(name: str):
    """A module beside this file (loaded by path, so the benchmark that loads this file finds it too)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mutate_manifest = _sibling("test_fuzz").mutate_manifest  # one JSON mutation for manifests and store indexes


def mutate(document: dict, choice: int, action: str, value, reseal: bool) -> dict:
    """``document`` with one value deleted or replaced; ``reseal`` recomputes the digest as a forger would."""
    from flowfm_edge.data.store_index import index_digest

    m = mutate_manifest(document, choice, action, value)
    if reseal:
        m["digest"] = index_digest(m)
    return m


def damage_shard(good: bytes, kind: str, at: int, patch: bytes) -> bytes:
    """``good`` shard bytes truncated at, overwritten at or appended with ``patch``."""
    raw = bytearray(good)
    if kind == "truncate":
        raw = raw[:at % len(raw)]
    elif kind == "overwrite":
        raw[at % len(raw):at % len(raw) + len(patch)] = patch
    else:
        raw += patch
    return bytes(raw)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("fuzz-store"))


@FUZZ
@given(choice=st.integers(0, 10_000), action=st.sampled_from(["delete", "replace"]), value=json_values,
       reseal=st.booleans())
def test_fuzz_store_index_mutations(store, choice, action, value, reseal):
    root, truth = store
    original = (root / "index.json").read_bytes()
    try:
        (root / "index.json").write_text(json.dumps(mutate(json.loads(original), choice, action, value, reseal)))
        check_store(root, truth, verify="quick")
    finally:
        (root / "index.json").write_bytes(original)


@FUZZ
@given(document=json_values | st.binary(max_size=200))
def test_fuzz_store_index_any_document(store, document):
    root, truth = store
    original = (root / "index.json").read_bytes()
    try:
        (root / "index.json").write_bytes(document if isinstance(document, bytes) else json.dumps(document).encode())
        assert check_store(root, truth) == "clear error"
    finally:
        (root / "index.json").write_bytes(original)


@FUZZ
@given(which=st.sampled_from(["p1", "p2"]), kind=st.sampled_from(["truncate", "overwrite", "append"]),
       at=st.integers(0, 10**6), patch=st.binary(min_size=1, max_size=16))
def test_fuzz_store_shards(store, which, kind, at, patch):
    from flowfm_edge.data.store_index import shard_name

    root, truth = store
    shard = root / "shards" / shard_name(which)
    original = shard.read_bytes()
    raw = damage_shard(original, kind, at, patch)
    try:
        shard.write_bytes(raw)
        assert check_store(root, truth) == "clear error" or raw == original
    finally:
        shard.write_bytes(original)


# ---- run files ----------------------------------------------------------------------------------

def run_file_keys():
    from flowfm_edge.training.run_config import SECTIONS

    return [(s, k) for s, keys in SECTIONS.items() for k in keys]


TOML_VALUES = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True), st.booleans(), st.text(max_size=12),
                        st.sampled_from([0, -1, 1, 2, 0.0, 1.0, 0.999, 1e-300, 1e300, "nano", "tiny", "auto", "off"]),
                        st.lists(st.floats(allow_nan=False), max_size=3))


def toml_value(v) -> str:
    import tomli_w

    return tomli_w.dumps({"v": v}).split("=", 1)[1].strip()


@st.composite
def run_files(draw) -> str:
    keys = draw(st.lists(st.sampled_from(run_file_keys()), max_size=6, unique=True))
    tables: dict[str, list[str]] = {}
    for section, key in keys:
        tables.setdefault(section, []).append(f"{key} = {toml_value(draw(TOML_VALUES))}")
    text = "".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in tables.items())
    if draw(st.integers(0, 9)) == 0:
        text += draw(st.text(max_size=30))
    return text


def check_run_file(path: Path, text: str) -> str:
    from flowfm_edge.models import ModelConfig
    from flowfm_edge.training import TrainConfig
    from flowfm_edge.training.run_config import read_run_config

    path.write_text(text)
    try:
        tables = read_run_config(path)
    except (ValueError, FileNotFoundError) as exc:
        assert str(path) in str(exc) and "\n" not in str(exc), str(exc)
        return "clear error"
    cfg = TrainConfig(**tables["train"])  # what the file said, accepted: it must build and hold its ranges
    model = dict(tables["model"])
    ModelConfig.from_preset(model.pop("preset", "nano"), **model)
    assert cfg.batch_size >= 1 and cfg.steps >= 1 and 0 <= cfg.ema_decay < 1 and math.isfinite(cfg.lr) and cfg.seed >= 0
    return "accepted"


@FUZZ
@given(text=run_files())
def test_fuzz_run_files(tmp_path_factory, text):
    check_run_file(tmp_path_factory.getbasetemp() / "fuzz-run.toml", text)


# ---- signing keys -------------------------------------------------------------------------------

@st.composite
def key_files(draw) -> tuple[bytes, str | None]:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    kind = draw(st.sampled_from(["ec", "ec-encrypted", "rsa", "ed25519", "pem-garbage", "bytes", "truncated"]))
    password = draw(st.sampled_from([None, "pw", ""]))
    if kind in ("ec", "ec-encrypted", "rsa", "ed25519", "truncated"):
        key = {"rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
               "ed25519": ed25519.Ed25519PrivateKey.generate}.get(kind, lambda: ec.generate_private_key(ec.SECP256R1()))()
        crypt = serialization.BestAvailableEncryption(b"pw") if kind == "ec-encrypted" else serialization.NoEncryption()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt)
        if kind == "truncated":
            pem = pem[:draw(st.integers(0, len(pem)))]
        return pem, password
    if kind == "pem-garbage":
        body = base64.encodebytes(draw(st.binary(max_size=120)))
        return b"-----BEGIN PRIVATE KEY-----\n" + body + b"-----END PRIVATE KEY-----\n", password
    return draw(st.binary(max_size=200)), password


def check_key(path: Path, pem: bytes, password: str | None) -> str:
    from flowfm_edge.bundle.schema import BundleError
    from flowfm_edge.bundle.signing import _ec_private_key, _key_file

    path.write_bytes(pem)
    try:
        _ec_private_key(_key_file(path, "private key"), password)
    except BundleError as exc:
        assert str(path) in str(exc)
        return "clear error"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    loaded = serialization.load_pem_private_key(pem, None if password is None else password.encode())
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return "accepted"


@FUZZ
@given(key=key_files())
def test_fuzz_signing_keys(tmp_path_factory, key):
    pytest.importorskip("cryptography")
    check_key(tmp_path_factory.getbasetemp() / "fuzz-key.pem", *key)
