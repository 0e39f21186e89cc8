"""The ``flowfm-edge`` typer app: every command registered once, from :data:`COMMANDS`, under its task's panel.

Every command turns errors into one red line and exit 1. Loading this module needs the runtime install only
(numpy, onnxruntime: no torch); :data:`TRAINING_COMMANDS` need the training install and say so in one line
where it is missing.
"""

from __future__ import annotations

import typer

from . import bench, data, device, evaluate, export, gateway, generate, probe, start, text, train
from .common import requires_training

app = typer.Typer(
    help="Train FlowFM on wearable accelerometer windows and take it to edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (help panel, command name, command or command group), in the order --help lists them: by task, first to last
COMMANDS = (
    ("Start", "quickstart", start.quickstart),
    ("Start", "doctor", start.doctor),
    ("Train", "train", train.train),
    ("Train", "fit-prior", train.fit_prior),
    ("Train", "train-text", text.train_text),
    ("Evaluate", "probe", probe.probe),
    ("Evaluate", "embed", probe.embed),
    ("Evaluate", "evaluate", evaluate.evaluate),
    ("Evaluate", "train-feature-net", evaluate.train_feature_net_cmd),
    ("Evaluate", "quality", evaluate.quality),
    ("Evaluate", "text-eval", text.text_eval_cmd),
    ("Generate", "generate", generate.generate),
    ("Export", "export", export.export),
    ("Export", "sign", export.sign),
    ("Run on devices", "validate", device.validate),
    ("Run on devices", "stream", device.stream),
    ("Run on devices", "gateway", gateway.gateway),
    ("Run on devices", "embed-files", device.embed_files_command),
    ("Run on devices", "build-engine", device.build_engine),
    ("Benchmark", "bench", bench.bench_app),
    ("Data", "data", data.data_app),
)

# The commands that need the training install (torch, scipy, scikit-learn, matplotlib: the [train] extra). The
# runtime install lists every command and runs the others; these fail there at once, in one line naming the
# install to add. A command that reaches a training module another way says so too (common.cli_errors).
TRAINING_COMMANDS = frozenset({
    "train", "generate", "embed", "probe", "quickstart", "fit-prior", "export", "evaluate", "train-feature-net",
    "quality", "train-text", "text-eval", "data convert", "data shard", "bench compare",
})


def commands(app: typer.Typer, prefix: str = ""):
    """(name as typed, typer's CommandInfo) of every command registered on ``app``, groups included."""
    for info in app.registered_commands:
        yield prefix + (info.name or info.callback.__name__.lower().replace("_", "-")), info  # typer's default name
    for group in app.registered_groups:
        yield from commands(group.typer_instance, f"{prefix}{group.name} ")


for _panel, _name, _command in COMMANDS:
    if isinstance(_command, typer.Typer):
        app.add_typer(_command, name=_name, rich_help_panel=_panel)
    else:
        app.command(_name, rich_help_panel=_panel)(_command)
for _name, _info in commands(app):
    if _name in TRAINING_COMMANDS:
        _info.callback = requires_training(_name, _info.callback)


def main(argv: list[str] | None = None) -> None:
    """Run the command line on ``argv`` (default: the process's arguments)."""
    app(argv)


if __name__ == "__main__":
    main()
