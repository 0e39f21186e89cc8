"""Figures: real vs generated windows, training curves, embedding maps (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Lay ``fig`` out, write it to ``path`` (PNG) and close it; returns the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return Path(path)


def plot_windows(real: np.ndarray | None, generated: np.ndarray, path: str | Path, title: str = "", rate: int = 30,
                 labels: list[str] | None = None) -> Path:
    """Grid of windows (x/y/z in g against seconds): real on the left column, generated on the right; ``labels``
    names each row (the real window's activity)."""
    plt = pyplot()
    cols = [("real", real), ("generated", generated)] if real is not None else [("generated", generated)]
    rows = min(4, min(len(w) for _, w in cols))
    fig, axes = plt.subplots(rows, len(cols), figsize=(5 * len(cols), 1.8 * rows), sharex=True, sharey=True, squeeze=False)
    t = np.arange(generated.shape[-1]) / rate
    for c, (name, W) in enumerate(cols):
        for r in range(rows):
            ax = axes[r, c]
            for ch, color in zip(range(3), ("tab:red", "tab:green", "tab:blue")):
                ax.plot(t, W[r, ch], color=color, lw=0.8, label="xyz"[ch])
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(name)
        axes[-1, c].set_xlabel("time (s)")
    for r in range(rows):
        axes[r, 0].set_ylabel("acc (g)" if labels is None else f"{labels[r].lower().replace('_', ' ')}\nacc (g)")
    axes[0, -1].legend(loc="upper right", fontsize=7, ncol=3)
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_training(metrics_csv: str | Path, path: str | Path) -> Path:
    plt = pyplot()
    data = np.genfromtxt(metrics_csv, delimiter=",", names=True)
    data = np.atleast_1d(data)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(data["step"], data["loss"])
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching loss")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_embeddings(r: np.ndarray, y: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> Path:
    """First two principal components of r, coloured by class."""
    from sklearn.decomposition import PCA

    plt = pyplot()
    xy = PCA(n_components=2).fit_transform(r)
    fig, ax = plt.subplots(figsize=(6, 5))
    for k, name in enumerate(classes):
        m = y == k
        ax.scatter(xy[m, 0], xy[m, 1], s=6, alpha=0.7, label=name)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    ax.legend(fontsize=7, markerscale=2)
    return save_figure(fig, path)
