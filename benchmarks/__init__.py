"""Benchmarks that regenerate every figure the documentation quotes, and the report rendered from them.

- :mod:`benchmarks.claims`: claim and ablation scripts; they train models (cached under ``runs/claims/``);
- :mod:`benchmarks.perf`: performance scripts (latency, throughput, memory, install size);
- :mod:`benchmarks.kit`: what they share: where results go and what each records (command, date, machine),
  timing and tables on :mod:`flowfm_edge.bench`, and the fixture builders the tests share;
- :mod:`benchmarks.report`: ``python -m benchmarks.report`` renders ``benchmarks/README.md`` from the JSON
  files under ``benchmarks/results/``.

Every script runs as a module from the repository root, e.g. ``python -m benchmarks.perf.export_latency --quick``;
``--help`` gives its protocol. The dated record of what was measured, and why, is ``benchmarks/NOTES.md``.
"""
