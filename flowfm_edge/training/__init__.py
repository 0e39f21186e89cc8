"""Training loops and run directories."""

from .checkpoint import RunError, load_classifier, load_model, read_config, save_head
from .loop import TrainConfig, train

__all__ = ["TrainConfig", "train", "RunError", "load_model", "load_classifier", "read_config", "save_head"]
