"""Text-to-signal: fine-tune FlowFM's generator on activity descriptions and generate from a sentence.

- :mod:`.prompts`     descriptions per activity (training phrasings and held-out paraphrases)
- :mod:`.embeddings`  offline MiniLM sentence embeddings (the ``[text]`` extra) and their cache
- :mod:`.finetune`    frozen encoder, TextProj added, velocity network fine-tuned
- :mod:`.generate`    sampling with a text embedding, guidance over the text (the maths: :mod:`flowfm_edge.models.text`)
- :mod:`.evaluate`    per-prompt accuracy and Frechet distance against the unconditional floor
- :mod:`.commands`    the ``train-text`` and ``text-eval`` commands and ``generate --text``

The text-conditioned fused sampler, a bundle graph with the embedding as an input, is
:mod:`flowfm_edge.export.text_sampler`. Importing this package needs neither torch nor the
embedding model.
"""
