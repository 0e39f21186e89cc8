"""Claim and ablation scripts: each trains FlowFM (and its diffusion twin or a baseline) under a stated protocol
and writes ``benchmarks/results/<name>.{json,md,png}``.

Runs are cached under ``runs/claims/`` by everything that defines them (:mod:`.runs`), so one script
reuses what another trained. They train with one torch thread per process (``CLAIMS_THREADS`` overrides).
Each module's docstring (``python -m benchmarks.claims.<name> --help``) is its protocol.
"""
