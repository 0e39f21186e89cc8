"""Calibration sets for INT8: windows by class and subject, generator tuples along sampler trajectories.

``windows`` and ``readers`` need numpy only; ``trajectories`` runs the PyTorch model.
"""

from .readers import ArrayReader
from .windows import calibration_split, stratified_indices

__all__ = ["ArrayReader", "calibration_split", "stratified_indices"]
