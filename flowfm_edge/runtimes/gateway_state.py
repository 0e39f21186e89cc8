"""What the MQTT gateway keeps across restarts: the state file a graceful stop writes, and the run marker.

**State file** (``[state] path``): at SIGTERM the gateway saves every device's stream (its
reorder buffer, unit probe, filter tail and the samples of its windows in progress, see
:mod:`.stream_device`) and the events the broker had not yet acknowledged; the next start
reads it back, so those windows complete as if nothing had stopped, with the same window
numbers. It is one ``.npz`` (numpy arrays, ``allow_pickle=False``) holding a JSON tree that
names only the classes in :data:`CLASSES`: loading it never runs code. It is written to a
temporary file, fsynced and renamed over the old one, so a crash mid-write leaves the
previous file whole.

**Run marker** (``<path>.run``): written at start and every ``heartbeat_s`` while running,
removed after a graceful stop. Finding it at start means the last run was killed (kill -9,
a crash, power loss); what it recorded last bounds the windows that run lost: those in
progress on each device, those queued for inference and the events not yet acknowledged.

>>> save_state("gw.state", {"wrist-7": stream}, outbox=[], config=cfg)      # doctest: +SKIP
>>> saved = load_state("gw.state", cfg)                                     # doctest: +SKIP
>>> saved.devices["wrist-7"].window_index                                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..files import fsync
from .resample import Resampler
from .stream import StreamConfig
from .stream_device import DeviceStream
from .stream_stats import DeviceStats
from .stream_windows import WINDOW_LEN, Windower

VERSION = 1
CLASSES = {c.__name__: c for c in (DeviceStream, Resampler, Windower, DeviceStats)}
# the settings a saved device stream depends on; another value makes its buffers meaningless
SHAPING = ("hop_s", "gap_s", "gap_policy", "max_pad_s", "reorder_s", "hole_wait_s", "dup_tol_s", "units", "probe")


class StateError(ValueError):
    """A state file that cannot be read back (truncated, foreign, from another format version)."""


@dataclass
class SavedState:
    devices: dict[str, DeviceStream] = field(default_factory=dict)
    outbox: list[tuple[str, str]] = field(default_factory=list)  # (topic, payload) the broker had not acknowledged
    info: dict = field(default_factory=dict)  # saved time, pid, windows in progress, bundle
    dropped_devices: int = 0  # devices not restored: saved with other stream settings
    dropped_windows: int = 0  # their windows in progress


def write_atomic(path: Path, write) -> None:
    """``write(file)`` into a temporary sibling of ``path``, fsync, rename over ``path``, fsync the directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync(path.parent)


def in_progress(stream: DeviceStream) -> int:
    """Windows of ``stream`` that have samples but are not cut yet: what losing its buffers would lose."""
    w = stream.windower
    held = len(stream.pending_t) + sum(len(p) for p in stream._probe_t)
    if w is None:
        return 1 if held else 0
    end = w.buf_k0 + len(w.buf)  # grid samples held up to here
    n = (end - w.next_start - 1) // w.hop + 1 if end > w.next_start else 0
    return max(n, 1 if held else 0)


def windows_per_device(cfg: StreamConfig) -> int:
    """At most this many windows of one device are in progress at a time (10 s windows every ``hop_s``)."""
    return -(-WINDOW_LEN // round(cfg.hop_s * 30))


# ---- encoding: a JSON tree of plain values and array references --------------------------------
def _encode(obj, arrays: dict):
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if type(obj).__name__ in CLASSES and type(obj) is CLASSES[type(obj).__name__]:
        return {"__object__": type(obj).__name__,
                "fields": {k: _encode(v, arrays) for k, v in vars(obj).items() if k != "cfg"}}
    raise TypeError(f"cannot save a {type(obj).__name__} in the gateway state")


def _decode(node, arrays, cfg: StreamConfig):
    if isinstance(node, list):
        return [_decode(v, arrays, cfg) for v in node]
    if not isinstance(node, dict):
        return node
    if "__array__" in node:
        return arrays[node["__array__"]]
    if "__tuple__" in node:
        return tuple(_decode(v, arrays, cfg) for v in node["__tuple__"])
    cls = CLASSES.get(node.get("__object__"))
    if cls is None or not isinstance(node.get("fields"), dict):
        raise StateError(f"unknown entry {str(node)[:80]!r}")
    obj = cls.__new__(cls)
    for k, v in node["fields"].items():
        setattr(obj, k, _decode(v, arrays, cfg))
    if cls is DeviceStream:
        obj.cfg = cfg
    return obj


def save_state(path: str | Path, devices: dict[str, DeviceStream], outbox: list[tuple[str, str]],
               config: StreamConfig, bundle: dict | None = None) -> dict:
    """Write the devices' streams and the unacknowledged events to ``path`` atomically; returns the summary saved."""
    arrays: dict[str, np.ndarray] = {}
    info = {"saved": time.time(), "pid": os.getpid(), "devices": len(devices), "outbox": len(outbox),
            "windows_in_progress": sum(in_progress(s) for s in devices.values()), "bundle": bundle or {}}
    tree = {"version": VERSION, "info": info, "stream": asdict(config),
            "devices": {d: _encode(s, arrays) for d, s in devices.items()}, "outbox": [list(e) for e in outbox]}
    blob = np.frombuffer(json.dumps(tree, separators=(",", ":")).encode(), np.uint8)
    write_atomic(Path(path), lambda f: np.savez(f, __tree__=blob, **arrays))
    return info


def load_state(path: str | Path, config: StreamConfig) -> SavedState:
    """The state saved at ``path`` for a gateway running with ``config``; raises :class:`StateError` if unreadable."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        tree = json.loads(arrays.pop("__tree__").tobytes().decode())
        if not isinstance(tree, dict) or tree.get("version") != VERSION:
            raise StateError(f"format version {tree.get('version') if isinstance(tree, dict) else '?'}, "
                             f"this gateway reads {VERSION}")
        saved = SavedState(info=dict(tree["info"]), outbox=[(str(t), str(p)) for t, p in tree["outbox"]])
        same = all(tree["stream"].get(k) == getattr(config, k) for k in SHAPING)
        for device, node in tree["devices"].items():
            stream = _decode(node, arrays, config)
            if not isinstance(stream, DeviceStream):
                raise StateError(f"device {device[:40]!r} is not a device stream")
            if same:
                saved.devices[str(device)] = stream
            else:
                saved.dropped_devices += 1
                saved.dropped_windows += in_progress(stream)
        return saved
    except StateError as exc:
        raise StateError(f"{path}: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as exc:
        raise StateError(f"{path}: not a gateway state file ({type(exc).__name__}: {str(exc)[:200]})") from None


# ---- the run marker ----------------------------------------------------------------------------
def marker_path(state: str | Path) -> Path:
    state = Path(state)
    return state.with_name(state.name + ".run")


def write_marker(state: str | Path, **figures) -> None:
    """Record that this process runs, with the figures a kill now would lose (heartbeat)."""
    body = json.dumps({"pid": os.getpid(), "heartbeat": time.time(), **figures}).encode()
    write_atomic(marker_path(state), lambda f: f.write(body))


def read_marker(state: str | Path) -> dict | None:
    """What the last run recorded, when it did not stop gracefully; None after a graceful stop or a first start."""
    path = marker_path(state)
    if not path.is_file():
        return None
    try:
        out = json.loads(path.read_text())
        return out if isinstance(out, dict) else {"unreadable": True}
    except (OSError, ValueError):
        return {"unreadable": True}


def clear_marker(state: str | Path) -> None:
    marker_path(state).unlink(missing_ok=True)
