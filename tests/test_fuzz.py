"""Property-based fuzzing of the readers that take outside input: stream lines, manifests, ``.npz`` files.

Each reader may accept its input or refuse it with its own error type (counted malformed
lines, BundleError, DataError); nothing else may escape. Example counts are bounded so the
file runs in well under a minute; the inputs that crashed the stream reader before its
per-line hardening are pinned at the end as regression tests.
"""

import copy
import io
import json
import os
import shutil

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz suite needs hypothesis (the [dev] extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from flowfm_edge.data.contract import DataError  # noqa: E402
from flowfm_edge.data.npz import load_npz  # noqa: E402
from flowfm_edge.bundle.manifest import listed_files, read_manifest, verify_files  # noqa: E402
from flowfm_edge.bundle.schema import BundleError
from flowfm_edge.runtimes.stream_io import InputError, SampleReader, byte_lines  # noqa: E402

# FLOWFM_FUZZ_EXAMPLES=5000 runs a longer campaign (tests/hostile/test_fuzz_campaign.py runs one at 1,500)
FUZZ = settings(max_examples=int(os.environ.get("FLOWFM_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

# ---- stream lines -------------------------------------------------------------------------------

SAMPLE_PARTS = st.sampled_from([b"a", b"dev-7", b"1.5", b"1700000000.25", b"2024-01-01T00:00:00Z", b"nan", b"",
                                b"-0", b"1e999", b"9" * 400, b"\xff", b"\x00", b'"', b"{", b"[", b"]", b"}",
                                b"x", b",", b":", b"\r"])
csv_lines = st.lists(st.one_of(st.binary(max_size=80), st.lists(SAMPLE_PARTS, max_size=8).map(b",".join)), max_size=25)
jsonl_lines = st.lists(st.one_of(
    st.binary(max_size=80),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"device": json_values, "t": json_values, "x": json_values, "y": json_values,
                           "z": json_values}).map(lambda v: json.dumps(v).encode()),
), max_size=25)


def _read(raw: list[bytes], fmt: str):
    data = b"\n".join(raw)
    reader = SampleReader(byte_lines(io.BytesIO(data), 256), fmt, max_line_bytes=256)
    try:
        blocks = list(reader)
    except InputError as exc:  # a CSV header naming some columns but not all: a deliberate refusal
        assert "header" in str(exc)
        return
    rows = sum(len(b.t) for b in blocks)
    assert rows == reader.stats.rows and rows + reader.stats.malformed <= reader.stats.lines
    for b in blocks:
        assert b.devices.dtype.kind == "U" and b.t.dtype == np.float64 and b.xyz.shape == (len(b.t), 3)


@FUZZ
@given(csv_lines)
def test_fuzz_csv_lines(raw):
    _read(raw, "csv")


@FUZZ
@given(jsonl_lines)
def test_fuzz_jsonl_lines(raw):
    _read(raw, "jsonl")


# ---- manifests ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_manifest(small_bundle):
    out = small_bundle("nano-fuzz-bundle", ["fp32"], ["encoder"])
    return out, json.loads((out / "manifest.json").read_text())


def _paths(obj, prefix=()):
    """Every (path, value) inside a parsed JSON document."""
    yield prefix, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def mutate_manifest(manifest: dict, choice: int, action: str, value):
    m = copy.deepcopy(manifest)
    paths = [p for p, _ in _paths(m) if p]
    path = paths[choice % len(paths)]
    parent = m
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return m


def _check_manifest(bundle, document) -> None:
    """read_manifest accepts or raises BundleError; an accepted manifest never crashes what reads it next."""
    from flowfm_edge.runtimes.base import Runtime
    from flowfm_edge.runtimes.ort import OrtBackend

    (bundle / "manifest.json").write_text(json.dumps(document))
    try:
        manifest = read_manifest(bundle)
    except BundleError:
        return
    listed_files(manifest)
    if verify_files(bundle, manifest):
        return  # load would refuse here
    rt = Runtime(OrtBackend(bundle, manifest))
    for graph in manifest["graphs"]:
        try:
            rt.require_graph(graph)
        except BundleError:
            pass


@FUZZ
@given(choice=st.integers(0, 10_000), action=st.sampled_from(["delete", "replace"]), value=json_values)
def test_fuzz_manifest_mutations(real_manifest, tmp_path_factory, choice, action, value):
    src, manifest = real_manifest
    bundle = tmp_path_factory.getbasetemp() / "fuzz-manifest-bundle"
    if not bundle.exists():
        shutil.copytree(src, bundle)
    _check_manifest(bundle, mutate_manifest(manifest, choice, action, value))


@FUZZ
@given(document=json_values)
def test_fuzz_manifest_any_json(tmp_path_factory, document):
    bundle = tmp_path_factory.mktemp("any-json")
    (bundle / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(BundleError):
        read_manifest(bundle)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_fuzz_manifest_bytes(tmp_path_factory, raw):
    bundle = tmp_path_factory.mktemp("any-bytes")
    (bundle / "manifest.json").write_bytes(raw)
    with pytest.raises(BundleError):
        read_manifest(bundle)


# ---- .npz files ---------------------------------------------------------------------------------

DTYPES = st.sampled_from(["f4", "f8", "f2", "i8", "i1", "u2", "b1", "U3", "S2", "c8", "M8[s]"])
shapes = st.lists(st.sampled_from([0, 1, 2, 3, 300]), min_size=0, max_size=3).map(tuple)


@st.composite
def arrays(draw):
    dtype, shape = draw(DTYPES), draw(shapes)
    fill = draw(st.sampled_from([0, 1, -1, 1e30, np.nan, np.inf]))
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            return np.full(shape, fill).astype(dtype)
    except (ValueError, OverflowError, TypeError):
        return np.zeros(shape, dtype)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["X", "y", "pid", "classes", "other"]), arrays(), max_size=5))
def test_fuzz_npz_fields(tmp_path_factory, fields):
    path = tmp_path_factory.mktemp("npz") / "w.npz"
    np.savez(path, **fields)
    try:
        ws = load_npz(path)
    except DataError:
        return
    assert ws.X.dtype == np.float32 and ws.X.shape[1:] == (3, 300) and np.isfinite(ws.X).all()


@FUZZ
@given(raw=st.binary(max_size=400), keep=st.integers(0, 2000))
def test_fuzz_npz_bytes(tmp_path_factory, raw, keep):
    good = io.BytesIO()
    np.savez(good, X=np.zeros((1, 3, 300), np.float32), pid=np.zeros(1))
    path = tmp_path_factory.mktemp("npzb") / "w.npz"
    path.write_bytes(good.getvalue()[:keep] + raw)  # a truncated archive followed by garbage
    try:
        load_npz(path)
    except DataError:
        pass


# ---- regressions: inputs these strategies crash the reader with before the per-line hardening ------

def test_regression_deep_json_line_is_one_malformed_line():
    raw = [b"[" * 200_000, json.dumps({"device": "a", "t": 1.0, "x": 0, "y": 0, "z": 1}).encode()]
    reader = SampleReader(byte_lines(io.BytesIO(b"\n".join(raw)), 1 << 20), "jsonl", max_line_bytes=1 << 20)
    assert sum(len(b.t) for b in reader) == 1 and reader.stats.malformed == 1  # was RecursionError


def test_regression_integer_timestamp_beyond_float_is_one_malformed_line():
    raw = [json.dumps({"device": "a", "t": 10**400, "x": 0, "y": 0, "z": 1}).encode()]
    reader = SampleReader(byte_lines(io.BytesIO(b"\n".join(raw))), "jsonl", max_line_bytes=1 << 16)
    assert list(reader) == [] and reader.stats.malformed == 1  # was OverflowError
    assert "too large" in reader.stats.first_malformed[0]


def test_regression_undecodable_byte_is_one_malformed_line():
    raw = [b"a,1.0,0,0,1", b"a,2.0,\xc3\x28,0,1", b"a,3.0,0,0,1"]  # an invalid UTF-8 sequence
    reader = SampleReader(byte_lines(io.BytesIO(b"\n".join(raw))), "csv")
    assert sum(len(b.t) for b in reader) == 2 and reader.stats.malformed == 1  # was UnicodeDecodeError, 0 events
