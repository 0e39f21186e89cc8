"""What the MQTT gateway accepts from a device: the device id in the topic and the samples in the payload.

Two payload forms, told apart by their first byte (numpy and pydantic only):

- a **JSON batch**: ``{"t": [...], "x": [...], "y": [...], "z": [...]}``, timestamps in seconds,
  one value per axis and sample; an optional ``"u"`` names the unit (``g``, ``m/s^2`` or
  ``m/s2``, ``mg``; without it the stream detects the unit from gravity);
- a **SenML pack** (RFC 8428): a JSON array of records with ``bn``, ``bt``, ``bu``, ``bv``,
  ``n``, ``u``, ``v``, ``t``. A record's name (``bn`` + ``n``) ends in ``x``, ``y`` or ``z``
  (``accX``, ``acc:y``, ``z``...); its time is ``bt + t`` (times below 2**28 are relative to
  now, as the RFC says); records of the same time make one sample, a missing axis is NaN
  (which the stream drops and counts). The acceleration unit RFC 8428 registers is ``m/s2``;
  without a unit the stream detects it. Any other unit (SenML's ``g`` is the gram) and the
  fields RFC 8428 says a reader must understand (names ending in ``_``) refuse the pack.

Everything else is a :class:`PayloadError` whose ``reason`` is one of :data:`REASONS`, the
label the gateway counts it under; NaN and Inf values pass through, for the stream to drop
and count per device.

>>> s = parse_payload(b'{"t": [0, 0.0333], "x": [0, 0], "y": [0, 0], "z": [1, 1]}', now=0.0)
>>> s.t.shape, s.xyz.shape
((2,), (2, 3))
>>> device_from_topic("wearables/wrist-7/acc", "wearables/+/acc")
'wrist-7'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, StrictInt, TypeAdapter, ValidationError

REASONS = ("oversize", "malformed", "wrong_type", "unknown_unit", "bad_device_id")
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
BATCH_UNITS = {"g": 1.0, "m/s^2": 1 / 9.80665, "m/s2": 1 / 9.80665, "mg": 1e-3}
SENML_UNITS = {"m/s2": 1 / 9.80665}  # RFC 8428's registered acceleration unit
RELATIVE_BELOW = 2 ** 28  # SenML: smaller times are seconds relative to now
AXES = "xyz"

Number = float  # strict: JSON numbers only, ints included; no strings, no booleans


class PayloadError(ValueError):
    """A payload or topic the gateway refuses; ``reason`` is the drop label it is counted under."""

    def __init__(self, reason: str, message: str):
        assert reason in REASONS, reason
        super().__init__(message)
        self.reason = reason


@dataclass
class Samples:
    """Parsed samples: ``t`` (n,) seconds, ``xyz`` (n, 3) float64, converted to g when the payload named a unit."""

    t: np.ndarray
    xyz: np.ndarray


class Batch(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    t: list[Number]
    x: list[Number]
    y: list[Number]
    z: list[Number]
    u: Optional[str] = None


class Record(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    bn: Optional[str] = None
    bt: Optional[Number] = None
    bu: Optional[str] = None
    bv: Optional[Number] = None
    bver: Optional[StrictInt] = None
    n: Optional[str] = None
    u: Optional[str] = None
    v: Optional[Number] = None
    t: Optional[Number] = None


PACK = TypeAdapter(list[Record])


def device_from_topic(topic: str, pattern: str) -> str:
    """The device id at the ``+`` of ``pattern`` in ``topic``; refuses an id outside :data:`DEVICE_ID`."""
    level = pattern.split("/").index("+")
    parts = topic.split("/")
    device = parts[level] if level < len(parts) else ""
    if not DEVICE_ID.fullmatch(device):
        shown = device[:40].encode("unicode_escape").decode("ascii")
        raise PayloadError("bad_device_id", f"topic device id {shown!r} is not 1-64 characters of letters, digits "
                                            "and . _ : - starting with a letter or digit")
    return device


def _validation(exc: ValidationError, what: str) -> PayloadError:
    err = exc.errors()[0]
    reason = "malformed" if err["type"] == "json_invalid" else "wrong_type"
    loc = [f"record {p}" if isinstance(p, int) and i == 0 and what.startswith("SenML") else str(p)
           for i, p in enumerate(err["loc"])]
    return PayloadError(reason, f"{what}: {'.'.join(loc) + ': ' if loc else ''}{err['msg']}")


def parse_payload(payload: bytes, max_bytes: int = 1 << 16, now: float = 0.0) -> Samples:
    """A JSON batch or SenML pack -> :class:`Samples`; raises :class:`PayloadError` (see the module docstring)."""
    if len(payload) > max_bytes:
        raise PayloadError("oversize", f"payload of {len(payload):,} bytes, over the limit of {max_bytes:,}")
    head = payload.lstrip()[:1]
    if head == b"{":
        return _batch(payload)
    if head == b"[":
        return _senml(payload, now)
    raise PayloadError("malformed", "payload is neither a JSON batch ({...}) nor a SenML pack ([...])")


def _batch(payload: bytes) -> Samples:
    try:
        b = Batch.model_validate_json(payload)
    except ValidationError as exc:
        raise _validation(exc, "JSON batch") from None
    n = len(b.t)
    if not (len(b.x) == len(b.y) == len(b.z) == n):
        raise PayloadError("wrong_type", f"JSON batch: t, x, y, z hold {n}, {len(b.x)}, {len(b.y)}, {len(b.z)} "
                                         "values; expected one per sample in each")
    factor = 1.0
    if b.u is not None:
        if b.u not in BATCH_UNITS:
            raise PayloadError("unknown_unit", f"JSON batch: unit {b.u[:20]!r}; use one of {', '.join(BATCH_UNITS)}, "
                                               "or leave u out for the stream to detect it")
        factor = BATCH_UNITS[b.u]
    xyz = np.array([b.x, b.y, b.z], np.float64).T.reshape(n, 3)
    return Samples(np.array(b.t, np.float64), xyz * factor if factor != 1.0 else xyz)


def _senml(payload: bytes, now: float) -> Samples:
    try:
        records = PACK.validate_json(payload)
    except ValidationError as exc:
        raise _validation(exc, "SenML pack") from None
    bn, bt, bu, bv = "", 0.0, None, 0.0
    times, axes, values = [], [], []
    for i, r in enumerate(records):
        must = [k for k in (r.model_extra or {}) if k.endswith("_")]
        if must:
            raise PayloadError("wrong_type", f"SenML record {i}: field {must[0][:20]!r} must be understood "
                                             "(RFC 8428) and is not supported")
        if r.bn is not None:
            bn = r.bn
        bt = bt if r.bt is None else float(r.bt)
        bu = bu if r.bu is None else r.bu
        bv = bv if r.bv is None else float(r.bv)
        name = bn + (r.n or "")
        if not name or name[-1].lower() not in AXES:
            raise PayloadError("wrong_type", f"SenML record {i}: name {name[-40:]!r} does not end in x, y or z")
        if r.v is None:
            raise PayloadError("wrong_type", f"SenML record {i}: no numeric value v (vs, vb and vd are not samples)")
        unit = r.u if r.u is not None else bu
        factor = 1.0
        if unit is not None:
            if unit not in SENML_UNITS:
                raise PayloadError("unknown_unit", f"SenML record {i}: unit {unit[:20]!r} is not an acceleration unit "
                                                   "(RFC 8428 registers m/s2); send m/s2, or leave u out for the "
                                                   "stream to detect g, m/s^2 or mg")
            factor = SENML_UNITS[unit]
        t = bt + (float(r.t) if r.t is not None else 0.0)
        times.append(now + t if t < RELATIVE_BELOW else t)
        axes.append(AXES.index(name[-1].lower()))
        values.append((bv + float(r.v)) * factor)
    return _samples(np.array(times, np.float64), np.array(axes, np.int64), np.array(values, np.float64))


def _samples(times: np.ndarray, axes: np.ndarray, values: np.ndarray) -> Samples:
    """Records (time, axis, value) -> one sample per distinct time, axes in place (NaN where a record is missing)."""
    t, row = np.unique(times, return_inverse=True)
    if len(t) and np.bincount(row * 3 + axes).max() > 1:
        raise PayloadError("wrong_type", "SenML pack: two records for the same axis at the same time")
    xyz = np.full((len(t), 3), np.nan)
    xyz[row, axes] = values
    return Samples(t, xyz)
