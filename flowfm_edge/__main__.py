"""``python -m flowfm_edge ...``: the ``flowfm-edge`` command line; in the runtime install (no torch) too."""

from .cli.main import main

main()
