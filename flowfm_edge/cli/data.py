"""The ``data convert`` and ``data shard`` commands: raw datasets to .npz windows or a shard store."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import cli_errors, console

data_app = typer.Typer(help="Convert raw datasets to windows: .npz files, or a shard store for corpora larger than memory.",
                       no_args_is_help=True)


@cli_errors
def data_convert(
    raw_dir: Path = typer.Argument(..., help="The unpacked raw dataset directory."),
    format: str = typer.Option(..., "--format", help="capture24, pamap2, wisdm, realworld, opportunity, adl, or sensor-logger (phone exports, unlabelled)."),
    out: Path = typer.Option(..., help="Output .npz (X, y, pid, classes)."),
    hop: float = typer.Option(5.0, help="Hop between 10 s windows, in seconds."),
    label_policy: str = typer.Option("pure", help="pure (one label per window), majority, or any."),
    force: bool = typer.Option(False, "--force", help="Replace an --out that exists (refused otherwise)."),
):
    """Cut a raw dataset into 10 s, 30 Hz windows in g and save them as .npz."""
    from ..data.readers import convert_to_npz

    ws = convert_to_npz(format, raw_dir, out, hop_s=hop, label_policy=label_policy, force=force)
    dropped = {k: v for k, v in ws.meta.items() if k.startswith("dropped") or k == "short_recordings"}
    console.print(f"wrote {len(ws)} windows, {len(set(ws.pid.tolist()))} subjects, "
                  f"{'no labels' if ws.y is None else f'{ws.n_classes} classes'} to {out}; dropped: {dropped}")


@cli_errors
def data_shard(
    sources: list[str] = typer.Argument(..., help="Sources: built-in names, .npz files, SSL-Wearables directories, or FORMAT:DIR for a raw dataset (e.g. capture24:~/data/capture24, sensor-logger:~/phones)."),
    out: Path = typer.Option(..., help="Store directory: shards/<participant>.npy and index.json."),
    workers: int = typer.Option(1, min=1, help="Sources converted in parallel (processes)."),
):
    """Write a shard store: one memory-mapped .npy of windows per participant plus an index (sha256 per shard).

    An interrupted conversion continues where it stopped when run again with the same
    arguments. `flowfm-edge train --data STORE` then reads windows through memory maps.
    """
    from ..data.store_write import write_store
    from ..progress import progress_bar

    with progress_bar(len(sources), 0, "shard") as advance:
        index = write_store(list(sources), out, workers=workers, progress=lambda n, total, spec: advance(source=spec))
    console.print(f"wrote {index['windows']} windows of {len(index['participants'])} participants to {out} "
                  f"({len(index['sources'])} sources; index {out}/index.json)", highlight=False)


data_app.command("convert")(data_convert)
data_app.command("shard")(data_shard)
