"""The benchmarks' index is rendered from their results, and every result says what produced it."""

import json

import pytest

from benchmarks.report import README, RESULTS, render
from benchmarks.report.commands import today


def test_the_index_is_the_rendering_of_the_results():
    assert README.read_text() == render(), "benchmarks/README.md is out of date: run python -m benchmarks.report"


@pytest.mark.parametrize("path", sorted(RESULTS.rglob("*.json")), ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_result_leads_with_its_command_date_and_machine(path):
    result = json.loads(path.read_text())
    assert list(result)[:3] == ["command", "date", "machine"]
    assert all(isinstance(result[k], str) and result[k] for k in ("command", "date", "machine"))


def test_a_changed_figure_changes_the_index(tmp_path):
    import shutil

    shutil.copytree(RESULTS, tmp_path / "results")
    path = tmp_path / "results" / "claims_mtl_hapt_tiny_10000steps.json"
    result = json.loads(path.read_text())
    result["flow_minus_mtl"] = -0.25
    path.write_text(json.dumps(result))
    text = render(tmp_path / "results")
    assert "FlowFM >= MTL at the same wall time | no |" in text and "-0.250" in text


@pytest.mark.parametrize("recorded, now", [
    ("CLAIMS_THREADS=2 python benchmarks/claims_seeds.py --steps 10000", "CLAIMS_THREADS=2 python -m benchmarks.claims.seeds --steps 10000"),
    ("benchmarks/runtime_install.py --repeats 15", "python -m benchmarks.perf.runtime_install --repeats 15"),
    ("FLOW_RUN=runs/a DIFF_RUN=runs/b OMP_NUM_THREADS=1 bash benchmarks/flowfm_vs_diffusion.sh",
     "OMP_NUM_THREADS=1 python -m benchmarks.claims.flowfm_vs_diffusion --flow-run runs/a --diffusion-run runs/b"),
    ("python -m benchmarks.perf.export_latency --quick", "python -m benchmarks.perf.export_latency --quick"),
    ("flowfm-edge probe runs/x --data hapt", "flowfm-edge probe runs/x --data hapt"),
])
def test_recorded_commands_are_shown_as_they_run_today(recorded, now):
    assert today(recorded) == now
