"""The torch modules behind every exported graph, and their declared I/O signatures.

Each graph declares its inputs and outputs once (:class:`GraphSpec`): names, shapes with a
dynamic ``batch`` axis, dtypes and units. The exporter, the manifest, the golden files and
the runtimes all read these declarations.

Graphs (all take raw windows in g where they take windows):

- ``encoder``     x (B, 3, 300) g                               -> r (B, r_dim)
- ``classifier``  x (B, 3, 300) g                               -> logits (B, classes)
- ``velocity``    z_t (B, 3, 300) normalised, t (B,), r         -> v (B, 3, 300) normalised
- ``sampler``     noise (B, 3, 300) N(0, I), r (B, r_dim)[, w (B,)] -> x (B, 3, 300) g,
  one graph per (solver, steps): the time grid is baked in and the time embedding of every
  evaluation is precomputed as a float table, so no time value passes through quantised ops.
  The cpu target writes it as an ONNX ``Loop`` over one solver step (:mod:`.sampler_loop`);
  the other targets trace the steps unrolled, one set of weights shared by all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..models import FlowFM, VelocityNet
from ..models.layers import guide
from ..solvers import SOLVERS, integrate, time_grid


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple  # ints, and "batch" for the dynamic axis
    units: str
    dtype: str = "float32"

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "units": self.units,
                "dynamic_axes": {str(i): a for i, a in enumerate(self.shape) if isinstance(a, str)}}


@dataclass(frozen=True)
class GraphSpec:
    graph: str  # encoder | classifier | velocity | sampler
    name: str  # artefact name: the graph, or sampler-<solver>-<steps>
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    signal_input: str  # the input carrying the signal; nodes not fed by it form the conditioning path
    exporter: str = "dynamo"
    sampler: dict | None = None  # solver, steps, time grid, guidance

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_name(self) -> str:
        return self.outputs[0].name

    @property
    def float_head(self) -> bool:
        """Whether INT8 keeps this graph's linear head float: a classifier's, which folds the probe's
        standardisation into its weights (see :mod:`.onnx.quantize`). The same on every target."""
        return self.graph == "classifier"

    def to_dict(self) -> dict:
        d = {"inputs": [i.to_dict() for i in self.inputs], "outputs": [o.to_dict() for o in self.outputs]}
        if self.sampler is not None:
            d["sampler"] = self.sampler
        return d


def sampler_name(solver: str, steps: int) -> str:
    return f"sampler-{solver}-{steps}"


def graph_spec(graph: str, cfg, n_classes: int = 0, solver: str = "euler", steps: int = 8,
               guidance: bool = False) -> GraphSpec:
    """The declared signature of ``graph`` for a model config ``cfg``."""
    window = ("batch", cfg.channels, cfg.window)
    x = TensorSpec("x", window, "g")
    r = TensorSpec("r", ("batch", cfg.r_dim), "representation")
    if graph == "encoder":
        return GraphSpec("encoder", "encoder", (x,), (r,), "x")
    if graph == "classifier":
        return GraphSpec("classifier", "classifier", (x,), (TensorSpec("logits", ("batch", n_classes), "logits"),), "x")
    if graph == "velocity":
        inputs = (TensorSpec("z_t", window, "normalised"), TensorSpec("t", ("batch",), "time in [0, 1]"), r)
        return GraphSpec("velocity", "velocity", inputs, (TensorSpec("v", window, "normalised / unit time"),), "z_t")
    if graph == "sampler":
        inputs = (TensorSpec("noise", window, "N(0, I), normalised"), r)
        if guidance:
            inputs += (TensorSpec("w", ("batch",), "guidance weight"),)
        info = {"solver": solver, "steps": steps, "time_grid": [round(float(t), 8) for t in time_grid(steps)],
                "guidance": "input w: v0 + w (v_r - v0)" if guidance else None}
        # The legacy exporter: dynamo takes minutes on the unrolled loop and copies transposed
        # weights at every step; the legacy trace shares one set of initializers.
        return GraphSpec("sampler", sampler_name(solver, steps), inputs, (x,), "noise", exporter="legacy", sampler=info)
    raise ValueError(f"unknown graph {graph!r}; graphs are encoder, classifier, velocity, sampler")


class EncoderGraph(nn.Module):
    """x (B, 3, 300) g -> r (B, r_dim); holds only the encoder and the normalisation."""

    def __init__(self, model: FlowFM):
        super().__init__()
        self.encoder = model.encoder
        self.register_buffer("mean", model.mean.clone())
        self.register_buffer("std", model.std.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder((x - self.mean) / self.std)


class ClassifierGraph(nn.Module):
    """x (B, 3, 300) g -> logits (B, classes)."""

    def __init__(self, model: FlowFM, head: nn.Module):
        super().__init__()
        self.embed = EncoderGraph(model)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


class VelocityGraph(nn.Module):
    """z_t (B, 3, 300), t (B,), r (B, r_dim) -> v (B, 3, 300), normalised units."""

    def __init__(self, model: FlowFM):
        super().__init__()
        self.net = model.velocity

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return self.net(z_t, t, r)


def evaluation_times(solver: str, steps: int) -> torch.Tensor:
    """The time of every velocity evaluation of ``solver`` over ``steps`` uniform steps, in order: (NFE,)."""
    times = []

    def record(x, t):
        times.append(t.reshape(1))
        return torch.zeros_like(x)

    integrate(record, torch.zeros(1, 1), steps, solver)
    return torch.cat(times)


class FusedSampler(nn.Module):
    """A whole sampler as one graph: a condition from the inputs, one step repeated over per-step tables, then g.

    Subclasses give :meth:`condition` (the inputs after the noise -> condition tensors, each
    (B, D)), :meth:`advance` (one solver step of z (B, 3, 300)) and the per-step tables
    (``self.tables``: names of (K, ...) buffers). ``forward`` runs the K steps in Python, which the
    tracer unrolls; the cpu target's export runs the same step in an ONNX Loop instead
    (export/onnx/sampler_loop.py). ``self.step`` is the step body
    (:meth:`VelocityNet.forward_from_condition`), which INT8 export swaps to quantise it once.
    """

    tables: tuple[str, ...]  # names of the per-step buffers, each (K, ...); ``temb`` is (K, E, D)

    def __init__(self, model):
        super().__init__()
        self.step = VelocityNet.forward_from_condition
        self.register_buffer("mean", model.mean.clone())
        self.register_buffer("std", model.std.clone())

    @property
    def n_steps(self) -> int:
        return len(getattr(self, self.tables[0]))

    @property
    def evaluations(self) -> int:
        """Step calls per solver step: E of the (K, E, D) time-embedding table ``temb``."""
        return self.temb.shape[1]

    def rows(self, k: int) -> dict[str, torch.Tensor]:
        """Every table's row k, each (1, ...)."""
        return {name: getattr(self, name)[k : k + 1] for name in self.tables}

    def forward(self, noise: torch.Tensor, cond_input: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        conds = self.condition(cond_input)
        z = noise  # (B, 3, 300)
        for k in range(self.n_steps):
            z = self.advance(z, self.rows(k), conds, w)
        return z * self.std + self.mean


class SamplerGraph(FusedSampler):
    """noise (B, 3, 300), r (B, r_dim)[, w (B,)] -> x (B, 3, 300) in g: the whole ODE solve.

    Same arithmetic as :meth:`FlowFM.sample` (it calls the same solver step functions over the
    same time grid); the time embedding of each evaluation is a precomputed table. ``cond``
    maps the second input to the condition: ``RepProj(r)`` by default; text samplers pass
    their own (:mod:`.text_sampler`).
    """

    tables = ("h", "temb")

    def __init__(self, model: FlowFM, solver: str, steps: int, guidance: bool = False, cond: nn.Module | None = None):
        super().__init__(model)
        self.net = model.velocity
        self.cond = cond if cond is not None else self.net.rep  # the conditioning input (B, ...) -> (B, D)
        self.solver, self.steps, self.guidance = solver, steps, guidance
        grid = time_grid(steps)
        with torch.no_grad():
            temb = self.net.time(evaluation_times(solver, steps))  # (NFE, D)
        self.register_buffer("h", grid[1:] - grid[:-1])  # (K,)
        self.register_buffer("temb", temb.reshape(steps, SOLVERS[solver][1], -1))  # (K, E, D)

    def condition(self, inp: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The condition of the input, and with guidance the unconditional one (the input at zero), each (B, D)."""
        c = self.cond(inp)
        return (c, self.cond(torch.zeros_like(inp))) if self.guidance else (c,)

    def advance(self, z: torch.Tensor, rows: dict, conds: tuple, w: torch.Tensor | None) -> torch.Tensor:
        """One solver step from z (B, 3, 300); rows h (1,) and temb (1, E, D), one row per evaluation."""
        temb, calls = rows["temb"][0], [0]  # (E, D)

        def velocity(x: torch.Tensor, t) -> torch.Tensor:
            e = temb[calls[0] : calls[0] + 1]  # (1, D): this evaluation's time
            calls[0] += 1
            if not self.guidance:
                return self.step(self.net, x, e + conds[0])
            v = self.step(self.net, torch.cat([x, x]), torch.cat([e + conds[0], e + conds[1]]))
            v_c, v0 = v.chunk(2)  # conditional and unconditional, each (B, 3, 300)
            return guide(v0, v_c, w[:, None, None])

        t = rows["h"].new_zeros(())  # unused: each evaluation's time comes from its temb row
        return SOLVERS[self.solver][0](velocity, z, t, rows["h"])


def build_graph(spec: GraphSpec, model: FlowFM, head: nn.Module | None = None) -> nn.Module:
    """The eval-mode torch module that ``spec`` describes."""
    if spec.graph == "encoder":
        module = EncoderGraph(model)
    elif spec.graph == "classifier":
        if head is None:
            raise ValueError("the classifier graph needs a head; fit one with `flowfm-edge probe RUN --data ...`")
        module = ClassifierGraph(model, head)
    elif spec.graph == "velocity":
        module = VelocityGraph(model)
    else:
        s = spec.sampler
        module = SamplerGraph(model, s["solver"], s["steps"], guidance=s["guidance"] is not None)
    return module.eval()
