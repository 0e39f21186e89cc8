"""Sections on generation: FlowFM's few evaluations against its diffusion twin (in NFE and in one runtime's
latency), training time to the twin's quality, solvers against NFE, and text-to-signal."""

from __future__ import annotations

from .model import Results, Row, Section, f, fd

SEEDS = "claims_seeds_hapt_tiny_10000steps.json"
COMPARE_TINY = "flowfm_vs_diffusion_tiny-10000steps-seed1/compare.json"
COMPARE_NANO = "flowfm_vs_diffusion_nano-1000steps/compare.json"
CLIPPED = ("twin_x0_clip_hapt_tiny_10000steps_seed1.json", "twin_x0_clip_hapt_tiny_10000steps_seed1_ddpm.json")


def nfe_at_matched_quality(r: Results) -> Section:
    twins = sorted(r(SEEDS)["twins"], key=lambda t: t["seed"])
    per = {ref: [t["match"][ref] for t in twins if ref in t["match"]] for ref in ("ddpm", "best ddim")}

    def measured(ref: str) -> str:
        return "; ".join(f"seed {t['seed']}: {t['match'][ref]['matched']} (NFE {t['match'][ref]['matched_nfe']}) vs "
                         f"{t['match'][ref]['reference']}, {t['match'][ref]['nfe_ratio']:.0f}x" for t in twins if ref in t["match"])

    def twin(ref: str) -> str:
        return "; ".join(f"seed {t['seed']}: {t['match'][ref]['reference']} FD {fd(t['match'][ref]['reference_fd'])}"
                         for t in twins if ref in t["match"])

    return Section(
        "Few evaluations at the twin's quality (tiny, 10,000 steps)",
        "FlowFM and its diffusion twin trained with the same recipe and budget; unconditional FD of 1,000 windows against "
        "1,000 of the pretraining split with 95% intervals; a FlowFM setting matches when its FD is at or below the upper "
        "end of the twin's interval (PyTorch samplers: ratios of network evaluations, NFE).",
        [Row("some FlowFM setting at <= 16 NFE reaches the twin's DDPM-1000", measured("ddpm"),
             all(m["matched_nfe"] is not None and m["matched_nfe"] <= 16 for m in per["ddpm"]), twin("ddpm")),
         Row("matched quality >= 50x fewer NFE than DDPM-1000", ", ".join(f"{m['nfe_ratio']:.0f}x" for m in per["ddpm"]),
             all((m["nfe_ratio"] or 0) >= 50 for m in per["ddpm"]), ""),
         Row("matched quality >= 5x fewer NFE than the twin's best DDIM", measured("best ddim"),
             all((m["nfe_ratio"] or 0) >= 5 for m in per["best ddim"]), twin("best ddim"))],
        r.used())


def _clipped_matches(r: Results) -> dict[str, tuple[dict, dict, dict]]:
    """Against the twin with z0_hat clipped (PyTorch, bench compare's draws): its best DDIM and its DDPM-1000, each
    with the fewest-NFE FlowFM setting (ONNX Runtime FP32) that matches, and the twin's own point in the same runtime."""
    points = [p for p in r(COMPARE_TINY)["points"] if p["backend"] == "onnxruntime" and p["precision"] == "fp32"]
    rows = [x for name in CLIPPED for x in r(name)["rows"] if x["clipped"]]
    refs = {"best DDIM": min((x for x in rows if x["sampler"].startswith("ddim")), key=lambda x: x["frechet"]["fd"]),
            "DDPM-1000": next(x for x in rows if x["sampler"] == "ddpm-1000")}
    out = {}
    for name, ref in refs.items():
        ok = sorted((p for p in points if p["model"] == "flow" and p["fd"] <= ref["frechet"]["ci_high"]), key=lambda p: p["nfe"])
        twin = next(p for p in points if p["model"] == "diffusion" and p["label"] == ref["sampler"])
        out[name] = (ref, ok[0] if ok else None, twin)
    return out


def _group(r: Results, name: str, backend: str, precision: str) -> dict:
    return next(g for g in r(name)["analysis"]["groups"] if g["backend"] == backend and g["precision"] == precision)


def latency_at_matched_quality(r: Results) -> Section:
    clipped = _clipped_matches(r)
    tiny = {k: (twin["per_item_ms"] / flow["per_item_ms"] if flow else None, ref, flow, twin)
            for k, (ref, flow, twin) in clipped.items()}

    def tiny_text(k: str) -> str:
        x, ref, flow, twin = tiny[k]
        return (f"tiny-10k, ORT FP32: {flow['label']} ({flow['per_item_ms']:.2f} ms, FD {flow['fd']:.2f}) vs clipped twin "
                f"{ref['sampler']} ({twin['per_item_ms']:,.1f} ms, FD {fd(ref['frechet'])}): **{x:.1f}x**" if x else "not matched")

    nano = {(p, k): _group(r, COMPARE_NANO, "onnxruntime", p).get(k) for p in ("fp32", "int8") for k in ("vs_ddpm", "vs_best_ddim")}
    nano_text = lambda k: "; nano-1k: " + ", ".join(  # noqa: E731
        f"ORT {p.upper()} {nano[p, k]['speedup']:.1f}x" for p in ("fp32", "int8") if nano[p, k] and nano[p, k]["matched"])
    return Section(
        "Latency at matched quality, one runtime (`bench compare`)",
        "Exported samplers timed per window at batch 1, 2 threads, beside their FD (1,000 windows, 95% intervals). At tiny, "
        "10,000 steps the unclipped twin diverges on about one draw in 1,000, so it is compared with z0_hat clipped to the "
        "data's range (its quality from PyTorch on the same draws, its latency from ONNX Runtime's unclipped graphs).",
        [Row(">= 50x faster than DDPM-1000 at matched quality", tiny_text("DDPM-1000") + nano_text("vs_ddpm"),
             tiny["DDPM-1000"][0] is not None and tiny["DDPM-1000"][0] >= 50, "the twin's DDPM-1000 in the same runtime"),
         Row(">= 5x faster than the twin's best DDIM at matched quality", tiny_text("best DDIM") + nano_text("vs_best_ddim"),
             tiny["best DDIM"][0] is not None and tiny["best DDIM"][0] >= 5,
             "at nano-1k the twin needs few steps (its DDIM-10 is near its DDPM-1000); the stated budget is tiny-10k, one seed")],
        r.used())


def training_time(r: Results) -> Section:
    s = r("claims_training_time_hapt_tiny.json")["seeds"][0]
    return Section(
        "Training time to the twin's final quality (the paper: 49.6%)",
        "FlowFM and its twin (tiny, 10,000 steps each, seed 0) trained in interleaved 2,000-step slices, scored after each; "
        "training time is the loop's own.",
        [Row("FlowFM reaches the twin's final quality in <= 50% of its training time",
             f"{100 * s['fraction']:.1f}% (step {s['flow_step_to_target']:,}, the first check; "
             f"{100 * s['fraction_median_step']:.1f}% by median step time x steps)" if s["fraction"] else "not reached",
             s["fraction"] is not None and s["fraction"] <= 0.5,
             f"twin final FD {fd(s['target_fd'])} ({s['target_sampler']}), {s['diffusion_train_s']:,.0f} s of training")],
        r.used(), "An upper bound: quality was checked every 2,000 steps.")


def solvers_against_nfe(r: Results) -> Section:
    d = r("generation_nfe_hapt_nano_1000steps_p0.json")
    best = min((x for x in d["twin"] if x["sampler"].startswith("ddim")), key=lambda x: x["frechet"]["fd"])
    m_ddpm, m_ddim = d["matched"].get("ddpm-1000"), d["matched"].get(best["sampler"])
    text = lambda m, ref: f"{m['flow_setting']} (NFE {m['flow_nfe']}) vs {ref}: {m['nfe_ratio']:.1f}x" if m else "not matched"  # noqa: E731
    ddpm = next(x for x in d["twin"] if x["sampler"] == "ddpm-1000")
    return Section(
        "Solvers against NFE (nano, 1,000 steps, PyTorch)",
        "FlowFM's Euler, midpoint, Heun, RK4 and Euler-Maruyama at matched NFE against the twin's DDIM and DDPM, one FD "
        "protocol (1,000 windows, 95% intervals).",
        [Row(">= 50x fewer NFE than DDPM-1000 at matched quality", text(m_ddpm, "ddpm-1000"),
             bool(m_ddpm) and m_ddpm["nfe_ratio"] >= 50, f"DDPM-1000 FD {fd(ddpm['frechet'])}"),
         Row(">= 5x fewer NFE than the twin's best DDIM", text(m_ddim, best["sampler"]), bool(m_ddim) and m_ddim["nfe_ratio"] >= 5,
             f"{best['sampler']} FD {fd(best['frechet'])}; floor {fd(d['floor'])}")],
        r.used(), "The stated budget is tiny, 10,000 steps (above); this is the nano screen.")


def text_to_signal(r: Results) -> Section:
    d = r("text_to_signal.json")
    rows = []
    for e in d["evaluations"]:
        s = e["summary"]
        g = e["settings"].get("guidance")
        rows.append(Row(f"prompted activity recognised, {'no guidance' if g is None else f'text guidance w = {g:g}'}",
                        f"training phrasings {f(s['train']['accuracy'], 2)}, held-out phrasings {f(s['held_out']['accuracy'], 2)}",
                        None, f"unconditional generator {f(s['floor_unconditional']['accuracy'], 2)}"))
    return Section(
        "Text-to-signal (HAPT's six activities)",
        f"A tiny FlowFM ({d['base']['train_steps']} steps) fine-tuned on text; the frozen HAR classifier labels "
        "generated windows; accuracy = the share labelled as the prompt's activity (mean over classes).",
        rows, r.used(), "No target is set for it.")


SECTIONS = (nfe_at_matched_quality, latency_at_matched_quality, training_time, solvers_against_nfe, text_to_signal)
