"""The ``flowfm-edge`` command line: the one top layer, above every other package.

:mod:`.main` holds the typer app and lists every command once, grouped by task (``flowfm-edge --help``);
one module per task holds its commands: :mod:`.start` (quickstart, doctor), :mod:`.train`, :mod:`.probe`,
:mod:`.evaluate`, :mod:`.text`, :mod:`.generate`, :mod:`.export`, :mod:`.device` (stream, embed-files,
validate, build-engine), :mod:`.gateway`, :mod:`.bench` and :mod:`.data`; :mod:`.common` is what they share.
A command parses its options, calls one library function and prints; the work itself lives in the
packages below. Loading the command line needs the runtime install only (numpy, onnxruntime: no torch):
training code loads inside the commands that need it. ``python -m flowfm_edge.cli`` (and
``python -m flowfm_edge``) run the same app as ``flowfm-edge``.
"""

from .main import app, main

__all__ = ["app", "main"]
