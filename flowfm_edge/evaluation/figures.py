"""Evaluation figures: the confusion matrix and quality against NFE (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import pyplot, save_figure


def plot_confusion(matrix, classes: list[str], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true class per row) with the window counts written in each cell."""
    plt = pyplot()
    m = np.asarray(matrix, dtype=float)
    rows = m.sum(1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.55 * k))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    return save_figure(fig, path)


def plot_quality(result: dict, path: str | Path, metric: str = "frechet") -> Path:
    """Frechet distance (with its 95% bootstrap interval as error bars) or another scalar metric against NFE.

    One line per mode and sampler family of a :func:`~.quality.quality_sweep` result; the
    real-vs-real floor is a dashed line with its interval shaded.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    lines: dict[tuple[str, str], list[tuple[int, float, float, float]]] = {}
    for row in result["results"]:
        family = row["sampler"].rsplit("-", 1)[0]
        lines.setdefault((row["mode"], family), []).append((row["nfe"], *_value(row[metric])))
    for (mode, family), pts in sorted(lines.items()):
        nfe, v, lo, hi = (np.array(c) for c in zip(*sorted(pts)))
        ax.errorbar(nfe, v, yerr=[v - lo, hi - v], marker="o", capsize=2, label=f"{family}, {mode}")
    if "real_vs_real" in result:
        v, lo, hi = _value(result["real_vs_real"][metric])
        ax.axhline(v, color="grey", ls="--", lw=1, label=f"real vs real ({result['real_vs_real'].get('n_per_half', '?')} each)")
        ax.axhspan(lo, hi, color="grey", alpha=0.15, lw=0)
    ref = result.get("reference") or {}
    where = f"{ref['data']} {ref['split']}" if ref.get("split") else "given windows"
    ax.set_xscale("log", base=2)
    ax.set_xlabel("NFE (network evaluations per sample)")
    ax.set_ylabel(f"{metric} distance")
    ax.set_title(f"{result['objective']}: quality vs NFE (n = {result['n_windows']}, {where}; 95% bootstrap)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def _value(v) -> tuple[float, float, float]:
    """(value, low, high) of a metric: a bootstrap dict's point and interval, or a scalar three times."""
    if isinstance(v, dict):
        return v["fd"], v["ci_low"], v["ci_high"]
    return v, v, v


def plot_probe(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Bars of macro-F1 per feature set: per-subject mean +- SD, and pooled as a dot (rows of ``summary_rows``)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.4 * len(rows) + 1.5, 3.2))
    x = np.arange(len(rows))
    ax.bar(x, [r["f1_mean"] for r in rows], yerr=[r["f1_sd"] for r in rows], capsize=3,
           color=["C0"] + ["C7"] * (len(rows) - 1), label="per-subject mean +- SD")
    ax.plot(x, [r["f1_pooled"] for r in rows], "k.", label="pooled")
    ax.set_xticks(x, [f"{r['features']}\n({r['dim']}-d)" for r in rows], fontsize=7)
    ax.set(ylabel="macro-F1", ylim=(0, 1.05), title=title)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def plot_transfer(result: dict, path: str | Path, title: str = "") -> Path:
    """Headline macro-F1 against labelled windows per class: few-shot points (mean +- SD over draws), full probe at right."""
    plt = pyplot()
    shots = result["few_shot_protocol"]["shots"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = list(range(len(shots) + 1))
    for i, (name, full) in enumerate(result["full"].items()):
        few = result["few_shot"].get(name, {})
        m = [few[str(k)]["headline"]["mean"] for k in shots] + [full["headline"]]
        s = [few[str(k)]["headline"]["sd"] for k in shots] + [0.0]
        ax.errorbar(xs, m, yerr=s, marker="o", capsize=3, color=f"C{i}", label=name)
    ax.set_xticks(xs, [f"{k}-shot" for k in shots] + ["full probe"])
    ax.set(ylabel=result["target"]["headline"], ylim=(0, 1.05), title=title)
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def plot_rotations(result: dict, path: str | Path, title: str = "") -> Path:
    """Headline macro-F1 per feature set as recorded and under each rotation condition (grouped bars)."""
    plt = pyplot()
    names = list(result["results"])
    conditions = ["as recorded", *result["conditions"]]
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.4))
    width = 0.8 / len(conditions)
    for j, c in enumerate(conditions):
        v = [result["results"][n]["as recorded"] if c == "as recorded" else result["results"][n]["conditions"][c]["headline"]
             for n in names]
        label = c if c in ("as recorded", "random") else f"{c} deg"
        ax.bar(np.arange(len(names)) + (j - (len(conditions) - 1) / 2) * width, v, width, label=label)
    ax.set_xticks(np.arange(len(names)), names, fontsize=8)
    ax.set(ylabel=result["target"]["headline"], ylim=(0, 1.05), title=title)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, ncol=len(conditions), loc="lower center")
    return save_figure(fig, path)
