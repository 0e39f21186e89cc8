import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

# Trained nano runs and exported bundles, shared by the export, runtime and gateway tests.
_spec = importlib.util.spec_from_file_location("export_fixtures", Path(__file__).parent / "export" / "fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

torch.set_num_threads(min(2, torch.get_num_threads()))

# Under CI=true, a skip for anything but missing NVIDIA hardware fails the run (tests/ci_skips.py).
_spec = importlib.util.spec_from_file_location("ci_skips", Path(__file__).parent / "ci_skips.py")
ci_skips = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ci_skips)
pytest_runtest_logreport = ci_skips.pytest_runtest_logreport
pytest_sessionfinish = ci_skips.pytest_sessionfinish


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def sine_windows():
    return make_sine_windows


def make_sine_windows(n: int, seed: int = 0) -> np.ndarray:
    """Gravity on z plus a 1.8 Hz oscillation of random phase: (n, 3, 300) float32 in g."""
    g = np.random.default_rng(seed)
    t = np.arange(300) / 30
    phase = g.uniform(0, 2 * np.pi, (n, 1))
    X = np.zeros((n, 3, 300), np.float32)
    X[:, 0] = 0.3 * np.sin(2 * np.pi * 1.8 * t + phase)
    X[:, 1] = 0.1 * np.cos(2 * np.pi * 3.6 * t + phase)
    X[:, 2] = 1.0 + 0.05 * g.standard_normal((n, 300))
    return X


def needs_onnx():
    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(module, reason=f"needs the [onnx] extra ({module}): pip install 'flowfm-edge[onnx]'")


def needs_litert():
    for module in ("litert_torch", "ai_edge_litert", "ai_edge_quantizer"):
        pytest.importorskip(module, reason=f"needs the [litert] extra ({module}): pip install 'flowfm-edge[litert]'")


@pytest.fixture(scope="session")
def nano_run(tmp_path_factory):
    return fixtures.nano_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    needs_onnx()
    return fixtures.nano_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def litert_bundle(tmp_path_factory):
    needs_litert()
    return fixtures.litert_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def guided_bundle(tmp_path_factory):
    needs_onnx()
    return fixtures.guided_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def diffusion_bundle(tmp_path_factory, activity_windows, activity):
    needs_onnx()
    return fixtures.nano_diffusion_bundle(tmp_path_factory.getbasetemp(), activity_windows, activity)


@pytest.fixture(scope="session")
def calibration():
    """The windows fixture bundles are calibrated and gated on, at an export's default sizes."""
    return fixtures.calibration_windows()


@pytest.fixture(scope="session")
def small_bundle(nano_run, tmp_path_factory, calibration):
    """small_bundle(name, precisions, graphs): a bundle of a few graphs of the nano run, built once per session."""
    needs_onnx()
    return lambda name, precisions, graphs: fixtures.small_bundle(tmp_path_factory.getbasetemp(), nano_run, calibration, name,
                                                                  precisions, graphs)


@pytest.fixture(scope="session")
def activity():
    return fixtures.activity_windows(seed=1)


@pytest.fixture(scope="session")
def activity_windows():
    """Still / walk / run windows of 5 subjects, seed 0."""
    return fixtures.activity_windows(n_subjects=5)
