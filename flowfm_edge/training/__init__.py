"""One training loop and the run directory it writes.

:func:`train` trains FlowFM, its diffusion twin and the MTL baseline, and (given a loss and a
parameter filter) fine-tunes text runs: one EMA, one metrics log, resumable bit-exactly
(:mod:`.batches`). :mod:`.precision` chooses autocast, the GradScaler for fp16 and the
attention kernel; :mod:`.optim` the parameter groups; :mod:`.checkpoint` reads and writes runs.
"""

from .checkpoint import RunError, load_classifier, load_model, read_config, save_head
from .loop import TrainConfig, train

__all__ = ["TrainConfig", "train", "RunError", "load_model", "load_classifier", "read_config", "save_head"]
