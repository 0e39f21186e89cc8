"""The android target: LiteRT (``.tflite``) models converted from PyTorch, validated with ai-edge-litert.

For every graph: convert FP32 with ``litert-torch`` at a fixed batch (1 by default), derive
FP16-weight and dynamic-range INT8 models from it, convert a calibrated full-INT8 model
straight from torch with PT2E (:mod:`.litert_convert`), then run every artefact with ``ai-edge-litert`` in a
child process (a malformed model can abort the interpreter) on the same check inputs as
the ONNX path, and gate each against PyTorch with the same quality gates
(:func:`~..validation.check_artefact`). :func:`export_graph` and :func:`manifest_section`
are this target's entry points, which ``export_bundle`` calls.

Bundle files: ``litert/<artefact>.<precision>.tflite`` and ``golden/<artefact>/*.npy``
(golden rows are run one call per row, as on the phone).
"""

from __future__ import annotations

from ...bundle.golden import Golden
from ..environment import package_version
from ..graphs import GraphSpec
from ..inputs import GraphKit
from ..job import ExportJob
from ..validation import artefact_entry, check_artefact, summary_line

ORDER = ("fp32", "fp16", "int8-dynamic", "int8")


def export_graph(job: ExportJob, spec: GraphSpec, kit: GraphKit) -> tuple[list[dict], dict]:
    """Every precision of one graph as LiteRT models: returns (artefact entries, golden entry)."""
    from ...calibration import ArrayReader
    from .convert import NamedInputs, convert_fp32, convert_int8, quantize_weights, require_litert, sample_kwargs
    from .io import summary
    from ...runtimes.litert_interpreter import run_isolated

    version = require_litert()
    model, opts, bundle = job.model, job.opts, job.bundle
    batch = int(opts.fixed_batch or 1)
    calib, check, n_real, labels = kit.feeds(spec, model, job.windows, job.schedules, seed=opts.seed)
    ref = kit.reference(spec, model, job.head, check)
    golden = Golden(bundle, spec.name, check)
    golden.save("reference", ref)

    module = NamedInputs(kit.build(spec, model, job.head), spec.input_names).eval()
    kwargs = sample_kwargs(spec, check, batch)
    models, export_info = {}, {"exporter": "litert-torch", "litert_torch": version, "batch": batch}
    if any(p in opts.precisions for p in ("fp32", "fp16", "int8-dynamic")):  # full INT8 comes from torch directly
        fp32, export_info = convert_fp32(module, kwargs)
        models["fp32"] = (fp32, None)
    for precision in [p for p in ORDER if p in opts.precisions and p != "fp32"]:
        if precision == "int8":
            content, quant = convert_int8(module, kwargs, calib, spec.signal_input, opts.int8_io)
            quant["calibration_set"] = ArrayReader(calib).describe()
            quant["calibration_method"] = "minmax weights, histogram activations (PT2E)"
        else:
            content, quant = quantize_weights(models["fp32"][0], precision, spec.signal_input)
        models[precision] = (content, quant)

    out_dir = bundle / "litert"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for precision, (content, _) in models.items():
        paths[precision] = out_dir / f"{spec.name}.{precision}.tflite"
        paths[precision].write_bytes(content)
    order = list(models)
    outs = run_isolated([(paths[p], check) for p in order] + [(paths[p], golden.inputs) for p in order],
                        threads=opts.threads)
    artefacts = []
    for i, precision in enumerate(order):
        validation = check_artefact(spec, precision, outs[i], ref, opts.limits, job.norm, labels, n_real)
        kept = "" if precision in opts.precisions else " [quantisation source, not kept]"
        job.log(summary_line(spec.name, precision, export_info, validation) + f" [LiteRT, batch {batch}]" + kept)
        if precision not in opts.precisions:
            paths[precision].unlink()
            continue
        golden.save(f"output.{precision}", outs[len(order) + i])
        content, quant = models[precision]
        artefacts.append({**artefact_entry(spec, precision, job.target.name, "tflite", bundle, paths[precision],
                                           {**export_info, "batch": batch}, quant, validation),
                          "litert": summary(content)})
    return artefacts, golden.entry(spec.input_names, spec.output_name)


def manifest_section(manifest: dict, job: ExportJob) -> dict:
    """Fixed shapes in the graph signatures, the LiteRT build facts and versions; returns the manifest."""
    batch = int(job.opts.fixed_batch or 1)
    for graph in manifest["graphs"].values():
        for tensor in graph["inputs"] + graph["outputs"]:
            tensor["shape"] = [batch if isinstance(d, str) else d for d in tensor["shape"]]
            tensor["dynamic_axes"] = {}
    manifest["litert"] = {
        "batch": batch,
        "batch_note": "LiteRT models have fixed shapes; runtimes feed any batch in chunks of this size",
        "int8_io": bool(job.opts.int8_io),
        "runtime": "ai-edge-litert Interpreter (XNNPACK delegate applied by default)",
        "versions": {"litert_torch": package_version("litert-torch"), "ai_edge_litert": package_version("ai-edge-litert"),
                     "ai_edge_quantizer": package_version("ai-edge-quantizer"), "torchao": package_version("torchao")},
    }
    return manifest
