"""Sections on running in the field: the gateway stream, the MQTT gateway, cohort scale, the runtime install and
hostile input."""

from __future__ import annotations

from collections import Counter

from .model import Results, Row, Section

STREAM = ("gateway_stream_c1-t1-pipe.json", "gateway_stream_c5-t1-pipe.json")


def gateway_stream(r: Results) -> Section:
    medians = {f"{r(name)['config']['chunk']:g} s pushes": r(name)["median"] for name in STREAM}
    hourly = [h["rss_mb"] for run in r("gateway_stream_soak.json")["runs"] for h in run["rss_hourly"]]
    cfg = r(STREAM[0])["config"]
    return Section(
        "Gateway streaming",
        f"{cfg['devices']} simulated wrists fed as fast as the CPU allows (mixed rates, m/s^2 devices, drift, NaN and "
        "re-sent samples), the tiny INT8 classifier, the default settings (batch 16, one inference thread beside the "
        "resampling); medians of repeats, each a fresh process without torch.",
        [Row(">= 1,000 windows/s", ", ".join(f"{k}: {m['windows_per_s']:,.0f}" for k, m in medians.items()),
             all(m["windows_per_s"] >= 1000 for m in medians.values()),
             ", ".join(f"{k}: p99 latency {m['latency_p99_ms']:.1f} ms" for k, m in medians.items())),
         Row("peak RSS <= 150 MB", ", ".join(f"{k}: {m['peak_rss_mb']:.1f} MB" for k, m in medians.items()),
             all(m["peak_rss_mb"] <= 150 for m in medians.values()), ""),
         Row("no memory growth over a 24-hour soak", f"RSS {min(hourly):.1f}-{max(hourly):.1f} MB over {len(hourly)} hours",
             max(hourly) - min(hourly) < 5, "devices leaving and reconnecting every 3 hours")],
        r.used())


def mqtt_gateway(r: Results) -> Section:
    d = r("gateway_mqtt.json")
    top = max(d["steady"], key=lambda s: s["devices"])
    faults, kill = d["faults"], d["kill"]
    return Section(
        "MQTT gateway through a real broker",
        "Mosquitto and the gateway (no torch) on loopback; simulated wearables publish their last second once a second; "
        "latency is end to end, from the publish of a window's last sample to the receipt of its label.",
        [Row("0 windows lost across a broker restart, a graceful restart and a hot update",
             f"{faults['lost']} of {faults['expected_windows']:,} lost; {faults['duplicates']} delivered twice (QoS 1)",
             faults["lost"] == 0, f"kill -9: {kill['windows_lost']:,} lost, the restarted gateway said at most "
                                  f"{kill['reported_at_most']:,}"),
         Row(f"peak RSS <= 150 MB at {top['devices']:,} devices", f"{top['gateway_peak_rss_mb']:.1f} MB",
             top["gateway_peak_rss_mb"] <= 150, ""),
         Row(f"p99 latency <= 100 ms at {top['devices']:,} devices", f"{top['latency']['p99_ms']:.1f} ms",
             top["latency"]["p99_ms"] <= 100, "; ".join(f"{s['devices']:,} devices: p99 {s['latency']['p99_ms']:.1f} ms"
                                                        for s in d["steady"] if s is not top) +
             "; the broker and the simulated devices share the 2 cores")],
        r.used())


def cohort_scale(r: Results) -> Section:
    t = r("cohort_scale_store.json")["training"]
    whole = t["store, all"]
    same = next(v for k, v in t.items() if k.startswith("store, first"))
    memory = next(v for k, v in t.items() if k.startswith("memory"))
    return Section(
        "Cohort scale: training from the shard store",
        f"Nano trained from a {whole['gb']:.0f} GB store of synthetic windows (more than the page cache here), from a store of "
        f"its first {same['gb']:.0f} GB, and from the same windows in memory; one torch thread each.",
        [Row(f"peak RSS < 2 GB training from the {whole['gb']:.0f} GB store", f"{whole['peak_rss_mb']:,.0f} MB",
             whole["peak_rss_mb"] < 2048, f"the same {same['gb']:.0f} GB in memory: {memory['peak_rss_mb']:,.0f} MB"),
         Row("throughput within 10% of the same windows in memory", f"{same['x_memory']:.2f}x",
             same["x_memory"] >= 0.9, f"the whole store against {memory['gb']:.0f} GB in memory: {whole['x_memory']:.2f}x "
                                       "(its windows come from disk)")],
        r.used())


def runtime_install(r: Results) -> Section:
    d = r("runtime_install.json")
    files = d["compiled"]["install_files_without_bytecode_mib"]
    return Section(
        "The runtime install: disk and start-up without torch",
        "`pip install flowfm-edge` (numpy, onnxruntime, pydantic, typer, rich) in a fresh venv, beside the full install.",
        [Row("the runtime install <= 150 MB", f"{files:.1f} MiB of installed files; {d['no_compile']['installed']['install_du_mib']:.0f} "
             f"MiB on disk with --no-compile, {d['compiled']['install_du_mib']:.0f} MiB with pip's bytecode", files <= 150,
             f"`flowfm-edge --help` {d['compiled']['help_wall_s']:.2f} s"
             + (f" (before the runtime install: {d['baseline_full']['help_wall_s']:.2f} s)" if d.get("baseline_full") else ""))],
        r.used())


def _counts(d: dict) -> tuple[int, Counter, int]:
    cases = Counter(x["outcome"] for x in d["cases"])
    fuzz = Counter()
    for c in d["fuzz"]["counts"].values():
        fuzz.update(c)
    return len(d["cases"]), cases + fuzz, sum(fuzz.values())


def hostile(r: Results) -> Section:
    parts = {name: _counts(r(name)) for name in ("hostile_inputs.json", "hostile_cohort.json")}
    total = sum(n + fz for n, _, fz in parts.values())
    outcomes = sum((c for _, c, _ in parts.values()), Counter())
    stream = r("hostile_inputs.json")["stream_memory"]["this checkout"]
    bomb = {k: v["peak_rss_mb"] for k, v in r("hostile_cohort.json")["memory"]["this checkout"].items()}
    small, zipbomb = next(v for k, v in bomb.items() if k.startswith("small")), next(v for k, v in bomb.items() if "bomb" in k)
    return Section(
        "Hostile input",
        "Tampered bundles, garbage windows, hostile stream bytes, mismatched runs, edited stores, damaged recordings and keys, "
        "each case through the API or command a user calls, plus a fuzz corpus; `tests/hostile/` now asserts every case.",
        [Row("no crash and nothing silently wrong", f"{total:,} inputs: {outcomes['crash']} crashes, {outcomes['silently wrong']} "
             f"silently wrong", outcomes["crash"] == 0 and outcomes["silently wrong"] == 0,
             f"{outcomes['clear error']:,} clear errors, {outcomes['counted drop']:,} counted drops, "
             f"{outcomes['handled correctly']} handled correctly, {outcomes['accepted']:,} valid fuzz inputs accepted"),
         Row("a 200 MB stream line costs <= 10% more memory", f"{stream['ratio']:.2f}x", stream["ratio"] <= 1.10,
             f"before the line reader: {r('hostile_inputs.json')['stream_memory']['before']['ratio']:.2f}x"),
         Row("a zip bomb is refused at the memory of a small recording", f"{zipbomb:.1f} MB", zipbomb <= 1.1 * small,
             f"a small valid recording {small:.1f} MB")],
        r.used(), "The scripts that counted these (hostile_inputs.py, hostile_cohort.py) are now the tests under "
                  "`tests/hostile/` (each case an assertion) and `benchmarks.perf.hostile_memory` (memory and eviction).")


SECTIONS = (gateway_stream, mqtt_gateway, cohort_scale, runtime_install, hostile)
