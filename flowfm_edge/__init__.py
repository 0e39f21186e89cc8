"""flowfm-edge: train FlowFM and deploy it to edge devices.

The packages, from the ground up (a package imports only from its own floor or those below; the layers
and a no-cycle rule are contracts in ``pyproject.toml``, checked by ``lint-imports``):

- :mod:`.solvers`, :mod:`.plots`, :mod:`.recipe`, :mod:`.progress`, :mod:`.validation`: the ODE solvers,
  figures, the default training recipe, progress lines and the console, one-line validation messages;
- :mod:`.data`: windows in g at 30 Hz from every source, shard stores, the hashes runs record;
- :mod:`.models`: the encoder, velocity network, FlowFM and its baselines;
- :mod:`.training` and :mod:`.calibration`: the training loop and run directories; INT8 calibration sets;
- :mod:`.evaluation`: probes, downstream protocols, generation quality, a run's reports;
- :mod:`.text`: text-to-signal fine-tuning, generation and evaluation;
- :mod:`.bundle`: the bundle format shared by the exporter and the runtimes;
- :mod:`.runtimes`: running bundles on devices (backends, stream, gateway, cohorts), torch-free;
- :mod:`.export`: a run to a validated bundle per target;
- :mod:`.bench`, :mod:`.doctor`, :mod:`.quickstart`: benchmarks of bundles, what this machine offers,
  the main job in one call;
- :mod:`.cli`: the ``flowfm-edge`` command line on top.
"""

__version__ = "0.1.0"
