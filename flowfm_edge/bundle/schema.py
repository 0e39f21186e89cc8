"""The typed, versioned schema of ``manifest.json``: every field a runtime reads, checked once.

:func:`parse_manifest` is the only way a manifest is read (``manifest.read_manifest`` calls
it): a missing or malformed field becomes a :class:`BundleError`
that names the field (``artefacts[2].file.sha256``), so no reader meets a KeyError later.
Sections carry more fields than listed here (export reports, environment); those are kept
as written. File paths must be relative POSIX paths inside the bundle; where they lead on
disk is checked against the bundle itself by ``manifest.bundle_path``.

>>> parse_manifest({"schema_version": 1}, "b/manifest.json")   # doctest: +ELLIPSIS
Traceback (most recent call last):
...
flowfm_edge.bundle.schema.BundleError: b/manifest.json: field 'model' is missing; ...
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..validation import field_name, short as _short

SCHEMA_VERSION = 1


class BundleError(ValueError):
    """A bundle is missing, malformed, tampered with, or lacks what was asked of it."""


SHA256 = r"^[0-9a-f]{64}$"
MAX_TOLERANCE = 1.0  # a relative L2 tolerance of 1 already accepts any output of the right scale


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False, protected_namespaces=())


class FileEntry(_Section):
    path: str
    sha256: str = Field(pattern=SHA256)
    bytes: Optional[int] = Field(default=None, ge=0)

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        return relative_path(v)


def relative_path(v: str) -> str:
    """``v`` if it is a plain relative POSIX path with no ``..``; raises ValueError otherwise."""
    if not v or "\x00" in v or "\\" in v:
        raise ValueError(f"{v!r} is not a plain relative path")
    p = PurePosixPath(v)
    if p.is_absolute() or v.startswith("/"):
        raise ValueError(f"{v!r} is absolute; bundle paths are relative to the bundle")
    if ".." in p.parts:
        raise ValueError(f"{v!r} climbs out with '..'; bundle paths stay inside the bundle")
    return v


class Signal(_Section):
    sample_rate_hz: float = Field(gt=0)
    window: int = Field(gt=0)
    channels: list[str] = Field(min_length=1)
    units: str


class ModelConfigSection(_Section):
    r_dim: int = Field(gt=0)


class ModelSection(_Section):
    config: ModelConfigSection


class Tensor(_Section):
    name: str
    shape: list


class Graph(_Section):
    graph: str
    inputs: list[Tensor] = []
    outputs: list[Tensor] = []


class Sampler(_Section):
    name: str
    solver: str
    steps: int = Field(gt=0)
    guidance: Optional[str] = None  # how a guidance weight input w enters, e.g. "input w: v0 + w (v_r - v0)"
    condition: Literal["r", "text"] = "r"


class GoldenCheck(_Section):
    against: str
    metric: str
    tolerance: float = Field(ge=0, le=MAX_TOLERANCE)

    @field_validator("tolerance")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be finite")
        return v


class Artefact(_Section):
    name: str
    precision: str
    format: str
    file: FileEntry
    golden_check: Optional[GoldenCheck] = None


class Engine(_Section):
    """A TensorRT plan built on the device (``build-engine``)."""

    name: str
    precision: str
    file: FileEntry
    golden_check: Optional[GoldenCheck] = None


class Golden(_Section):
    inputs: list[str]
    output: str
    files: dict[str, FileEntry]


class TorchSection(_Section):
    path: str = "torch"
    files: list[FileEntry] = []

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        return relative_path(v)


class PriorSection(_Section):
    file: FileEntry
    golden: Golden


class TextEmbeddings(_Section):
    file: FileEntry
    texts: list[str]


class TextSection(_Section):
    embeddings: TextEmbeddings
    text_dim: int = Field(gt=0)


class Manifest(_Section):
    schema_version: int
    model: ModelSection
    signal: Signal
    graphs: dict[str, Graph]
    artefacts: list[Artefact]
    classes: Optional[list[str]] = None
    samplers: list[Sampler] = []
    engines: list[Engine] = []
    golden: dict[str, Golden] = {}
    torch: Optional[TorchSection] = None
    prior: Optional[PriorSection] = None
    text: Optional[TextSection] = None

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"is {v}, this flowfm-edge reads version {SCHEMA_VERSION}; re-export the bundle with it")
        return v


def parse_manifest(data: object, where: str) -> Manifest:
    """The typed manifest of ``data`` (parsed JSON); a BundleError naming the first bad field otherwise."""
    if not isinstance(data, dict):
        raise BundleError(f"{where}: the manifest is a JSON {type(data).__name__}, not an object; re-export the bundle")
    if "schema_version" not in data:
        raise BundleError(f"{where}: field 'schema_version' is missing; re-export the bundle")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = field_name(first["loc"])
        if first["type"] == "missing":
            problem = "is missing"
        else:
            problem = f"is malformed ({first['msg']}, got {_short(first.get('input'))})"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise BundleError(f"{where}: field '{name}' {problem}{more}; re-export the bundle") from None
