"""The harness over a real (nano) bundle: cases from the target table and manifest, honest records."""

import json

import pytest

from flowfm_edge.bench.harness import BenchOptions, artefact_rows, bench_bundle, plan

QUICK = dict(min_iters=2, min_seconds=0.0, warmup=1, energy="none")


def test_plan_iterates_the_target_backends_and_precisions(bundle):
    cases = plan(bundle, BenchOptions(batches=[1, 4], **QUICK))
    got = {(c.artefact, c.backend, c.precision) for c in cases}
    assert ("encoder", "onnxruntime", "int8-dynamic") in got and ("sampler-heun-4", "torch", "fp32") in got
    assert ("encoder", "torch", "int8") not in got  # torch runs fp32 only
    assert {c.batch for c in cases} == {1, 4}
    only = plan(bundle, BenchOptions(backends=["onnxruntime"], precisions=["int8"], steps=[4], solvers=["euler"],
                                     graphs=["sampler"], **QUICK))
    assert [(c.artefact, c.nfe, c.file_bytes > 0) for c in only] == [("sampler-euler-4", 4, True)]
    with pytest.raises(ValueError, match="runs on"):
        plan(bundle, BenchOptions(backends=["litert"]))
    with pytest.raises(ValueError, match="nothing to benchmark"):
        plan(bundle, BenchOptions(backends=["onnxruntime"], precisions=["fp16"]))


def test_bench_records_everything_the_spec_asks(bundle, labelled_npz, feature_net, tmp_path):
    opts = BenchOptions(backends=["onnxruntime"], precisions=["fp32", "int8"], graphs=["classifier", "sampler"],
                        solvers=["euler"], data=str(labelled_npz), feature_net=str(feature_net), n_quality=16,
                        threads=[1], **QUICK)
    result = bench_bundle(bundle, opts, log=lambda s: None)
    json.dumps(result)  # JSON-ready
    assert result["energy"]["status"] == "not measured" and result["environment"]["cpu"]
    rows = {(r["artefact"], r["precision"]): r for r in result["results"]}
    assert set(rows) == {("classifier", "fp32"), ("classifier", "int8"), ("sampler-euler-4", "fp32"),
                         ("sampler-euler-4", "int8")}
    r = rows[("sampler-euler-4", "int8")]
    for key in ("count", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "cv_pct"):
        assert key in r["latency"]
    assert r["cold_ms"] > 0 and len(r["warmup_ms"]) == 1 and r["throughput_per_s"] > 0
    assert r["memory"]["peak_rss_mb"] > 0 and r["file_bytes"] > 0
    assert r["energy"]["status"] == "not measured"
    q = r["quality"]
    assert q["metric"] == "frechet" and q["n"] == 16 and q["r"] == "prior"  # the run's prior over r is in the bundle
    assert q["frechet"]["ci_low"] <= q["frechet"]["fd"] <= q["frechet"]["ci_high"] and q["frechet"]["resamples"] == 200
    assert q["reference"]["split"] == "pretrain" and set(q["static_fraction"]) == {"real", "generated"}
    floor = result["real_vs_real_floor"]
    assert floor["n_per_half"] == 16 and floor["frechet"]["ci_low"] <= floor["frechet"]["fd"] <= floor["frechet"]["ci_high"]
    assert rows[("classifier", "fp32")]["quality"]["metric"] == "macro_f1"


def test_loop_samplers_are_cases(diffusion_bundle):
    from flowfm_edge.bundle.manifest import read_manifest

    rows = {r["artefact"]: r for r in artefact_rows(read_manifest(diffusion_bundle))}
    assert rows["sampler-ddpm-1000"]["fused"] is False and rows["sampler-ddim-5"]["nfe"] == 5
    cases = plan(diffusion_bundle, BenchOptions(graphs=["sampler"], solvers=["ddpm"], **QUICK))
    assert {(c.backend, c.precision) for c in cases} == {("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("torch", "fp32")}
