"""Calibration sets for INT8: windows by class and subject, generator tuples along sampler trajectories.

``windows`` and ``readers`` need numpy only; ``trajectories`` runs the PyTorch model. The exporter
(:mod:`flowfm_edge.export`) calibrates with them; the hash a manifest records of a calibration set is
:func:`flowfm_edge.data.hashing.array_hash`.
"""

from .readers import ArrayReader
from .windows import calibration_split, stratified_indices

__all__ = ["ArrayReader", "calibration_split", "stratified_indices"]
