"""The bundle on disk: ``manifest.json`` (the single source of truth) and file integrity.

Layout of a bundle::

    manifest.json           schema version, model, I/O signatures, artefacts, environment, validation
    onnx/<artefact>.<precision>.onnx
    golden/<artefact>/<tensor>.npy      inputs and expected outputs for on-device checks
    prior/prior.npz         optional prior over r for unconditional generation (golden/prior/: its draws)
    torch/checkpoint/       config.json, ema.safetensors[, head.safetensors, head.json] (torch backend)

Every file the manifest lists carries its sha256; :func:`verify_files` finds tampered or
missing ones, and every runtime calls it before it runs anything. The manifest is read
through one typed schema (:mod:`.schema`, which also defines :class:`~.schema.BundleError`); every path in it is resolved by
:func:`bundle_path`, which refuses one that leads outside the bundle (absolute, ``..``, or a
symlink out). This module needs only the standard library, numpy and pydantic (runtimes import it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import sha256
from .schema import SCHEMA_VERSION, BundleError, parse_manifest, relative_path  # noqa: F401 (SCHEMA_VERSION re-exported)

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 64 << 20  # a manifest of many engines is a few MB; a bigger one is not a manifest


def bundle_path(bundle: str | Path, rel: str, field: str = "path") -> Path:
    """``bundle / rel``, refused unless it is a relative path that resolves (symlinks followed) inside ``bundle``."""
    try:
        relative_path(rel)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{bundle}: manifest field {field!r}: {exc}; re-export the bundle") from None
    root = Path(bundle).resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise BundleError(f"{bundle}: manifest field {field!r}: {rel!r} resolves to {path}, outside the bundle "
                          "(a symlink out?); refusing to read it")
    return path


def file_entry(bundle: Path, path: Path) -> dict:
    return {"path": path.relative_to(bundle).as_posix(), "sha256": sha256(path), "bytes": path.stat().st_size}


def read_manifest(bundle: str | Path) -> dict:
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{bundle}: not a bundle ({MANIFEST} is missing); make one with `flowfm-edge export RUN --out {bundle}`")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{path}: {path.stat().st_size} bytes, more than a manifest's {MAX_MANIFEST_BYTES}; "
                          "re-export the bundle")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{path}: not valid JSON ({type(exc).__name__}: {exc}); re-export the bundle") from None
    parse_manifest(manifest, str(path))
    return manifest


def write_manifest(bundle: Path, manifest: dict) -> None:
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def listed_files(manifest: dict) -> list[dict]:
    """Every file entry (path, sha256) the manifest lists: artefacts, engines, golden files, torch checkpoint, text, prior."""
    entries = [a["file"] for a in manifest.get("artefacts", []) + manifest.get("engines", [])]
    for golden in manifest.get("golden", {}).values():
        entries += list(golden["files"].values())
    entries += (manifest.get("torch") or {}).get("files", [])
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
        try:
            path = bundle_path(bundle, entry["path"])
        except BundleError as exc:
            problems.append(f"{entry['path']}: {exc}")
            continue
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 mismatch (the file was modified after export)")
    return problems


def check_files(bundle: str | Path, manifest: dict) -> None:
    """Raise a BundleError listing every missing or modified file; a runtime calls this before running anything."""
    problems = verify_files(bundle, manifest)
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise BundleError(f"{bundle}: refusing to run a bundle whose files do not match its manifest ({shown}); "
                          "re-export it, or check it with `flowfm-edge validate`")


def load_golden(bundle: str | Path, manifest: dict, name: str) -> dict[str, np.ndarray]:
    """The golden tensors of artefact ``name``: {tensor name: array}."""
    golden = manifest.get("golden", {}).get(name)
    if golden is None:
        raise BundleError(f"{bundle}: no golden files for {name!r}")
    return {key: np.load(bundle_path(bundle, entry["path"], f"golden.{name}.files.{key}.path"), allow_pickle=False)
            for key, entry in golden["files"].items()}
