"""A longer fuzz campaign: the property tests of ``tests/test_fuzz.py`` and ``tests/test_fuzz_cohort.py`` at
``FLOWFM_HOSTILE_EXAMPLES`` examples each (default 1,500, device files a sixth of that; CI's fast suite runs
them at 150 and 60), and one check of their own: a signed manifest, mutated anywhere, never passes the trust check.

Every drawn input is accepted (and holds up: finite windows in g, a participant's own windows, configs in
range, EC keys only) or refused with the reader's own error; anything else fails the test.
"""

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("hypothesis", reason="the fuzz suite needs hypothesis (the [dev] extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = os.environ.get("FLOWFM_HOSTILE_EXAMPLES", "1500")


def campaign(name: str):
    """``tests/NAME.py`` loaded afresh with its example counts at the campaign's size."""
    saved = os.environ.get("FLOWFM_FUZZ_EXAMPLES")
    os.environ["FLOWFM_FUZZ_EXAMPLES"] = EXAMPLES
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_campaign", Path(__file__).parents[1] / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        os.environ.pop("FLOWFM_FUZZ_EXAMPLES") if saved is None else os.environ.update(FLOWFM_FUZZ_EXAMPLES=saved)


fuzz, cohort = campaign("test_fuzz"), campaign("test_fuzz_cohort")

# the fixtures those tests take, and the tests themselves at the campaign's size
real_manifest, store, seeds = fuzz.real_manifest, cohort.store, cohort.seeds
test_fuzz_csv_lines, test_fuzz_jsonl_lines = fuzz.test_fuzz_csv_lines, fuzz.test_fuzz_jsonl_lines
test_fuzz_manifest_mutations = fuzz.test_fuzz_manifest_mutations
test_fuzz_manifest_any_json, test_fuzz_manifest_bytes = fuzz.test_fuzz_manifest_any_json, fuzz.test_fuzz_manifest_bytes
test_fuzz_npz_fields, test_fuzz_npz_bytes = fuzz.test_fuzz_npz_fields, fuzz.test_fuzz_npz_bytes
test_fuzz_sensor_logger_csv, test_fuzz_sensor_logger_zip = cohort.test_fuzz_sensor_logger_csv, cohort.test_fuzz_sensor_logger_zip
test_fuzz_device_files = cohort.test_fuzz_device_files
test_fuzz_store_index_mutations = cohort.test_fuzz_store_index_mutations
test_fuzz_store_index_any_document = cohort.test_fuzz_store_index_any_document
test_fuzz_store_shards, test_fuzz_run_files = cohort.test_fuzz_store_shards, cohort.test_fuzz_run_files
test_fuzz_signing_keys = cohort.test_fuzz_signing_keys


@pytest.fixture(scope="module")
def signed(ws):
    """A copy of the signed bundle and its manifest as signed."""
    probe = shutil.copytree(ws.signed, ws.folder("fuzz-signed") / "bundle")
    return probe, (probe / "manifest.json").read_bytes()


@settings(max_examples=int(EXAMPLES), deadline=None, suppress_health_check=list(HealthCheck))
@given(choice=st.integers(0, 10_000), action=st.sampled_from(["delete", "replace"]), value=fuzz.json_values)
def test_a_mutated_signed_manifest_never_passes_the_trust_check(ws, signed, choice, action, value):
    from flowfm_edge.runtimes import BundleError
    from flowfm_edge.runtimes.base import verified_manifest

    probe, signed_bytes = signed
    original = json.loads(signed_bytes)
    document = fuzz.mutate_manifest(original, choice, action, value)
    try:
        if document == original:  # a replacement by the same value: the signed file itself passes
            (probe / "manifest.json").write_bytes(signed_bytes)
            verified_manifest(probe, ws.public_key)
        else:
            (probe / "manifest.json").write_text(json.dumps(document))
            with pytest.raises(BundleError):
                verified_manifest(probe, ws.public_key)
    finally:
        (probe / "manifest.json").write_bytes(signed_bytes)
