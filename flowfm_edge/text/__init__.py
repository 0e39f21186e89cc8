"""Text-to-signal: fine-tune FlowFM's generator on activity descriptions and generate from a sentence.

- :mod:`.prompts`     descriptions per activity (training phrasings and held-out paraphrases)
- :mod:`.embeddings`  offline MiniLM sentence embeddings (the ``[text]`` extra) and their cache
- :mod:`.finetune`    frozen encoder, TextProj added, velocity network fine-tuned
- :mod:`.generate`    sampling with a text embedding, guidance over the text (the maths: :mod:`flowfm_edge.models.text`),
  and a text run's windows for a sentence (``generate --text``)
- :mod:`.evaluate`    per-prompt accuracy and Frechet distance against the unconditional floor

The ``train-text`` and ``text-eval`` commands are :mod:`flowfm_edge.cli.text`; text runs are trained by
:mod:`flowfm_edge.training` and scored with :mod:`flowfm_edge.evaluation`, both below this package.

The text-conditioned fused sampler, a bundle graph with the embedding as an input, is
:mod:`flowfm_edge.export.text_sampler`. Importing this package needs neither torch nor the
embedding model.
"""
