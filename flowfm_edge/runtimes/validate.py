"""``validate_bundle``: re-run a bundle's golden checks on this machine with one backend.

Fails on a missing or modified file (sha256 against the manifest) and on drift: an
artefact whose output on the golden inputs moved beyond its tolerance. The bundle's prior
over r, when it has one, is checked on every backend: numpy draws from the golden (u, eps)
against PyTorch's r (max abs difference).
"""

from __future__ import annotations

from pathlib import Path

from ..bundle.manifest import load_golden, read_manifest, verify_files
from ..bundle.metrics import FP32_REL_TOLERANCE, compare
from ..bundle.prior import check_prior
from .registry import backend_class


def validate_bundle(bundle: str | Path, backend: str = "onnxruntime", threads: int | None = None,
                    trust: str | Path | None = None, only: set[tuple[str, str]] | None = None) -> dict:
    """{"passed": bool, "files": [problems], "signature": str | None, "checks": [one row per artefact checked]}.

    With a trust key (``trust``, or configured: ``bundle/signing.py``) the signature is checked
    first; an unsigned or mis-signed bundle fails with its reason in ``files``. ``only``, a set
    of (artefact, precision), limits the golden checks to what a caller will run (the gateway:
    the classifier at its precision), so it never loads the others; every file is still hashed.
    """
    from ..bundle.schema import BundleError
    from ..bundle.signing import trusted_key, verify_bundle

    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    report = {"bundle": str(bundle), "backend": backend, "files": verify_files(bundle, manifest), "checks": [],
              "signature": None}
    key = trusted_key(trust)
    if key is not None:
        try:
            verify_bundle(bundle, key)
            report["signature"] = f"valid, signed by the holder of {key}"
        except BundleError as exc:
            report["files"].append(str(exc))
    if report["files"]:
        report["passed"] = False
        return report  # never run a tampered artefact
    runner = backend_class(backend)(bundle, manifest, threads)
    if hasattr(runner, "golden_rows"):  # backends whose artefacts carry their own checks (TensorRT engines)
        rows = runner.golden_rows()
    elif backend == "onnxruntime":
        rows = [(a["name"], a["precision"], a["golden_check"]) for a in manifest["artefacts"] if a["format"] == "onnx"]
    else:
        rows = [(name, "fp32", {"against": "reference", "metric": "rel_l2", "tolerance": FP32_REL_TOLERANCE})
                for name in manifest["golden"] if runner.precisions(name)]
    if only is not None:
        rows = [r for r in rows if (r[0], r[1]) in only]
    for name, precision, check in rows:
        golden = load_golden(bundle, manifest, name)
        feeds = {k: golden[k] for k in manifest["golden"][name]["inputs"]}
        out = runner.run(name, precision, feeds)
        err = compare(out, golden[check["against"]])
        ref = compare(out, golden["reference"])
        report["checks"].append({"artefact": name, "precision": precision, "against": check["against"],
                                 "metric": "rel_l2", "value": err["rel_l2"],
                                 "rel_l2": err["rel_l2"], "max_abs": err["max_abs"], "tolerance": check["tolerance"],
                                 "rel_l2_vs_reference": ref["rel_l2"], "passed": err["rel_l2"] <= check["tolerance"]})
    prior = check_prior(bundle, manifest)
    if prior is not None:
        report["checks"].append(prior)
    report["passed"] = bool(report["checks"]) and all(c["passed"] for c in report["checks"])
    return report
