"""``python -m flowfm_edge.cli ...``: the ``flowfm-edge`` command line (torchrun takes this form for DDP)."""

from .main import main

main()
