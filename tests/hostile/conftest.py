"""Fixtures of the hostile-input tests: the workspace (the session's nano run, its bundle, a signed copy, keys)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("hostile_workspace", Path(__file__).parent / "workspace.py")
workspace = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workspace)


@pytest.fixture(scope="session")
def ws(tmp_path_factory, nano_run, small_bundle, activity):
    pytest.importorskip("cryptography", reason="signed bundles need the [dev] extra (cryptography)")
    bundle = small_bundle("nano-integrity-bundle", ["fp32"], ["encoder", "classifier"])
    return workspace.Workspace(tmp_path_factory.mktemp("hostile"), nano_run, bundle, activity)
