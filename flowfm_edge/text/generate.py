"""Sampling with a text embedding, guidance over the text: the maths lives in :mod:`flowfm_edge.models.text`.

>>> from flowfm_edge.text.generate import sample_text  # the same function as flowfm_edge.models.text.sample_text
"""

from ..models.text import NotTextConditioned, check_text_model, sample_text, sample_text_batched, text_velocity

__all__ = ["NotTextConditioned", "check_text_model", "sample_text", "sample_text_batched", "text_velocity"]
