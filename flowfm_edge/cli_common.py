"""What every command module shares: the consoles, ``cli_errors`` and the ``--data`` option's help.

Imports typer and rich only, so the torch-free gateway commands (``python -m flowfm_edge.runtimes``)
use it too.

>>> @cli_errors
... def command():
...     raise ValueError("what went wrong, and how to fix it")   # one red line on stderr, exit code 1
"""

from __future__ import annotations

import functools

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)

DATA_HELP = ("Data: 'synthetic', 'hapt' (needs the \\[data] extra), 'basicmotions' (a wrist smartwatch; the \\[transfer] "
             "extra), a .npz file, or an SSL-Wearables directory (with --rate); sources joined by '+' "
             "(hapt+synthetic) for pretraining.")


def cli_errors(fn):
    """Turn the errors a user can act on into one red line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except (ValueError, FileNotFoundError, RuntimeError, ImportError, OSError) as exc:
            err_console.print(f"[red]error:[/red] {escape(_message(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _message(exc: BaseException) -> str:
    """One line for ``exc``; a pydantic ValidationError (a typed configuration refusing a value) names its field."""
    if type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):
        from .validation import one_line

        return f"{exc.title}: {one_line(exc)}"
    return " ".join(str(exc).split("\n"))


def load_windows(data: str, split: str = "labelled", rate: float | None = None, verify: str = "quick"):
    """The WindowSet of ``data`` (a source name, .npz file, shard store or SSL-Wearables directory)."""
    from .data import load_source

    return load_source(data, split=split, rate=rate, verify=verify)
