"""Data layer: windows ``X`` (N, 3, 300) float32 in g at 30 Hz, labels, subjects (docs/design.md#data-contract).

Sources: ``synthetic`` (:mod:`.synthetic`), ``hapt`` (:mod:`.hapt`), ``basicmotions``
(:mod:`.basicmotions`), ``.npz`` window files and SSL-Wearables directories (:mod:`.npz`) and shard
stores, all resolved by :func:`load_source` (:mod:`.sources`). Raw datasets and device files are cut
into windows by :mod:`.readers`. A shard store is read by :mod:`.store` and written by
:mod:`.store_write`, both through its typed index (:mod:`.store_index`). :mod:`.hashing` holds the
hashes runs and bundles record of their windows. The ground floor of the package: it imports none of
the others but the small helpers beside it (``validation``).
"""

from .contract import (CHANNELS, RATE_HZ, UNITS, WINDOW_LEN, WINDOW_S, DataError, WindowSet, drop_nonfinite,
                       validate_windows)
from .hapt import HAPT_CLASSES, load_hapt
from .npz import load_npz, load_ssl_dir, save_npz
from .resample import resample_windows
from .sources import SOURCES, load_source, subject_split
from .synthetic import ACTIVITIES, make_synthetic
from .windowing import window_stream

__all__ = [
    "ACTIVITIES",
    "CHANNELS",
    "DataError",
    "HAPT_CLASSES",
    "RATE_HZ",
    "SOURCES",
    "UNITS",
    "WINDOW_LEN",
    "WINDOW_S",
    "WindowSet",
    "drop_nonfinite",
    "load_hapt",
    "load_npz",
    "load_source",
    "load_ssl_dir",
    "make_synthetic",
    "resample_windows",
    "save_npz",
    "subject_split",
    "validate_windows",
    "window_stream",
]
