"""A rich progress bar that shows loss and throughput, and stays silent when disabled."""

from __future__ import annotations

from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def progress_bar(total: int, start: int = 0, label: str = "work", enabled: bool = True):
    """Yield ``advance(**fields)``; each call moves the bar one step and shows ``fields``."""
    if not enabled:
        yield lambda **_: None
        return
    columns = [TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=total, completed=start, info="")

        def advance(**fields) -> None:
            info = " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
            bar.update(task, advance=1, info=info)

        yield advance
