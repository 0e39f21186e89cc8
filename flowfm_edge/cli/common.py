"""What every command module shares: the consoles, ``cli_errors``, the training-install check, the ``--data``
option's help and the writing of a command's output files.

Imports typer and rich only: the runtime install (numpy and onnxruntime, no torch) loads every command
module, runs the device-side commands and answers a training command with one line naming the install
to add (:func:`requires_training`).

>>> @cli_errors
... def command():
...     raise ValueError("what went wrong, and how to fix it")   # one red line on stderr, exit code 1
"""

from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ..doctor import TRAINING_INSTALL, TRAINING_MODULES, missing_training_modules
from ..progress import console

__all__ = ["DATA_HELP", "cli_errors", "console", "err_console", "fail", "requires_training", "write_file"]

err_console = Console(stderr=True)

DATA_HELP = ("Data: 'synthetic', 'hapt' (needs the \\[data] extra), 'basicmotions' (a wrist smartwatch; the \\[transfer] "
             "extra), a .npz file, or an SSL-Wearables directory (with --rate); sources joined by '+' "
             "(hapt+synthetic) for pretraining.")


def fail(message: str) -> None:
    """Print ``message`` as one red line on stderr and exit with code 1."""
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def cli_errors(fn):
    """Turn the errors a user can act on into one red line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except ModuleNotFoundError as exc:  # a training module reached from a command the runtime install runs
            module = (exc.name or "").split(".")[0]
            fail(f"{exc}: {module} comes with the training install: {TRAINING_INSTALL}" if module in TRAINING_MODULES
                 else _message(exc))
        except (ValueError, FileNotFoundError, RuntimeError, ImportError, OSError) as exc:
            fail(_message(exc))

    return wrapper


def requires_training(command: str, fn):
    """``fn`` (a command callback) checking first that the training install is here, and saying which
    install to add when it is not, before the command does anything."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        missing = missing_training_modules()
        if missing:
            fail(f"'{command}' needs the training install ({missing[0]} is not installed): {TRAINING_INSTALL}")
        return fn(*args, **kwargs)

    return wrapper


def _message(exc: BaseException) -> str:
    """One line for ``exc``; a pydantic ValidationError (a typed configuration refusing a value) names its field."""
    if type(exc).__name__ == "ValidationError" and hasattr(exc, "errors"):
        from ..validation import one_line

        return f"{exc.title}: {one_line(exc)}"
    return " ".join(str(exc).split("\n"))


def write_file(path: Path | None, text: str) -> None:
    """Write ``text`` to ``path`` (its folder made first) when an output file was asked for."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
