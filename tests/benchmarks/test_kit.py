"""The benchmarks' kit: results that say what produced them, timing on flowfm_edge.bench, the program harness."""

import json
import sys

from benchmarks import kit
from benchmarks.kit import program


def test_a_result_leads_with_its_command_date_and_machine(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "orig_argv", ["/usr/bin/python3", "-m", "benchmarks.perf.x", "--quick"])
    monkeypatch.setenv("CLAIMS_THREADS", "2")
    env = kit.start_environment(threads=1)
    path = kit.write_result(tmp_path / "out" / "x.json", {"rows": [1]}, env, "| a |")
    result = json.loads(path.read_text())
    assert list(result)[:4] == ["command", "date", "machine", "rows"]
    assert result["command"] == "CLAIMS_THREADS=2 python -m benchmarks.perf.x --quick"
    assert result["date"] == env["date"] and result["machine"] == env["cpu"]
    assert result["env"]["load_average_end"] is not None or result["env"]["load_average_start"] is None
    assert path.with_suffix(".md").read_text() == "| a |\n"


def test_result_path_is_out_or_the_results_folder(tmp_path):
    assert kit.result_path(tmp_path / "a.json", "stem") == tmp_path / "a.json"
    assert kit.result_path(None, "stem") == kit.RESULTS / "stem.json"


def test_timing_counts_every_call():
    calls = []
    stats = kit.time_call(lambda: calls.append(1), repeats=5, warmup=3)
    assert len(calls) == 1 + 2 + 5 and stats["repeats"] == 5
    assert stats["min_ms"] <= stats["median_ms"] <= stats["p90_ms"]
    blocks = kit.time_blocks(lambda: calls.append(1), repeats=4, calls=3, warmup=2)
    assert len(calls) == 8 + 1 + 2 + 12 and blocks["min_ms"] <= blocks["median_ms"] <= blocks["max_ms"]
    rounds = kit.interleaved_ms({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=2, calls=3)
    assert {k: len(v) for k, v in rounds.items()} == {"a": 2, "b": 2}
    assert calls[-12:] == ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3  # interleaved, block by block


def test_tables_and_lists():
    assert kit.markdown_table(["x", "y"], [[0.12345, "z"]], digits=2) == "| x | y |\n|---|---|\n| 0.12 | z |"
    assert kit.ints("1, 2,,4") == [1, 2, 4]


def test_the_harness_reads_a_function_result_and_its_peak_memory():
    mb, res = program.peak_rss("json:loads", ['{"a": [1, 2]}'])
    assert res.returncode == 0 and res.stdout.strip() == 'RESULT {"a": [1, 2]}' and mb and mb > 1
    mb, res = program.peak_rss("json:loads", ["{"])
    assert res.returncode == 1 and res.stdout.startswith("ERROR JSONDecodeError:")


def test_the_harness_blocks_the_training_stack_when_asked():
    import subprocess

    res = subprocess.run(program.command("platform", torch_free=True), capture_output=True, text=True,
                         env={"PYTHONPATH": str(program.CHECKOUT)}, cwd=program.CHECKOUT)
    assert res.returncode == 0 and res.stdout.strip()  # a module that needs none of it runs
    res = subprocess.run([sys.executable, "-m", "benchmarks.kit.program", "--torch-free", "json:loads", "1"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(program.CHECKOUT)}, cwd=program.CHECKOUT)
    assert res.stdout.strip() == "RESULT 1"
    res = subprocess.run([sys.executable, "-m", "benchmarks.kit.program", "--torch-free", "importlib:import_module", "torch"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(program.CHECKOUT)}, cwd=program.CHECKOUT)
    assert res.returncode == 1 and res.stdout.startswith(("ERROR ModuleNotFoundError", "ERROR ImportError")), res.stdout
