"""A pytest plugin: under ``CI=true`` a skipped test fails the run unless CI cannot run it anywhere.

A skip is expected only for missing NVIDIA hardware (a GPU, CUDA, NVML, TensorRT) or a stated platform
limit (a reason starting ``platform:``). Any other skip (an extra not installed, a server or a data package
missing) means CI did not install what the test needs, so the run fails and lists those skips. An extra
that cannot share an environment with the others is tested in its own; ``FLOWFM_EDGE_CI_ELSEWHERE``
(comma-separated extras, e.g. ``litert``) names them, and skips that name such an extra are expected.

tests/conftest.py loads it for every run; ``python -m pytest -p ci_skips`` loads it alone.
"""

from __future__ import annotations

import os
import re

import pytest

HARDWARE = re.compile(r"NVIDIA|\bGPU\b|CUDA|NVML|TensorRT|^platform:", re.IGNORECASE)
_skips: list[tuple[str, str]] = []


def expected(reason: str) -> bool:
    """Whether CI may skip a test for ``reason``."""
    if HARDWARE.search(reason):
        return True
    elsewhere = [e.strip() for e in os.environ.get("FLOWFM_EDGE_CI_ELSEWHERE", "").split(",") if e.strip()]
    return any(f"[{extra}]" in reason for extra in elsewhere)


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _record(report)


def pytest_collectreport(report):
    """A module that skips as a whole (a module-level ``importorskip``) is a skip too."""
    if report.skipped:
        _record(report)


def _record(report) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    _skips.append((report.nodeid, reason.removeprefix("Skipped: ")))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI", "").lower() != "true":
        return
    unexpected = [(node, reason) for node, reason in _skips if not expected(reason)]
    if unexpected:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_sep("=", f"CI=true: {len(unexpected)} test(s) skipped for a reason CI can remove", red=True)
            for node, reason in unexpected:
                tr.write_line(f"{node}: {reason}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
