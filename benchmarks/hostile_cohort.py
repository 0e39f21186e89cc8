"""Hostile inputs to the cohort paths: what each ends in, and peak memory on a zip bomb.

Three parts, on real code paths (a nano run, a bundle exported from it and a key pair, built here):

1. **Cases** (``hostile_store_cases.py``, ``hostile_reader_cases.py``): the shard store (a store as a
   source, duplicate and colliding ids, ``--out`` misuse, a kill mid-conversion, edited indexes and
   shards), training runs (run files and options out of range, a run directory reused, MLflow URIs),
   ``sign`` keys, device files, Sensor Logger exports and ``embed-files``. Each ends in one of: *clear
   error* (a typed error or one red CLI line, exit 1), *counted drop* (the input is dropped and counted),
   *handled correctly* (careless but valid input, the right result), *crash* (any other exception or a
   traceback) or *silently wrong* (no error and a wrong or unsafe result, or data lost).
2. **Fuzz**: the hypothesis strategies and checks of ``tests/test_fuzz_cohort.py`` (Sensor Logger CSVs and
   zips, device files, store index mutations and documents, shard bytes, run files, signing keys), drawn
   derandomized so every run tries the same corpus.
3. **Zip bomb memory**: peak RSS (``/usr/bin/time -v``, "Maximum resident set size") of a process reading
   a Sensor Logger folder: a small valid recording, a zip bomb, a large valid CSV; with ``--before ROOT``
   the same on another checkout.

    python benchmarks/hostile_cohort.py                          # all three parts, ~10 minutes on 2 cores
    python benchmarks/hostile_cohort.py --fuzz-examples 300 --before /path/to/checkout-before

Writes ``benchmarks/results/hostile_cohort.json`` (or ``--out``) and prints the tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from hostile_reader_cases import CASES as READER_CASES, bomb, csv_text, recording  # noqa: E402
from hostile_store_cases import CASES as STORE_CASES  # noqa: E402
from hostile_inputs import run_cases, table  # noqa: E402
from hostile_workspace import Outcome, Workspace  # noqa: E402

CASES = STORE_CASES + READER_CASES
OUTCOMES = (Outcome.ERROR, Outcome.DROP, Outcome.RIGHT, Outcome.CRASH, Outcome.WRONG)


def run_fuzz(ws: Workspace, examples: int) -> dict:
    """Counts of fuzz outcomes per input kind; an assertion is silently wrong, any other exception a crash."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    spec = importlib.util.spec_from_file_location("fuzz_cohort", ROOT / "tests" / "test_fuzz_cohort.py")
    fz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fz)
    kinds = ("sensor-logger CSV", "sensor-logger zip", "device file", "store index", "store shard", "run file",
             "signing key")
    counts = {k: {o: 0 for o in ("accepted", Outcome.ERROR, Outcome.CRASH, Outcome.WRONG)} for k in kinds}
    crashes: list[str] = []
    tmp = ws.tmp / "fuzz"
    tmp.mkdir(exist_ok=True)

    def cfg(n=examples):
        return settings(max_examples=n, deadline=None, database=None, derandomize=True,
                        suppress_health_check=list(HealthCheck))

    def record(kind, fn):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                counts[kind][fn()] += 1
        except AssertionError as exc:
            counts[kind][Outcome.WRONG] += 1
            crashes.append(f"{kind}: silently wrong: {str(exc)[:160]}")
        except Exception as exc:  # noqa: BLE001
            counts[kind][Outcome.CRASH] += 1
            crashes.append(f"{kind}: {type(exc).__name__}: {str(exc)[:160]}")

    @cfg()
    @given(raw=fz.csv_files())
    def csv(raw):
        record("sensor-logger CSV", lambda: fz.check_recording(fz.write_csv_recording(tmp / "csv", raw)))

    @cfg()
    @given(raw=fz.zip_files())
    def zips(raw):
        import shutil

        shutil.rmtree(tmp / "zip", ignore_errors=True)
        (tmp / "zip").mkdir()
        (tmp / "zip" / "rec.zip").write_bytes(raw)
        record("sensor-logger zip", lambda: fz.check_recording(tmp / "zip" / "rec.zip"))

    seeds = fz.device_seeds(tmp / "seeds") if _java() else None

    @cfg(max(5, examples // 4))
    @given(data=st.data())
    def device(data):
        suffix, raw = data.draw(fz.device_damage(seeds))
        path = tmp / f"device{suffix}"
        path.write_bytes(raw)
        record("device file", lambda: fz.check_device_file(path))

    root, truth = fz.make_store(tmp / "store")
    original = (root / "index.json").read_bytes()

    @cfg()
    @given(choice=st.integers(0, 10_000), action=st.sampled_from(["delete", "replace"]), value=fz.json_values,
           reseal=st.booleans())
    def index(choice, action, value, reseal):
        def outcome():
            (root / "index.json").write_text(json.dumps(fz.mutate(json.loads(original), choice, action, value, reseal)))
            return fz.check_store(root, truth, verify="quick")
        record("store index", outcome)
        (root / "index.json").write_bytes(original)

    @cfg()
    @given(document=fz.json_values | st.binary(max_size=200))
    def index_document(document):
        def outcome():
            (root / "index.json").write_bytes(document if isinstance(document, bytes) else json.dumps(document).encode())
            return fz.check_store(root, truth)
        record("store index", outcome)
        (root / "index.json").write_bytes(original)

    @cfg()
    @given(which=st.sampled_from(["p1", "p2"]), kind=st.sampled_from(["truncate", "overwrite", "append"]),
           at=st.integers(0, 10**6), patch=st.binary(min_size=1, max_size=16))
    def shard(which, kind, at, patch):
        from flowfm_edge.data.store_index import shard_name

        path = root / "shards" / shard_name(which)
        good = path.read_bytes()
        raw = fz.damage_shard(good, kind, at, patch)

        def outcome():
            path.write_bytes(raw)
            result = fz.check_store(root, truth)
            assert result == "clear error" or raw == good, "a changed shard was read"
            return result
        record("store shard", outcome)
        path.write_bytes(good)

    @cfg()
    @given(text=fz.run_files())
    def run_file(text):
        record("run file", lambda: fz.check_run_file(tmp / "run.toml", text))

    @cfg()
    @given(key=fz.key_files())
    def key(key):
        record("signing key", lambda: fz.check_key(tmp / "key.pem", *key))

    targets = [csv, zips, index, index_document, shard, run_file, key] + ([device] if seeds else [])
    for fn in targets:
        t0 = time.perf_counter()
        fn()
        print(f"  fuzz {fn.__name__}: {time.perf_counter() - t0:.1f} s", flush=True)
    return {"examples_per_target": examples, "counts": counts, "crashes": crashes[:20]}


def _java() -> bool:
    import shutil

    return shutil.which("java") is not None and importlib.util.find_spec("actipy") is not None


READ_CHILD = """
import sys
from flowfm_edge.data.readers import convert
try:
    ws = convert("sensor-logger", sys.argv[1])
    print("RESULT", len(ws), "windows")
except ValueError as exc:
    print("RESULT", type(exc).__name__, str(exc)[:200])
"""


def bomb_memory(work: Path, before: str | None, valid_mb: int) -> dict:
    """Peak RSS of reading: a small valid recording, a zip bomb, a large valid CSV (this checkout, and ``before``)."""
    inputs = {}
    small = work / "small"
    recording(small / "rec", csv_text(21))
    inputs["small valid recording (21 s)"] = small
    (work / "bomb").mkdir()
    path = bomb(work / "bomb" / "rec.zip", 150)
    inputs[f"zip bomb ({path.stat().st_size / 1e3:.0f} KB -> 150 MB)"] = work / "bomb"
    big = work / "big" / "rec"
    big.mkdir(parents=True)
    seconds = valid_mb * 1e6 / 62 / 100  # about 62 bytes a row at 100 Hz
    (big / "TotalAcceleration.csv").write_text(csv_text(seconds))
    size = (big / "TotalAcceleration.csv").stat().st_size
    inputs[f"valid CSV ({size / 1e6:.0f} MB, {seconds / 3600:.1f} h at 100 Hz)"] = work / "big"
    out = {}
    for label, root in {"this checkout": str(ROOT), **({"before": before} if before else {})}.items():
        out[label] = {}
        for name, folder in inputs.items():
            res = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", READ_CHILD, str(folder)],
                                 capture_output=True, text=True, cwd=root, timeout=1800,
                                 env={**os.environ, "PYTHONPATH": root, "PYTHONDONTWRITEBYTECODE": "1"})
            kb = [int(line.split()[-1]) for line in res.stderr.splitlines() if "Maximum resident set size" in line]
            wall = [line.split()[-1] for line in res.stderr.splitlines() if "Elapsed (wall clock)" in line]
            result = next((line[7:] for line in res.stdout.splitlines() if line.startswith("RESULT")),
                          " ".join(res.stderr.split())[-200:])
            out[label][name] = {"peak_rss_mb": round(kb[0] / 1024, 1) if kb else None, "wall": wall[0] if wall else None,
                                "result": result[:220], "exit": res.returncode}
            print(f"  {label}: {name}: peak RSS {out[label][name]['peak_rss_mb']} MB, {result[:100]}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fuzz-examples", type=int, default=300, help="hypothesis examples per fuzz target")
    ap.add_argument("--valid-mb", type=int, default=150, help="size of the large valid CSV of the memory part")
    ap.add_argument("--before", default=None, help="another checkout to run the memory part on, for comparison")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: cases, fuzz, memory")
    ap.add_argument("--only", default="", help="run only the cases whose name holds this text")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hostile_cohort.json")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    result: dict = json.loads(args.out.read_text()) if (skip or args.only) and args.out.is_file() else {}
    from flowfm_edge.bench.environment import environment

    result.setdefault("runs", []).append({"command": " ".join(["python", *sys.argv]), **environment(threads=None)})
    with tempfile.TemporaryDirectory(prefix="hostile-cohort-") as tmp:
        ws = Workspace(Path(tmp))
        if "cases" not in skip:
            print("building a nano run, a bundle and keys ...", flush=True)
            ws.build()
            print("cases:", flush=True)
            result["cases"] = run_cases(ws, [c for c in CASES if args.only in c[0]])
        if "fuzz" not in skip:
            print("fuzz:", flush=True)
            result["fuzz"] = run_fuzz(ws, args.fuzz_examples)
        if "memory" not in skip:
            print("zip bomb memory:", flush=True)
            (Path(tmp) / "memory").mkdir()
            result["memory"] = bomb_memory(Path(tmp) / "memory", args.before, args.valid_mb)
    print()
    if "cases" in result:
        print(table(result["cases"], result.get("fuzz"), OUTCOMES))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
