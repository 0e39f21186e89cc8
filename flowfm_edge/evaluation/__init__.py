"""Evaluation: embeddings, probes and metrics."""

from .embed import embed_windows
from .probe import ProbeResult, linear_probe, probe_head, subject_split

__all__ = ["embed_windows", "linear_probe", "probe_head", "subject_split", "ProbeResult"]
