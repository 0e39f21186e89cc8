"""FlowFM's model kit: encoder, classifier, velocity and fused samplers (one per solver and step count), and a
text run's text samplers with its prompt embeddings in the bundle."""

from __future__ import annotations

from ..bundle.targets import SAMPLER_GRAPHS
from . import text_sampler
from .graphs import GraphSpec, graph_spec
from .inputs import FLOWFM_KIT, GraphKit
from .job import ExportJob, ModelKit
from .options import ExportOptions


class FlowFMKit(ModelKit):
    name = "flowfm"

    def schedules(self, opts: ExportOptions) -> list[tuple[str, int]]:
        return [(s, n) for s in opts.solvers for n in opts.steps]

    def graphs(self, job: ExportJob, names: list[str]) -> list[tuple[GraphSpec, GraphKit]]:
        cfg = job.model.cfg
        specs = [(graph_spec(g, cfg, n_classes=len(job.classes or [])), FLOWFM_KIT)
                 for g in names if g not in SAMPLER_GRAPHS]
        if "sampler" in names:
            guidance = _r_guidance(job)
            specs += [(graph_spec("sampler", cfg, solver=s, steps=n, guidance=guidance), FLOWFM_KIT)
                      for s, n in job.schedules]
        if "text-sampler" in names:  # the sentence embedding is an input; the text model stays on the host
            kit, embedder = text_sampler.kit(job.prompts[1]), job.text["embedder"]
            specs += [(text_sampler.text_sampler_spec(cfg, s, n, job.opts.guidance, embedder), kit)
                      for s, n in job.schedules]
        return specs

    def manifest_section(self, manifest: dict, job: ExportJob) -> dict:
        if job.prompts is not None:
            manifest["text"] = text_sampler.bundle_section(job.bundle, job.config, *job.prompts)
        return manifest


def _r_guidance(job: ExportJob) -> bool:
    """Whether r-conditioned samplers take a guidance weight: not for runs that never saw r = 0."""
    from ..models.layers import check_guidance

    cfg = job.model.cfg
    if not job.opts.guidance or cfg.p_dgs != 0:
        return job.opts.guidance
    if job.text is None:
        check_guidance(cfg, 1.0)  # refuses: no r = 0 velocity to guide against
    job.log("r-conditioned samplers exported without guidance: the run was trained with p_dgs = 0")
    return False  # a text run: --guidance is for its text samplers


FLOWFM = FlowFMKit()
