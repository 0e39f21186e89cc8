import json

import numpy as np
import pytest
from typer.testing import CliRunner

from flowfm_edge.cli import app
from flowfm_edge.data import save_npz
from flowfm_edge.evaluation.feature_net import save_feature_net, train_feature_net

from .conftest import PROMPTS, needs_text_model

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def data_npz(tmp_path_factory, activity_windows):
    path = tmp_path_factory.mktemp("text-data") / "activity.npz"
    save_npz(path, activity_windows)
    return path


def test_generate_text_from_a_cached_prompt_needs_no_embedding_model(text_run, tmp_path):
    out = tmp_path / "walk.npz"
    res = invoke("generate", text_run, "--text", "a stroll", "--n", 3, "--steps", 2, "--guidance", 2, "--out", out,
                 "--plot", tmp_path / "walk.png")
    assert res.exit_code == 0, res.output
    assert "a held-out walk paraphrase, never used in fine-tuning" in res.output
    with np.load(out) as f:
        assert f["X"].shape == (3, 3, 300) and str(f["text"]) == "a stroll" and float(f["guidance"]) == 2.0
    assert (tmp_path / "walk.png").is_file()


def test_generate_text_errors_are_one_line(text_run, nano_run, tmp_path):
    res = invoke("generate", text_run, "--text", "cycling uphill", "--out", tmp_path / "x.npz")
    assert res.exit_code == 1 and "no cached embedding for ['cycling uphill']" in res.output
    res = invoke("generate", nano_run, "--text", "walking", "--out", tmp_path / "x.npz")
    assert res.exit_code == 1 and "not text-conditioned" in res.output and "train-text" in res.output
    res = invoke("generate", text_run, "--text", "walking", "--like", tmp_path / "x.npz", "--out", tmp_path / "x.npz")
    assert res.exit_code == 1 and "--text and --like do not combine" in res.output
    assert "Traceback" not in res.output


def test_text_eval_command_writes_json_and_markdown(text_run, data_npz, activity_windows, tmp_path):
    feat = tmp_path / "feat"
    save_feature_net(train_feature_net(activity_windows, epochs=1), feat)
    res = invoke("text-eval", text_run, "--data", data_npz, "--feature-net", feat, "--n", 3, "--steps", 1,
                 "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md")
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "r.json").read_text())
    assert len(result["prompts"]) == sum(len(e["train"]) + len(e["held_out"]) for e in PROMPTS.values())
    assert result["run"] == str(text_run) and "mean over classes" in res.output
    assert "| run | a sprint | held-out |" in (tmp_path / "r.md").read_text()


def test_train_text_and_generate_any_sentence_with_minilm(nano_run, data_npz, tmp_path):
    needs_text_model()
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(PROMPTS))
    out = tmp_path / "text-run"
    res = invoke("train-text", nano_run, "--data", data_npz, "--out", out, "--prompts", prompts, "--steps", 3,
                 "--batch-size", 8)
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "checkpoint" / "config.json").read_text())
    assert cfg["model"]["text_dim"] == 384 and cfg["text"]["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"
    res = invoke("generate", out, "--text", "walking up the stairs", "--n", 2, "--steps", 2, "--out", tmp_path / "s.npz")
    assert res.exit_code == 0, res.output
    with np.load(out / "text_embeddings.npz") as f:
        assert "walking up the stairs" in set(f["texts"].tolist())  # new sentences join the cache


def test_train_text_without_prompts_for_the_data_says_how_to_fix(nano_run, data_npz, tmp_path):
    res = invoke("train-text", nano_run, "--data", data_npz, "--out", tmp_path / "t", "--steps", 1)
    assert res.exit_code == 1 and "no descriptions for class(es) ['still', 'walk', 'run']" in res.output
    assert "--prompts FILE.json" in res.output
