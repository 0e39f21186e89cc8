"""Does every package of the runtime install have a wheel for Linux aarch64 gateways (Raspberry Pi 4/5, Jetson)?

pip's own resolver answers, for each Python version, without emulation: a dry run of the install for that
platform that accepts wheels only, from the package index this machine's pip uses:

    python deploy/check_aarch64_wheels.py                       # Python 3.10, 3.11, 3.12; glibc 2.31
    python deploy/check_aarch64_wheels.py --python 3.12 --extra gateway

What is checked: pyproject.toml's dependencies (the runtime install) and the extras a gateway or a cohort job
adds (``--extra``, default gateway and cohort). The platform is ``manylinux`` aarch64 up to ``--glibc`` (2.31:
Ubuntu 20.04 of JetPack 5 and Raspberry Pi OS 11; JetPack 6 has 2.35, Raspberry Pi OS 12 2.36). pip evaluates environment
markers with the Python that runs it, not the target (pypa/pip#11010): this script evaluates the markers of
the requirements it passes for each target itself, and a transitive dependency behind a version marker could
be missed; every compiled package here is a direct requirement. Writes
``benchmarks/results/aarch64_wheels.json``; exits 1 when a version has no complete set of wheels.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.10", "3.11", "3.12")


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """The runtime install's requirements and those of ``extras``, as pyproject.toml writes them."""
    project = tomllib.loads(pyproject.read_text())["project"]
    declared = project.get("optional-dependencies", {})
    reqs = list(project["dependencies"])
    for extra in extras:
        if extra not in declared:
            raise SystemExit(f"--extra {extra}: pyproject.toml declares no such extra")
        reqs += declared[extra]
    return reqs


def for_target(reqs: list[str], python: str) -> list[str]:
    """``reqs`` whose markers hold on CPython ``python`` on Linux aarch64, without their markers."""
    env = {"python_version": python, "python_full_version": f"{python}.0", "platform_machine": "aarch64",
           "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


def platforms(glibc: str) -> list[str]:
    """pip's --platform values for manylinux aarch64 wheels that run on ``glibc`` (e.g. 2.31) or newer."""
    major, minor = (int(v) for v in glibc.split("."))
    return [f"manylinux_{major}_{m}_aarch64" for m in range(minor, 16, -1)] + ["manylinux2014_aarch64"]


def resolve(reqs: list[str], python: str, glibc: str) -> dict:
    """pip's dry-run install of ``reqs`` for aarch64 and ``python``: the wheels it picks, or its error."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "--implementation", "cp", "--python-version", python,
               *(a for p in platforms(glibc) for a in ("--platform", p)), "--report", str(report), *reqs]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if res.returncode != 0:
            error = [line for line in res.stderr.splitlines() if line.startswith("ERROR")] or res.stderr.splitlines()
            return {"ok": False, "requirements": reqs, "error": "\n".join(error[-5:])}
        wheels = {canonicalize_name(item["metadata"]["name"]): {"version": item["metadata"]["version"],
                                                     "wheel": item["download_info"]["url"].rsplit("/", 1)[-1]}
                  for item in json.loads(report.read_text())["install"]}
    compiled = sorted(n for n, w in wheels.items() if not w["wheel"].endswith("-none-any.whl"))
    return {"ok": True, "requirements": reqs, "compiled": compiled, "packages": dict(sorted(wheels.items()))}


def version_arg(pattern: str, example: str):
    """An argparse type that accepts a MAJOR.MINOR version matching ``pattern``."""

    def parse(text: str) -> str:
        if not re.fullmatch(pattern, text):
            raise argparse.ArgumentTypeError(f"{text!r} is not a version like {example}")
        return text

    return parse


def machine() -> str:
    """The CPU model this check ran on (the check itself reads only the package index)."""
    try:
        line = next(l for l in open("/proc/cpuinfo") if l.startswith("model name"))
        return line.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def pip_version() -> str:
    return subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True).stdout.split()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", type=version_arg(r"3\.\d{1,2}", "3.12"),
                    help=f"Target Python versions (default: {', '.join(PYTHONS)}).")
    ap.add_argument("--extra", action="append",
                    help="Extras checked beside the runtime install (default: gateway, cohort).")
    ap.add_argument("--glibc", default="2.31", type=version_arg(r"2\.(1[7-9]|[2-9]\d)", "2.31"),
                    help="Oldest glibc of the target devices (default 2.31).")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "aarch64_wheels.json")
    args = ap.parse_args()
    extras = args.extra or ["gateway", "cohort"]
    reqs = requirements(ROOT / "pyproject.toml", extras)
    results = {}
    for python in args.python or PYTHONS:
        results[python] = resolve(for_target(reqs, python), python, args.glibc)
        r = results[python]
        print(f"Python {python} aarch64: " + (f"{len(r['packages'])} wheels, compiled: " + ", ".join(
            f"{n} {r['packages'][n]['version']}" for n in r["compiled"]) if r["ok"] else f"FAILED: {r['error']}"))
    ok = all(r["ok"] for r in results.values())
    out = {"command": " ".join(["python", "deploy/check_aarch64_wheels.py", *sys.argv[1:]]),
           "date": datetime.date.today().isoformat(), "machine": machine(), "ok": ok, "pip": pip_version(), "glibc": args.glibc,
           "platforms": platforms(args.glibc), "extras": extras, "pythons": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
