#!/usr/bin/env bash
# FlowFM vs its diffusion twin on HAPT, end to end, with one command:
#
#   bash benchmarks/flowfm_vs_diffusion.sh            # STEPS=300 PRESET=tiny N=1000 by default
#   STAGE=train bash benchmarks/flowfm_vs_diffusion.sh   # stop after training (STAGE=export: after export)
#   BACKENDS=onnxruntime bash benchmarks/flowfm_vs_diffusion.sh   # no PyTorch rows (its DDPM-1000 is the slowest)
#
# 1. trains FlowFM and the diffusion twin with the same budget (preset, steps, batch, lr, seed),
# 2. trains the frozen HAR feature network behind the Frechet distance,
# 3. exports both to the cpu target (FP32 + static INT8): FlowFM fused Euler samplers at
#    1..64 steps; the twin's denoiser step and fused DDIM samplers at 10..250 steps (DDPM-1000
#    runs as a per-step loop over the denoiser graph),
# 4. runs `flowfm-edge bench compare` (onnxruntime FP32 and INT8, plus torch eager for the
#    DDPM-1000 reference) and writes JSON, Markdown and PNG under benchmarks/results/.
#
# A stage whose output is already there (a run at the requested step, a feature net, a bundle
# with a manifest) is reused, so re-running after an interruption continues where it stopped;
# delete the run, bundle and result folders to start over.
set -euo pipefail
cd "$(dirname "$0")/.."

PRESET=${PRESET:-tiny}
STEPS=${STEPS:-300}
SEED=${SEED:-0}
N=${N:-1000}
THREADS=${THREADS:-2}
FLOW_STEPS=${FLOW_STEPS:-1,2,4,8,16,32,64}
SOLVER=${SOLVER:-euler}  # FlowFM's solver: euler, midpoint, heun or rk4
DDIM_STEPS=${DDIM_STEPS:-10,25,50,100,250}
RUNS=runs/fvd
BUNDLES=bundles/fvd-$PRESET-${STEPS}steps-seed$SEED
BACKENDS=${BACKENDS:-onnxruntime,torch}
OUT=${OUT:-benchmarks/results/flowfm_vs_diffusion_$PRESET-${STEPS}steps}
STAGE=${STAGE:-all}

trained() {  # trained RUN: the run's checkpoint is at step $STEPS
  python - "$1" "$STEPS" <<'EOF'
import json, sys
try:
    step = json.load(open(f"{sys.argv[1]}/checkpoint/config.json"))["step"]
except (OSError, ValueError, KeyError):
    sys.exit(1)
sys.exit(0 if step == int(sys.argv[2]) else 1)
EOF
}

# The two models train side by side, one thread each (the same budget: preset, steps, batch, lr, seed).
# FLOW_RUN / DIFF_RUN may name runs trained elsewhere (e.g. by benchmarks/claims_training_time.py).
FLOW_RUN=${FLOW_RUN:-$RUNS/hapt-$PRESET-flow-${STEPS}steps-seed$SEED}
DIFF_RUN=${DIFF_RUN:-$RUNS/hapt-$PRESET-diffusion-${STEPS}steps-seed$SEED}
pids=()
for objective in flow diffusion; do
  run=$([ $objective = flow ] && echo "$FLOW_RUN" || echo "$DIFF_RUN")
  if trained "$run"; then
    echo "reusing $run"
  else
    rm -rf "$run"
    OMP_NUM_THREADS=${TRAIN_THREADS:-1} /usr/bin/time -f "train $objective: %e s wall" \
      flowfm-edge train --data hapt --preset "$PRESET" --objective "$objective" --steps "$STEPS" \
        --batch-size 64 --lr 1e-3 --warmup 30 --seed "$SEED" --ckpt-every 1000000 --out "$run" &
    pids+=($!)
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
FEAT=${FEAT:-$RUNS/feature-net-hapt}
[ -f "$FEAT.safetensors" ] || flowfm-edge train-feature-net --data hapt --out "$FEAT" --seed "$SEED"
[ "$STAGE" = train ] && exit 0

# Gates: FP32 must match PyTorch (fixed); INT8 samplers may drift up to 0.5 relative L2 in
# normalised units and the twin's INT8 denoiser step up to MAX_REL_ERROR (default 0.3; a short-trained
# nano twin needs more): their Frechet distance is measured in the benchmark and reported anyway.
# Both models export FP32 and static INT8 fused samplers: each is an ONNX Loop over one step
# graph, quantised once (flowfm_edge/export/onnx/sampler_loop.py), so DDIM-250 exports in under a
# minute. The two exports run side by side.
GATES="--max-traj-error 0.5 --max-rel-error ${MAX_REL_ERROR:-0.3}"
[ -f $BUNDLES/flow/manifest.json ] || flowfm-edge export "$FLOW_RUN" --out $BUNDLES/flow --target cpu \
  --precision fp32,int8 --graphs sampler --steps "$FLOW_STEPS" --solver "$SOLVER" \
  --calib hapt --threads 1 $GATES --force &
[ -f $BUNDLES/diffusion/manifest.json ] || flowfm-edge export "$DIFF_RUN" --out $BUNDLES/diffusion --target cpu \
  --precision fp32,int8 --graphs velocity,sampler --steps "$DDIM_STEPS" \
  --calib hapt --threads 1 $GATES --force &
wait
[ -f $BUNDLES/flow/manifest.json ] && [ -f $BUNDLES/diffusion/manifest.json ] || { echo "an export failed (see above)"; exit 1; }
[ "$STAGE" = export ] && exit 0

mkdir -p "$OUT"
# PyTorch eager runs the DDPM-1000 reference and FlowFM's settings (its DDIM settings are left to ONNX Runtime).
TORCH_SAMPLERS="ddpm-1000,$(echo "$FLOW_STEPS" | sed "s/\([0-9]\+\)/$SOLVER-\1/g")"
flowfm-edge bench compare $BUNDLES/flow $BUNDLES/diffusion --data hapt --feature-net "$FEAT" \
  --backend "$BACKENDS" --precision fp32,int8 --flow-steps "$FLOW_STEPS" --flow-solver "$SOLVER" --ddim-steps "$DDIM_STEPS" \
  --ddpm-steps 1000 --torch-samplers "$TORCH_SAMPLERS" --n "$N" --batch 1 --threads "$THREADS" --min-iters 10 --min-seconds 2 \
  --energy auto --json "$OUT/compare.json" --report "$OUT/compare.md" --plots "$OUT"
