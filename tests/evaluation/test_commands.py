import json

import pytest
from typer.testing import CliRunner

from flowfm_edge.cli import app
from flowfm_edge.data import save_npz

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory, activity_windows):
    path = tmp_path_factory.mktemp("data") / "act.npz"
    save_npz(path, activity_windows)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("runs")
    for objective in ("flow", "diffusion"):
        res = invoke("train", "--data", data, "--objective", objective, "--steps", 3, "--batch-size", 8,
                     "--warmup", 1, "--out", root / objective)
        assert res.exit_code == 0, res.output
    return root


@pytest.fixture(scope="module")
def feat(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("feat") / "feat.pt"
    res = invoke("train-feature-net", "--data", data, "--out", out, "--epochs", 2)
    assert res.exit_code == 0, res.output
    assert "validation macro-F1" in res.output
    return out.with_suffix("")


def test_evaluate_writes_json_and_plot(runs, data, tmp_path):
    res = invoke("evaluate", runs / "flow", "--data", data, "--protocol", "linear-probe", "--epochs", 2,
                 "--json", tmp_path / "e.json", "--plot", tmp_path / "cm.png")
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "e.json").read_text())
    assert out["split"]["kind"] == "loso" and len(out["folds"]) == 5 and out["run"] == str(runs / "flow")
    assert {"mean", "sd"} <= set(out["per_subject"]["macro_f1"]) and "kappa" in out["pooled"]
    assert (tmp_path / "cm.png").stat().st_size > 1000


def test_evaluate_bad_protocol_is_one_red_line(runs, data):
    res = invoke("evaluate", runs / "flow", "--data", data, "--protocol", "knn")
    assert res.exit_code == 1 and "unknown protocol 'knn'" in res.output and "Traceback" not in res.output


def test_quality_flow(runs, data, feat, tmp_path):
    res = invoke("quality", runs / "flow", "--data", data, "--feature-net", feat, "--steps", "1,2", "--n", 8,
                 "--json", tmp_path / "q.json", "--plot", tmp_path / "q.png")
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "q.json").read_text())
    assert out["objective"] == "flow"
    assert [(r["mode"], r["sampler"], r["nfe"]) for r in out["results"]] == [
        ("reconstruction", "euler-1", 1), ("reconstruction", "euler-2", 2),
        ("unconditional", "euler-1", 1), ("unconditional", "euler-2", 2)]
    assert (tmp_path / "q.png").is_file()


def test_quality_detects_the_diffusion_twin(runs, data, feat, tmp_path):
    res = invoke("quality", runs / "diffusion", "--data", data, "--feature-net", feat, "--steps", "2",
                 "--ddpm-steps", 3, "--mode", "unconditional", "--n", 8, "--json", tmp_path / "q.json")
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "q.json").read_text())
    assert out["objective"] == "diffusion"
    assert [(r["sampler"], r["nfe"]) for r in out["results"]] == [("ddim-2", 2), ("ddpm-3", 3)]


def test_quality_errors(runs, data, feat, tmp_path):
    res = invoke("quality", runs / "flow", "--data", data, "--feature-net", tmp_path / "none", "--steps", "1")
    assert res.exit_code == 1 and "train-feature-net" in res.output
    res = invoke("quality", runs / "flow", "--data", data, "--feature-net", feat, "--steps", "1,x")
    assert res.exit_code == 1 and "--steps" in res.output
