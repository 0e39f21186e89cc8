"""Under CI=true, a skip that CI could remove fails the run; hardware skips and extras tested elsewhere do not."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SKIPS = '''
import pytest

def test_gpu():
    pytest.skip("no NVIDIA GPU here")

def test_extra():
    pytest.skip("needs the [litert] extra (litert_torch): pip install 'flowfm-edge[litert]'")

def test_runs():
    assert True
'''


def run(tmp_path: Path, **env) -> subprocess.CompletedProcess:
    (tmp_path / "test_skips.py").write_text(SKIPS)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "ci_skips", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent), **env})


@pytest.mark.parametrize("ci, elsewhere, code", [("true", "", 1), ("true", "litert", 0), ("", "", 0)])
def test_only_hardware_skips_pass_under_ci(tmp_path, ci, elsewhere, code):
    res = run(tmp_path, CI=ci, FLOWFM_EDGE_CI_ELSEWHERE=elsewhere)
    assert res.returncode == code, res.stdout + res.stderr
    assert "1 passed, 2 skipped" in res.stdout
    if code:
        assert "1 test(s) skipped for a reason CI can remove" in res.stdout
        assert "test_skips.py::test_extra: needs the [litert] extra" in res.stdout
        assert "test_gpu" not in res.stdout.split("reason CI can remove")[1]


def test_a_module_that_skips_whole_counts_too(tmp_path):
    (tmp_path / "test_module_skip.py").write_text(
        'import pytest\npytest.importorskip("no_such_module_here", reason="needs the [signing] extra")\n'
        "def test_sign():\n    pass\n")
    res = run(tmp_path, CI="true", FLOWFM_EDGE_CI_ELSEWHERE="litert")
    assert res.returncode == 1 and "test_module_skip.py: needs the [signing] extra" in res.stdout, res.stdout
    assert run(tmp_path, CI="true", FLOWFM_EDGE_CI_ELSEWHERE="litert,signing").returncode == 0
