import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("export_fixtures", Path(__file__).parents[1] / "export" / "fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


def needs_onnx():
    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(module, reason=f"needs the [onnx] extra ({module}): pip install 'flowfm-edge[onnx]'")


@pytest.fixture(scope="session")
def nano_run(tmp_path_factory):
    return fixtures.nano_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    needs_onnx()
    return fixtures.nano_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def guided_bundle(tmp_path_factory):
    needs_onnx()
    return fixtures.guided_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def activity():
    return fixtures.activity_windows(seed=1)
