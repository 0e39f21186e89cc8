"""The bundle format, shared by the exporter that writes bundles and the runtimes that read them (docs/design.md#bundle-format).

- :mod:`.manifest` and :mod:`.schema`: ``manifest.json``, its typed schema (``schema_version``),
  :class:`~.schema.BundleError` (what every reader of a bundle raises) and the file hashes; :mod:`.golden`: the golden check rows; :mod:`.metrics`: the error
  measures and tolerances both sides compare with;
- :mod:`.targets`: the target table (what each target exports, in which precisions, with
  which options); :mod:`.recipes`: the TensorRT build recipes a jetson bundle carries;
- :mod:`.prior`: the prior over r as ``prior/prior.npz`` and its numpy sampler;
  :mod:`.signing`: signing and verifying a bundle.

Everything here needs numpy (and pydantic for the schema) only, never torch, so a gateway
reads bundles without it. Layers (``pyproject.toml``): ``bundle`` sits below both ``export``
and ``runtimes``.
"""
