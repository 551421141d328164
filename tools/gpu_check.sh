#!/bin/bash
# One prepared run on a lent GPU machine (the device tool): everything docs/performance.md reports for a GPU.
#   tools/gpu_check.sh        the throughput table and the seed recipe's epochs (about 9 minutes)
#   tools/gpu_check.sh best   train/fashion_mnist_best.yaml in full (docs/augmentation.md), one JSON line per
#                             epoch; a second call, as one call may run 10 minutes (BEST_EPOCHS=N to shorten)
# Needs, carried beside the working tree (see docs/performance.md):
#   .whl/               keras, namex and optree wheels for the machine's Python (TensorFlow is not there)
#   .gpu/peers/         the hand-written peers (../shared/peers)
#   .gpu/fashion-mnist/ the four Fashion-MNIST IDX files
# Writes $OUT/gpu.jsonl (one JSON line per figure) and $OUT/gpu.log.
set -u
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
timeout 90 python3 tools/gpu_check.py torch | tee -a "$OUT/gpu.jsonl"
echo "torch peer: $((SECONDS - t0)) s"; t0=$SECONDS
timeout 220 python3 tools/gpu_check.py bench | tee -a "$OUT/gpu.jsonl"
echo "ours: $((SECONDS - t0)) s"; t0=$SECONDS
timeout 220 python3 tools/gpu_check.py epoch --epochs 3 | tee -a "$OUT/gpu.jsonl"
echo "seed epochs: $((SECONDS - t0)) s"
