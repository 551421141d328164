#!/bin/bash
# One prepared run on a lent GPU machine (the device tool): everything docs/performance.md reports for a GPU,
# in under 9 minutes on one H200 (each step has its own time limit; the seed study gets what is left).
#   1. throughput against the PyTorch peer: the peer (fp32, bf16), then ours through Keras on JAX
#   2. the seed recipe with 10 seeds (train/fashion_mnist.yaml: 5 epochs, SGD 0.1, batch 128, 96x96, float32),
#      each seed in its own process on the one GPU: test accuracy after every epoch, then per epoch n, mean, sd,
#      min..max against the seed's 0.875 (what="seed-study"); a run cut short reports the epochs it finished
#   tools/gpu_check.sh best   train/fashion_mnist_best.yaml in full (docs/augmentation.md), one JSON line per
#                             epoch; a second call, as one call may run 10 minutes (BEST_EPOCHS=N to shorten)
# Needs, carried beside the working tree (see docs/performance.md; the peers are tools/peers/):
#   .whl/               keras, namex and optree wheels for the machine's Python (TensorFlow is not there)
#   .gpu/fashion-mnist/ the four Fashion-MNIST IDX files
# Writes $OUT/gpu.jsonl (one JSON line per figure) and $OUT/gpu.log.
# The same logic on a CPU in minutes (no GPU, any Keras backend):
#   python tools/gpu_check.py seeds --idx DIR --size 32 --limit 512 --seeds 0..2 --epochs 2 --parallel 3
set -u
BUDGET=${BUDGET:-500}   # seconds for the steps below; the seed study stops its runs then (the tool allows 600)
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site || exit 1
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
# Keras on JAX if this JAX works with this Keras, else on PyTorch
export KERAS_BACKEND=jax
python3 -c "import keras; keras.ops.convert_to_numpy(keras.ops.ones(3) + 1)" || export KERAS_BACKEND=torch
python3 -c "import keras, sys; print('keras', keras.__version__, keras.backend.backend(), sys.version.split()[0])"
if [ "${1:-}" = best ]; then
  t0=$SECONDS
  timeout "${BEST_TIMEOUT:-540}" python3 tools/gpu_check.py best --precision mixed_bfloat16 \
    ${BEST_EPOCHS:+--epochs "$BEST_EPOCHS"} | tee -a "$OUT/gpu.jsonl"
  echo "best recipe: $((SECONDS - t0)) s"
  exit 0
fi
t0=$SECONDS
timeout 75 python3 tools/gpu_check.py torch | tee -a "$OUT/gpu.jsonl"
echo "torch peer: $((SECONDS - t0)) s"; t0=$SECONDS
timeout 120 python3 tools/gpu_check.py bench --precisions float32,mixed_bfloat16 | tee -a "$OUT/gpu.jsonl"
echo "ours: $((SECONDS - t0)) s"; t0=$SECONDS
left=$((BUDGET - SECONDS)); [ "$left" -lt 60 ] && left=60
timeout $((left + 30)) python3 tools/gpu_check.py seeds --seeds 0..9 --parallel 10 --deadline "$left" \
  | tee -a "$OUT/gpu.jsonl"
echo "seed study: $((SECONDS - t0)) s (deadline $left s); total $SECONDS s"
