"""Fused samplers as an ONNX Loop over one step: same output as the unrolled torch module, size flat in steps."""

import numpy as np
import onnx
import pytest
import torch

from flowfm_edge.export.diffusion.graphs import DDIMSamplerGraph
from flowfm_edge.export.diffusion.graphs import graph_spec as ddim_spec
from flowfm_edge.export.graphs import SamplerGraph, graph_spec
from flowfm_edge.export.inputs import example_args
from flowfm_edge.export.onnx.sampler_loop import LoopedSampler
from flowfm_edge.export.onnx.step import CALIB_MIN_WINDOWS, step_inputs
from flowfm_edge.bundle.targets import get_target
from flowfm_edge.export.validation import run_onnx
from flowfm_edge.models import DiffusionTwin, FlowFM, ModelConfig


def _busy(m):
    torch.manual_seed(0)
    net = m.velocity if isinstance(m, FlowFM) else m.denoiser
    for p in net.parameters():  # adaLN-Zero starts as identity; give the blocks something to do
        p.data.add_(0.05 * torch.randn_like(p))
    return m.eval()


@pytest.fixture(scope="module")
def flow():
    torch.manual_seed(0)
    return _busy(FlowFM(ModelConfig.from_preset("nano")))


@pytest.fixture(scope="module")
def twin():
    torch.manual_seed(0)
    return _busy(DiffusionTwin(ModelConfig.from_preset("nano", objective="diffusion")))


def _feeds(spec, n=3, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"noise": (n, 3, 300), "r": (n, 64), "w": (n,)}
    return {k: (1 + rng.random(shapes[k]) if k == "w" else rng.standard_normal(shapes[k])).astype(np.float32)
            for k in spec.input_names}


def _torch(module, feeds, spec):
    with torch.no_grad():
        return module(*(torch.from_numpy(feeds[k]) for k in spec.input_names)).numpy()


@pytest.mark.parametrize("solver,steps,guidance", [("euler", 5, False), ("midpoint", 3, False), ("heun", 2, True),
                                                   ("rk4", 2, False)])
def test_loop_sampler_equals_the_torch_module(flow, tmp_path, solver, steps, guidance):
    spec = graph_spec("sampler", flow.cfg, solver=solver, steps=steps, guidance=guidance)
    module = SamplerGraph(flow, solver, steps, guidance=guidance).eval()
    looped = LoopedSampler(module, spec, example_args(spec, flow), tmp_path)
    info = looped.export_fp32(tmp_path / "s.onnx")
    feeds = _feeds(spec)
    np.testing.assert_allclose(run_onnx(tmp_path / "s.onnx", feeds), _torch(module, feeds, spec), rtol=1e-4, atol=1e-4)
    from flowfm_edge.solvers import SOLVERS

    assert info["graph"] == "loop" and info["steps"] == steps and info["step_calls_per_step"] == SOLVERS[solver][1]
    assert [n.op_type for n in onnx.load(str(tmp_path / "s.onnx")).graph.node].count("Loop") == 1


def test_ddim_loop_equals_the_torch_module(twin, tmp_path):
    spec = ddim_spec("sampler", twin.cfg, steps=7)
    module = DDIMSamplerGraph(twin, 7).eval()
    LoopedSampler(module, spec, example_args(spec, twin), tmp_path).export_fp32(tmp_path / "d.onnx")
    feeds = _feeds(spec)
    ref = twin.sample(torch.from_numpy(feeds["r"]), steps=7, sampler="ddim", noise=torch.from_numpy(feeds["noise"]))
    np.testing.assert_allclose(run_onnx(tmp_path / "d.onnx", feeds), ref.numpy(), rtol=1e-4, atol=1e-4)


def test_file_and_graph_do_not_grow_with_steps(twin, tmp_path):
    sizes, nodes = {}, {}
    for steps in (4, 200):
        spec = ddim_spec("sampler", twin.cfg, steps=steps)
        module = DDIMSamplerGraph(twin, steps).eval()
        path = tmp_path / f"d{steps}.onnx"
        LoopedSampler(module, spec, example_args(spec, twin), tmp_path).export_fp32(path)
        sizes[steps], nodes[steps] = path.stat().st_size, len(onnx.load(str(path)).graph.node)
    per_step_table = 4 * (2 + twin.cfg.dim)  # a, b and one time embedding per step
    assert sizes[200] - sizes[4] <= 196 * per_step_table + 4096
    assert nodes[200] == nodes[4]


def test_int8_loop_quantises_the_step_once(flow, tmp_path):
    spec = graph_spec("sampler", flow.cfg, solver="euler", steps=6)
    module = SamplerGraph(flow, "euler", 6).eval()
    looped = LoopedSampler(module, spec, example_args(spec, flow), tmp_path)
    looped.export_fp32(tmp_path / "f.onnx")
    calib = _feeds(spec, n=16, seed=1)
    q = looped.quantize(tmp_path / "q.onnx", calib)
    assert q["calibration_set"]["size"] == 16 * 6  # (z, c) of every step of every calibration run
    assert q["quantised"].get("MatMul", 0) > 0 and q["loop"]["steps"] == 6
    feeds = _feeds(spec, seed=2)
    ref = _torch(module, feeds, spec)
    out = run_onnx(tmp_path / "q.onnx", feeds)
    assert 0 < np.linalg.norm(out - ref) / np.linalg.norm(ref) < 0.1  # quantised, and close


def test_step_inputs_keep_every_step_when_capped(twin):
    module = DDIMSamplerGraph(twin, 50).eval()
    spec = ddim_spec("sampler", twin.cfg, steps=50)
    feeds = _feeds(spec, n=64)
    got = step_inputs(module, feeds, spec.input_names, most=400)
    assert len(got["z"]) == 50 * (400 // 50)  # 8 rows of each of the 50 calls
    assert got["c"].shape == (400, twin.cfg.dim)
    full = step_inputs(module, feeds, spec.input_names, most=10**6)
    assert len(full["z"]) == 64 * 50
    long = step_inputs(DDIMSamplerGraph(twin, 500).eval(), feeds, spec.input_names, most=4096)
    assert len(long["z"]) == 500 * 8 and CALIB_MIN_WINDOWS == 16  # 16 windows run, 8 rows kept per call


def test_step_limits_per_target():
    get_target("cpu").check(["fp32"], ["euler"], [1000], "minmax")
    with pytest.raises(ValueError, match="target 'jetson' must lie in 1..256"):
        get_target("jetson").check(["fp16"], ["euler"], [300], "minmax")
