"""Sections on what FlowFM's encoder learns: the stated budget, the MTL baseline, the diffusion twin's encoder,
Dynamic Guidance Switching and transfer away from the pretraining data."""

from __future__ import annotations

from .model import Results, Row, Section, f, pm

SEEDS = "claims_seeds_hapt_tiny_10000steps.json"
ABLATION = "ablation_representation_hapt_nano_1000steps.json"
NAMES = {"basicmotions": "BasicMotions", "hapt": "HAPT"}


def stated_budget(r: Results) -> Section:
    s = r(SEEDS)["summary"]
    rows = r(SEEDS)["rows"]
    gains, margins = s["gain over untrained"]["values"], s["margin over hand-crafted"]["values"]
    hand, raw = rows[0]["hand-crafted"], rows[0]["raw windows"]
    p0 = [x for x in r(ABLATION)["rows"] if x["variant"] == "p0"]
    base = r(ABLATION)["baselines"]
    return Section(
        "Representation at the stated budget",
        f"FlowFM tiny trained 10,000 steps on HAPT's pretraining windows, {len(gains)} seeds; the project's probe (5 x 80/20 "
        "subject folds, converged logistic regression), macro-F1 per subject; the untrained encoder has the run's seed.",
        [Row("FlowFM >= untrained encoder + 0.05 (tiny, 10,000 steps)",
             f"{pm(s['FlowFM r']['values'])}; gain {pm(gains, sign=True)} (at least {f(min(gains), sign=True)} on every seed)",
             s["gain over untrained"]["mean"] >= 0.05,
             f"untrained encoder {pm(s['untrained encoder']['values'])}; hand-crafted {f(hand)}; raw windows {f(raw)}"),
         Row("FlowFM >= hand-crafted features", f"margin {pm(margins, sign=True)}, above on {sum(m > 0 for m in margins)} "
             f"of {len(margins)} seeds (point estimates; the SDs over subjects overlap)", all(m > 0 for m in margins),
             f"hand-crafted {f(hand)}"),
         Row("FlowFM >= untrained encoder + 0.05 (nano, 1,000 steps, the recipe)",
             f"{pm([x['f1'] for x in p0], ddof=0)}; gain {pm([x['gain'] for x in p0], sign=True, ddof=0)} ({len(p0)} seeds)",
             sum(x["gain"] for x in p0) / len(p0) >= 0.05,
             f"untrained encoder {pm([x['f1_untrained'] for x in p0], ddof=0)}; hand-crafted "
             f"{f(base['hand-crafted']['per_subject']['macro_f1']['mean'])}")],
        r.used())


def mtl(r: Results) -> Section:
    d = r("claims_mtl_hapt_tiny_10000steps.json")
    m = {x["features"]: x for x in d["mtl_probe"]["summary"]}
    fl = {x["features"]: x for x in d["flow_probe"]["summary"]}
    b = d["budget"]
    return Section(
        "The MTL baseline at the same pretraining wall time",
        f"The SSL-Wearables-style MTL ResNet trained for FlowFM tiny's 10,000-step wall time on this machine "
        f"({b['mtl_steps']:,} steps: {f(b['mtl_over_flow'], 2)}x FlowFM's seconds per step); the same probe and folds.",
        [Row("FlowFM >= MTL at the same wall time", f"FlowFM {f(fl['FlowFM r']['f1_mean'])} vs MTL {f(m['FlowFM r']['f1_mean'])}: "
             f"{f(d['flow_minus_mtl'], sign=True)}", d["flow_minus_mtl"] >= 0,
             f"MTL ResNet untrained {f(m['untrained encoder']['f1_mean'])} (the trained MTL features probe below it); "
             f"FlowFM untrained {f(fl['untrained encoder']['f1_mean'])}; hand-crafted {f(m['hand-crafted']['f1_mean'])}")],
        r.used(), "One seed; the MTL loss plateaued at "
        f"{f(d['mtl_loss']['last_10pct_mean'])} (chance {f(d['mtl_loss']['chance'])}).")


def _probe(rows: list[dict], model: str, protocol: str = "linear-probe") -> dict[int, float]:
    return {x["seed"]: x["per_subject_mean"] for x in rows if x["model"] == model and x["protocol"] == protocol}


def downstream(r: Results) -> Section:
    rows = r("claims_downstream_hapt_nano_1000steps.json")["rows"] + r("claims_downstream_hapt_nano_1000steps_seeds12.json")["rows"]
    flow, twin, untrained = _probe(rows, "flow"), _probe(rows, "diffusion"), _probe(rows, "flow untrained")
    scratch = _probe(rows, "scratch", "scratch")
    seeds = sorted(flow)
    diff = [flow[s] - twin[s] for s in seeds]
    tuned = {m: _probe(rows, m, "fine-tune") for m in ("flow", "diffusion")}
    hand = next(x["per_subject_mean"] for x in rows if x["model"] == "hand-crafted")
    return Section(
        "Downstream: FlowFM's encoder against its diffusion twin's",
        f"Each objective pretrained 1,000 steps (nano, HAPT), same recipe and seed; the converged probe on frozen features, "
        f"{len(seeds)} seeds; fine-tuning and training from scratch with early stopping.",
        [Row("FlowFM's frozen features > the diffusion twin's", f"{pm([flow[s] for s in seeds])} vs {pm([twin[s] for s in seeds])}; "
             f"paired {pm(diff, sign=True)}, above on {sum(d > 0 for d in diff)} of {len(diff)} seeds", all(d > 0 for d in diff),
             f"untrained encoder {pm([untrained[s] for s in seeds])}; scratch (labels only) {pm([scratch[s] for s in seeds])}; "
             f"hand-crafted {f(hand)}"),
         Row("fine-tuned (seed 0)", f"FlowFM {f(tuned['flow'][0])}, twin {f(tuned['diffusion'][0])}", None,
             f"scratch {f(scratch[0])}")],
        r.used())


def dgs(r: Results) -> Section:
    rows = r("claims_dgs_hapt_nano_1000steps.json")["rows"] + r("claims_dgs_hapt_nano_1000steps_seeds12.json")["rows"]
    by = {(x["p_dgs"], x["seed"]): x for x in rows}
    seeds = sorted(s for p, s in by if p == 0.5 and (0.0, s) in by)
    diff = lambda key: [by[0.0, s][key] - by[0.5, s][key] for s in seeds]  # noqa: E731
    fd_diff = lambda mode: [by[0.0, s][f"fd_{mode}"]["fd"] - by[0.5, s][f"fd_{mode}"]["fd"] for s in seeds]  # noqa: E731
    lower = all(v < 0 for v in fd_diff("reconstruction") + fd_diff("unconditional"))
    return Section(
        "Dynamic Guidance Switching (the paper's p_dgs = 0.5)",
        "FlowFM at p_dgs 0 and 0.5 (the chance of replacing r by zeros in training), nano, 1,000 steps, HAPT; the probe "
        "and the best FD (1,000 windows against the pretraining split; unconditional r from each run's prior).",
        [Row("p_dgs 0 against 0.5: probe macro-F1", f"{pm(diff('probe_f1_per_subject'), sign=True)} ({len(seeds)} seeds, paired)",
             None, f"p_dgs 0.5: {pm([by[0.5, s]['probe_f1_per_subject'] for s in seeds])}"),
         Row("p_dgs 0 against 0.5: best FD, reconstruction / unconditional",
             f"{pm(fd_diff('reconstruction'), 1, sign=True)} / {pm(fd_diff('unconditional'), 1, sign=True)}"
             + (" (lower on every seed)" if lower else ""), None,
             f"floor (real vs real) {f(rows[0]['fd_floor']['fd'], 1)}")],
        r.used(), "An ablation, not a target: at this budget dropping r buys nothing, so the recipe trains at p_dgs 0.")


TRANSFER = "claims_transfer_hapt_nano_1000steps.json"
TRANSFER_MORE = ("claims_transfer_hapt_nano_1000steps_gravity_frame.json",  # variants scored later, same protocol
                 "claims_transfer_hapt_nano_1000steps_r_l2.json")
TRANSFER_STATED = "claims_transfer_hapt_tiny_10000steps.json"  # the stated budget, once trained


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _transfer_rows(r: Results, name: str, budget: str, extra: tuple[str, ...] = ()) -> list[Row]:
    d = r(name)
    summary = d["summary"] + [x for more in extra for x in r(more)["summary"]]
    s = next(x for x in summary if x["variant"] == "recipe")
    b = d["baselines"]
    target = NAMES.get(d["protocol"]["target"], d["protocol"]["target"])
    gains, drops = s["transfer_gain"], s["rotation_drop"]["random"]
    others = [x for x in summary if x["variant"] != "recipe"]
    best = max(others, key=lambda x: _mean(x["transfer_gain"])) if others else None
    steady = min(others, key=lambda x: _mean(x["rotation_drop"]["random"])) if others else None
    n = f"{len(s['seeds'])} seed{'s' if len(s['seeds']) > 1 else ''}"
    hand = b["transfer"]["hand-crafted"]
    return [
        Row(f"on {target} ({budget}, {n}): FlowFM >= untrained + 0.05",
            f"{pm(s['transfer'])}; gain {pm(gains, sign=True)}"
            + (f" (best variant, {best['variant']}: {pm(best['transfer'])}, gain {pm(best['transfer_gain'], sign=True)})" if best else ""),
            _mean(gains) >= 0.05,
            f"untrained {pm(s['transfer_untrained'])}"
            + ("; at the ceiling, no gain can show" if _mean(s["transfer_untrained"]) > 0.95 else "")),
        Row(f"on {target} ({budget}, {n}): FlowFM >= hand-crafted", pm(s["transfer"]), _mean(s["transfer"]) >= hand,
            f"hand-crafted {f(hand)}; raw windows {f(b['transfer']['raw windows'])}; 1-shot FlowFM {pm(s['few_shot']['1'])}, "
            f"untrained {pm(s['few_shot_untrained']['1'])}, hand-crafted {f(b['transfer_few_shot']['hand-crafted']['1']['mean'])}"),
        Row(f"HAPT, drop under a random rotation ({budget}) <= the hand-crafted features'", pm(drops)
            + (f" (smallest, {steady['variant']}: {pm(steady['rotation_drop']['random'])} at HAPT {pm(steady['home'])})"
               if steady else ""),
            _mean(drops) <= b["rotation_drop"]["hand-crafted"]["random"],
            f"hand-crafted {f(b['rotation_drop']['hand-crafted']['random'])}; untrained {pm(s['rotation_drop_untrained']['random'])}"),
        Row(f"in-domain HAPT ({budget})", f"{pm(s['home'])}; gain {pm(s['home_gain'], sign=True)}", None,
            f"hand-crafted {f(b['home']['hand-crafted'])}")]


def transfer(r: Results) -> Section:
    rows = _transfer_rows(r, TRANSFER, "nano, 1,000 steps", TRANSFER_MORE)
    stated = (r.folder / TRANSFER_STATED).is_file()
    if stated:
        rows += _transfer_rows(r, TRANSFER_STATED, "tiny, 10,000 steps")
    return Section(
        "Transfer: away from the pretraining data",
        "Pretrained on HAPT (a phone on the waist), probed on BasicMotions (a smartwatch on the wrist, the archive's 40/40 "
        "split, pooled macro-F1; few-shot: k windows per class) and on HAPT with each test window under a random 3-D "
        "rotation (the probe fitted as recorded). Variants: benchmarks/NOTES.md, Transfer.",
        rows, r.used(),
        "" if stated else "At the stated budget (tiny, 10,000 steps) transfer is not measured yet (benchmarks/NOTES.md, Transfer).")


SECTIONS = (stated_budget, mtl, downstream, dgs, transfer)
