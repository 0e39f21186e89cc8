"""The bundle on disk: ``manifest.json`` (the single source of truth) and file integrity.

Layout of a bundle::

    manifest.json           schema version, model, I/O signatures, artefacts, environment, validation
    onnx/<artefact>.<precision>.onnx
    golden/<artefact>/<tensor>.npy      inputs and expected outputs for on-device checks
    prior/prior.npz         optional prior over r for unconditional generation (golden/prior/: its draws)
    torch/checkpoint/       config.json, ema.safetensors[, head.safetensors, head.json] (torch backend)

Every file the manifest lists carries its sha256; :func:`verify_files` finds tampered or
missing ones. This module needs only the standard library and numpy (runtimes import it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


class BundleError(ValueError):
    """A bundle is missing, malformed, tampered with, or lacks what was asked of it."""


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_entry(bundle: Path, path: Path) -> dict:
    return {"path": path.relative_to(bundle).as_posix(), "sha256": sha256(path), "bytes": path.stat().st_size}


def read_manifest(bundle: str | Path) -> dict:
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{bundle}: not a bundle ({MANIFEST} is missing); make one with `flowfm-edge export RUN --out {bundle}`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: not valid JSON ({exc}); re-export the bundle") from exc
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(f"{path}: schema version {version!r}, this flowfm-edge reads version {SCHEMA_VERSION}; "
                          "re-export the bundle with this version")
    return manifest


def write_manifest(bundle: Path, manifest: dict) -> None:
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def listed_files(manifest: dict) -> list[dict]:
    """Every file entry (path, sha256) the manifest lists: artefacts, engines, golden files, torch checkpoint, text, prior."""
    entries = [a["file"] for a in manifest.get("artefacts", []) + manifest.get("engines", [])]
    for golden in manifest.get("golden", {}).values():
        entries += list(golden["files"].values())
    entries += manifest.get("torch", {}).get("files", [])
    if manifest.get("text"):
        entries.append(manifest["text"]["embeddings"]["file"])
    if manifest.get("prior"):
        entries += [manifest["prior"]["file"], *manifest["prior"]["golden"]["files"].values()]
    return entries


def verify_files(bundle: str | Path, manifest: dict | None = None) -> list[str]:
    """Problems with the bundle's files: one line per missing or modified file (empty when intact)."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle) if manifest is None else manifest
    problems = []
    for entry in listed_files(manifest):
        path = bundle / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 mismatch (the file was modified after export)")
    return problems


def load_golden(bundle: str | Path, manifest: dict, name: str) -> dict[str, np.ndarray]:
    """The golden tensors of artefact ``name``: {tensor name: array}."""
    golden = manifest.get("golden", {}).get(name)
    if golden is None:
        raise BundleError(f"{bundle}: no golden files for {name!r}")
    return {key: np.load(Path(bundle) / entry["path"], allow_pickle=False) for key, entry in golden["files"].items()}
