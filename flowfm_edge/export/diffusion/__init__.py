"""Exporting the diffusion twin: its graph list, graph kit (inputs, PyTorch reference, modules) and manifest entries.

``export_bundle`` exports a run whose objective is ``diffusion`` with :data:`TWIN`, its model
kit, through the cpu target's ONNX path (:mod:`..onnx`), each graph with :data:`KIT`; ONNX
export, INT8, validation gates, golden files and the bundle itself are the FlowFM path's.

- ``--graphs velocity`` exports the ``denoiser`` step, ``sampler`` one fused DDIM sampler per
  ``--steps`` value (``--solver`` does not apply);
- the denoiser's INT8 calibration tuples ``(z_t, t, r)`` follow real sampler trajectories at
  every step of every exported DDIM schedule and of DDPM-1000 (docs/design.md#int8-calibration);
- the manifest lists DDPM-1000 as a sampler with ``"loop": "denoiser"``: runtimes run it as a
  per-step loop over the denoiser graph, with the schedule's ``alpha_bar`` from the manifest.
"""

from __future__ import annotations

import numpy as np
import torch

from ...calibration.trajectories import generator_conditions, noise_like
from ...models.diffusion import DiffusionTwin, sample_loop
from .. import inputs as flow_inputs
from ..inputs import GraphKit
from ..job import ModelKit
from .graphs import DDPM_STEPS, build_graph, graph_spec

DDIM_CALIB_WINDOWS = 4  # windows whose DDIM trajectories calibrate the denoiser, per exported schedule
DDPM_CALIB_WINDOWS = 2  # windows whose 1000-step DDPM trajectories calibrate it too
# Seed offsets ``seed + k``: one fixed k per draw, as in :mod:`..inputs` (independent, reproducible streams).


@torch.no_grad()
def denoiser_tuples(model: DiffusionTwin, r: np.ndarray, noise: np.ndarray, steps: int, sampler: str,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of every denoiser call of a sampler run: {z_t (M, 3, 300), t (M,), r (M, r_dim)}, M = N x steps."""
    rt = torch.from_numpy(r)
    zs, ts = [], []

    def eps(z: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        t = step.float() / model.T
        zs.append(z.clone())
        ts.append(t)
        return model.denoiser(z, t, rt)

    sample_loop(eps, torch.from_numpy(noise), model.alpha_bar, steps, sampler,
                generator=torch.Generator().manual_seed(seed))
    return {"z_t": torch.cat(zs).numpy(), "t": torch.cat(ts).numpy().astype(np.float32),
            "r": np.concatenate([r] * len(zs)).astype(np.float32)}


def _cat(parts: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]).astype(np.float32) for k in ("z_t", "t", "r")}


def feeds(spec, model: DiffusionTwin, w, schedules, seed: int = 0):
    """(calibration feeds, check feeds, real rows at the top of the check, labels), as :func:`.inputs.feeds`."""
    if spec.graph != "denoiser":
        return flow_inputs.feeds(spec, model, w, schedules, seed)  # encoder, classifier, fused sampler: same inputs
    ddim_steps = sorted({n for _, n in schedules})
    parts = []
    for i, k in enumerate(ddim_steps):
        Xc = flow_inputs.real_windows(w, "calib", model, DDIM_CALIB_WINDOWS, seed + i)
        r = generator_conditions(model, Xc, seed=seed + i)
        parts.append(denoiser_tuples(model, r, noise_like(len(r), model, seed + 100 + i), k, "ddim"))
    Xd = flow_inputs.real_windows(w, "calib", model, DDPM_CALIB_WINDOWS, seed + 60)
    rd = generator_conditions(model, Xd, seed=seed + 61, p_uncond=0.5)
    parts.append(denoiser_tuples(model, rd, noise_like(len(rd), model, seed + 62), DDPM_STEPS, "ddpm", seed))
    calib = _cat(parts)
    Xv = flow_inputs.real_windows(w, "val", model, 4, seed + 1)
    real = denoiser_tuples(model, generator_conditions(model, Xv, seed=seed + 50),
                           noise_like(len(Xv), model, seed + 200), ddim_steps[0], "ddim")
    n_rand = flow_inputs.N_RANDOM
    rnd = flow_inputs.random_windows(model, n_rand, seed + 7)
    rand = {"z_t": noise_like(n_rand, model, seed + 300),
            "t": np.random.default_rng(seed + 9).integers(0, model.T, n_rand).astype(np.float32) / model.T,
            "r": generator_conditions(model, rnd, seed=seed + 51, p_uncond=0.0)}
    check = _cat([real, rand])
    return calib, check, len(real["t"]) if w.val is not None else 0, None


@torch.no_grad()
def reference(spec, model: DiffusionTwin, head, feeds: dict[str, np.ndarray], batch: int = 64) -> np.ndarray:
    """The PyTorch model's own output for ``feeds``: ``DiffusionTwin.sample`` for a fused DDIM sampler."""
    if spec.graph in ("encoder", "classifier"):
        return flow_inputs.reference(spec, model, head, feeds, batch)
    n = len(next(iter(feeds.values())))
    outs = []
    for i in range(0, n, batch):
        f = {k: torch.from_numpy(np.ascontiguousarray(v[i : i + batch])) for k, v in feeds.items()}
        if spec.graph == "denoiser":
            y = model.denoiser(f["z_t"], f["t"], f["r"])
        else:
            y = model.sample(f["r"], steps=spec.sampler["steps"], sampler="ddim", noise=f["noise"])
        outs.append(y.float().numpy())
    return np.concatenate(outs)


class TwinKit(ModelKit):
    """The diffusion twin's model kit: the FlowFM encoder and classifier, the denoiser step and fused DDIM samplers,
    on the cpu target; DDPM-1000 listed as a loop over the denoiser."""

    name = "diffusion"

    def check(self, target, opts) -> None:
        if target.name != "cpu":
            raise ValueError(f"target {target.name!r}: the diffusion twin exports to the cpu target only "
                             "(ONNX for onnxruntime); use --target cpu")
        if opts.guidance:
            raise ValueError("--guidance: fused DDIM samplers of the diffusion twin take no guidance weight; "
                             "leave --guidance out")

    def schedules(self, opts) -> list[tuple[str, int]]:
        return [("ddim", k) for k in opts.steps]

    def graphs(self, job, names: list[str]) -> list[tuple]:
        """One spec per graph; ``sampler`` gives one fused DDIM sampler per ``--steps`` value."""
        cfg, n_classes = job.model.cfg, len(job.classes or [])
        specs = [graph_spec(g, cfg, n_classes) for g in names if g != "sampler"]
        if "sampler" in names:
            specs += [graph_spec("sampler", cfg, steps=k) for k in dict.fromkeys(job.opts.steps)]
        return [(spec, KIT) for spec in specs]

    def manifest_section(self, manifest: dict, job) -> dict:
        """Name the model, and list DDPM-1000 as a sampler that runtimes loop over the denoiser graph."""
        manifest["model"]["name"] = "flowfm-diffusion-twin"
        for s in manifest["samplers"]:
            s["sampler"] = "ddim"
        if "denoiser" in manifest["graphs"]:
            manifest["samplers"].append({
                "name": f"sampler-ddpm-{DDPM_STEPS}", "solver": "ddpm", "sampler": "ddpm", "steps": DDPM_STEPS,
                "nfe": DDPM_STEPS, "loop": "denoiser", "guidance": None, "schedule": job.model.cfg.schedule,
                "timesteps": f"every timestep, {DDPM_STEPS - 1} down to 0",
                "alpha_bar": [float(a) for a in job.model.alpha_bar.double()],
                "note": "not a fused graph: the runtime runs the denoiser graph once per step (ancestral DDPM, "
                        "step noise from the seed)"})
        return manifest


KIT = GraphKit(feeds, reference, build_graph)
TWIN = TwinKit()
