"""Markdown tables and PNG plots of benchmark results (docs/design.md#benchmarks).

:func:`bench_markdown` and :func:`compare_markdown` turn the JSON of ``bench`` and ``bench
compare`` into a report; :func:`plot_latency_vs_steps` and :func:`plot_pareto` draw the
latency-vs-steps and quality-vs-latency (Pareto) figures, which :func:`bench_plots` and
:func:`compare_plots` draw for a ``bench`` and a ``bench compare`` result. Energy appears as a number only
when a meter measured it; otherwise the cell says "not measured".
"""

from __future__ import annotations

from pathlib import Path


def _f(v, fmt: str = "{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def _energy(e: dict) -> str:
    return f"{e['j_per_item'] * 1e3:.2f} mJ" if e.get("measured") else "not measured"


def _fd(fd: dict | None) -> str:
    """FD with its 95% bootstrap interval (:func:`flowfm_edge.evaluation.quality.format_fd`)."""
    from ..evaluation.frechet import format_fd

    return format_fd(fd)


def _floor(floor: dict | None) -> str:
    if not floor:
        return "not measured"
    return (f"{_fd(floor['frechet'])} (two disjoint halves of {floor['n_per_half']} real windows"
            + (f"; {floor['note']}" if floor.get("note") else "") + ")")


def _quality(q: dict) -> str:
    if q.get("metric") == "frechet":
        return f"FD {_fd(q['frechet'])}"
    if q.get("metric") == "macro_f1":
        return f"macro-F1 {q['macro_f1']:.4f}"
    v = q.get("export_validation")
    return f"(export rel L2 {v['rel_l2']:.1e})" if v and v.get("rel_l2") is not None else "-"


def environment_markdown(env: dict, energy: dict) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in env["libraries"].items() if v)
    lines = [f"- CPU: {env['cpu']}, {env['logical_cores']} logical cores ({env['affinity_cores']} usable), "
             f"threads asked: {env['threads'] or 'backend default'}",
             f"- platform: {env['platform']}, Python {env['python']}; {libs}",
             f"- GPU: {'; '.join(env['gpu']) if env['gpu'] else 'none found (nvidia-smi)'}; power mode: "
             f"nvpmodel {env['nvpmodel'] or 'n/a'}, CPU governor {env['cpu_governor'] or 'not readable'}",
             f"- load average at start {env['load_average_start']}, at end {env.get('load_average_end')} "
             "(other processes share this machine when it is above 0)",
             f"- date: {env['date']}"]
    if energy.get("measured"):
        lines.append(f"- energy: {energy['source']} (update period {energy['update_period_s']} s); idle "
                     f"{energy['idle_w']:.2f} W over {energy['idle_window_s']:.1f} s, reported apart")
    else:
        lines.append(f"- energy: **not measured** ({energy['reason']})")
    return "\n".join(lines)


def bench_markdown(result: dict) -> str:
    head = ["artefact", "backend", "precision", "batch", "threads", "n", "mean ms", "p50", "p90", "p99", "min", "max",
            "CV%", "cold ms", "items/s", "peak RSS MB", "size MB", "energy/item", "quality", "flags"]
    rows = []
    for r in result["results"]:
        lat = r["latency"]
        rows.append([r["label"], r["backend"], r["precision"], r["batch"], r["threads_used"], lat["count"],
                     _f(lat["mean_ms"], "{:.2f}"), _f(lat["p50_ms"], "{:.2f}"), _f(lat["p90_ms"], "{:.2f}"),
                     _f(lat["p99_ms"], "{:.2f}"), _f(lat["min_ms"], "{:.2f}"), _f(lat["max_ms"], "{:.2f}"),
                     _f(lat["cv_pct"], "{:.1f}"), _f(r["cold_ms"], "{:.1f}"), _f(r["throughput_per_s"], "{:.1f}"),
                     _f(r["memory"]["peak_rss_mb"], "{:.0f}"), _f(r["file_bytes"] and r["file_bytes"] / 1e6, "{:.2f}"),
                     _energy(r["energy"]), _quality(r["quality"]), "; ".join(lat["flags"]) or ""])
    lines = [f"# Benchmark of {result['bundle']}", "", environment_markdown(result["environment"], result["energy"]), "",
             "Latency per call in ms over all timed calls (no outlier removal); cold = the first call after "
             "loading (includes session creation); warm-up calls are excluded from the statistics.", "",
             table(head, rows)]
    if result.get("real_vs_real_floor"):
        o = result["options"]
        lines += ["", f"Generator quality: FD [95% bootstrap interval, {o.get('resamples', 200)} resamples, seed "
                      f"{o['seed']}] of {o['n_quality']} generated vs as many real windows of the pretrain split of "
                      f"{o['data']}; real-vs-real floor: {_floor(result['real_vs_real_floor'])}."]
    return "\n".join(lines) + "\n"


def table(head: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(out + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows])


def _match_line(name: str, m: dict | None) -> str:
    if m is None:
        return f"- {name}: not measured"
    ref = m["reference"]
    head = (f"- {name}: reference {ref['label']} ({ref['backend']} {ref['precision']}), FD {_fd(ref['frechet'])}, "
            f"{ref['per_item_ms']:.2f} ms/sample")
    if m["matched"] is None:
        return head + f"; **not matched**: {m['note']}" + _beyond_caution(ref)
    f = m["matched"]
    energy = f"; energy ratio {m['energy_ratio']:.1f}x" if m.get("energy_ratio") else "; energy not measured"
    return (head + f"; matched FlowFM {f['label']} ({f['backend']} {f['precision']}, NFE {f['nfe']}), FD {_fd(f['frechet'])}, "
            f"{f['per_item_ms']:.3f} ms/sample: **{m['speedup']:.1f}x**{energy}" + _beyond_caution(ref))


FAR_BEYOND = 2.0  # a generated peak |a| over this multiple of the real one is no activity of the real data


def _beyond_caution(ref: dict) -> str:
    """A warning when the reference generated windows far beyond the real data's range, which can set its FD alone."""
    b = ref.get("beyond_real_range")
    if not b or b["generated_peak_g"] <= FAR_BEYOND * b["real_peak_g"]:
        return ""
    return (f". Caution: the reference's peak |a| is {b['generated_peak_g']:.1f} g against {b['real_peak_g']:.2f} g "
            f"in the real windows ({b['count']} windows above the real peak); an FD is a Gaussian statistic, so a few "
            "such windows can set it, and the match says little about the rest")


def _beyond(b: dict | None) -> str:
    """'count (peak g)' of generated windows beyond the real range; empty for results that predate the field."""
    return "" if b is None else f"{b['count']} (peak {b['generated_peak_g']:.1f} g)"


def compare_markdown(result: dict) -> str:
    a = result["analysis"]
    lines = ["# FlowFM vs diffusion twin: latency, energy and quality", "",
             f"Bundles: FlowFM `{result['bundles']['flow']}`, diffusion `{result['bundles']['diffusion']}`.", "",
             environment_markdown(result["environment"], result["energy"]), "",
             f"Quality: Frechet distance (FD, lower is better) in the frozen HAR feature network's space, "
             f"{result['options']['n']} generated vs {result['options']['n']} real windows of the pretrain split of "
             f"{result['options']['data']} (what the generators train on), {result['options']['mode']} generation; "
             f"[95% bootstrap interval, {result['options'].get('resamples', 200)} resamples, seed "
             f"{result['options']['seed']}]; real-vs-real floor: {_floor(result['real_vs_real_floor'])}. "
             "Beyond real range: generated windows whose peak |a| exceeds the largest among the real ones, and the "
             "largest generated peak. Latency: median (p50) per generated sample at batch "
             f"{', '.join(map(str, result['options']['batches']))}.", "",
             f"**Matched quality.** {a['definition']}.", "", "## Matched-quality speedups (same runtime)", ""]
    for g in a["groups"]:
        lines.append(f"### {g['backend']} {g['precision']}, batch {g['batch']}")
        lines.append(_match_line(f"FlowFM vs DDPM-{a['ddpm_steps']}", g.get("vs_ddpm")))
        lines.append(_match_line("FlowFM vs best DDIM", g.get("vs_best_ddim")))
        lines.append("")
    lines += ["## End to end: fused INT8 ONNX FlowFM sampler vs DDPM-1000 in PyTorch eager", "",
              *(_match_line(f"INT8 ONNX vs torch DDPM, batch {b}", m) for b, m in a["end_to_end_int8_onnx_vs_torch_ddpm"].items()),
              "" if a["end_to_end_int8_onnx_vs_torch_ddpm"] else "- not measured (needs --backend onnxruntime,torch and int8)",
              "", "## All settings", ""]
    head = ["model", "sampler", "NFE", "backend", "precision", "p50 ms/sample", "FD [95% CI]", "beyond real range",
            "energy/sample", "Pareto", "flags"]
    front = {(p["model"], p["label"], p["backend"], p["precision"]) for p in result["pareto"]}
    rows = [[p["model"], p["label"], p["nfe"], p["backend"], p["precision"], f"{p['per_item_ms']:.3f}", _fd(p["frechet"]),
             _beyond(p.get("beyond_real_range")),
             f"{p['j_per_sample'] * 1e3:.2f} mJ" if p["j_per_sample"] else "not measured",
             "yes" if (p["model"], p["label"], p["backend"], p["precision"]) in front else "",
             "; ".join(p["flags"])] for p in result["points"]]
    lines.append(table(head, rows))
    return "\n".join(lines) + "\n"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(points: list[dict]) -> dict[tuple, list[dict]]:
    series: dict[tuple, list[dict]] = {}
    for p in points:
        kind = f"FlowFM {p['solver']}" if p["model"] == "flow" else ("DDPM" if p["solver"] == "ddpm" else "DDIM")
        series.setdefault((kind, p["backend"], p["precision"]), []).append(p)
    return series


def plot_latency_vs_steps(points: list[dict], path: str | Path, title: str = "latency vs NFE") -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (kind, backend, precision), pts in _series(points).items():
        pts = sorted(pts, key=lambda p: p["nfe"])
        ax.plot([p["nfe"] for p in pts], [p["per_item_ms"] for p in pts], "o-" if kind.startswith("Flow") else "s--",
                label=f"{kind}, {backend} {precision}")
    ax.set(xscale="log", yscale="log", xlabel="NFE (network evaluations per sample)", ylabel="p50 latency per sample (ms)",
           title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_pareto(points: list[dict], front: list[dict], path: str | Path, title: str = "quality vs latency") -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = {"DDIM": "s", "DDPM": "*"}  # FlowFM's solvers: "o"
    for (kind, backend, precision), pts in _series(points).items():
        pts = [p for p in pts if p["fd"] is not None]
        sc = ax.scatter([p["per_item_ms"] for p in pts], [p["fd"] for p in pts], marker=markers.get(kind, "o"),
                        s=60 if kind == "DDPM" else 30, label=f"{kind}, {backend} {precision}")
        for p in pts:
            short = {"euler": "E", "ddim": "DDIM-", "ddpm": "DDPM-"}.get(p["solver"], p["solver"])
            ax.annotate(f"{short}{p['steps']} {p['precision']}" + (" torch" if backend == "torch" else ""),
                        (p["per_item_ms"], p["fd"]), fontsize=6, xytext=(3, 3), textcoords="offset points",
                        color=sc.get_facecolor()[0])
    f = sorted(front, key=lambda p: p["per_item_ms"])
    ax.step([p["per_item_ms"] for p in f], [p["fd"] for p in f], where="post", color="k", lw=0.8, label="Pareto front")
    ax.set(xscale="log", yscale="log", xlabel="p50 latency per generated sample (ms)",
           ylabel="Frechet distance (lower is better)", title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def bench_plots(result: dict, out: Path) -> None:
    """Latency against NFE (and quality against latency, where measured) of a ``bench`` result's generators, as
    PNGs in ``out``; without generators, or without matplotlib (the runtime install), a line says why not."""
    import importlib.util

    from ..bundle.manifest import read_manifest
    from ..doctor import TRAINING_INSTALL
    from ..progress import console
    from .compare import pareto_front, sampler_points

    gens = [r for r in result["results"] if r["kind"] == "sampler"]
    if not gens:
        console.print("no generator in the benchmark: no plots")
        return
    if importlib.util.find_spec("matplotlib") is None:  # the runtime install: the figures above are complete
        console.print(f"no plots: matplotlib is not installed; it comes with the training install: {TRAINING_INSTALL}",
                      highlight=False, markup=False, soft_wrap=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    objective = read_manifest(result["bundle"])["model"].get("objective", "flow")
    points = sampler_points(gens, {result["bundle"]: objective})
    plot_latency_vs_steps(points, out / "latency_vs_steps.png", title=f"latency vs NFE: {result['bundle']}")
    if any(p["fd"] is not None for p in points):
        plot_pareto(points, [points[i] for i in pareto_front(points)], out / "pareto.png",
                    title=f"quality vs latency: {result['bundle']}")
    console.print(f"wrote plots into {out}")


def compare_plots(result: dict, out: Path) -> tuple[Path, Path]:
    """The Pareto front and latency against NFE of a ``bench compare`` result, as two PNGs in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    plot_pareto(result["points"], result["pareto"], out / "pareto.png",
                title="FlowFM vs diffusion twin: quality vs latency per sample")
    plot_latency_vs_steps(result["points"], out / "latency_vs_steps.png", title="latency per generated sample vs NFE")
    return out / "pareto.png", out / "latency_vs_steps.png"
