"""The runtime install's footprint and start-up: disk of a fresh venv with ``pip install flowfm-edge`` (no torch),
the time to import the stream engine and to print ``flowfm-edge --help``, beside the full install (this
environment: torch and every extra).

    python -m benchmarks.perf.runtime_install --bundle bundles/tiny [--wheels DIR] [--baseline-src DIR] [--repeats 7]

Two fresh venvs get this checkout (a copy) the way a user installs it, with the venv's own pip: ``compiled``
with pip's defaults (every module compiled to bytecode at install) and ``no-compile`` with ``pip install
--no-compile`` (Python caches bytecode for what it imports, on first use; measured again after ``--help`` and a
``stream`` run over ``--bundle``). Disk: ``du -sk`` of the venv and of what the install added beside the pip and
setuptools of a fresh venv, and the apparent size of the added files without bytecode caches (what the wheels
hold: tests/test_runtime_install.py's figure). Times: the median of
``--repeats`` fresh processes each, ``import flowfm_edge.runtimes.stream`` timed inside the process and
``flowfm-edge --help`` as wall time; the full install runs this checkout (``python -m flowfm_edge.cli``) with its
modules compiled first, and ``--baseline-src`` (an unpacked older checkout, e.g. ``git archive main``) adds the
same two figures for it. Packages come from the index, or only from ``--wheels``. Writes
``benchmarks/results/runtime_install.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.kit import result_path, start_environment, write_result

ROOT = Path(__file__).resolve().parents[2]
IMPORT_TIME = [str(ROOT / "benchmarks" / "kit" / "program.py"), "--import-time", "flowfm_edge.runtimes.stream"]
TRAINING = ("torch", "scipy", "sklearn", "matplotlib")
BOOTSTRAP = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence")  # python -m venv's


def du_mib(path: Path) -> float:
    """``du -sk`` of ``path`` in MiB (blocks on disk, as ``du -sh`` counts them)."""
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True).stdout.split()[0]) / 1024


def files_mib(root: Path, bytecode: bool = True) -> float:
    """Apparent MiB of the files under ``root``, with or without ``__pycache__`` folders."""
    total = 0
    for folder, dirs, files in os.walk(root):
        if not bytecode:
            dirs[:] = [d for d in dirs if d != "__pycache__"]
        total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
    return total / 2**20


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
    return {**env, **extra}


def make_venv(where: Path, source: Path, wheels: Path | None, *pip_args: str) -> tuple[Path, Path]:
    """A fresh venv at ``where`` with ``source`` installed by the venv's own pip; (venv, site-packages)."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    index = ["--no-index", "--find-links", str(wheels)] if wheels else []
    subprocess.run([str(where / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *index, *pip_args,
                    str(source)], check=True, env=clean_env())
    return where, next((where / "lib").glob("python*/site-packages"))


def largest(site: Path, n: int = 8) -> dict:
    """The ``n`` largest top-level entries of ``site`` (MiB on disk)."""
    sizes = {p.name: du_mib(p) for p in site.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")}
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:n])


def disk(venv: Path, site: Path) -> dict:
    """The venv on disk, and what the install added to what ``python -m venv`` put there (pip, setuptools)."""
    added = [p for p in site.iterdir() if not p.name.startswith(BOOTSTRAP)]
    return {"venv_du_mib": du_mib(venv), "site_packages_du_mib": du_mib(site),
            "install_du_mib": sum(du_mib(p) for p in added),
            "install_files_without_bytecode_mib": sum(files_mib(p, False) if p.is_dir() else p.stat().st_size / 2**20
                                                      for p in added)}


def median_s(cmd: list[str], repeats: int, env: dict, inner: bool) -> float:
    """Median seconds over ``repeats`` runs of ``cmd``: printed by the process (``inner``) or wall time."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()  # run from / so that `python -m` finds no flowfm_edge in the working directory
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, cwd="/")
        times.append(float(res.stdout.split()[-1]) if inner else time.perf_counter() - t)
    return statistics.median(times)


def timings(python: str, cli: list[str], repeats: int, env: dict) -> dict:
    return {"import_stream_s": median_s([python, *IMPORT_TIME], repeats, env, inner=True),
            "help_wall_s": median_s([*cli, "--help"], repeats, env, inner=False)}


def copy_source(src: Path, dest: Path) -> Path:
    shutil.copytree(src / "flowfm_edge", dest / "flowfm_edge", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(src / name, dest / name)
    return dest


def runtime_venvs(args, source: Path, tmp: Path) -> dict:
    """The runtime install twice: pip's default (bytecode compiled) and ``--no-compile``, before and after use."""
    venv, site = make_venv(tmp / "compiled", source, args.wheels)
    found = [m for m in TRAINING if (site / m).is_dir()]
    out = {"compiled": {**disk(venv, site), "largest_du_mib": largest(site), "training_modules_found": found,
                        **timings(str(venv / "bin" / "python"), [str(venv / "bin" / "flowfm-edge")], args.repeats,
                                  clean_env())}}
    lean, lean_site = make_venv(tmp / "no-compile", source, args.wheels, "--no-compile")
    out["no_compile"] = {"installed": disk(lean, lean_site)}
    samples = tmp / "samples.csv"
    samples.write_text("".join(f"d{d},{i / 30:.4f},0.1,0.0,1.0\n" for d in range(4) for i in range(30 * 60)))
    stream = ["stream", str(args.bundle), "--input", str(samples), "--output", str(tmp / "events.jsonl")]
    for cmd in (["--help"], stream):
        subprocess.run([str(lean / "bin" / "flowfm-edge"), *cmd], capture_output=True, check=True, env=clean_env())
    out["no_compile"]["after_help_and_stream"] = disk(lean, lean_site)
    return out


def full_install(src: Path, repeats: int) -> dict:
    """Start-up of the checkout at ``src`` in this environment (torch and every extra), its modules compiled first."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src / "flowfm_edge")], check=True)
    return timings(sys.executable, [sys.executable, "-m", "flowfm_edge.cli"], repeats, clean_env(PYTHONPATH=str(src)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, required=True, help="A bundle with a classifier, for the stream run.")
    ap.add_argument("--wheels", type=Path, help="Install only from this wheel folder (pip --no-index --find-links).")
    ap.add_argument("--baseline-src", type=Path, help="An older checkout's files, timed in the full install too.")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, help="the result JSON (default benchmarks/results/runtime_install.json)")
    args = ap.parse_args(argv)
    env = start_environment(threads=None)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = copy_source(ROOT, tmp / "src")
        result = runtime_venvs(args, source, tmp)
        result["full"] = full_install(source, args.repeats)
        if args.baseline_src:
            base = copy_source(args.baseline_src, tmp / "baseline")
            result["baseline_full"] = {"src": str(args.baseline_src), **full_install(base, args.repeats)}
    write_result(result_path(args.out, "runtime_install"), result, env)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
