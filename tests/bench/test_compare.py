"""FlowFM vs diffusion: matched quality, Pareto front, and the command end to end on nano bundles."""

import json

import pytest
from typer.testing import CliRunner

from flowfm_edge.bench.compare import analyse, matched, pareto_front


def pt(model, solver, steps, fd, ms, backend="onnxruntime", precision="int8", half=0.05):
    """A benchmark point whose FD has the 95% interval fd +- half."""
    return {"model": model, "label": f"{solver}-{steps}", "solver": solver, "steps": steps, "nfe": steps, "fd": fd,
            "frechet": {"fd": fd, "ci_low": fd - half, "ci_high": fd + half}, "per_item_ms": ms, "backend": backend,
            "precision": precision, "batch": 1, "threads": 2, "j_per_sample": None, "beyond_real_range": None,
            "flags": []}


def test_matched_takes_the_fewest_nfe_flow_setting_at_or_below_the_reference():
    flow = [pt("flow", "euler", 1, 3.0, 1.0), pt("flow", "euler", 4, 1.0, 4.0), pt("flow", "euler", 8, 0.5, 8.0)]
    m = matched(pt("diffusion", "ddpm", 1000, 1.2, 1000.0), flow)
    assert m["matched"]["label"] == "euler-4" and m["speedup"] == pytest.approx(250.0)
    m = matched(pt("diffusion", "ddim", 10, 0.1, 10.0), flow)
    assert m["matched"] is None and m["speedup"] is None and "euler-8" in m["note"]


def test_matched_quality_is_fd_at_or_below_the_upper_end_of_the_reference_interval():
    flow = [pt("flow", "euler", 2, 1.25, 2.0), pt("flow", "euler", 8, 1.1, 8.0)]
    m = matched(pt("diffusion", "ddpm", 1000, 1.0, 1000.0, half=0.3), flow)  # interval [0.7, 1.3]
    assert m["matched"]["label"] == "euler-2" and m["matched"]["frechet"]["fd"] == 1.25
    m = matched(pt("diffusion", "ddpm", 1000, 1.0, 1000.0, half=0.2), flow)  # [0.8, 1.2]: euler-2 is outside
    assert m["matched"]["label"] == "euler-8"
    m = matched(pt("diffusion", "ddpm", 1000, 1.0, 1000.0, half=0.05), flow)
    assert m["matched"] is None and "1.0500" in m["note"]


def test_analyse_groups_by_runtime_and_finds_the_best_ddim():
    pts = [pt("flow", "euler", 2, 1.0, 2.0), pt("diffusion", "ddim", 10, 1.5, 10.0), pt("diffusion", "ddim", 50, 0.9, 50.0),
           pt("diffusion", "ddpm", 1000, 2.0, 1000.0), pt("flow", "euler", 8, 0.8, 8.0),
           pt("diffusion", "ddpm", 1000, 2.0, 4000.0, backend="torch", precision="fp32")]
    a = analyse(pts, 1000)
    g = next(g for g in a["groups"] if g["backend"] == "onnxruntime")
    assert g["vs_best_ddim"]["reference"]["label"] == "ddim-50" and g["vs_best_ddim"]["matched"]["label"] == "euler-8"
    assert g["vs_ddpm"]["speedup"] == pytest.approx(500.0)
    assert a["end_to_end_int8_onnx_vs_torch_ddpm"]["1"]["speedup"] == pytest.approx(2000.0)
    assert pareto_front(pts) == [0, 4]


def test_plot_series_name_flowfm_by_its_solver():
    from flowfm_edge.bench.report import _series

    kinds = {k[0] for k in _series([pt("flow", "midpoint", 2, 1.0, 2.0), pt("diffusion", "ddim", 10, 1.0, 9.0)])}
    assert kinds == {"FlowFM midpoint", "DDIM"}


def test_a_reference_with_windows_beyond_the_real_range_carries_a_caution():
    from flowfm_edge.bench.report import _match_line

    ref = pt("diffusion", "ddim", 50, 17000.0, 75.0, half=9000.0)
    ref["beyond_real_range"] = {"count": 1, "fraction": 0.001, "real_peak_g": 2.6, "generated_peak_g": 136.6}
    m = matched(ref, [pt("flow", "midpoint", 1, 16.0, 3.7)])
    assert m["reference"]["beyond_real_range"]["count"] == 1
    line = _match_line("FlowFM vs best DDIM", m)
    assert "Caution: the reference's peak |a| is 136.6 g against 2.60 g" in line and "(1 windows above" in line
    ref["beyond_real_range"]["generated_peak_g"] = 2.7  # just above the real peak, as real windows can be
    assert "Caution" not in _match_line("FlowFM vs best DDIM", matched(ref, [pt("flow", "midpoint", 1, 16.0, 3.7)]))


def test_bench_compare_command(bundle, diffusion_bundle, labelled_npz, feature_net, tmp_path):
    from flowfm_edge.cli import app

    out = tmp_path / "cmp"
    args = ["bench", "compare", str(bundle), str(diffusion_bundle), "--backend", "onnxruntime,torch",
            "--precision", "fp32,int8", "--flow-steps", "4", "--ddim-steps", "2,5", "--torch-samplers", "ddpm-1000",
            "--data", str(labelled_npz), "--feature-net", str(feature_net), "--n", "8", "--min-iters", "1",
            "--min-seconds", "0", "--warmup", "0", "--energy", "none", "--threads", "1",
            "--json", str(out / "c.json"), "--report", str(out / "c.md"), "--plots", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    result = json.loads((out / "c.json").read_text())
    labels = {(p["label"], p["backend"], p["precision"]) for p in result["points"]}
    assert ("ddpm-1000", "torch", "fp32") in labels and ("euler-4", "onnxruntime", "int8") in labels
    assert ("ddim-5", "torch", "fp32") not in labels  # --torch-samplers
    md = (out / "c.md").read_text()
    assert "Matched quality" in md and "not measured" in md and "beyond real range" in md
    assert all(p["beyond_real_range"]["count"] >= 0 for p in result["points"])
    assert (out / "pareto.png").stat().st_size > 0 and (out / "latency_vs_steps.png").is_file()
    swapped = CliRunner().invoke(app, ["bench", "compare", str(diffusion_bundle), str(bundle), "--feature-net",
                                       str(feature_net)])
    assert swapped.exit_code == 1 and "expected" in swapped.output


def test_bench_run_command_is_the_default(bundle, tmp_path):
    from flowfm_edge.cli import app

    res = CliRunner().invoke(app, ["bench", str(bundle), "--backend", "onnxruntime", "--precision", "int8",
                                   "--graphs", "encoder", "--batch", "1,2", "--min-iters", "2", "--min-seconds", "0",
                                   "--energy", "none", "--json", str(tmp_path / "b.json"), "--report", str(tmp_path / "b.md")])
    assert res.exit_code == 0, res.output
    assert len(json.loads((tmp_path / "b.json").read_text())["results"]) == 2
    assert "energy: not measured" in res.output and "| encoder |" in (tmp_path / "b.md").read_text()
