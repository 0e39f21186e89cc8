"""A recorded command in today's form: scripts that were files under ``benchmarks/`` now run as modules.

Results keep the command as it was run; the index shows it as it runs today, with the same arguments.

>>> today("CLAIMS_THREADS=2 python benchmarks/claims_dgs.py --steps 1000")
'CLAIMS_THREADS=2 python -m benchmarks.claims.dgs --steps 1000'
>>> today("PRESET=nano STEPS=1000 bash benchmarks/flowfm_vs_diffusion.sh")
'python -m benchmarks.claims.flowfm_vs_diffusion --preset nano --steps 1000'
"""

from __future__ import annotations

import re
import shlex

# script of the time -> the module that runs it now
MOVED = {
    "claims_seeds": "claims.seeds", "claims_dgs": "claims.dgs", "claims_downstream": "claims.downstream",
    "claims_mtl": "claims.mtl", "claims_training_time": "claims.training_time", "claims_transfer": "claims.transfer",
    "ablate_representation": "claims.ablate_representation", "generation_nfe": "claims.generation_nfe",
    "twin_x0_clip": "claims.twin_x0_clip", "text_to_signal": "claims.text_to_signal",
    "export_latency": "perf.export_latency", "encoder_int8": "perf.encoder_int8",
    "sampler_export": "perf.sampler_export", "litert_latency": "perf.litert_latency",
    "gateway_stream": "perf.gateway_stream", "gateway_mqtt": "perf.gateway_mqtt", "cohort_scale": "perf.cohort_scale",
    "runtime_install": "perf.runtime_install", "train_throughput": "perf.train_throughput",
    "train_process_settings": "perf.train_process_settings",
}
# flowfm_vs_diffusion.sh's settings (environment variables) -> the module's options
SCRIPT_SETTINGS = {
    "PRESET": "--preset", "STEPS": "--steps", "SEED": "--seed", "N": "--n", "THREADS": "--threads",
    "TRAIN_THREADS": "--train-threads", "FLOW_STEPS": "--flow-steps", "SOLVER": "--solver", "DDIM_STEPS": "--ddim-steps",
    "BACKENDS": "--backends", "MAX_REL_ERROR": "--max-rel-error", "FLOW_RUN": "--flow-run", "DIFF_RUN": "--diffusion-run",
    "FEAT": "--feature-net", "OUT": "--out", "STAGE": "--stage",
}


def today(command: str) -> str:
    """``command`` with every script of the time replaced by the module that runs it now."""
    if "benchmarks/flowfm_vs_diffusion.sh" in command:
        return _shell_script(command)
    for old, new in MOVED.items():
        command = re.sub(rf"python (\S*/)?benchmarks/{old}\.py", f"python -m benchmarks.{new}", command)
        command = re.sub(rf"(?<![\w/.])(\S*/)?benchmarks/{old}\.py", f"python -m benchmarks.{new}", command)
    return command


def _shell_script(command: str) -> str:
    words = shlex.split(command)
    at = words.index("bash")
    env, options = [], []
    for word in words[:at]:
        name, value = word.split("=", 1)
        if name in SCRIPT_SETTINGS:
            options += [SCRIPT_SETTINGS[name], value]
        else:
            env.append(word)
    return shlex.join([*env, "python", "-m", "benchmarks.claims.flowfm_vs_diffusion", *options, *words[at + 2:]])
