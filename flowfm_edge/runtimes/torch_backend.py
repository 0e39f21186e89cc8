"""The PyTorch backend: the bundle's own checkpoint (``torch/checkpoint``), FP32, eager.

It needs nothing outside the bundle, and it is the reference the other backends are
compared with on the device that runs them.
"""

from __future__ import annotations

import numpy as np

from ..bundle.manifest import bundle_path

from ..bundle.schema import BundleError
from .base import Backend


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, bundle, manifest, threads=None):
        super().__init__(bundle, manifest, threads)
        import torch

        from ..training.checkpoint import checkpoint_dir, load_classifier, load_model

        root = bundle_path(self.bundle, (manifest.get("torch") or {}).get("path", "torch"), "torch.path")
        if not (checkpoint_dir(root) / "config.json").is_file():
            raise BundleError(f"{self.bundle}: no PyTorch checkpoint in {root}; re-export the bundle")
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        if (checkpoint_dir(root) / "head.json").is_file():
            clf, _ = load_classifier(root)
            self.model, self.head = clf.model, clf.head
        else:
            self.model, self.head = load_model(root)[0], None

    def precisions(self, name: str) -> list[str]:
        graph = self.manifest["graphs"].get(name, {}).get("graph")
        if graph == "classifier" and self.head is None:
            return []
        return ["fp32"] if graph else []

    def run(self, name: str, precision: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        if precision != "fp32":
            raise BundleError(f"the torch backend runs fp32 only, not {precision!r}")
        spec = self.manifest["graphs"][name]
        f = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in feeds.items()}
        with torch.no_grad():
            if spec["graph"] == "encoder":
                y = self.model.embed(f["x"])
            elif spec["graph"] == "classifier":
                y = self.head(self.model.embed(f["x"]))
            elif spec["graph"] == "velocity":
                y = self.model.velocity(f["z_t"], f["t"], f["r"])
            elif spec["graph"] == "denoiser":
                y = self.model.denoiser(f["z_t"], f["t"], f["r"])
            elif spec["graph"] == "text-sampler":
                from ..models.text import sample_text

                s = spec["sampler"]
                w = f["w"][:, None, None] if "w" in f else None
                y = sample_text(self.model, f["e"], s["steps"], s["solver"], guidance=w, noise=f["noise"])
            elif spec["sampler"]["solver"] == "ddim":  # the diffusion twin's own sampler
                y = self.model.sample(f["r"], steps=spec["sampler"]["steps"], sampler="ddim", noise=f["noise"])
            else:
                s = spec["sampler"]
                w = f["w"][:, None, None] if "w" in f else None
                y = self.model.sample(f["r"], steps=s["steps"], solver=s["solver"], guidance=w, noise=f["noise"])
        return y.float().numpy()

    def sample_loop(self, entry: dict, feeds: dict[str, np.ndarray], seed: int) -> np.ndarray:
        """A sampler the bundle has no fused graph for (DDPM-1000): the model's own sampler, step noise from ``seed``."""
        torch = self.torch
        r, z = (torch.from_numpy(np.ascontiguousarray(feeds[k], dtype=np.float32)) for k in ("r", "noise"))
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return self.model.sample(r, steps=entry["steps"], sampler=entry["sampler"], noise=z, generator=gen).float().numpy()
