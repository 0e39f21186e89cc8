"""Benchmarks of bundles: latency statistics, energy meters, the harness over a bundle's cases, FlowFM vs
diffusion (docs/design.md#benchmarks), and their Markdown reports and plots (:mod:`.report`).

It runs bundles through :mod:`flowfm_edge.runtimes` and scores generators with
:mod:`flowfm_edge.evaluation`; the ``bench`` commands are :mod:`flowfm_edge.cli.bench`.

>>> from flowfm_edge.bench import BenchOptions, bench_bundle        # doctest: +SKIP
>>> result = bench_bundle("bundle", BenchOptions(batches=[1, 16]))   # doctest: +SKIP
"""

from .harness import BenchOptions, bench_bundle
from .meters import EnergyMeter, JetsonMeter, MeterUnavailable, NvmlMeter, RaplMeter, choose_meter
from .stats import summarize, time_calls

__all__ = ["BenchOptions", "EnergyMeter", "JetsonMeter", "MeterUnavailable", "NvmlMeter", "RaplMeter", "bench_bundle",
           "choose_meter", "summarize", "time_calls"]
