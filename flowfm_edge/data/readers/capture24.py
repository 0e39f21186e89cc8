"""Capture-24 (Oxford, wrist Axivity AX3, free living): ``P001.csv.gz`` ... -> WindowSet.

Each file holds columns ``time,x,y,z,annotation`` at 100 Hz, acceleration in g, rows taken
as consecutive samples (the time column is not read). Free-text annotations map to class
names through ``annotation-label-dictionary.csv``, whose column ``annotation`` holds the
annotation and one column per label scheme (``label:Walmsley2020``, ``label:Willetts2018``,
...). Rows without annotation are unlabelled; an annotation missing from the dictionary
is an error, never a silent drop. A file is parsed in C (``numpy.loadtxt``); annotations
become integer codes as they are read, so no file's strings are kept in memory.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np

from ..contract import DataError, WindowSet
from ._common import Collector, find_files, raw_root

RATE_HZ = 100.0
PATTERNS = ("**/P[0-9]*.csv.gz",)
DICTIONARY = "annotation-label-dictionary.csv"
COLUMNS = ("time", "x", "y", "z", "annotation")


def read(raw_dir, hop_s: float = 5.0, label_policy: str = "pure", method: str = "poly",
         scheme: str = "label:Walmsley2020", dictionary: str | Path | None = None) -> WindowSet:
    """Read Capture-24 from ``raw_dir`` -> WindowSet X (N, 3, 300) float32 in g, y codes, pid ``"P001"``.

    ``scheme``: the dictionary column naming the classes (``"Walmsley2020"`` means
    ``"label:Walmsley2020"``). ``dictionary``: its path, by default found under ``raw_dir``.
    """
    root = raw_root(raw_dir, "capture24")
    files = find_files(root, PATTERNS, "capture24")
    label_of, classes = load_dictionary(_dictionary_path(root, dictionary), scheme)
    out = Collector("capture24", root, classes, RATE_HZ, hop_s, label_policy, method)
    out.meta["scheme"] = scheme if scheme.startswith("label:") else f"label:{scheme}"
    for path in files:
        out.meta["files"] += 1
        acc, labels = _load(path, label_of, classes)
        out.add(acc, labels, path.name.split(".")[0], str(path))
    return out.finish()


def load_dictionary(path: Path, scheme: str) -> tuple[dict[str, str], list[str]]:
    """Annotation -> class name under ``scheme`` ("" when the scheme leaves it out), and the sorted class names."""
    column = scheme if scheme.startswith("label:") else f"label:{scheme}"
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        if "annotation" not in fields or column not in fields:
            schemes = [c for c in fields if c.startswith("label:")]
            raise DataError(f"capture24: {path}: no column {column!r} (need 'annotation' and a scheme); "
                            f"schemes there: {', '.join(schemes) or 'none'}")
        label_of = {row["annotation"]: row[column] for row in reader}  # "" = no class under this scheme
    return label_of, sorted(set(label_of.values()) - {""})


def _dictionary_path(root: Path, dictionary) -> Path:
    if dictionary is not None:
        path = Path(dictionary).expanduser()
        if not path.is_file():
            raise DataError(f"capture24: annotation dictionary {path} does not exist")
        return path
    found = sorted(root.glob(f"**/{DICTIONARY}"))
    if not found:
        raise DataError(f"capture24: no {DICTIONARY} under {root}; it ships with Capture-24, "
                        "or pass dictionary=PATH")
    return found[0]


def _load(path: Path, label_of: dict[str, str], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Acceleration (T, 3) in g and label codes (T,) (-1 = unannotated) of one participant file."""
    code_of = {name: i for i, name in enumerate(classes)} | {"": -1}
    codes: dict[str, int] = {"": -1}

    def annotation_code(text: str) -> int:
        code = codes.get(text)
        if code is None:
            if text not in label_of:
                raise DataError(f"capture24: {path}: annotation {text!r} is not in the dictionary; "
                                "use the dictionary that ships with this copy of Capture-24")
            code = codes[text] = code_of[label_of[text]]
        return code

    header = _header(path)
    if header != list(COLUMNS):
        raise DataError(f"capture24: {path}: columns {header}; expected {','.join(COLUMNS)}")
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4), quotechar='"',
                          converters={4: annotation_code}, dtype=np.float64, ndmin=2)  # (T, 4)
    except DataError:
        raise
    except ValueError as e:
        raise DataError(f"capture24: {path}: cannot parse rows as time,x,y,z,annotation ({e})") from None
    return data[:, :3], data[:, 3].astype(np.int64)


def _header(path: Path) -> list[str]:
    """Column names on the first line of a gzipped CSV."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [h.strip() for h in f.readline().split(",")]
