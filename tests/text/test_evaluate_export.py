import json

import pytest
import torch

from flowfm_edge.evaluation.feature_net import train_feature_net
from flowfm_edge.text.embeddings import EmbeddingCache
from flowfm_edge.text.evaluate import markdown_table, text_eval
from flowfm_edge.export.text_sampler import text_sampler_graph
from flowfm_edge.text.generate import sample_text
from flowfm_edge.training import load_model

from .conftest import PROMPTS, RandomEmbedder


@pytest.fixture(scope="module")
def feature_net(activity_windows):
    return train_feature_net(activity_windows, epochs=2, seed=0)


def test_text_eval_reports_every_prompt_with_the_unconditional_floor(text_run, activity_windows, feature_net):
    model, config = load_model(text_run)
    cache = EmbeddingCache(text_run / "text_embeddings.npz", model=RandomEmbedder.name)
    rows = []
    res = text_eval(model, config, activity_windows, feature_net, cache, n=4, steps=2, guidance=2.0, on_row=rows.append)
    assert [(r["class"], r["prompt"], r["split"]) for r in res["prompts"]] == [
        (c, p, s) for c, e in PROMPTS.items() for s in ("train", "held_out") for p in e[s]]
    assert rows == res["prompts"]
    for r in res["prompts"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["frechet"] >= 0 and sum(r["predicted"].values()) == 4
    for c, pc in res["per_class"].items():
        assert pc["train"]["prompts"] == 2 and pc["held_out"]["prompts"] == 1
        assert {"accuracy", "frechet"} <= set(pc["floor_unconditional"]) and pc["ceiling_real"]["n_real"] == 30
    # the unconditional windows are labelled once: their per-class fractions add up to one
    assert sum(pc["floor_unconditional"]["accuracy"] for pc in res["per_class"].values()) == pytest.approx(1.0)
    assert res["settings"]["nfe"] == 4
    json.dumps(res)
    table = markdown_table(res)
    assert "| walk | a stroll | held-out |" in table and "**mean**" in table


def test_text_eval_refuses_a_feature_net_without_the_run_classes(text_run, activity_windows, feature_net):
    model, config = load_model(text_run)
    cache = EmbeddingCache(text_run / "text_embeddings.npz", model=RandomEmbedder.name)
    feature_net.cfg.classes = ["a", "b", "c"]
    try:
        with pytest.raises(ValueError, match=r"feature network has no class\(es\) \['still', 'walk', 'run'\]"):
            text_eval(model, config, activity_windows, feature_net, cache, n=2, steps=1)
    finally:
        feature_net.cfg.classes = ["still", "walk", "run"]


def test_sampler_graph_matches_sample_text(text_run):
    model, _ = load_model(text_run)
    e = torch.from_numpy(RandomEmbedder()(["walking", "running", "x"]))
    e[2] = 0  # unconditional row
    noise, w = torch.randn(3, 3, 300), torch.tensor([1.0, 2.0, 3.0])
    with torch.no_grad():
        got = text_sampler_graph(model, "midpoint", 3, guidance=True)(noise, e, w)
        plain = text_sampler_graph(model, "midpoint", 3)(noise, e)
    torch.testing.assert_close(got, sample_text(model, e, 3, "midpoint", guidance=w[:, None, None], noise=noise))
    torch.testing.assert_close(plain, sample_text(model, e, 3, "midpoint", noise=noise))
