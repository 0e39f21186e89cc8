"""One identity for a participant or a recording, and the file name it gets everywhere.

A participant id is any non-empty string (``P001``, ``siteA/P01``, ``Ærø 7``). Where it names a
file (a shard of the store, an ``embed-files`` output) it becomes :func:`file_key`: a readable
slug of the id plus 12 hex digits of its sha256, so two distinct ids never share a file, not even
on a case-insensitive filesystem or when the slug cuts a long id short.

A recording found under a folder is named by its path relative to that folder without the
recording's extensions (``siteA/P01.cwa.gz`` -> ``siteA/P01``): same-named files in different
folders stay distinct participants. Two recordings that still reduce to one id (``P01.cwa`` and
``P01.cwa.gz`` side by side, a folder and its own ``.zip``) are refused with both paths named by
:func:`refuse_duplicates`, never merged.

>>> file_key("siteA/P01")
'siteA-P01-e9a92550806a'
>>> recording_id(Path("raw/siteA/P01.cwa.gz"), Path("raw"), (".cwa", ".cwa.gz"))
'siteA/P01'
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .contract import DataError

SLUG_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
SLUG_LEN = 48  # keeps a key far below the 255-byte file name limit
HASH_LEN = 12  # hex digits of sha256: 48 bits; a store also refuses any collision it meets


def slug(text: str) -> str:
    """``text`` with runs of unsafe characters turned into ``-``, trimmed to ``SLUG_LEN`` (``_`` when empty)."""
    s = SLUG_CHARS.sub("-", text).strip("-.")[:SLUG_LEN].rstrip("-.")
    return s or "_"


def file_key(text: str) -> str:
    """The one-to-one file name stem of the id ``text``: ``slug-<12 hex of sha256>``."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LEN]
    return f"{slug(text)}-{digest}"


def strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    """``name`` without the longest of ``suffixes`` it ends with (case-insensitive)."""
    for s in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(s.lower()) and len(name) > len(s):
            return name[: -len(s)]
    return name


def recording_id(path: Path, root: Path, suffixes: tuple[str, ...] = ()) -> str:
    """The participant id of the recording at ``path`` under ``root``: its relative POSIX path, extensions cut."""
    rel = Path(path).relative_to(root)
    return (rel.parent / strip_suffix(rel.name, suffixes)).as_posix()


def refuse_duplicates(ids: dict[Path, str], what: str) -> None:
    """Raise a DataError naming both paths when two of ``ids`` (path -> id) give the same id."""
    seen: dict[str, Path] = {}
    for path, pid in ids.items():
        if pid in seen:
            raise DataError(f"{what}: {seen[pid]} and {path} are both participant {pid!r}; rename or remove one "
                            "(same-named recordings are never merged)")
        seen[pid] = path
