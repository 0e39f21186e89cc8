"""``python -m flowfm_edge.runtimes stream BUNDLE ...``: the gateway stream command without torch."""

from .commands import main

main()
