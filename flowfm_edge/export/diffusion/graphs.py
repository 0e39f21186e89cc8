"""The diffusion twin's exported graphs and their declared signatures (docs/design.md#graphs).

Beside the encoder and classifier (shared with FlowFM, :mod:`.graphs`), the twin exports:

- ``denoiser``          z_t (B, 3, 300) normalised, t (B,) = timestep / T, r (B, r_dim)
                        -> eps (B, 3, 300): one step's noise prediction; runtimes loop over it
                        for samplers that are not fused (DDPM ancestral, 1000 steps);
- ``sampler-ddim-<k>``  noise (B, 3, 300) N(0, I), r (B, r_dim) -> x (B, 3, 300) g: the
                        deterministic DDIM sampler (eta = 0) over ``k`` timesteps, its
                        coefficients and the time embedding of every step precomputed as float
                        tables; an ONNX ``Loop`` over one denoiser step (:mod:`.sampler_loop`),
                        so the file does not grow with ``k``.

>>> ddim_coefficients([999, 0], torch.linspace(0.9, 0.1, 1000).double())[0].shape
torch.Size([2])
"""

from __future__ import annotations

import torch
from torch import nn

from ...models.diffusion import T_STEPS, DiffusionTwin, timesteps
from ..graphs import FusedSampler, GraphSpec, TensorSpec
from ..graphs import build_graph as build_shared_graph
from ..graphs import graph_spec as shared_graph_spec

DDPM_STEPS = 1000  # the ancestral sampler the runtimes run as a loop over the denoiser graph


def ddim_name(steps: int) -> str:
    return f"sampler-ddim-{steps}"


def ddim_coefficients(seq: list[int], ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DDIM (eta = 0) as z_prev = a_k z + b_k eps for every timestep of ``seq``: a (K,), b (K,), float64.

    From z_prev = sqrt(ab_prev) (z - sqrt(1 - ab_t) eps) / sqrt(ab_t) + sqrt(1 - ab_prev) eps,
    with ab_prev = 1 after the last timestep (the last step lands on data).
    """
    ab = ab.double()
    ab_t = ab[seq]  # (K,)
    ab_prev = torch.cat([ab[seq[1:]], torch.ones(1, dtype=torch.float64)])  # (K,)
    a = (ab_prev / ab_t).sqrt()
    b = (1 - ab_prev).sqrt() - (ab_prev * (1 - ab_t) / ab_t).sqrt()
    return a, b


def graph_spec(graph: str, cfg, n_classes: int = 0, steps: int = 50) -> GraphSpec:
    """The declared signature of a diffusion-twin graph: encoder, classifier, denoiser, or a DDIM sampler."""
    if graph in ("encoder", "classifier"):
        return shared_graph_spec(graph, cfg, n_classes)
    window = ("batch", cfg.channels, cfg.window)
    r = TensorSpec("r", ("batch", cfg.r_dim), "representation")
    if graph in ("denoiser", "velocity"):
        inputs = (TensorSpec("z_t", window, "normalised"), TensorSpec("t", ("batch",), "timestep / T in [0, 1)"), r)
        return GraphSpec("denoiser", "denoiser", inputs, (TensorSpec("eps", window, "normalised noise"),), "z_t")
    if graph == "sampler":
        seq = timesteps(steps)
        info = {"solver": "ddim", "steps": steps, "eta": 0.0, "timesteps": seq,
                "time_grid": [round(t / T_STEPS, 8) for t in seq], "guidance": None, "nfe": steps}
        inputs = (TensorSpec("noise", window, "N(0, I), normalised"), r)
        return GraphSpec("sampler", ddim_name(steps), inputs, (TensorSpec("x", window, "g"),), "noise",
                         exporter="legacy", sampler=info)
    raise ValueError(f"unknown graph {graph!r} for a diffusion run; graphs are encoder, classifier, "
                     "velocity (exports the denoiser step) and sampler (fused DDIM samplers)")


class DenoiserGraph(nn.Module):
    """z_t (B, 3, 300), t (B,) = timestep / T, r (B, r_dim) -> eps (B, 3, 300), normalised units."""

    def __init__(self, model: DiffusionTwin):
        super().__init__()
        self.net = model.denoiser

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return self.net(z_t, t, r)


class DDIMSamplerGraph(FusedSampler):
    """noise (B, 3, 300), r (B, r_dim) -> x (B, 3, 300) in g: deterministic DDIM over ``steps`` timesteps.

    Same arithmetic as :meth:`DiffusionTwin.sample` with ``sampler="ddim", eta=0`` (which
    updates in float64; here float32 with float64-computed coefficients).
    """

    tables = ("a", "b", "temb")

    def __init__(self, model: DiffusionTwin, steps: int):
        super().__init__(model)
        self.net = model.denoiser
        self.steps = steps
        seq = timesteps(steps, model.T)
        a, b = ddim_coefficients(seq, model.alpha_bar)
        self.register_buffer("a", a.float())  # (K,)
        self.register_buffer("b", b.float())
        with torch.no_grad():
            t = torch.tensor(seq, dtype=torch.long).float() / model.T  # as the model computes it
            self.register_buffer("temb", self.net.time(t)[:, None])  # (K, 1, D)

    def condition(self, r: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.net.rep(r),)  # (B, D)

    def advance(self, z: torch.Tensor, rows: dict, conds: tuple, w=None) -> torch.Tensor:
        eps = self.step(self.net, z, rows["temb"][0] + conds[0])  # (B, 3, 300)
        return rows["a"] * z + rows["b"] * eps


def build_graph(spec: GraphSpec, model: DiffusionTwin, head: nn.Module | None = None) -> nn.Module:
    """The eval-mode torch module that ``spec`` describes."""
    if spec.graph in ("encoder", "classifier"):
        return build_shared_graph(spec, model, head)
    if spec.graph == "denoiser":
        return DenoiserGraph(model).eval()
    return DDIMSamplerGraph(model, spec.sampler["steps"]).eval()

