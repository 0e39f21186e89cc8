"""deploy/check_aarch64_wheels.py: the platforms and requirements it hands pip's resolver (CI runs the check itself)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_aarch64_wheels", ROOT / "deploy" / "check_aarch64_wheels.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def test_platforms_reach_back_from_the_oldest_glibc_to_manylinux2014():
    tags = check.platforms("2.31")
    assert tags[0] == "manylinux_2_31_aarch64" and tags[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert len(tags) == 31 - 17 + 2 and "manylinux_2_32_aarch64" not in tags


def test_markers_are_evaluated_for_the_target_python_not_this_one():
    reqs = ["numpy>=1.24", "tomli>=2; python_version < '3.11'", "x86only; platform_machine == 'x86_64'"]
    assert check.for_target(reqs, "3.10") == ["numpy>=1.24", "tomli>=2"]
    assert check.for_target(reqs, "3.12") == ["numpy>=1.24"]


def test_the_runtime_install_and_its_gateway_and_cohort_extras_are_checked():
    reqs = check.requirements(ROOT / "pyproject.toml", ["gateway", "cohort"])
    names = [r.split(">")[0].split(";")[0].split("=")[0].strip() for r in reqs]
    assert {"numpy", "onnxruntime", "pydantic", "typer", "paho-mqtt", "prometheus-client", "pyarrow"} <= set(names)
    assert not {"torch", "scikit-learn", "matplotlib", "safetensors"} & set(names)
