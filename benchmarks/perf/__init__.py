"""Performance scripts: training throughput, export and inference latency, gateways, cohort scale, install size
and memory under hostile input.

Each writes its JSON (and Markdown where useful) under ``benchmarks/results/``, or where ``--out`` says,
through :func:`benchmarks.kit.write_result`; ``python -m benchmarks.perf.<name> --help`` gives its protocol.
"""
