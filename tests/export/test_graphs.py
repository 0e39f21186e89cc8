"""The torch modules behind the graphs reproduce the model, before any ONNX is involved."""

import numpy as np
import pytest
import torch

from flowfm_edge.export.graphs import SamplerGraph, build_graph, evaluation_times, graph_spec
from flowfm_edge.models import FlowFM, ModelConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = FlowFM(ModelConfig.from_preset("nano"))
    for p in m.velocity.parameters():  # adaLN-Zero starts as identity; give the blocks something to do
        p.data.add_(0.05 * torch.randn_like(p))
    return m.eval()


@pytest.mark.parametrize("solver", ["euler", "midpoint", "heun", "rk4"])
def test_sampler_graph_equals_flowfm_sample(model, solver):
    noise, r = torch.randn(3, 3, 300), torch.randn(3, 64)
    with torch.no_grad():
        fused = SamplerGraph(model, solver, 3)(noise, r)
    ref = model.sample(r, steps=3, solver=solver, noise=noise)
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)


def test_guided_sampler_graph(model):
    noise, r, w = torch.randn(2, 3, 300), torch.randn(2, 64), torch.tensor([1.5, 2.5])
    with torch.no_grad():
        fused = SamplerGraph(model, "euler", 2, guidance=True)(noise, r, w)
    ref = model.sample(r, steps=2, noise=noise, guidance=w[:, None, None])
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)


def test_evaluation_times():
    np.testing.assert_allclose(evaluation_times("heun", 2).numpy(), [0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(evaluation_times("midpoint", 1).numpy(), [0.0, 0.5])


def test_specs_declare_signatures(model):
    spec = graph_spec("sampler", model.cfg, solver="heun", steps=4, guidance=True)
    assert spec.name == "sampler-heun-4" and spec.input_names == ["noise", "r", "w"]
    d = spec.to_dict()
    assert d["inputs"][0] == {"name": "noise", "shape": ["batch", 3, 300], "dtype": "float32",
                              "units": "N(0, I), normalised", "dynamic_axes": {"0": "batch"}}
    assert d["sampler"]["time_grid"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert graph_spec("classifier", model.cfg, n_classes=5).outputs[0].shape == ("batch", 5)
    with pytest.raises(ValueError, match="needs a head"):
        build_graph(graph_spec("classifier", model.cfg, n_classes=5), model)
    with pytest.raises(ValueError, match="unknown graph 'decoder'"):
        graph_spec("decoder", model.cfg)
