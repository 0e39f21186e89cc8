"""Readers for the public raw HAR datasets a user downloads (docs/design.md#data-contract), one module per format.

Every reader turns a raw directory into a :class:`~flowfm_edge.data.contract.WindowSet`:
``X`` (N, 3, 300) float32 in g at 30 Hz, ``y`` (N,) integer codes into ``classes``, ``pid``
(N,) subject ids as strings taken from the file names. Windows are cut at the native rate
(10 s, ``hop_s`` apart), then resampled; ``ws.meta`` counts what was dropped (NaN windows,
mixed-label windows under the ``pure`` policy, unlabelled windows, recordings under 10 s).

>>> ws = convert("pamap2", "~/data/PAMAP2_Dataset", hop_s=5.0)  # doctest: +SKIP
>>> ws.X.shape, ws.classes[:3], ws.meta["dropped_nan"]  # doctest: +SKIP
((N, 3, 300), ['lying', 'sitting', 'standing'], 123)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..contract import DataError, WindowSet
from . import adl, capture24, devices, opportunity, pamap2, realworld, sensor_logger, wisdm


@dataclass(frozen=True)
class Format:
    """One raw dataset format: its reader, native rate (Hz), raw units and file pattern."""

    name: str
    read: Callable[..., WindowSet]
    rate_hz: float
    units: str
    pattern: str
    description: str

    @property
    def options(self) -> dict[str, object]:
        """The reader's own keyword options and their defaults (beyond hop_s and label_policy)."""
        params = list(inspect.signature(self.read).parameters.values())[1:]
        return {p.name: p.default for p in params if p.name not in ("hop_s", "label_policy")}


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("capture24", capture24.read, capture24.RATE_HZ, "g", capture24.PATTERNS[0],
           "Capture-24: wrist AX3 in free living, labels via the annotation dictionary"),
    Format("pamap2", pamap2.read, pamap2.RATE_HZ, "m/s^2", pamap2.PATTERNS[0],
           "PAMAP2: hand IMU +-16 g accelerometer, 12 protocol activities (+6 optional)"),
    Format("wisdm", wisdm.read, wisdm.RATE_HZ, "m/s^2", wisdm.PATTERNS[0],
           "WISDM 2019: smartwatch accelerometer, 18 activities, irregular timestamps"),
    Format("realworld", realworld.read, realworld.RATE_HZ, "m/s^2", realworld.PATTERNS[0],
           "RealWorld 2016: zipped per-activity CSVs, forearm by default, 8 activities"),
    Format("opportunity", opportunity.read, opportunity.RATE_HZ, "milli-g", opportunity.PATTERNS[0],
           "Opportunity: right-wrist accelerometer, 4 locomotion classes"),
    Format("adl", adl.read, adl.RATE_HZ, "6-bit codes", adl.PATTERNS[0],
           "ADL/HMP: wrist accelerometer, 14 activities, one file per recording"),
    Format("devices", devices.read, 30.0, "g", devices.PATTERNS[0],
           "wearable device files through actipy ([devices] extra, needs Java): Axivity .cwa/.cwa.gz, ActiGraph "
           ".gt3x, GENEActiv .bin; gravity calibration, non-wear detection, unlabelled"),
    Format("sensor-logger", sensor_logger.read, sensor_logger.RATE_HZ, "m/s^2", sensor_logger.PATTERNS[0],
           "Sensor Logger phone exports (folders or .zip): acceleration with gravity, unlabelled, any rate"),
)}


def convert(format: str, raw_dir, hop_s: float = 5.0, label_policy: str = "pure", **options) -> WindowSet:
    """Read the raw dataset ``format`` from ``raw_dir`` -> WindowSet X (N, 3, 300) float32 in g.

    ``options`` go to the format's reader (see ``FORMATS[format].options``); every reader
    takes ``method`` ("poly" or "linear" resampling).
    """
    if format not in FORMATS:
        raise DataError(f"unknown raw data format {format!r}; choose one of {', '.join(FORMATS)}")
    spec = FORMATS[format]
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        allowed = ", ".join(f"{k}={v!r}" for k, v in spec.options.items())
        raise DataError(f"{format}: unknown option(s) {', '.join(unknown)}; this format takes {allowed}")
    if not hop_s > 0:
        raise DataError(f"{format}: hop_s must be a positive number of seconds, got {hop_s}")
    if label_policy not in ("pure", "majority", "any"):
        raise DataError(f"{format}: unknown label policy {label_policy!r}; choose pure, majority or any")
    if not Path(raw_dir).expanduser().is_dir():
        raise DataError(f"{format}: raw directory {raw_dir} does not exist or is not a directory; "
                        f"download and unpack the dataset (files like {spec.pattern!r}), then pass its folder")
    return spec.read(raw_dir, hop_s=hop_s, label_policy=label_policy, **options)


def convert_to_npz(format: str, raw_dir, out: Path, hop_s: float = 5.0, label_policy: str = "pure",
                   force: bool = False) -> WindowSet:
    """:func:`convert` saved as the .npz ``out``, whole or not at all; an ``out`` that exists is refused unless
    ``force`` (and it is a file)."""
    from ..npz import save_npz

    if out.exists() and not (force and out.is_file()):
        raise ValueError(f"{out}: --out exists; pass another --out, or --force to replace the file")
    ws = convert(format, raw_dir, hop_s=hop_s, label_policy=label_policy)
    tmp = out.with_name(out.name + ".tmp")
    save_npz(tmp, ws)
    tmp.replace(out)  # whole or not at all
    return ws


__all__ = ["FORMATS", "Format", "convert", "convert_to_npz"]
