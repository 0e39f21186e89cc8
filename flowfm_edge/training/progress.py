"""The training loop's progress bar: :func:`flowfm_edge.progress.progress_bar` (a rich bar on a terminal, plain
lines in a log). It lives outside this package so the torch-free runtime commands share it."""

from __future__ import annotations

from ..progress import progress_bar

__all__ = ["progress_bar"]
